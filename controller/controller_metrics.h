#ifndef FSB_CONTROLLER_CONTROLLER_METRICS_H_
#define FSB_CONTROLLER_CONTROLLER_METRICS_H_

#include <array>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "internal/metrics/metrics.h"
#include "internal/metrics/stage_histogram.h"

namespace fsb::controller {

// The stages of a create the controller times.
enum class CreateStage { kValidate, kAllocate, kPersist, kAgentRpc };
inline constexpr int kCreateStages = 4;

// How a placed sandbox was started on its agent: by claiming a prepared instance (warm),
// or cold with the image already on the agent (cached) or not (cold).
enum class PlacementKind { kWarm, kCached, kCold };
inline constexpr int kPlacementKinds = 3;

// How long each stage of one create took (zero for a stage it did not go through).
using CreateTimings = metrics::StageTimings<CreateStage, kCreateStages>;

// The controller's metrics, registered in the process's registry (which must outlive
// them). The seed system's histogram is kept exactly: name, labels and buckets. Thread-safe
// (updates are lock-free; a label set's first use takes its family's lock).
class ControllerMetrics {
 public:
  explicit ControllerMetrics(metrics::Registry* registry);

  // One finished CreateSandbox call: the seed's
  // fastpath_create_sandbox_duration_seconds{mode,success}, the per-stage histogram
  // fsb_create_stage_duration_seconds{stage}, and fsb_sandbox_creates_total{result}.
  void RecordCreate(bool strong, const absl::Status& result, absl::Duration total,
                    const CreateTimings& timings);
  // fsb_sandbox_deletes_total{result}.
  void RecordDelete(const absl::Status& result);
  // fsb_reconcile_actions_total{action}.
  void RecordReconcile(std::string_view action);
  // fsb_placements_total{kind}: one sandbox started on the agent chosen for it.
  void RecordPlacement(PlacementKind kind) { placements_[static_cast<int>(kind)]->Increment(); }

  // Point-in-time gauges, refreshed by the reconcile loop: fsb_sandboxes{phase},
  // fsb_agents, fsb_agents_ready, fsb_capacity_slots{state="total"|"used"}.
  metrics::Gauge& Sandboxes(std::string_view phase);
  metrics::Gauge& agents() { return agents_; }
  metrics::Gauge& agents_ready() { return agents_ready_; }
  metrics::Gauge& capacity_total() { return capacity_total_; }
  metrics::Gauge& capacity_used() { return capacity_used_; }

  static std::string_view StageName(CreateStage s);
  static std::string_view PlacementKindName(PlacementKind k);

 private:
  metrics::Family<metrics::Histogram>& create_duration_;
  metrics::StageHistogram<CreateStage, kCreateStages> stages_;
  metrics::Family<metrics::Counter>& creates_;
  metrics::Family<metrics::Counter>& deletes_;
  metrics::Family<metrics::Counter>& reconciles_;
  metrics::Family<metrics::Counter>& placements_family_;
  metrics::Family<metrics::Gauge>& sandboxes_;
  metrics::Family<metrics::Gauge>& capacity_;
  metrics::Gauge& agents_;
  metrics::Gauge& agents_ready_;
  metrics::Gauge& capacity_total_;
  metrics::Gauge& capacity_used_;
  std::array<metrics::Counter*, kPlacementKinds> placements_;
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_CONTROLLER_METRICS_H_
