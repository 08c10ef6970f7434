#include "controller/sandbox/placement.h"

#include <array>
#include <utility>

#include "absl/strings/str_cat.h"
#include "controller/sandbox/record_rules.h"
#include "controller/sandbox_spec.h"
#include "glog/logging.h"
#include "internal/stopwatch.h"

namespace fsb::controller {
namespace {

using ::fsb::v1alpha1::Sandbox;
using ::fsb::v1alpha1::SandboxSpec;
using ::fsb::v1alpha1::SandboxStatus;

}  // namespace

Placement::Placement(Scheduler* scheduler, AgentClient* agents, RecordTable* table,
                     ControllerMetrics* metrics, const Clock* clock, AgentLossRule loss)
    : scheduler_(scheduler),
      agents_(agents),
      table_(table),
      metrics_(metrics),
      clock_(clock),
      loss_(loss) {}

absl::StatusOr<Sandbox> Placement::PlaceAndStart(const SandboxKey& key, Sandbox sandbox,
                                                 CreateTimings& timings) {
  Stopwatch stage;
  const Ports ports(sandbox);
  AllocationRequest request;
  request.pool = scheduler_->LookupPool(sandbox.spec().pool_ref());
  request.image = scheduler_->LookupImage(sandbox.spec().image());
  request.ports = ports.span();
  request.request_hash = HashRequestId(sandbox.status().container_id());
  if (request.pool == kUnknownPool) {
    return absl::ResourceExhaustedError(
        absl::StrCat("no agent in pool \"", sandbox.spec().pool_ref(), "\""));
  }
  std::array<AgentHandle, kMaxCandidates> candidates;
  absl::StatusOr<int> found = scheduler_->Allocate(request, candidates);
  timings[CreateStage::kAllocate] += stage.Lap();
  if (!found.ok()) return found.status();

  const bool strong = sandbox.spec().consistency_mode() == SandboxSpec::strong;
  SandboxStatus* status = sandbox.mutable_status();
  absl::Status last;
  // Whether some candidate was reached (or reserved) and had no room: only when none
  // was is the create UNAVAILABLE (retryable: the agents exist) rather than full.
  bool some_full = false;
  for (int i = 0; i < *found; ++i) {
    const AgentHandle candidate = candidates[i];
    if (i > 0) {
      absl::Status reserved = scheduler_->Reserve(candidate, request);
      timings[CreateStage::kAllocate] += stage.Lap();
      if (!reserved.ok()) {
        last = reserved;
        some_full = some_full || absl::IsResourceExhausted(reserved);
        continue;
      }
    }
    const std::optional<AgentView> agent = scheduler_->ViewAgent(candidate, request.image);
    if (!agent.has_value()) {  // removed since it was chosen
      last = absl::NotFoundError("the chosen agent was removed");
      continue;
    }
    const AgentIdentity& identity = *agent->identity;
    status->set_agent(identity.id);
    status->set_node(identity.node);
    // Until the agent answers with the sandbox's ip, the endpoints are the agent host's.
    const std::string_view host = HostOf(identity.address);
    status->clear_ip();
    SetEndpoints(host, &sandbox);
    status->set_phase(SandboxStatus::Scheduled);

    if (strong) {
      // Durable before the agent is called: after a crash the reconciler finds the
      // Scheduled record and creates the sandbox on this agent again (idempotent).
      uint64_t ticket;
      {
        RecordTable::Locked table(*table_);
        table.Change(key, [&](SandboxRecord& record) {
          *record.sandbox.mutable_status() = *status;
          record.holds_slot = true;
        });
        ticket = table.Persist(key);
      }
      absl::Status durable = table_->AwaitDurable(key, ticket);
      timings[CreateStage::kPersist] += stage.Lap();
      if (!durable.ok()) {
        RecordTable::Locked table(*table_);
        Unplace(table, key);
        return durable;
      }
    }

    stage.Lap();
    absl::StatusOr<fsb::agent::v1::CreateSandboxResponse> answer = agents_->CreateSandbox(
        identity.address, AgentSpecOf(sandbox), /*may_pull=*/!agent->image_cached);
    timings[CreateStage::kAgentRpc] += stage.Lap();
    if (answer.ok()) {
      ApplyCreated(ReportedSandboxOf(answer->status()), host, &sandbox);
      UpdateWarm(candidate, WarmCountsOf(answer->warm_counts()));
      metrics_->RecordPlacement(answer->warm()        ? PlacementKind::kWarm
                                : agent->image_cached ? PlacementKind::kCached
                                                      : PlacementKind::kCold);
      return sandbox;
    }
    last = answer.status();
    if (strong) {
      RecordTable::Locked table(*table_);
      Unplace(table, key);
    } else {
      (void)scheduler_->Release(candidate, ports.span());
    }
    if (absl::IsResourceExhausted(last)) {
      some_full = true;
    } else if (!IsAgentUnreachable(last)) {
      break;
    }
    LOG(INFO) << "agent " << identity.id << " could not take sandbox " << Qualified(sandbox) << " ("
              << last << "); trying the next candidate";
  }
  ClearPlacement(status);
  status->set_phase(SandboxStatus::Pending);
  if (absl::IsResourceExhausted(last) || IsAgentUnreachable(last)) {
    const std::string message = absl::StrCat(some_full ? "no candidate agent could take sandbox "
                                                       : "no candidate agent reached for sandbox ",
                                             Qualified(sandbox), "; last: ", last.message());
    return some_full ? absl::ResourceExhaustedError(message) : absl::UnavailableError(message);
  }
  return last;
}

absl::StatusOr<ReportedSandbox> Placement::StartAgain(const Sandbox& sandbox,
                                                      const std::string& agent_address) {
  const std::optional<AgentView> agent = scheduler_->ViewAgentByID(
      sandbox.status().agent(), scheduler_->LookupImage(sandbox.spec().image()));
  const bool may_pull = !agent.has_value() || !agent->image_cached;
  absl::StatusOr<fsb::agent::v1::CreateSandboxResponse> answer =
      agents_->CreateSandbox(agent_address, AgentSpecOf(sandbox), may_pull);
  if (!answer.ok()) return answer.status();
  if (agent.has_value()) UpdateWarm(agent->handle, WarmCountsOf(answer->warm_counts()));
  return ReportedSandboxOf(answer->status());
}

absl::Status Placement::StopOnAgent(const Sandbox& sandbox, std::optional<absl::Duration> grace) {
  const std::string& agent_id = sandbox.status().agent();
  if (agent_id.empty()) return absl::OkStatus();
  const std::optional<AgentView> agent = scheduler_->ViewAgentByID(agent_id);
  const absl::Time now = clock_->Now();
  if (loss_.Lost(agent.has_value() ? std::optional(agent->last_heartbeat) : std::nullopt, now)) {
    return absl::OkStatus();
  }
  if (!agent.has_value()) {
    return absl::UnavailableError(absl::StrCat(
        "agent ", agent_id, " has not registered since the controller started (it counts as lost ",
        absl::FormatDuration(loss_.timeout), " after the start)"));
  }
  absl::Status s =
      agents_->DeleteSandbox(agent->identity->address, sandbox.status().container_id(), grace);
  if (s.ok() || absl::IsNotFound(s)) return absl::OkStatus();
  return absl::Status(s.code(), absl::StrCat("agent ", agent_id, ": ", s.message()));
}

void Placement::ReleaseSlot(RecordTable::Locked& table, const SandboxKey& key) {
  SandboxRecord& record = table.at(key);
  if (!record.holds_slot) return;
  record.holds_slot = false;
  std::optional<AgentHandle> agent = scheduler_->FindAgent(record.sandbox.status().agent());
  if (!agent.has_value()) return;
  Ports ports(record.sandbox);
  if (absl::Status s = scheduler_->Release(*agent, ports.span()); !s.ok()) {
    LOG(WARNING) << "releasing the slot of sandbox " << Qualified(record.sandbox) << ": " << s;
  }
}

void Placement::Unplace(RecordTable::Locked& table, const SandboxKey& key) {
  ReleaseSlot(table, key);
  table.Change(key, [](SandboxRecord& record) { ClearPlacement(record.sandbox.mutable_status()); });
}

void Placement::Forget(RecordTable::Locked& table, const SandboxKey& key) {
  if (table.Find(key) == nullptr) return;
  ReleaseSlot(table, key);
  table.Erase(key);
}

void Placement::RestoreSlots(RecordTable::Locked& table, std::string_view agent_id) {
  const absl::flat_hash_set<SandboxKey>* placed = table.PlacedOn(agent_id);
  std::optional<AgentHandle> agent = scheduler_->FindAgent(agent_id);
  if (placed == nullptr || !agent.has_value()) return;
  int restored = 0;
  for (const SandboxKey& key : *placed) {
    SandboxRecord& record = table.at(key);
    if (record.holds_slot || record.sandbox.status().phase() == SandboxStatus::Expired) continue;
    Ports ports(record.sandbox);
    if (absl::Status s = scheduler_->Restore(*agent, ports.span()); !s.ok()) {
      LOG(WARNING) << "restoring the slot of sandbox " << Qualified(record.sandbox) << ": " << s;
      continue;
    }
    record.holds_slot = true;
    ++restored;
  }
  if (restored > 0) LOG(INFO) << "agent " << agent_id << ": restored " << restored << " slots";
}

void Placement::UpdateWarm(AgentHandle agent, std::span<const NamedWarmImage> counts) {
  const InternedWarm warm = InternWarm(*scheduler_, counts);
  // NOT_FOUND only: the agent went away since it answered, with its warm counts.
  (void)scheduler_->SetWarm(agent, warm);
}

}  // namespace fsb::controller
