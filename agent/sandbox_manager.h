#ifndef FSB_AGENT_SANDBOX_MANAGER_H_
#define FSB_AGENT_SANDBOX_MANAGER_H_

#include <atomic>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/agent_metrics.h"
#include "agent/labels.h"
#include "agent/network/slots.h"
#include "agent/runtime.h"
#include "agent/sandbox_defaults.h"
#include "agent/shim_groups.h"
#include "agent/warm/cgroup_limits.h"
#include "agent/warm/warm_pool.h"
#include "fsb/agent/v1/agent.pb.h"
#include "internal/clock.h"

namespace fsb::agent {

// What the janitor removed in one pass.
struct GarbageReport {
  int containers = 0;     // fsb containers of this agent it does not own (e.g. a crashed create)
  int snapshots = 0;      // snapshots left without their container
  int log_files = 0;      // log files of sandboxes that no longer exist
  int network_slots = 0;  // slots assigned to no container (a create or delete cut short)
};

// Owns the sandboxes of this node: admission against capacity, the create sequence
// (warm: claim a prepared instance and order its init; cold: resolve image -> merge
// process -> OCI spec -> runtime), graceful delete, the sandboxes' observed states, their
// re-adoption after an agent restart, and the janitor that removes what nobody owns.
//
// A sandbox's id on this agent is its containerd container id. A cold create uses the
// id the controller proposed (SandboxSpec.sandbox_id); a warm one claims an instance and
// takes its container id, answering with it (SandboxStatus.sandbox_id, requested_id =
// the proposed one); every method accepts either id afterwards.
//
// Warm path: with a WarmPool, a create first claims a ready instance of its image (no
// containerd call), merges the process over the image config the instance was made from,
// journals the claim, writes the request's own limits into the instance's cgroup (it
// was made with Options::defaults, so a request without limits writes nothing) and
// orders its init (agent/init), returning once the process runs. An init that rejects
// the process (executable, working directory, user) fails the create with its error;
// what the warm path cannot do (a request with limits and no limits writer, a limit the
// kernel refuses, a broken init) falls back to the cold path, as does a miss. Misses
// and hits are counted by reason.
//
// Limits, cold and warm alike: each limit the request sets, else the default (pids,
// memory; a CPU quota only when requested), plus the defaults' cpu shares,
// oom_score_adj and NOFILE.
//
// Network: with NetworkSlots, each sandbox joins a network slot of its own (a cold create
// acquires one; a prepared instance was made with one), readied for it before its process
// starts: its /etc/hosts names it, a NO_EGRESS sandbox loses its default route, its
// published ports are forwarded. The slot is released with its container. Without
// NetworkSlots (--sandbox-network=host) sandboxes share the agent's network namespace.
//
// Every container carries the sandbox's spec (as the runtime's extension) and labels,
// so Recover() can rebuild the state from containerd alone: running sandboxes keep
// running across agent restarts. A claimed instance gets them in the background; until
// then its journal says what it became. Until Recover() has succeeded the manager is
// not ready: Create and Delete answer UNAVAILABLE.
//
// Invariants: a sandbox id is in `sandboxes_` from the moment it is admitted until its
// container is gone (a warm create moves it from the proposed id to the instance's id
// before ordering init, with an alias); at most `capacity` sandboxes are admitted at
// once; a sandbox being created or deleted is never created or deleted again
// concurrently. Thread-safe; no lock is held across runtime calls or init I/O.
class SandboxManager {
 public:
  struct Options {
    int capacity = 5;
    std::string log_dir;  // <log_dir>/<container id>.log
    std::string cgroup_parent = "/fsb";
    absl::Duration default_grace = absl::Seconds(10);
    // The janitor leaves alone what is younger than this (it may be mid-create).
    absl::Duration janitor_grace = absl::Seconds(60);
    // How long a warm create waits for the instance's init to exec the process.
    absl::Duration init_timeout = absl::Seconds(10);
    // Limits where a request sets none, OOM score, NOFILE; the warm pool's must be the
    // same.
    SandboxDefaults defaults;
  };
  // The warm path's collaborators (value-initialized: both null, every create is cold).
  struct Warm {
    WarmPool* pool;
    const CgroupLimits* limits;  // null: a request with limits goes cold
  };
  struct Created {
    fsb::agent::v1::SandboxStatus status;
    bool warm = false;  // made from a prepared instance
  };

