#include "controller/sandbox/reconciler.h"

#include <array>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "controller/sandbox/record_rules.h"
#include "controller/sandbox_spec.h"
#include "glog/logging.h"
#include "internal/deadline.h"
#include "internal/ids.h"

namespace fsb::controller {
namespace {

using ::fsb::v1alpha1::Sandbox;
using ::fsb::v1alpha1::SandboxSpec;
using ::fsb::v1alpha1::SandboxStatus;
using Kind = ReconcileAction::Kind;

}  // namespace

std::string_view ReconcileActionName(Kind kind) {
  switch (kind) {
    case Kind::kDelete:
      return "delete";
    case Kind::kExpire:
      return "expire";
    case Kind::kReset:
      return "reset";
    case Kind::kRecreate:
      return "recreate";
    case Kind::kPlace:
      return "place";
    case Kind::kRedrive:
      return "redrive";
    case Kind::kOrphan:
      return "orphan";
  }
  return "unknown";
}

ReconcilePlan PlanReconcile(const PlanInput& input, absl::Time now) {
  const auto& agents = *input.agents;
  auto lost = [&](const std::string& id) {
    auto it = agents.find(id);
    return it == agents.end() ? input.unregistered_lost : it->second.lost;
  };
  // Placed on an agent that can neither be asked nor be given up on yet.
  auto awaits_agent = [&](const Sandbox& sandbox) {
    const std::string& id = sandbox.status().agent();
    return !id.empty() && !agents.contains(id) && !input.unregistered_lost;
  };

  ReconcilePlan plan;
  for (const auto& [key, record] : *input.records) {
    if (record.op != RecordOp::kNone) continue;
    const Sandbox& sandbox = record.sandbox;
    const SandboxSpec& spec = sandbox.spec();
    const SandboxStatus::Phase phase = sandbox.status().phase();
    // `key` captured by an init-capture: clang 14 (the fuzz tree) cannot capture a
    // structured binding implicitly.
    auto act = [&, &key = key](Kind kind, const Sandbox& as_planned) {
      plan.actions.push_back(ReconcileAction{.kind = kind, .key = key, .sandbox = as_planned});
    };
    const bool waits = awaits_agent(sandbox);
    if (phase == SandboxStatus::Terminating) {
      if (!waits) act(Kind::kDelete, sandbox);
      continue;
    }
    if (phase == SandboxStatus::Expired) continue;
    if (spec.has_expire_time() && now >= TimeOf(spec.expire_time())) {
      if (!waits) act(Kind::kExpire, sandbox);
      continue;
    }
    if (ResetRequested(sandbox)) {
      if (!waits) act(Kind::kReset, sandbox);
      continue;
    }
    if (!Placed(sandbox)) {
      if (phase == SandboxStatus::Pending) act(Kind::kPlace, sandbox);
      continue;
    }
    const std::string& agent_id = sandbox.status().agent();
    if (lost(agent_id) && (phase == SandboxStatus::Pending || phase == SandboxStatus::Scheduled ||
                           phase == SandboxStatus::Running)) {
      Sandbox marked = sandbox;
      MarkLost(spec, now,
               absl::StrCat("agent ", agent_id, " lost: no heartbeat for more than ",
                            absl::FormatDuration(input.agent_lost_timeout)),
               marked.mutable_status());
      plan.lost.emplace_back(key, marked.status());
      if (spec.failure_policy() == SandboxSpec::AutoRecreate &&
          now >= TimeOf(marked.status().recovery_deadline())) {
        act(Kind::kRecreate, marked);
      }
      continue;
    }
    if (phase == SandboxStatus::Lost) {
      if (spec.failure_policy() == SandboxSpec::AutoRecreate &&
          now >= TimeOf(sandbox.status().recovery_deadline())) {
        act(Kind::kRecreate, sandbox);
      }
      continue;
    }
    auto agent = agents.find(agent_id);
    if (phase == SandboxStatus::Scheduled && agent != agents.end() &&
        now - record.agent_seen >= input.orphan_timeout) {
      act(Kind::kRedrive, sandbox);
      plan.actions.back().agent_address = agent->second.address;
    }
  }
  for (const auto& [where, first_seen] : *input.unowned) {
    const auto& [agent_id, container] = where;
    if (now - first_seen >= input.orphan_timeout && !lost(agent_id)) {
      auto agent = agents.find(agent_id);
      plan.actions.push_back(ReconcileAction{
          .kind = Kind::kOrphan,
          .agent_id = agent_id,
          .agent_address = agent == agents.end() ? std::string() : agent->second.address,
          .container_id = container});
    }
  }
  return plan;
}

// ------------------------------------------------------------------------- Reconciler

Reconciler::Reconciler(Scheduler* scheduler, AgentClient* agents, RecordTable* table,
                       Placement* placement, ControllerMetrics* metrics,
                       metrics::Registry* registry, const Clock* clock, Options options)
    : scheduler_(scheduler),
      agents_(agents),
      table_(table),
      placement_(placement),
      metrics_(metrics),
      clock_(clock),
      options_(options),
      pending_(registry->AddGauge("fsb_reconcile_actions_pending",
                                  "Reconcile actions queued or running, by the agent they call "
                                  "(empty: placements, whose agent is chosen when they run).")),
      lanes_("fsb-reconcile", options.workers),
      loop_({.name = "fsb-reconciler", .first_delay = options.interval}, [this] {
        Dispatch();
        return options_.interval;
      }) {}

Reconciler::~Reconciler() { Stop(); }

void Reconciler::Start() { loop_.Start(); }
void Reconciler::Stop() {
  loop_.Stop();
  lanes_.Stop();
}
void Reconciler::Wake() { loop_.Wake(); }

void Reconciler::Dispatch() {
  for (ReconcileAction& action : Plan(clock_->Now())) {
    metrics_->RecordReconcile(ReconcileActionName(action.kind));
    const bool placing = action.kind == Kind::kPlace || action.kind == Kind::kRecreate;
    const std::string agent = action.kind == Kind::kOrphan ? action.agent_id
                              : placing                    ? std::string()
                                                           : action.sandbox.status().agent();
    // Agent ids are DNS subdomains: no lane of an agent is named like a record's.
    std::string lane = agent.empty()
                           ? absl::StrCat("record ", Qualified(action.key.first, action.key.second))
                           : agent;
    metrics::Gauge& pending = pending_.Add({{"agent", agent}});
    pending.Increment();
    lanes_.Add(std::move(lane), [this, &pending, action = std::move(action)]() {
      Execute(action);
      pending.Decrement();
    });
  }
  UpdateGauges();
}

void Reconciler::ReconcileOnce() {
  Dispatch();
  if (!lanes_.AwaitAllIdle(Deadline::In(kPassWait).time())) {
    LOG(WARNING) << "reconcile pass still running after " << kPassWait;
  }
  UpdateGauges();
}

bool Reconciler::AwaitAgentIdle(std::string_view agent_id, absl::Duration timeout) {
  return lanes_.AwaitIdle(agent_id, Deadline::In(timeout).time());
}

std::vector<ReconcileAction> Reconciler::Plan(absl::Time now) {
  absl::flat_hash_map<std::string, PlannedAgent> agents;
  for (const AgentSnapshot& a : scheduler_->GetAllAgents()) {
    agents[a.identity->id] = {options_.loss.Lost(a.last_heartbeat, now), a.identity->address};
  }
  RecordTable::Locked table(*table_);
  ReconcilePlan plan = PlanReconcile({.records = &table.records(),
                                      .unowned = &table.unowned(),
                                      .agents = &agents,
                                      .unregistered_lost = options_.loss.Lost(std::nullopt, now),
                                      .orphan_timeout = options_.orphan_timeout,
                                      .agent_lost_timeout = options_.loss.timeout},
                                     now);
  for (auto& [key, status] : plan.lost) {
    SandboxRecord& record = table.at(key);
    *record.sandbox.mutable_status() = std::move(status);
    table.Persist(key);
    LOG(WARNING) << "sandbox " << Qualified(record.sandbox) << ": "
                 << record.sandbox.status().message();
  }
  for (const ReconcileAction& action : plan.actions) {
    if (action.kind == Kind::kOrphan) {
      table.unowned().erase({action.agent_id, action.container_id});
    } else {
      table.at(action.key).op =
          action.kind == Kind::kDelete ? RecordOp::kDeleting : RecordOp::kReconciling;
    }
  }
  return std::move(plan.actions);
}

void Reconciler::Execute(const ReconcileAction& action) {
  const std::string qualified = Qualified(action.key.first, action.key.second);
  switch (action.kind) {
    case Kind::kOrphan: {
      absl::Status s =
          agents_->DeleteSandbox(action.agent_address, action.container_id, std::nullopt);
      LOG(INFO) << "orphan container " << action.container_id << " on " << action.agent_address
                << " (unknown to the store for " << absl::FormatDuration(options_.orphan_timeout)
                << "): delete: " << s;
      return;
    }
    case Kind::kDelete: {
      absl::Status s = placement_->StopOnAgent(action.sandbox, std::nullopt);
      RecordTable::Locked table(*table_);
      if (s.ok()) {
        placement_->Forget(table, action.key);
        LOG(INFO) << "sandbox " << qualified << " deleted (retried)";
        return;
      }
      table.at(action.key)
          .sandbox.mutable_status()
          ->set_message(absl::StrCat("deletion pending: ", s.message()));
      table.Settle(action.key);
      return;
    }
    case Kind::kExpire: {
      absl::Status s = placement_->StopOnAgent(action.sandbox, std::nullopt);
      RecordTable::Locked table(*table_);
      if (s.ok()) placement_->Unplace(table, action.key);
      SandboxRecord& record = table.at(action.key);
      SandboxStatus* status = record.sandbox.mutable_status();
      if (s.ok()) {
        ClearLoss(status);
        status->set_phase(SandboxStatus::Expired);
        status->set_message(
            absl::StrCat("expired at ", Rfc3339(TimeOf(record.sandbox.spec().expire_time()))));
        LOG(INFO) << "sandbox " << qualified << " " << status->message();
      } else {
        status->set_message(absl::StrCat("expiry pending: ", s.message()));
      }
      table.Persist(action.key);
      table.Settle(action.key);
      return;
    }
    case Kind::kRedrive: {
      absl::StatusOr<ReportedSandbox> answer =
          placement_->StartAgain(action.sandbox, action.agent_address);
      RecordTable::Locked table(*table_);
      if (answer.ok()) {
        table.Change(action.key, [&](SandboxRecord& record) {
          record.agent_seen = clock_->Now();
          ApplyCreated(*answer, HostOf(action.agent_address), &record.sandbox);
        });
      } else {
        // Place it again, elsewhere if need be.
        placement_->Unplace(table, action.key);
        SandboxStatus* status = table.at(action.key).sandbox.mutable_status();
        status->set_phase(SandboxStatus::Pending);
        status->set_message(
            absl::StrCat("re-creating on its agent failed: ", answer.status().message()));
      }
      table.Persist(action.key);
      table.Settle(action.key);
      return;
    }
    case Kind::kReset:
    case Kind::kRecreate:
    case Kind::kPlace:
      PlaceFresh(action);
      return;
  }
}

void Reconciler::PlaceFresh(const ReconcileAction& action) {
  const std::string qualified = Qualified(action.key.first, action.key.second);
  if (action.kind == Kind::kReset) {
    if (absl::Status s = placement_->StopOnAgent(action.sandbox, std::nullopt); !s.ok()) {
      RecordTable::Locked table(*table_);
      table.at(action.key)
          .sandbox.mutable_status()
          ->set_message(absl::StrCat("reset pending: ", s.message()));
      table.Settle(action.key);
      return;
    }
  }
  Sandbox fresh;
  {
    RecordTable::Locked table(*table_);
    placement_->ReleaseSlot(table, action.key);
    table.Change(action.key, [&](SandboxRecord& record) {
      SandboxStatus* status = record.sandbox.mutable_status();
      if (action.kind != Kind::kPlace) {
        status->set_container_id(RandomHex(8));
        status->set_restart_count(status->restart_count() + 1);
      }
      if (action.kind == Kind::kReset) {
        status->set_accepted_reset_revision(record.sandbox.spec().reset_revision());
      }
      ClearPlacement(status);
      ClearLoss(status);
      status->clear_exit_code();
      status->set_phase(SandboxStatus::Pending);
      status->set_observed_generation(record.sandbox.metadata().generation());
    });
    table.Persist(action.key);
    fresh = table.at(action.key).sandbox;
  }
  CreateTimings timings;
  absl::StatusOr<Sandbox> started = placement_->PlaceAndStart(action.key, fresh, timings);
  RecordTable::Locked table(*table_);
  table.Change(action.key, [&](SandboxRecord& record) {
    if (started.ok()) {
      *record.sandbox.mutable_status() = started->status();
      record.holds_slot = true;
      record.agent_seen = clock_->Now();
      LOG(INFO) << "sandbox " << qualified << " placed on agent " << started->status().agent()
                << " (restart " << started->status().restart_count() << ")";
    } else {
      record.sandbox.mutable_status()->set_message(
          absl::StrCat("placement failed, will retry: ", started.status().message()));
    }
  });
  table.Persist(action.key);
  table.Settle(action.key);
}

void Reconciler::UpdateGauges() {
  std::array<int, SandboxStatus::Phase_ARRAYSIZE> phases{};
  {
    RecordTable::Locked table(*table_);
    for (const auto& [key, record] : table.records()) ++phases[record.sandbox.status().phase()];
  }
  for (int p = SandboxStatus::Pending; p < SandboxStatus::Phase_ARRAYSIZE; ++p) {
    metrics_->Sandboxes(SandboxStatus::Phase_Name(static_cast<SandboxStatus::Phase>(p)))
        .Set(phases[p]);
  }
  int ready = 0, total = 0, used = 0;
  const std::vector<AgentSnapshot> agents = scheduler_->GetAllAgents();
  for (const AgentSnapshot& agent : agents) {
    ready += agent.healthy ? 1 : 0;
    total += agent.capacity;
    used += agent.used;
  }
  metrics_->agents().Set(static_cast<double>(agents.size()));
  metrics_->agents_ready().Set(ready);
  metrics_->capacity_total().Set(total);
  metrics_->capacity_used().Set(used);
}

}  // namespace fsb::controller
