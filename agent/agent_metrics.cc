#include "agent/agent_metrics.h"

#include <string>

namespace fsb::agent {

using metrics::ResultLabel;

AgentMetrics::AgentMetrics(metrics::Registry* registry)
    : stages_(registry, "fsb_agent_create_stage_duration_seconds",
              "Duration of each stage of a sandbox create on the agent, by stage.", &StageName),
      creates_(registry->AddCounter("fsb_agent_sandbox_creates_total",
                                    "Sandbox creates on this agent, by result.")),
      deletes_(registry->AddCounter("fsb_agent_sandbox_deletes_total",
                                    "Sandbox deletes on this agent, by result.")),
      containerd_rpc_(registry->AddHistogram("fsb_containerd_rpc_duration_seconds",
                                             "Duration of containerd API calls, by RPC.",
                                             metrics::LatencyBuckets())),
      janitor_(registry->AddCounter("fsb_agent_janitor_removed_total",
                                    "What the janitor removed, by kind (container, snapshot, "
                                    "log_file).")),
      sandboxes_(registry->AddGauge("fsb_agent_sandboxes", "Sandboxes on this agent, by phase.")),
      capacity_(registry->AddGauge("fsb_agent_capacity_slots",
                                   "This agent's sandbox slots, total and used.")),
      warm_instances_(registry->AddGauge("fsb_agent_warm_instances",
                                         "Prepared (warm) instances, by image and state "
                                         "(ready, preparing).")),
      warm_claims_(registry->AddCounter("fsb_agent_warm_claims_total",
                                        "Creates that claimed a prepared instance (hit) or "
                                        "went cold (miss), by reason.")),
      warm_refill_(registry->AddHistogram("fsb_agent_warm_refill_duration_seconds",
                                          "Time to make one prepared instance, by result.",
                                          metrics::LatencyBuckets())),
      network_slots_(registry->AddGauge("fsb_agent_network_slots",
                                        "Network slots (namespace, address, veth), by state "
                                        "(free, assigned).")),
      network_slot_setup_(registry->AddHistogram(
          "fsb_agent_network_slot_setup_duration_seconds",
          "Time to make one network slot (netns, CNI ADD, files), by result.",
          metrics::LatencyBuckets())),
      network_slot_teardowns_(registry->AddCounter("fsb_agent_network_slot_teardowns_total",
                                                   "Network slots torn down, by result.")),
      network_slot_checks_(registry->AddCounter(
          "fsb_agent_network_slot_checks_total",
          "CNI CHECKs of the slots of sandboxes found after an agent restart, by result.")),
      network_slot_inline_(registry
                               ->AddCounter("fsb_agent_network_slot_inline_total",
                                            "Network slots made on demand (for a cold create "
                                            "or a prepared instance) because no free slot "
                                            "was left.")
                               .Add({})),
      capacity_total_(capacity_.Add({{"state", "total"}})),
      capacity_used_(capacity_.Add({{"state", "used"}})) {}

std::string_view AgentMetrics::StageName(AgentStage s) {
  switch (s) {
    case AgentStage::kAdmission:
      return "admission";
    case AgentStage::kImageResolve:
      return "image_resolve";
    case AgentStage::kContainerCreate:
      return "container_create";
    case AgentStage::kSnapshotPrepare:
      return "snapshot_prepare";
    case AgentStage::kTaskCreate:
      return "task_create";
    case AgentStage::kTaskStart:
      return "task_start";
    case AgentStage::kWarmClaim:
      return "warm_claim";
    case AgentStage::kInitExec:
      return "init_exec";
    case AgentStage::kNetwork:
      return "network";
  }
  return "unknown";
}

void AgentMetrics::RecordCreate(const absl::Status& result, const AgentTimings& timings) {
  stages_.Record(timings);
  creates_.Add({{"result", ResultLabel(result)}}).Increment();
}

void AgentMetrics::RecordDelete(const absl::Status& result) {
  deletes_.Add({{"result", ResultLabel(result)}}).Increment();
}

void AgentMetrics::RecordContainerdRpc(std::string_view rpc, absl::Duration took) {
  containerd_rpc_.Add({{"rpc", std::string(rpc)}}).Observe(absl::ToDoubleSeconds(took));
}

void AgentMetrics::RecordJanitor(std::string_view kind, int removed) {
  if (removed > 0) janitor_.Add({{"kind", std::string(kind)}}).Increment(removed);
}

metrics::Gauge& AgentMetrics::Sandboxes(std::string_view phase) {
  return sandboxes_.Add({{"phase", std::string(phase)}});
}

void AgentMetrics::RecordWarmClaim(bool hit, std::string_view reason) {
  warm_claims_.Add({{"result", hit ? "hit" : "miss"}, {"reason", std::string(reason)}}).Increment();
}

void AgentMetrics::RecordWarmRefill(const absl::Status& result, absl::Duration took) {
  warm_refill_.Add({{"result", ResultLabel(result)}}).Observe(absl::ToDoubleSeconds(took));
}

metrics::Gauge& AgentMetrics::NetworkSlots(std::string_view state) {
  return network_slots_.Add({{"state", std::string(state)}});
}

void AgentMetrics::RecordNetworkSlotSetup(const absl::Status& result, absl::Duration took,
                                          bool on_demand) {
  network_slot_setup_.Add({{"result", ResultLabel(result)}}).Observe(absl::ToDoubleSeconds(took));
  if (on_demand) network_slot_inline_.Increment();
}

void AgentMetrics::RecordNetworkSlotTeardown(const absl::Status& result) {
  network_slot_teardowns_.Add({{"result", ResultLabel(result)}}).Increment();
}

void AgentMetrics::RecordNetworkSlotCheck(const absl::Status& result) {
  network_slot_checks_.Add({{"result", ResultLabel(result)}}).Increment();
}

metrics::Gauge& AgentMetrics::WarmInstances(std::string_view image, std::string_view state) {
  return warm_instances_.Add({{"image", std::string(image)}, {"state", std::string(state)}});
}

}  // namespace fsb::agent