  // `runtime`, `shim_groups`, `clock`, `metrics`, the warm collaborators and `network`
  // must outlive the manager. `network` null: sandboxes share the agent's network
  // namespace (the pool's instances must then have been made without slots too).
  SandboxManager(Runtime* runtime, ShimGroups* shim_groups, Clock* clock, AgentMetrics* metrics,
                 Options options, Warm warm = {}, NetworkSlots* network = nullptr);

  // Rebuilds the sandboxes from the runtime's containers: running and exited ones are
  // adopted as they are (never restarted); containers caught mid-create by a crash (no
  // task, or a task never started) are removed; containers without a readable spec are
  // left to the janitor. Network slots no container names are torn down (NetworkSlots::
  // Recover, before any instance is adopted). Prepared instances: bound or journaled ones are
  // sandboxes, idle ones whose init answers go back to the pool, the rest are removed. Makes the
  // manager ready. Runtime errors are returned as they are (the manager stays not ready; call
  // again).
  absl::Status Recover();
  bool ready() const;

  // Creates and starts a sandbox; returns once its process runs.
  //   INVALID_ARGUMENT: malformed spec, or (warm) an executable or working directory the
  //   image cannot provide; ALREADY_EXISTS: the id exists with another spec (the same
  //   spec again returns the existing sandbox); RESOURCE_EXHAUSTED: at capacity;
  //   NOT_FOUND: the image is not on this node; FAILED_PRECONDITION: the image's user is
  //   unknown or cannot be set; UNAVAILABLE: not ready; network slot errors (the CNI
  //   plugin named: RESOURCE_EXHAUSTED when the node's range has no free address,
  //   UNAVAILABLE otherwise); runtime errors otherwise. A failed create leaves no slot.
  absl::StatusOr<Created> Create(const fsb::agent::v1::SandboxSpec& spec);

  // Stops (SIGTERM, `grace` or the default when unset, SIGKILL) and removes the sandbox
  // and its log. NOT_FOUND for an unknown id; FAILED_PRECONDITION while it is being
  // created; UNAVAILABLE: not ready.
  absl::Status Delete(std::string_view id, std::optional<absl::Duration> grace);

  absl::StatusOr<fsb::agent::v1::SandboxStatus> Get(std::string_view id) const;
  std::vector<fsb::agent::v1::SandboxStatus> List() const;
  // The OCI runtime spec of the sandbox's container as a cold create would have made it
  // (exec takes its process). NOT_FOUND for an unknown id.
  absl::StatusOr<std::string> RuntimeSpec(std::string_view id) const;
  // The warm pool's counts (empty without a pool).
  std::vector<fsb::agent::v1::WarmCount> WarmCounts() const;

  // Records that the sandbox's process exited (from containerd's TaskExit event; `id` is
  // the container id). Returns whether a known running sandbox changed state. An exit of
  // a prepared instance is passed to the pool.
  bool OnExit(std::string_view id, uint32_t exit_status);

  // Reads task states back from the runtime: a running sandbox whose task stopped
  // becomes EXITED with its exit code, one whose container vanished UNKNOWN (and RUNNING
  // or EXITED again should a later list show it).
  absl::Status Refresh();

  // One janitor pass: removes this agent's fsb containers it does not own (neither a
  // sandbox nor a pool instance), snapshots left without a container, log files of
  // sandboxes that no longer exist, and network slots no container names, each only once
  // older than `janitor_grace`. Never
  // touches containers without fsb's labels (the runtime lists only those).
  absl::StatusOr<GarbageReport> CollectGarbage();

