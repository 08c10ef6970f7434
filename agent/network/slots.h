#ifndef FSB_AGENT_NETWORK_SLOTS_H_
#define FSB_AGENT_NETWORK_SLOTS_H_

#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/agent_metrics.h"
#include "agent/network/cni.h"
#include "agent/oci_spec.h"
#include "fsb/agent/v1/agent.pb.h"
#include "internal/background_loop.h"
#include "internal/clock.h"

namespace fsb::agent {

// A sandbox's network, made before the sandbox: a network namespace attached to the
// node's sandbox network, with its address, and the /etc/hosts and /etc/resolv.conf
// files its container mounts.
struct NetworkSlot {
  std::string id;           // the CNI container id and folder name
  std::string netns;        // <dir>/netns: the namespace, bind-mounted
  std::string hosts;        // <dir>/hosts
  std::string resolv_conf;  // <dir>/resolv.conf
  CniAttachment attachment;
};

// Makes a container of `options` join `slot`: its network namespace, hosts and
// resolv.conf.
inline void JoinSlot(const NetworkSlot& slot, RuntimeSpecOptions* options) {
  options->netns = slot.netns;
  options->hosts_file = slot.hosts;
  options->resolv_conf_file = slot.resolv_conf;
}

// The agent's network slots: free ones made ahead of the creates that take them, so
// that a create spends no plugin run on its path.
//
// On disk (the source of truth across agent restarts), one folder per slot under `dir`:
// `netns` (the namespace's bind mount), `attachment.json` (CNI's ADD result, written
// last: a folder without it is a half-made slot), `hosts`, `resolv.conf`, and `ports`
// once host ports are forwarded to it. A slot is
// owned by the container whose kNetworkSlotLabel names it; in memory it is free, or
// assigned (handed out by Acquire, or found owned by Recover) until Release.
//
// A background loop keeps `free_target` slots free (refilling after each Acquire), and
// tears down released slots (CNI DEL, namespace unmount, folder removal); slots are
// never reused. The loop's thread, and so the plugins it runs, is SCHED_IDLE: making a
// slot costs about as much CPU as a create, which creates on a busy node must not wait
// for (a create that finds no free slot makes one at its own priority; if that fails, it
// first tears down the released slots still waiting, whose addresses may fill the range,
// and tries again). Thread-safe; no lock is held across plugin runs or file I/O.
class NetworkSlots {
 public:
  struct Options {
    std::string dir;  // e.g. <state-dir>/network/slots
    int free_target = 4;
    // The node's resolver configuration; a sandbox gets its non-loopback nameservers
    // (the node's loopback is not reachable from a sandbox), search and options lines.
    std::string node_resolv_conf = "/etc/resolv.conf";
    absl::Duration retry_after_failure = absl::Seconds(5);
  };

  // `cni`, `clock` and `metrics` must outlive the pool.
  NetworkSlots(Options options, const CniNetwork* cni, Clock* clock, AgentMetrics* metrics);
  ~NetworkSlots();

  // Reads the slots on disk: those in `owned` (slot ids that containers name) are
  // assigned again, as they were; every other one is torn down (a free slot of the last
  // run, a half-made one, one whose container is gone). Then starts the background loop,
  // which first runs the plugins' CHECK on each kept slot (a failure is logged and
  // counted; the sandbox keeps the slot it has).
  // INTERNAL when `dir` cannot be created or read.
  absl::Status Recover(const absl::flat_hash_set<std::string>& owned);
  void Stop();

  // A slot for a create or a prepared instance: a free one, else one made now
  // (`*made_inline` set, counted).
  // Plugin errors as CniNetwork::Add states them; nothing is left of a failed slot.
  absl::StatusOr<NetworkSlot> Acquire(bool* made_inline = nullptr);
  // An assigned slot by id. NOT_FOUND when no such slot is assigned.
  absl::StatusOr<NetworkSlot> Get(std::string_view id) const;
  // Readies an assigned slot for its sandbox: /etc/hosts names `hostname` at the slot's
  // address; NO_EGRESS removes the namespace's default route. INTERNAL naming the step.
  absl::Status Configure(const NetworkSlot& slot, std::string_view hostname,
                         fsb::agent::v1::SandboxNetwork network) const;
  // Forwards host ports to an assigned slot (portmap). The ports are recorded in the
  // slot's folder first, so that its teardown removes the forwarding even after an agent
  // restart. On failure nothing stays forwarded; the error names the plugin.
  absl::Status Publish(const NetworkSlot& slot, const std::vector<PublishedPort>& ports) const;
  // The slot is no longer needed: it is torn down in the background. Unknown ids are
  // ignored.
  void Release(std::string_view id);
  // Releases assigned slots that no container in `owned` names and that were assigned
  // longer than `grace` ago (a create or delete cut short). Returns how many.
  int Sweep(const absl::flat_hash_set<std::string>& owned, absl::Duration grace);

  int free_count() const;

  // The sandbox resolv.conf for the node's `node_resolv_conf` text. Exposed for tests.
  static std::string SandboxResolvConf(std::string_view node_resolv_conf);
  // /etc/hosts of a sandbox named `hostname` at `ip`.
  static std::string SandboxHosts(std::string_view hostname, std::string_view ip);

 private:
  // Makes one slot (folder, namespace, CNI ADD, files). On failure tears down what it made.
  absl::StatusOr<NetworkSlot> Make();
  // CNI DEL, namespace and folder removal; logs what fails and returns the first error.
  absl::Status TearDown(const std::string& id);
  // Tears down the released slots waiting for it, on the calling thread; returns how
  // many it took.
  int TearDownReleased();
  absl::Duration Step();
  NetworkSlot SlotAt(const std::string& id) const;
  void UpdateGaugesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const CniNetwork* const cni_;
  Clock* const clock_;
  AgentMetrics* const metrics_;
  mutable absl::Mutex mu_;
  std::deque<NetworkSlot> free_ ABSL_GUARDED_BY(mu_);
  struct Assigned {
    NetworkSlot slot;
    absl::Time since;
  };
  absl::flat_hash_map<std::string, Assigned> assigned_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> doomed_ ABSL_GUARDED_BY(mu_);
  std::vector<NetworkSlot> unchecked_ ABSL_GUARDED_BY(mu_);  // kept by Recover
  bool failing_ ABSL_GUARDED_BY(mu_) = false;
  BackgroundLoop loop_;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_NETWORK_SLOTS_H_
