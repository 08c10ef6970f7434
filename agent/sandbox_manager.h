#ifndef FSB_AGENT_SANDBOX_MANAGER_H_
#define FSB_AGENT_SANDBOX_MANAGER_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/runtime.h"
#include "fsb/agent/v1/agent.pb.h"
#include "internal/clock.h"

namespace fsb::agent {

// Labels fsb puts on each container so the node's state can be read back from
// containerd alone.
inline constexpr char kSandboxIdLabel[] = "fsb.io/sandbox-id";
inline constexpr char kSandboxNameLabel[] = "fsb.io/sandbox-name";
inline constexpr char kSandboxNamespaceLabel[] = "fsb.io/sandbox-namespace";

// Owns the sandboxes of this node: admission against capacity, the create sequence
// (resolve image -> merge process -> OCI spec -> runtime), graceful delete, and the
// sandboxes' observed states.
//
// Invariants: a sandbox id is in `sandboxes_` from the moment it is admitted until
// its container is gone; at most `capacity` sandboxes are admitted at once; a sandbox
// being created or deleted is never created or deleted again concurrently.
// Thread-safe; no lock is held across runtime calls.
class SandboxManager {
 public:
  struct Options {
    int capacity = 5;
    std::string log_dir;  // <log_dir>/<sandbox id>.log
    std::string cgroup_parent = "/fsb";
    absl::Duration default_grace = absl::Seconds(10);
  };

  SandboxManager(Runtime* runtime, Clock* clock, Options options);

  // Creates and starts a sandbox; returns once its process runs.
  //   INVALID_ARGUMENT: malformed spec; ALREADY_EXISTS: the id exists with another spec
  //   (the same spec again returns the existing sandbox); RESOURCE_EXHAUSTED: at
  //   capacity; NOT_FOUND: the image is not on this node; runtime errors otherwise.
  absl::StatusOr<fsb::agent::v1::SandboxStatus> Create(const fsb::agent::v1::SandboxSpec& spec);

  // Stops (SIGTERM, `grace` or the default when unset, SIGKILL) and removes the sandbox
  // and its log. NOT_FOUND for an unknown id; FAILED_PRECONDITION while it is being
  // created.
  absl::Status Delete(std::string_view id, std::optional<absl::Duration> grace);

  absl::StatusOr<fsb::agent::v1::SandboxStatus> Get(std::string_view id) const;
  std::vector<fsb::agent::v1::SandboxStatus> List() const;

  // Reads task states back from the runtime: a running sandbox whose task stopped
  // becomes EXITED with its exit code.
  absl::Status Refresh();

  int capacity() const { return options_.capacity; }
  std::string LogPath(std::string_view id) const;

 private:
  struct Entry {
    fsb::agent::v1::SandboxSpec spec;
    fsb::agent::v1::SandboxStatus status;
    bool deleting = false;
  };

  absl::Status Validate(const fsb::agent::v1::SandboxSpec& spec) const;
  absl::StatusOr<uint32_t> Start(const fsb::agent::v1::SandboxSpec& spec);

  Runtime* const runtime_;
  Clock* const clock_;
  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> sandboxes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_SANDBOX_MANAGER_H_
