#include "controller/controller_metrics.h"

#include <string>

namespace fsb::controller {
namespace {

// The seed system's buckets for fastpath_create_sandbox_duration_seconds.
std::vector<double> SeedCreateBuckets() {
  return {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
}

}  // namespace

using metrics::ResultLabel;

ControllerMetrics::ControllerMetrics(metrics::Registry* registry)
    : create_duration_(registry->AddHistogram(
          "fastpath_create_sandbox_duration_seconds",
          "Duration of the whole CreateSandbox call, by consistency mode and success.",
          SeedCreateBuckets())),
      stages_(registry, "fsb_create_stage_duration_seconds",
              "Duration of each stage of a create in the controller, by stage.", &StageName),
      creates_(registry->AddCounter("fsb_sandbox_creates_total", "CreateSandbox calls by result.")),
      deletes_(registry->AddCounter("fsb_sandbox_deletes_total", "DeleteSandbox calls by result.")),
      reconciles_(registry->AddCounter("fsb_reconcile_actions_total",
                                       "Reconciler actions taken, by action.")),
      placements_family_(registry->AddCounter(
          "fsb_placements_total",
          "Sandboxes started on the agent chosen for them, by kind: warm (a prepared "
          "instance was claimed), cached (a cold start with the image on the agent), cold "
          "(a cold start on an agent that did not report the image).")),
      sandboxes_(
          registry->AddGauge("fsb_sandboxes", "Sandboxes known to the controller, by phase.")),
      capacity_(registry->AddGauge("fsb_capacity_slots",
                                   "Sandbox slots of the registered agents, total and used.")),
      agents_(registry->AddGauge("fsb_agents", "Registered agents.").Add({})),
      agents_ready_(registry
                        ->AddGauge("fsb_agents_ready",
                                   "Registered agents that take new sandboxes (fresh heartbeat, "
                                   "runtime available).")
                        .Add({})),
      capacity_total_(capacity_.Add({{"state", "total"}})),
      capacity_used_(capacity_.Add({{"state", "used"}})) {
  for (int i = 0; i < kPlacementKinds; ++i) {
    placements_[i] = &placements_family_.Add(
        {{"kind", std::string(PlacementKindName(static_cast<PlacementKind>(i)))}});
  }
}

std::string_view ControllerMetrics::StageName(CreateStage s) {
  switch (s) {
    case CreateStage::kValidate:
      return "validate";
    case CreateStage::kAllocate:
      return "allocate";
    case CreateStage::kPersist:
      return "persist";
    case CreateStage::kAgentRpc:
      return "agent_rpc";
  }
  return "unknown";
}

std::string_view ControllerMetrics::PlacementKindName(PlacementKind k) {
  switch (k) {
    case PlacementKind::kWarm:
      return "warm";
    case PlacementKind::kCached:
      return "cached";
    case PlacementKind::kCold:
      return "cold";
  }
  return "unknown";
}

void ControllerMetrics::RecordCreate(bool strong, const absl::Status& result, absl::Duration total,
                                     const CreateTimings& timings) {
  create_duration_
      .Add({{"mode", strong ? "strong" : "fast"}, {"success", result.ok() ? "true" : "false"}})
      .Observe(absl::ToDoubleSeconds(total));
  stages_.Record(timings);
  creates_.Add({{"result", ResultLabel(result)}}).Increment();
}

void ControllerMetrics::RecordDelete(const absl::Status& result) {
  deletes_.Add({{"result", ResultLabel(result)}}).Increment();
}

void ControllerMetrics::RecordReconcile(std::string_view action) {
  reconciles_.Add({{"action", std::string(action)}}).Increment();
}

metrics::Gauge& ControllerMetrics::Sandboxes(std::string_view phase) {
  return sandboxes_.Add({{"phase", std::string(phase)}});
}

}  // namespace fsb::controller
