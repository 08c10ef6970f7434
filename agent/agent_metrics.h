#ifndef FSB_AGENT_AGENT_METRICS_H_
#define FSB_AGENT_AGENT_METRICS_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "internal/metrics/metrics.h"
#include "internal/metrics/stage_histogram.h"

namespace fsb::agent {

// The stages of a create on the agent.
enum class AgentStage {
  kAdmission,        // validation, idempotency and capacity checks
  kImageResolve,     // image record, manifest and config (pull on a miss), user database
  kContainerCreate,  // containerd container record
  kSnapshotPrepare,  // the container's writable snapshot
  kTaskCreate,       // shim start (or reuse) and `runc create`
  kTaskStart,        // `runc start`
  kWarmClaim,        // a prepared instance taken, the process merged, journal and limits
  kInitExec,         // the order to the instance's init until its execve succeeded
  kNetwork,          // a network slot taken (or made inline), its hosts file and egress set
};
inline constexpr int kAgentStages = 9;

// How long each stage of one create took (zero for stages it did not reach).
using AgentTimings = metrics::StageTimings<AgentStage, kAgentStages>;

// The agent's metrics, registered in the process's registry (which must outlive them):
//   fsb_agent_create_stage_duration_seconds{stage}
//   fsb_agent_sandbox_creates_total{result}, fsb_agent_sandbox_deletes_total{result}
//   fsb_containerd_rpc_duration_seconds{rpc}
//   fsb_agent_janitor_removed_total{kind}
//   fsb_agent_sandboxes{phase}, fsb_agent_capacity_slots{state}
//   fsb_agent_warm_instances{image,state}, fsb_agent_warm_claims_total{result,reason},
//   fsb_agent_warm_refill_duration_seconds{result}
//   fsb_agent_network_slots{state}, fsb_agent_network_slot_setup_duration_seconds{result},
//   fsb_agent_network_slot_teardowns_total{result}, fsb_agent_network_slot_inline_total,
//   fsb_agent_network_slot_checks_total{result}
// Thread-safe (updates are lock-free; a label set's first use takes its family's lock).
class AgentMetrics {
 public:
  explicit AgentMetrics(metrics::Registry* registry);

  void RecordCreate(const absl::Status& result, const AgentTimings& timings);
  void RecordDelete(const absl::Status& result);
  void RecordContainerdRpc(std::string_view rpc, absl::Duration took);
  void RecordJanitor(std::string_view kind, int removed);
  // A create found a prepared instance (hit) or not (miss, with why: no_pool, empty,
  // limits, journal, network, init).
  void RecordWarmClaim(bool hit, std::string_view reason);
  // One prepared instance made (or failed to be made) in `took`.
  void RecordWarmRefill(const absl::Status& result, absl::Duration took);
  // Instances of `image` in `state` (ready, preparing).
  metrics::Gauge& WarmInstances(std::string_view image, std::string_view state);
  metrics::Gauge& Sandboxes(std::string_view phase);
  // Network slots in `state` (free: made, waiting for a sandbox; assigned).
  metrics::Gauge& NetworkSlots(std::string_view state);
  // One network slot made (netns, CNI ADD, files) in `took`; `on_demand`: made for an
  // Acquire (a cold create, or a prepared instance) because no free slot was left.
  void RecordNetworkSlotSetup(const absl::Status& result, absl::Duration took, bool on_demand);
  void RecordNetworkSlotTeardown(const absl::Status& result);
  // A recovered slot of a running sandbox passed the plugins' CHECK, or not.
  void RecordNetworkSlotCheck(const absl::Status& result);
  metrics::Gauge& capacity_total() { return capacity_total_; }
  metrics::Gauge& capacity_used() { return capacity_used_; }

  static std::string_view StageName(AgentStage s);

 private:
  metrics::StageHistogram<AgentStage, kAgentStages> stages_;
  metrics::Family<metrics::Counter>& creates_;
  metrics::Family<metrics::Counter>& deletes_;
  metrics::Family<metrics::Histogram>& containerd_rpc_;
  metrics::Family<metrics::Counter>& janitor_;
  metrics::Family<metrics::Gauge>& sandboxes_;
  metrics::Family<metrics::Gauge>& capacity_;
  metrics::Family<metrics::Gauge>& warm_instances_;
  metrics::Family<metrics::Counter>& warm_claims_;
  metrics::Family<metrics::Histogram>& warm_refill_;
  metrics::Family<metrics::Gauge>& network_slots_;
  metrics::Family<metrics::Histogram>& network_slot_setup_;
  metrics::Family<metrics::Counter>& network_slot_teardowns_;
  metrics::Family<metrics::Counter>& network_slot_checks_;
  metrics::Counter& network_slot_inline_;
  metrics::Gauge& capacity_total_;
  metrics::Gauge& capacity_used_;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_AGENT_METRICS_H_
