#ifndef FSB_CONTROLLER_SANDBOX_SPEC_H_
#define FSB_CONTROLLER_SANDBOX_SPEC_H_

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fsb/agent/v1/agent.pb.h"
#include "fsb/v1alpha1/resources.pb.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "internal/request_limits.h"
#include "internal/sandbox_network.h"

namespace fsb::controller {

// Pure functions between the clients' creates and resources, the fsb.io/v1alpha1
// Sandbox record and the agent's SandboxSpec. No I/O, no clock reads ("now" is passed
// in). Thread-safe.

inline constexpr char kDefaultNamespace[] = "default";
inline constexpr char kDefaultPool[] = "default";
inline constexpr int kDefaultRecoveryTimeoutSeconds = 60;

// Annotations the controller keeps on each Sandbox.
inline constexpr char kRequestIdAnnotation[] = "fsb.io/request-id";
inline constexpr char kSpecHashAnnotation[] = "fsb.io/spec-hash";

// A create as a client asks for it, decoded from the API (the FastPath adapter does
// that) but not validated: the sandbox's metadata (namespace, name, labels; the
// request-id annotation when the client gave one) and spec (consistency mode unset for
// "the controller's default"). `malformed` is INVALID_ARGUMENT naming a request field
// that has no form in the record (an unknown enum value, a negative duration), else OK.
struct CreateSpec {
  v1alpha1::Sandbox sandbox;
  absl::Status malformed;
};

// Validates a create and turns it into a new Sandbox record: apiVersion/kind, metadata
// (namespace default "default"; name as given, or "sb-<8 hex>" when empty; labels;
// annotations request-id (default "<namespace>/<name>") and spec-hash), spec
// (normalized image, env sorted by name, pool default "default", failure policy default
// Manual, recovery timeout default 60 s, expiry, consistency mode default
// `default_mode`, network default "egress", published ports' protocol default "tcp")
// and status phase Pending. uid, timestamps, generation and the container id are left
// to the caller.
//
// INVALID_ARGUMENT: `create.malformed`; or naming the field, the value and the limit
// (internal/request_limits.h) for: a name/namespace/pool that is not a DNS label, an
// empty or malformed image (or digest), argv and env that ValidateArgv/ValidateEnv
// refuse, invalid labels or annotations (ValidateUserMetadata), a relative, too long or
// NUL-holding working dir, ports out of 1-65535 or repeated, resources (each 0 for the
// agent's default) outside kMin..kMax CpuMillicores, MemoryBytes or Pids, a recovery
// timeout outside 0-86400 s, an unknown failure policy or consistency mode, an expiry
// outside RFC 3339's years or not in the future (relative to `now`), a malformed reset
// revision, an invalid request id, a network other than "", "egress" or "no-egress",
// more than kMaxPorts published ports or one that is invalid (ports out of 1-65535, a
// protocol other than tcp or udp) or repeats an earlier one's host port and protocol
// (naming the entry).
absl::StatusOr<v1alpha1::Sandbox> SandboxFromCreateSpec(
    CreateSpec create, v1alpha1::SandboxSpec::ConsistencyMode default_mode, absl::Time now);

// Validates a Sandbox resource submitted by `fsb apply`, fills defaults and the
// annotations as SandboxFromCreateSpec does; server-owned fields (uid, resourceVersion,
// generation, timestamps, status) are cleared. Same errors, plus INVALID_ARGUMENT for a
// wrong apiVersion/kind.
absl::StatusOr<v1alpha1::Sandbox> SandboxFromResource(
    v1alpha1::Sandbox resource, v1alpha1::SandboxSpec::ConsistencyMode default_mode,
    absl::Time now);

// A stable hex digest of the parts of `spec` a create request fixes (everything but
// expireTime and resetRevision, which updates change). Equal specs give equal digests
// across processes and restarts; a network of "egress" digests as an unset one (records
// made before the field existed), so either spelling of the default is the same spec.
std::string SpecHash(const v1alpha1::SandboxSpec& spec);

// The names of the fields whose change `fsb apply` refuses (immutable after create),
// comma-separated in field order; empty when `desired` only changes mutable fields. A
// network of "egress" equals an unset one, as for SpecHash.
std::string ImmutableSpecChanges(const v1alpha1::SandboxSpec& current,
                                 const v1alpha1::SandboxSpec& desired);

// Validates the mutable fields an update may set: expire time (unset, or in RFC 3339's
// range and in the future), recovery timeout (0-86400 s), failure policy, reset revision
// (ParseResetRevision).
absl::Status ValidateMutableSpec(const v1alpha1::SandboxSpec& spec, absl::Time now);

// Parses a reset revision: an RFC 3339 timestamp of at most kMaxResetRevisionBytes, in
// the years 0001-9999. INVALID_ARGUMENT naming the value otherwise.
absl::StatusOr<absl::Time> ParseResetRevision(std::string_view revision);

// The metadata a client writes: at most kMaxLabels labels, each valid (ValidateLabel);
// at most kMaxAnnotations annotations, keys valid as label keys, values free of NUL
// bytes, kMaxAnnotationBytes in all. INVALID_ARGUMENT naming the entry otherwise.
absl::Status ValidateUserMetadata(const v1alpha1::ObjectMeta& meta);

// A sandbox named by a request: `ns` empty (the default namespace) or a DNS label,
// `name` a DNS label. INVALID_ARGUMENT naming "namespace" or "sandbox_name" otherwise.
absl::Status ValidateSandboxRef(std::string_view ns, std::string_view name);

// One list of a process's argv: `field` names it in errors ("command", "args").
struct ArgvList {
  std::string_view field;
  const google::protobuf::RepeatedPtrField<std::string>& entries;
};
// The argv of a process, given as `lists` in order: at most kMaxArgs entries and
// kMaxArgvBytes (each entry counted with its NUL terminator) in all, no entry holding a
// NUL byte, and the first entry, the program, not empty when there is one.
// INVALID_ARGUMENT naming the entry ("args[2]") or the lists ("command+args") otherwise.
absl::Status ValidateArgv(std::initializer_list<ArgvList> lists);

// A process's environment as (name, value) pairs: at most kMaxEnv variables, names valid
// (ValidateEnvName) and distinct, values free of NUL bytes, kMaxEnvBytes in all (each
// variable counted as "NAME=VALUE" and its NUL). INVALID_ARGUMENT naming `field` and
// the variable otherwise.
absl::Status ValidateEnv(std::string_view field,
                         const std::vector<std::pair<std::string_view, std::string_view>>& env);

// A process's working dir: empty (the image's) or an absolute path of at most
// kMaxPathBytes without NUL bytes.
absl::Status ValidateWorkingDir(std::string_view field, std::string_view dir);

// A change to an existing sandbox's mutable fields, as the FastPath API's update asks
// for it (decoded by its adapter): at most one of the spec fields, plus label changes.
struct SandboxUpdate {
  std::string ns;  // empty: "default"
  std::string name;
  std::optional<int64_t> expire_time_seconds;  // Unix seconds; 0 removes the expiry
  std::optional<std::string> reset_revision;   // RFC 3339
  std::optional<v1alpha1::SandboxSpec::FailurePolicy> failure_policy;
  std::optional<int32_t> recovery_timeout_seconds;
  std::map<std::string, std::string> labels;  // set
  std::vector<std::string> remove_labels;
  // INVALID_ARGUMENT naming a request field that has no form here (an unknown policy).
  absl::Status malformed;
};

// Validates an update on its own (the sandbox it names need not exist): `malformed`;
// the sandbox's namespace and name (ValidateSandboxRef); an expiry that is negative,
// outside RFC 3339's years or not in the future of `now` (0 removes it); a malformed
// reset revision; a recovery timeout outside 1-86400 s; labels to set that are invalid
// or more than kMaxLabels; label keys to remove that are not label keys or more than
// kMaxLabelChanges. INVALID_ARGUMENT naming the field. What depends on the sandbox (its
// label count after the change) is the caller's to check.
absl::Status ValidateSandboxUpdate(const SandboxUpdate& update, absl::Time now);

// What the agent needs to run the sandbox: its process, limits, exposed ports, network
// mode ("no-egress" as SANDBOX_NETWORK_NO_EGRESS, anything else as EGRESS) and published
// ports (an empty protocol as tcp).
fsb::agent::v1::SandboxSpec AgentSpecOf(const v1alpha1::Sandbox& sandbox);

// A record's published port in the shared form (internal/sandbox_network.h), and back.
PublishedPort PublishedPortOf(const v1alpha1::PortPublish& port);
void SetPortPublish(const PublishedPort& port, v1alpha1::PortPublish* out);

// Converts a time to a protobuf Timestamp and back.
void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out);
absl::Time TimeOf(const google::protobuf::Timestamp& t);

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_SANDBOX_SPEC_H_
