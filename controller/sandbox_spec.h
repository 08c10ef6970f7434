#ifndef FSB_CONTROLLER_SANDBOX_SPEC_H_
#define FSB_CONTROLLER_SANDBOX_SPEC_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fsb/agent/v1/agent.pb.h"
#include "fsb/v1alpha1/resources.pb.h"
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

// Bounds on request sizes; larger requests are INVALID_ARGUMENT.
inline constexpr int kMaxArgs = 1024;               // command + args entries
inline constexpr int kMaxEnv = 256;                 // environment variables
inline constexpr int kMaxLabels = 64;               // labels per sandbox
inline constexpr int kMaxPorts = 64;                // exposed, and published, ports per sandbox
inline constexpr size_t kMaxArgvBytes = 128 << 10;  // command + args, bytes
inline constexpr size_t kMaxEnvBytes = 128 << 10;   // env names + values, bytes
inline constexpr size_t kMaxPathBytes = 4096;       // working dir
inline constexpr size_t kMaxRequestIdBytes = 253;
inline constexpr int kMaxRecoveryTimeoutSeconds = 86400;

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
// INVALID_ARGUMENT: `create.malformed`; or naming the field for: a name/namespace/pool
// that is not a DNS label, an empty or malformed image, invalid env names or labels, too
// many or too large args/env/labels, a relative or too long working dir, ports out of
// 1-65535 or repeated, negative resources, a recovery timeout outside 0-86400 s, an
// expiry that is not in the future (relative to `now`), an invalid request id, a network
// other than "", "egress" or "no-egress", more than kMaxPorts published ports or one
// that is invalid (ports out of 1-65535, a protocol other than tcp or udp) or repeats
// an earlier one's host port and protocol (naming the entry).
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

// Validates the mutable fields an update may set: expire time (future or unset),
// recovery timeout (0-86400 s), failure policy, reset revision (RFC 3339).
absl::Status ValidateMutableSpec(const v1alpha1::SandboxSpec& spec, absl::Time now);

// Parses an RFC 3339 reset revision. INVALID_ARGUMENT naming the value otherwise.
absl::StatusOr<absl::Time> ParseResetRevision(std::string_view revision);

// At most kMaxLabels labels, each valid (ValidateLabel). INVALID_ARGUMENT otherwise.
absl::Status ValidateMetadataLabels(const v1alpha1::ObjectMeta& meta);

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
