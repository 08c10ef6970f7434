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
#include "agent/agent_metrics.h"
#include "agent/runtime.h"
#include "fsb/agent/v1/agent.pb.h"
#include "internal/clock.h"

namespace fsb::agent {

// Labels fsb puts on each container so the node's state can be read back from
// containerd alone.
inline constexpr char kSandboxIdLabel[] = "fsb.io/sandbox-id";
inline constexpr char kSandboxNameLabel[] = "fsb.io/sandbox-name";
inline constexpr char kSandboxNamespaceLabel[] = "fsb.io/sandbox-namespace";
inline constexpr char kShimGroupLabel[] = "fsb.io/shim-group";
// The OCI annotation by which the runc v2 shim runs the tasks of one group in one shim.
inline constexpr char kShimGroupAnnotation[] = "io.containerd.runc.v2.group";

// What the janitor removed in one pass.
struct GarbageReport {
  int containers = 0;  // fsb containers of this agent it does not own (e.g. a crashed create)
  int snapshots = 0;   // snapshots left without their container
  int log_files = 0;   // log files of sandboxes that no longer exist
};

// Owns the sandboxes of this node: admission against capacity, the create sequence
// (resolve image -> merge process -> OCI spec -> runtime), graceful delete, the
// sandboxes' observed states, their re-adoption after an agent restart, and the
// janitor that removes what nobody owns.
//
// Every container carries the sandbox's spec (as the runtime's extension) and labels,
// so Recover() can rebuild the state from containerd alone: running sandboxes keep
// running across agent restarts. Until Recover() has succeeded the manager is not
// ready: Create and Delete answer UNAVAILABLE.
//
// Invariants: a sandbox id is in `sandboxes_` from the moment it is admitted until
// its container is gone; at most `capacity` sandboxes are admitted at once; a sandbox
// being created or deleted is never created or deleted again concurrently; each shim
// group holds at most `shim_group_size` admitted sandboxes and at most one create in
// flight (a shim serializes its task creates, so concurrent creates go to different
// shims; a new group is made rather than queueing behind a busy one).
// Thread-safe; no lock is held across runtime calls.
class SandboxManager {
 public:
  struct Options {
    int capacity = 5;
    std::string log_dir;  // <log_dir>/<sandbox id>.log
    std::string cgroup_parent = "/fsb";
    absl::Duration default_grace = absl::Seconds(10);
    // Sandboxes per runc shim (the runc v2 shim's task groups); <= 1: one shim each.
    // Groups fill up one create at a time; concurrent creates open more groups.
    int shim_group_size = 8;
    // The janitor leaves alone what is younger than this (it may be mid-create).
    absl::Duration janitor_grace = absl::Seconds(60);
  };

  // `runtime`, `clock` and `metrics` must outlive the manager.
  SandboxManager(Runtime* runtime, Clock* clock, AgentMetrics* metrics, Options options);

  // Rebuilds the sandboxes from the runtime's containers: running and exited ones are
  // adopted as they are (never restarted); containers caught mid-create by a crash (no
  // task, or a task never started) are removed; containers without a readable spec are
  // left to the janitor. Makes the manager ready. Runtime errors are returned as they
  // are (the manager stays not ready; call again).
  absl::Status Recover();
  bool ready() const;

  // Creates and starts a sandbox; returns once its process runs.
  //   INVALID_ARGUMENT: malformed spec; ALREADY_EXISTS: the id exists with another spec
  //   (the same spec again returns the existing sandbox); RESOURCE_EXHAUSTED: at
  //   capacity; NOT_FOUND: the image is not on this node; FAILED_PRECONDITION: the
  //   image's user is unknown; UNAVAILABLE: not ready; runtime errors otherwise.
  absl::StatusOr<fsb::agent::v1::SandboxStatus> Create(const fsb::agent::v1::SandboxSpec& spec);

  // Stops (SIGTERM, `grace` or the default when unset, SIGKILL) and removes the sandbox
  // and its log. NOT_FOUND for an unknown id; FAILED_PRECONDITION while it is being
  // created; UNAVAILABLE: not ready.
  absl::Status Delete(std::string_view id, std::optional<absl::Duration> grace);

  absl::StatusOr<fsb::agent::v1::SandboxStatus> Get(std::string_view id) const;
  std::vector<fsb::agent::v1::SandboxStatus> List() const;

  // Records that the sandbox's process exited (from containerd's TaskExit event).
  // Returns whether a known running sandbox changed state.
  bool OnExit(std::string_view id, uint32_t exit_status);

  // Reads task states back from the runtime: a running sandbox whose task stopped
  // becomes EXITED with its exit code, one whose container vanished UNKNOWN.
  absl::Status Refresh();

  // One janitor pass: removes this agent's fsb containers it does not own, snapshots
  // left without a container, and log files of sandboxes that no longer exist, each only
  // once older than `janitor_grace`. Never touches containers without fsb's labels (the
  // runtime lists only those).
  absl::StatusOr<GarbageReport> CollectGarbage();

  int capacity() const { return options_.capacity; }
  std::string LogPath(std::string_view id) const;

 private:
  struct Entry {
    fsb::agent::v1::SandboxSpec spec;
    fsb::agent::v1::SandboxStatus status;
    std::string shim_group;  // empty: its own shim
    bool deleting = false;
  };

  absl::Status Validate(const fsb::agent::v1::SandboxSpec& spec) const;
  absl::Status DeleteUnrecorded(std::string_view id, std::optional<absl::Duration> grace);
  absl::StatusOr<fsb::agent::v1::SandboxStatus> CreateTimed(
      const fsb::agent::v1::SandboxSpec& spec, AgentTimings& timings);
  // Resolves the image and starts the container of an admitted sandbox.
  absl::StatusOr<uint32_t> Start(const fsb::agent::v1::SandboxSpec& spec,
                                 const std::string& shim_group, AgentTimings& timings);
  // Refreshes the sandboxes-by-phase and capacity gauges.
  void UpdateGauges() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A shim group with room for one more sandbox and no create in flight (the fullest
  // such), or a new one; the caller is counted in as a member creating. "" without
  // grouping.
  std::string JoinShimGroup() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The create of a member of `group` ended.
  void CreateDone(const std::string& group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LeaveShimGroup(const std::string& group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes `path` if it exists; logs other failures.
  static void RemoveFile(const std::string& path);

  Runtime* const runtime_;
  Clock* const clock_;
  AgentMetrics* const metrics_;
  const Options options_;
  mutable absl::Mutex mu_;
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, Entry> sandboxes_ ABSL_GUARDED_BY(mu_);
  struct ShimGroup {
    int members = 0;
    int creating = 0;  // members whose create is in flight
  };
  absl::flat_hash_map<std::string, ShimGroup> shim_groups_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_SANDBOX_MANAGER_H_
