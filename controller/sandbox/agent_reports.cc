#include "controller/sandbox/agent_reports.h"

#include <map>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "controller/sandbox/record_rules.h"
#include "controller/sandbox_spec.h"
#include "glog/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "internal/validation.h"

namespace fsb::controller {
namespace {

using ::fsb::v1alpha1::SandboxStatus;

}  // namespace

AgentReports::AgentReports(Scheduler* scheduler, const PoolService* pools, AgentClient* agents,
                           store::Store* store, RecordTable* table, Placement* placement,
                           Reconciler* reconciler, const Clock* clock, Options options)
    : scheduler_(scheduler),
      pools_(pools),
      agents_(agents),
      table_(table),
      placement_(placement),
      reconciler_(reconciler),
      clock_(clock),
      options_(options),
      records_(store, clock) {}

absl::StatusOr<std::shared_ptr<const fsb::agent::v1::WarmTargets>> AgentReports::Register(
    AgentRegistration registration) {
  AgentDescriptor& agent = registration.agent;
  if (agent.pool.empty()) agent.pool = kDefaultPool;
  agent.reported_sandboxes = static_cast<int>(registration.sandboxes.size());
  if (absl::Status s = ValidateDnsSubdomain("agent id", agent.id); !s.ok()) return s;
  if (agent.address.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("agent ", agent.id, ": address is required"));
  }
  const bool known = scheduler_->FindAgent(agent.id).has_value();
  absl::StatusOr<AgentHandle> handle = scheduler_->RegisterOrUpdate(agent);
  if (!handle.ok()) return handle.status();
  agents_->AgentUp(agent.id, agent.address);
  if (!known) {
    RecordTable::Locked table(*table_);
    placement_->RestoreSlots(table, agent.id);
  }
  Observe(agent.id, agent.address, registration.sandboxes);
  // Deletions, expiries and resets that waited for this agent can go on now.
  if (!known) reconciler_->Wake();
  if (absl::Status s = RecordAgent(agent); !s.ok()) {
    LOG(WARNING) << "agent " << agent.id << ": its record was not stored: " << s;
  }
  LOG(INFO) << "agent " << agent.id << " registered: address " << agent.address << ", node "
            << agent.node << ", pool " << agent.pool << ", capacity " << agent.max_sandboxes << ", "
            << registration.sandboxes.size() << " sandboxes, " << agent.warm.size()
            << " warm images" << (agent.runtime_down ? ", container runtime down" : "");
  return pools_->WarmTargets(scheduler_->PoolOf(agent.id));
}

absl::StatusOr<std::shared_ptr<const fsb::agent::v1::WarmTargets>> AgentReports::Heartbeat(
    const AgentHeartbeat& heartbeat) {
  std::vector<ImageId> images;
  images.reserve(heartbeat.images.size());
  for (const std::string& image : heartbeat.images) {
    if (absl::StatusOr<ImageId> id = scheduler_->InternImage(image); id.ok()) images.push_back(*id);
  }
  const InternedWarm warm = InternWarm(*scheduler_, heartbeat.warm);
  HeartbeatUpdate update;
  update.reported_sandboxes = static_cast<int>(heartbeat.sandboxes.size());
  update.images = images;
  update.warm = warm;
  update.runtime_down = heartbeat.runtime_down;
  const std::optional<AgentView> agent = scheduler_->ViewAgentByID(heartbeat.agent_id);
  if (!agent.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("agent ", heartbeat.agent_id, " is not registered; register again"));
  }
  if (absl::Status s = scheduler_->Heartbeat(agent->handle, update); !s.ok()) return s;
  Observe(heartbeat.agent_id, agent->identity->address, heartbeat.sandboxes);
  return pools_->WarmTargets(scheduler_->PoolOf(heartbeat.agent_id));
}