  // Whether containerd answers (the registration loop learns it every round). While it
  // does not, a create no warm instance can serve is RESOURCE_EXHAUSTED at once (the
  // controller tries another agent); warm creates go on.
  void SetRuntimeAvailable(bool available);

  int capacity() const { return options_.capacity; }
  std::string LogPath(std::string_view id) const;

 private:
  struct Entry {
    fsb::agent::v1::SandboxSpec spec;
    fsb::agent::v1::SandboxStatus status;
    std::string shim_group;    // empty: its own shim
    std::string spec_json;     // its container's OCI runtime spec
    std::string network_slot;  // empty: the agent's network namespace
    bool warm = false;         // made from a prepared instance
    // Its create has not answered yet, whatever the phase says (an exit event may have
    // moved it on): until then only the create may rekey or erase it, so a delete waits.
    bool creating = false;
    bool deleting = false;
    // UNKNOWN because its container was missing from the last Refresh: RUNNING again
    // (or EXITED) once a list shows it again.
    bool vanished = false;
  };
  // What a successful start made.
  struct Started {
    std::string container_id;
    uint32_t pid = 0;
    std::string spec_json;
    std::string shim_group;
    std::string network_slot;
    std::string ip;
  };

  absl::Status Validate(const fsb::agent::v1::SandboxSpec& spec) const;
  absl::Status DeleteUnrecorded(std::string_view id, std::optional<absl::Duration> grace);
  absl::StatusOr<Created> CreateTimed(const fsb::agent::v1::SandboxSpec& spec,
                                      AgentTimings& timings);
  // The cold path: resolves the image and starts a container for an admitted sandbox.
  absl::StatusOr<Started> StartCold(const fsb::agent::v1::SandboxSpec& spec, AgentTimings& timings);
  // The warm path on a claimed instance. nullopt (with `*fallback` set to the reason):
  // the instance could not be used and the create should go cold; the instance has
  // been returned or discarded.
  std::optional<absl::StatusOr<Started>> StartWarm(const fsb::agent::v1::SandboxSpec& spec,
                                                   WarmInstance instance, AgentTimings& timings,
                                                   std::string* fallback);
  // The spec options of a sandbox's container; `slot` null: the agent's network.
  RuntimeSpecOptions SpecOptions(const fsb::agent::v1::SandboxSpec& spec,
                                 std::string_view container_id, const std::string& shim_group,
                                 const NetworkSlot* slot) const;
  // Readies `slot` for the sandbox `spec` (NetworkSlots::Configure, then its published
  // ports).
  absl::Status ReadySlot(const NetworkSlot& slot, const fsb::agent::v1::SandboxSpec& spec) const;
  // Moves the admitted entry `from` to key `to` (a warm create's instance id, or back).
  void Rekey(const std::string& from, const std::string& to) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The key of `id` (a container id, or a warm sandbox's proposed id), or null.
  const std::string* Resolve(std::string_view id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adopts a sandbox found in a container; `spec_json` is its runtime spec.
  void AdoptLocked(const fsb::agent::v1::SandboxSpec& spec, const ContainerState& c,
                   std::string spec_json, bool warm) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Refreshes the sandboxes-by-phase and capacity gauges.
  void UpdateGauges() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes `path` if it exists; logs other failures.
  static void RemoveFile(const std::string& path);
  // The names in the log folder; none (with a warning) when it cannot be listed, so the
  // files are left for a later pass.
  std::vector<std::string> LogFiles() const;

  Runtime* const runtime_;
  ShimGroups* const shim_groups_;
  Clock* const clock_;
  AgentMetrics* const metrics_;
  const Options options_;
  const Warm warm_;
  NetworkSlots* const network_;
  mutable absl::Mutex mu_;
  // Set by the first Recover that got as far as the slots (Recover runs on one thread).
  std::atomic<bool> network_recovered_{false};
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  bool runtime_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, Entry> sandboxes_ ABSL_GUARDED_BY(mu_);
  // A warm sandbox's proposed id -> its container id.
  absl::flat_hash_map<std::string, std::string> aliases_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_SANDBOX_MANAGER_H_