void AgentReports::Observe(std::string_view agent_id, std::string_view agent_address,
                           std::span<const ReportedSandbox> states) {
  const absl::Time now = clock_->Now();
  const std::string agent(agent_id);
  const std::string_view agent_host = HostOf(agent_address);
  absl::flat_hash_set<std::string> reported;
  // The agent's words for the containers it reports UNKNOWN, by container id.
  absl::flat_hash_map<std::string, std::string> unknown;
  RecordTable::Locked table(*table_);
  for (const ReportedSandbox& state : states) {
    reported.insert(state.container_id);
    // A report that cannot tell the container's state does not count as seeing it.
    const bool known = state.phase != ReportedSandbox::Phase::kUnknown;
    if (!known) unknown.try_emplace(state.container_id, state.message);
    std::optional<SandboxKey> owner = table.FindByContainer(state.container_id);
    // A claimed warm instance whose id the record does not have yet: it names the
    // record's (proposed) id as its requested id.
    if (!owner.has_value() && !state.requested_id.empty()) {
      owner = table.FindByContainer(state.requested_id);
    }
    if (owner.has_value()) {
      SandboxRecord& record = table.at(*owner);
      if (record.op != RecordOp::kNone) {
        // A fast create does not know its agent yet; Settle checks the agent.
        if (known && record.sandbox.status().agent() == agent) record.agent_seen = now;
        record.deferred = DeferredReport{agent, std::string(agent_host), state};
        continue;
      }
      if (record.sandbox.status().agent() == agent) {
        if (known) record.agent_seen = now;
        table.ApplyReport(*owner, state, agent_host);
        continue;
      }
    }
    table.unowned().try_emplace({agent, state.container_id}, now);
  }
  UnownedContainers& unowned = table.unowned();
  for (auto it = unowned.begin(); it != unowned.end();) {
    auto next = std::next(it);
    if (it->first.first == agent && !reported.contains(it->first.second)) unowned.erase(it);
    it = next;
  }
  const absl::flat_hash_set<SandboxKey>* placed = table.PlacedOn(agent);
  if (placed == nullptr) return;
  for (const SandboxKey& key : *placed) {
    SandboxRecord& record = table.at(key);
    SandboxStatus* status = record.sandbox.mutable_status();
    // agent_seen is fresh for every container reported in a known state.
    if (record.op != RecordOp::kNone || status->phase() != SandboxStatus::Running ||
        now - record.agent_seen < options_.orphan_timeout) {
      continue;
    }
    auto words = unknown.find(status->container_id());
    MarkLost(record.sandbox.spec(), now,
             words == unknown.end()
                 ? absl::StrCat("agent ", agent, " no longer reports the container")
                 : absl::StrCat("agent ", agent, " cannot tell the container's state for ",
                                absl::FormatDuration(now - record.agent_seen),
                                words->second.empty() ? "" : ": ", words->second),
             status);
    LOG(WARNING) << "sandbox " << Qualified(record.sandbox) << " (" << status->container_id()
                 << ") lost: " << status->message();
    table.Persist(key);
    reconciler_->Wake();
  }
}

absl::StatusOr<std::vector<v1alpha1::Agent>> AgentReports::List() const {
  absl::StatusOr<store::ResourceList<v1alpha1::Agent>> stored = records_.List({});
  if (!stored.ok()) return stored.status();
  std::map<std::string, v1alpha1::Agent> by_name;
  for (v1alpha1::Agent& record : stored->items) {
    // Known only from the store: not registered with this controller process.
    auto* status = record.mutable_status();
    status->Clear();
    auto* ready = status->add_conditions();
    ready->set_type("Ready");
    ready->set_status("False");
    ready->set_reason("NotRegistered");
    ready->set_message(
        "known from an earlier registration; not registered since the "
        "controller started");
    by_name[record.metadata().name()] = std::move(record);
  }
  const absl::Time now = clock_->Now();
  for (const AgentSnapshot& snapshot : scheduler_->GetAllAgents()) {
    v1alpha1::Agent& agent = by_name[snapshot.identity->id];
    agent.set_api_version(store::kApiVersion);
    agent.set_kind("Agent");
    agent.mutable_metadata()->set_name(snapshot.identity->id);
    auto* spec = agent.mutable_spec();
    spec->set_address(snapshot.identity->address);
    spec->set_node(snapshot.identity->node);
    spec->set_pool(snapshot.identity->pool);
    spec->set_capacity(snapshot.max_sandboxes);
    spec->set_draining(snapshot.draining);
    auto* status = agent.mutable_status();
    status->Clear();
    for (const std::string& image : snapshot.images) status->add_images(image);
    for (const NamedWarmImage& w : snapshot.warm) {
      v1alpha1::WarmStatus* warm = status->add_warm();
      warm->set_image(w.image);
      warm->set_ready(static_cast<int32_t>(w.ready));
      warm->set_preparing(static_cast<int32_t>(w.preparing));
      warm->set_desired(static_cast<int32_t>(w.desired));
    }
    status->set_allocated(snapshot.used);
    status->set_capacity(snapshot.capacity);
    SetTimestamp(snapshot.last_heartbeat, status->mutable_last_heartbeat());
    auto* ready = status->add_conditions();
    ready->set_type("Ready");
    const bool fresh = now - snapshot.last_heartbeat <= options_.agent_lost_timeout;
    ready->set_status(snapshot.healthy ? "True" : "False");
    ready->set_reason(snapshot.healthy        ? "HeartbeatFresh"
                      : !fresh                ? "HeartbeatMissed"
                      : snapshot.draining     ? "Draining"
                      : snapshot.runtime_down ? "RuntimeUnavailable"
                                              : "HeartbeatMissed");
    auto* runtime = status->add_conditions();
    runtime->set_type("RuntimeAvailable");
    runtime->set_status(snapshot.runtime_down ? "False" : "True");
    if (snapshot.runtime_down) {
      runtime->set_reason("ContainerdNotAnswering");
      runtime->set_message(
          "containerd does not answer: only creates that claim a warm instance are placed here");
      ready->set_message(runtime->message());
    }
  }
  std::vector<v1alpha1::Agent> out;
  out.reserve(by_name.size());
  for (auto& [name, agent] : by_name) out.push_back(std::move(agent));
  return out;
}

absl::Status AgentReports::Delete(std::string_view name) {
  const std::string id(name);
  absl::StatusOr<AgentSnapshot> live = scheduler_->GetAgentByID(id);
  if (live.ok() && clock_->Now() - live->last_heartbeat <= options_.agent_lost_timeout) {
    return absl::FailedPreconditionError(
        absl::StrCat("agent ", id, " is registered and sending heartbeats; stop it first"));
  }
  const bool registered = live.ok() && scheduler_->Remove(id).ok();
  {
    RecordTable::Locked table(*table_);
    std::vector<SandboxKey> terminating;
    if (const absl::flat_hash_set<SandboxKey>* placed = table.PlacedOn(id); placed != nullptr) {
      for (const SandboxKey& key : *placed) {
        SandboxRecord& record = table.at(key);
        // Its sandboxes no longer hold slots anywhere: should the agent register again, it
        // is a new registration and its slots are restored from its report.
        if (registered) record.holds_slot = false;
        if (record.sandbox.status().phase() == SandboxStatus::Terminating) {
          terminating.push_back(key);
        }
      }
    }
    // No agent is left to confirm their deletion: the reconciler ends them.
    for (const SandboxKey& key : terminating) placement_->Unplace(table, key);
    if (!terminating.empty()) reconciler_->Wake();
  }
  absl::StatusOr<v1alpha1::Agent> deleted = records_.Delete("", id);
  if (absl::IsNotFound(deleted.status())) {
    if (!registered) return absl::NotFoundError(absl::StrCat("agent ", id, " not found"));
  } else if (!deleted.ok()) {
    return deleted.status();
  }
  LOG(INFO) << "agent " << id << " deleted";
  return absl::OkStatus();
}

absl::Status AgentReports::RecordAgent(const AgentDescriptor& agent) {
  v1alpha1::AgentSpec spec;
  spec.set_address(agent.address);
  spec.set_node(agent.node);
  spec.set_pool(agent.pool);
  spec.set_capacity(agent.max_sandboxes);
  absl::StatusOr<v1alpha1::Agent> record = records_.Get("", agent.id);
  if (absl::IsNotFound(record.status())) {
    v1alpha1::Agent created;
    created.mutable_metadata()->set_name(agent.id);
    *created.mutable_spec() = std::move(spec);
    return records_.Create(std::move(created)).status();
  }
  if (!record.ok()) return record.status();
  if (google::protobuf::util::MessageDifferencer::Equals(record->spec(), spec)) {
    return absl::OkStatus();
  }
  *record->mutable_spec() = std::move(spec);
  return records_.Update(*std::move(record)).status();
}

}  // namespace fsb::controller
