#include "controller/sandbox_service.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "controller/store/resources.h"
#include "glog/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "internal/ids.h"
#include "internal/stopwatch.h"
#include "internal/strings.h"
#include "internal/validation.h"

namespace fsb::controller {
namespace {

using ::fsb::v1alpha1::Sandbox;
using ::fsb::v1alpha1::SandboxSpec;
using ::fsb::v1alpha1::SandboxStatus;

std::string Qualified(std::string_view ns, std::string_view name) {
  return absl::StrCat(Sv(ns), "/", Sv(name));
}

std::string Qualified(const Sandbox& sandbox) {
  return Qualified(sandbox.metadata().namespace_(), sandbox.metadata().name());
}

// A sandbox's exposed ports in the scheduler's form, without allocating.
class Ports {
 public:
  explicit Ports(const Sandbox& sandbox) {
    for (int port : sandbox.spec().exposed_ports()) {
      if (size_ < ports_.size()) ports_[size_++] = static_cast<uint16_t>(port);
    }
  }
  std::span<const uint16_t> span() const { return {ports_.data(), size_}; }

 private:
  std::array<uint16_t, kMaxPorts> ports_{};
  size_t size_ = 0;
};

// The host part of a host:port address, brackets of an IPv6 literal kept, so that
// host + ":" + port is again an address.
std::string_view HostOf(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return address;
  if (address.front() == '[' && address[colon - 1] != ']') return address;  // bare "[::1]"
  return address.substr(0, colon);
}

bool Placed(const Sandbox& sandbox) { return !sandbox.status().agent().empty(); }

void ClearPlacement(SandboxStatus* status) {
  status->clear_agent();
  status->clear_node();
  status->clear_endpoints();
}

void ClearLoss(SandboxStatus* status) {
  status->clear_lost_at();
  status->clear_recovery_deadline();
}

// Moves `status` to the phase the agent reports. Returns whether anything changed.
bool ApplyAgentState(const fsb::agent::v1::SandboxStatus& state, SandboxStatus* status) {
  switch (state.phase()) {
    case fsb::agent::v1::SANDBOX_PHASE_RUNNING:
      if (status->phase() == SandboxStatus::Running) return false;
      if (status->phase() != SandboxStatus::Pending && status->phase() != SandboxStatus::Scheduled &&
          status->phase() != SandboxStatus::Lost) {
        return false;
      }
      status->set_phase(SandboxStatus::Running);
      ClearLoss(status);
      status->clear_message();
      return true;
    case fsb::agent::v1::SANDBOX_PHASE_EXITED: {
      const SandboxStatus::Phase phase =
          state.exit_code() == 0 ? SandboxStatus::Succeeded : SandboxStatus::Failed;
      if (status->phase() == phase && status->exit_code() == state.exit_code()) return false;
      status->set_phase(phase);
      status->set_exit_code(state.exit_code());
      ClearLoss(status);
      status->set_message(state.message());
      return true;
    }
    default:
      return false;
  }
}

// Records a create's answer `state` in `status`: Running (or what the state says), under
// the container id the agent used (the claimed instance's on a warm create).
void ApplyCreated(const fsb::agent::v1::SandboxStatus& state, SandboxStatus* status) {
  if (!state.sandbox_id().empty()) status->set_container_id(state.sandbox_id());
  status->set_phase(SandboxStatus::Running);
  ApplyAgentState(state, status);
}

// Whether an agent's `state` describes the container `container_id`: by its id, or, for
// a claimed warm instance, by the id the controller proposed for it.
bool Describes(const fsb::agent::v1::SandboxStatus& state, const std::string& container_id) {
  return state.sandbox_id() == container_id ||
         (!state.requested_id().empty() && state.requested_id() == container_id);
}

// Warm counts as the Scheduler takes them: images interned (malformed ones dropped),
// negative counts as 0. Inline storage: no allocation for a typical agent.
using InternedWarm = absl::InlinedVector<WarmImage, 8>;

uint32_t NonNegative(int32_t n) { return n > 0 ? static_cast<uint32_t>(n) : 0; }

InternedWarm InternWarm(Scheduler& scheduler,
                        const google::protobuf::RepeatedPtrField<fsb::agent::v1::WarmCount>& counts) {
  InternedWarm warm;
  for (const fsb::agent::v1::WarmCount& count : counts) {
    absl::StatusOr<ImageId> image = scheduler.InternImage(count.image());
    if (!image.ok()) continue;
    warm.push_back({*image, NonNegative(count.ready()), NonNegative(count.preparing()),
                    NonNegative(count.desired())});
  }
  return warm;
}

// An answer to an agent's registration or heartbeat: its pool's warm targets, absent
// when the pool has none.
template <typename Response>
Response WithWarmTargets(const std::shared_ptr<const fsb::agent::v1::WarmTargets>& targets) {
  Response response;
  if (targets != nullptr) *response.mutable_warm_targets() = *targets;
  return response;
}

// Whether spec.resetRevision asks for a reset that status.acceptedResetRevision has not
// seen. Unparseable revisions (validated on input) never trigger.
bool ResetRequested(const Sandbox& sandbox) {
  const std::string& wanted = sandbox.spec().reset_revision();
  if (wanted.empty()) return false;
  absl::StatusOr<absl::Time> w = ParseResetRevision(wanted);
  if (!w.ok()) return false;
  const std::string& accepted = sandbox.status().accepted_reset_revision();
  if (accepted.empty()) return true;
  absl::StatusOr<absl::Time> a = ParseResetRevision(accepted);
  return !a.ok() || *w > *a;
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
}

// Whether an agent reports `image` (normalized) among its images (sorted, normalized).
bool HasImage(const std::vector<std::string>& images, const std::string& image) {
  return std::binary_search(images.begin(), images.end(), image);
}

}  // namespace

struct SandboxService::Action {
  enum class Kind {
    kDelete,   // a Terminating record: stop on the agent, then forget it
    kExpire,   // past expireTime: stop on the agent, phase Expired
    kReset,    // a new resetRevision: stop, then place a fresh container
    kRecreate, // Lost past its recovery deadline with AutoRecreate: place a fresh container
    kPlace,    // Pending without an agent (an earlier placement failed): place it
    kRedrive,  // Scheduled but not reported by its agent: create it there again
    kOrphan,   // a container an agent runs that no record owns: delete it
  };
  Kind kind;
  Key key;
  Sandbox sandbox;  // the record when the action was planned
  std::string agent_address;
  std::string container_id;  // kOrphan
};

std::string_view SandboxService::ActionName(const Action& action) {
  using Kind = Action::Kind;
  switch (action.kind) {
    case Kind::kDelete: return "delete";
    case Kind::kExpire: return "expire";
    case Kind::kReset: return "reset";
    case Kind::kRecreate: return "recreate";
    case Kind::kPlace: return "place";
    case Kind::kRedrive: return "redrive";
    case Kind::kOrphan: return "orphan";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<SandboxService>> SandboxService::Create(
    Scheduler* scheduler, const PoolService* pools, AgentClient* agents, store::Store* store,
    const Clock* clock, metrics::Registry* registry, Options options) {
  auto service = std::unique_ptr<SandboxService>(
      new SandboxService(scheduler, pools, agents, store, clock, registry, options));
  if (absl::Status s = service->Load(); !s.ok()) return s;
  return service;
}

SandboxService::SandboxService(Scheduler* scheduler, const PoolService* pools,
                               AgentClient* agents, store::Store* store, const Clock* clock,
                               metrics::Registry* registry, Options options)
    : scheduler_(scheduler),
      pools_(pools),
      agents_(agents),
      store_(store),
      agent_records_(store, clock),
      clock_(clock),
      options_(options),
      started_(clock->Now()),
      metrics_(registry),
      persister_(store, {}) {}

SandboxService::~SandboxService() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (reconciler_.joinable()) reconciler_.join();
  if (absl::Status s = persister_.WaitAll(options_.persist_timeout); !s.ok()) {
    LOG(WARNING) << "shutting down with unwritten sandbox records: " << s;
  }
}

absl::Status SandboxService::Load() {
  store::ListOptions list{.kind = "Sandbox", .limit = 500};
  int loaded = 0;
  absl::MutexLock lock(&mu_);
  do {
    absl::StatusOr<store::ListResult> page = store_->List(list);
    if (!page.ok()) return page.status();
    for (const store::Object& object : page->items) {
      absl::StatusOr<Sandbox> sandbox = store::DecodeObject<Sandbox>(object);
      if (!sandbox.ok()) return sandbox.status();
      persister_.Known(object.key, object.resource_version);
      const Key key{sandbox->metadata().namespace_(), sandbox->metadata().name()};
      Entry& entry = sandboxes_[key];
      entry.sandbox = *std::move(sandbox);
      entry.stored = true;
      entry.agent_seen = started_;
      Index(key, entry);
      ++loaded;
    }
    list.continue_token = page->continue_token;
  } while (!list.continue_token.empty());
  LOG(INFO) << "loaded " << loaded << " sandboxes from the store";
  return absl::OkStatus();
}

void SandboxService::Start() {
  if (!options_.run_reconciler || reconciler_.joinable()) return;
  reconciler_ = std::thread([this] { RunReconciler(); });
}

void SandboxService::RunReconciler() {
  auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || wake_; };
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&woken), options_.reconcile_interval);
      if (stop_) return;
      wake_ = false;
    }
    ReconcileOnce();
  }
}

absl::Status SandboxService::Flush(absl::Duration timeout) { return persister_.WaitAll(timeout); }

// ------------------------------------------------------------------------- bookkeeping

void SandboxService::Index(const Key& key, const Entry& entry) {
  const Sandbox& s = entry.sandbox;
  auto it = s.metadata().annotations().find(kRequestIdAnnotation);
  if (it != s.metadata().annotations().end()) by_request_id_[it->second] = key;
  if (!s.status().container_id().empty()) by_container_[s.status().container_id()] = key;
  if (Placed(s)) by_agent_[s.status().agent()].insert(key);
}

void SandboxService::Unindex(const Key& key, const Entry& entry) {
  const Sandbox& s = entry.sandbox;
  auto erase_if_ours = [&](absl::flat_hash_map<std::string, Key>& index, const std::string& k) {
    auto it = index.find(k);
    if (it != index.end() && it->second == key) index.erase(it);
  };
  auto it = s.metadata().annotations().find(kRequestIdAnnotation);
  if (it != s.metadata().annotations().end()) erase_if_ours(by_request_id_, it->second);
  erase_if_ours(by_container_, s.status().container_id());
  if (Placed(s)) {
    auto agent = by_agent_.find(s.status().agent());
    if (agent != by_agent_.end()) {
      agent->second.erase(key);
      if (agent->second.empty()) by_agent_.erase(agent);
    }
  }
}

uint64_t SandboxService::Persist(const Key& key) {
  Entry& entry = sandboxes_.at(key);
  entry.stored = true;
  entry.sandbox.mutable_metadata()->clear_resource_version();
  return persister_.Put(store::EncodeObject(entry.sandbox));
}

absl::Status SandboxService::AwaitDurable(const Key& key, uint64_t ticket) {
  absl::Status s = persister_.Wait(store::ObjectKey{"Sandbox", key.first, key.second}, ticket,
                                   options_.persist_timeout);
  if (s.ok()) return s;
  return absl::UnavailableError(absl::StrCat("sandbox ", Qualified(key.first, key.second),
                                             " could not be stored: ", s.message()));
}

void SandboxService::Settle(const Key& key, Entry& entry) {
  entry.op = Op::kNone;
  if (!entry.deferred) return;
  const auto [agent, state] = *std::move(entry.deferred);
  entry.deferred.reset();
  if (agent == entry.sandbox.status().agent() &&
      Describes(state, entry.sandbox.status().container_id())) {
    ApplyReported(key, entry, state);
  }
}

void SandboxService::ApplyReported(const Key& key, Entry& entry,
                                   const fsb::agent::v1::SandboxStatus& state) {
  bool changed = false;
  if (state.sandbox_id() != entry.sandbox.status().container_id()) {
    // A claimed warm instance, reported under its own id before the create's answer
    // was recorded (or after it was lost): it is this record's container.
    VLOG(1) << "sandbox " << Qualified(entry.sandbox) << ": container "
            << entry.sandbox.status().container_id() << " runs as " << state.sandbox_id();
    Unindex(key, entry);
    entry.sandbox.mutable_status()->set_container_id(state.sandbox_id());
    Index(key, entry);
    changed = true;
  }
  const SandboxStatus::Phase phase = entry.sandbox.status().phase();
  if (phase != SandboxStatus::Terminating && phase != SandboxStatus::Expired &&
      ApplyAgentState(state, entry.sandbox.mutable_status())) {
    changed = true;
  }
  if (changed) Persist(key);
}

void SandboxService::Erase(const Key& key) {
  auto it = sandboxes_.find(key);
  if (it == sandboxes_.end()) return;
  ReleaseSlot(it->second);
  Unindex(key, it->second);
  const bool stored = it->second.stored;
  sandboxes_.erase(it);
  if (stored) persister_.Remove(store::ObjectKey{"Sandbox", key.first, key.second});
}

void SandboxService::ReleaseSlot(Entry& entry) {
  if (!entry.holds_slot) return;
  entry.holds_slot = false;
  std::optional<AgentHandle> agent = scheduler_->FindAgent(entry.sandbox.status().agent());
  if (!agent.has_value()) return;
  Ports ports(entry.sandbox);
  if (absl::Status s = scheduler_->Release(*agent, ports.span()); !s.ok()) {
    LOG(WARNING) << "releasing the slot of sandbox " << Qualified(entry.sandbox) << ": " << s;
  }
}

void SandboxService::Unplace(const Key& key, Entry& entry) {
  ReleaseSlot(entry);
  Unindex(key, entry);
  ClearPlacement(entry.sandbox.mutable_status());
  Index(key, entry);
}

void SandboxService::RestoreSlots(std::string_view agent_id) {
  auto placed = by_agent_.find(Sv(agent_id));
  std::optional<AgentHandle> agent = scheduler_->FindAgent(agent_id);
  if (placed == by_agent_.end() || !agent.has_value()) return;
  int restored = 0;
  for (const Key& key : placed->second) {
    Entry& entry = sandboxes_.at(key);
    if (entry.holds_slot || entry.sandbox.status().phase() == SandboxStatus::Expired) continue;
    Ports ports(entry.sandbox);
    if (absl::Status s = scheduler_->Restore(*agent, ports.span()); !s.ok()) {
      LOG(WARNING) << "restoring the slot of sandbox " << Qualified(entry.sandbox) << ": " << s;
      continue;
    }
    entry.holds_slot = true;
    ++restored;
  }
  if (restored > 0) LOG(INFO) << "agent " << agent_id << ": restored " << restored << " slots";
}

// ------------------------------------------------------------------------------- API

absl::StatusOr<Sandbox> SandboxService::CreateSandbox(const fastpath::v1::CreateRequest& request) {
  const Stopwatch total;
  CreateTimings timings;
  absl::StatusOr<Sandbox> desired =
      SandboxFromRequest(request, options_.default_mode, clock_->Now());
  timings[CreateStage::kValidate] = total.Elapsed();
  const bool strong = desired.ok() ? desired->spec().consistency_mode() == SandboxSpec::strong
                                   : request.consistency_mode() == fastpath::v1::STRONG;
  absl::StatusOr<Sandbox> created =
      desired.ok() ? CreateRecord(*std::move(desired), timings) : desired.status();
  const absl::Duration took = total.Elapsed();
  metrics_.RecordCreate(strong, created.status(), took, timings);
  VLOG(2) << "create " << Qualified(request.namespace_().empty() ? kDefaultNamespace
                                                                 : request.namespace_(),
                                    created.ok() ? created->metadata().name() : request.name())
          << " mode=" << (strong ? "strong" : "fast") << " result="
          << (created.ok() ? "ok" : absl::StatusCodeToString(created.status().code()))
          << " total=" << took << " validate=" << timings[CreateStage::kValidate]
          << " allocate=" << timings[CreateStage::kAllocate]
          << " persist=" << timings[CreateStage::kPersist]
          << " agent_rpc=" << timings[CreateStage::kAgentRpc]
          << (created.ok() ? absl::StrCat(" agent=", created->status().agent()) : "");
  return created;
}

absl::StatusOr<Sandbox> SandboxService::CreateRecord(Sandbox desired, CreateTimings& timings) {
  const auto& annotations = desired.metadata().annotations();
  const std::string request_id = annotations.at(kRequestIdAnnotation);
  const std::string spec_hash = annotations.at(kSpecHashAnnotation);
  const Key key{desired.metadata().namespace_(), desired.metadata().name()};
  {
    absl::MutexLock lock(&mu_);
    const absl::Time wait_deadline = absl::Now() + options_.create_wait_timeout;
    while (true) {
      auto same = by_request_id_.find(request_id);
      if (same != by_request_id_.end()) {
        const Key existing_key = same->second;
        Entry& existing = sandboxes_.at(existing_key);
        const auto& existing_annotations = existing.sandbox.metadata().annotations();
        auto hash = existing_annotations.find(kSpecHashAnnotation);
        if (hash == existing_annotations.end() || hash->second != spec_hash) {
          return absl::AlreadyExistsError(absl::StrCat(
              "request id \"", request_id, "\" already created sandbox ",
              Qualified(existing_key.first, existing_key.second), " with a different spec"));
        }
        if (existing.op != Op::kCreating) return existing.sandbox;
        // The same request is in flight: wait for its outcome, then look again.
        auto settled = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          auto it = sandboxes_.find(existing_key);
          return it == sandboxes_.end() || it->second.op != Op::kCreating;
        };
        if (!mu_.AwaitWithDeadline(absl::Condition(&settled), wait_deadline)) {
          return absl::UnavailableError(absl::StrCat(
              "sandbox ", Qualified(existing_key.first, existing_key.second),
              " of request id \"", request_id, "\" is still being created; retry later"));
        }
        continue;
      }
      if (auto taken = sandboxes_.find(key); taken != sandboxes_.end()) {
        auto rid = taken->second.sandbox.metadata().annotations().find(kRequestIdAnnotation);
        return absl::AlreadyExistsError(absl::StrCat(
            "sandbox ", Qualified(key.first, key.second), " already exists",
            rid == taken->second.sandbox.metadata().annotations().end()
                ? std::string()
                : absl::StrCat(" (created by request id \"", rid->second, "\")")));
      }
      break;
    }
    auto* meta = desired.mutable_metadata();
    meta->set_uid(RandomHex(16));
    meta->set_generation(1);
    SetTimestamp(clock_->Now(), meta->mutable_creation_timestamp());
    desired.mutable_status()->set_container_id(RandomHex(8));
    desired.mutable_status()->set_observed_generation(1);
    Entry& entry = sandboxes_[key];
    entry.sandbox = desired;
    entry.op = Op::kCreating;
    Index(key, entry);
  }

  absl::StatusOr<Sandbox> started = PlaceAndStart(key, desired, timings);
  absl::MutexLock lock(&mu_);
  Entry& entry = sandboxes_.at(key);
  if (!started.ok()) {
    Erase(key);
    return started.status();
  }
  Unindex(key, entry);
  *entry.sandbox.mutable_status() = started->status();
  entry.holds_slot = true;
  entry.agent_seen = clock_->Now();
  Index(key, entry);
  Persist(key);
  Settle(key, entry);
  VLOG(1) << "sandbox " << Qualified(key.first, key.second) << " ("
          << entry.sandbox.status().container_id() << ") running on agent "
          << entry.sandbox.status().agent();
  return entry.sandbox;
}

absl::StatusOr<Sandbox> SandboxService::PlaceAndStart(const Key& key, Sandbox sandbox,
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
  for (int i = 0; i < *found; ++i) {
    const AgentHandle candidate = candidates[i];
    if (i > 0) {
      absl::Status reserved = scheduler_->Reserve(candidate, request);
      timings[CreateStage::kAllocate] += stage.Lap();
      if (!reserved.ok()) {
        last = reserved;
        continue;
      }
    }
    absl::StatusOr<AgentSnapshot> agent = scheduler_->GetAgent(candidate);
    if (!agent.ok()) {  // removed since it was chosen
      last = agent.status();
      continue;
    }
    status->set_agent(agent->id);
    status->set_node(agent->node);
    status->clear_endpoints();
    const std::string_view host = HostOf(agent->address);
    for (int port : sandbox.spec().exposed_ports()) {
      status->add_endpoints(absl::StrCat(Sv(host), ":", port));
    }
    status->set_phase(SandboxStatus::Scheduled);

    if (strong) {
      // Durable before the agent is called: after a crash the reconciler finds the
      // Scheduled record and creates the sandbox on this agent again (idempotent).
      uint64_t ticket;
      {
        absl::MutexLock lock(&mu_);
        Entry& entry = sandboxes_.at(key);
        Unindex(key, entry);
        *entry.sandbox.mutable_status() = *status;
        entry.holds_slot = true;
        Index(key, entry);
        ticket = Persist(key);
      }
      absl::Status durable = AwaitDurable(key, ticket);
      timings[CreateStage::kPersist] += stage.Lap();
      if (!durable.ok()) {
        absl::MutexLock lock(&mu_);
        Unplace(key, sandboxes_.at(key));
        return durable;
      }
    }

    stage.Lap();
    const bool cached = HasImage(agent->images, sandbox.spec().image());
    absl::StatusOr<fsb::agent::v1::CreateSandboxResponse> answer =
        agents_->CreateSandbox(agent->address, AgentSpecOf(sandbox), /*may_pull=*/!cached);
    timings[CreateStage::kAgentRpc] += stage.Lap();
    if (answer.ok()) {
      ApplyCreated(answer->status(), status);
      UpdateWarm(candidate, answer->warm_counts());
      metrics_.RecordPlacement(answer->warm() ? PlacementKind::kWarm
                               : cached       ? PlacementKind::kCached
                                              : PlacementKind::kCold);
      return sandbox;
    }
    last = answer.status();
    if (strong) {
      absl::MutexLock lock(&mu_);
      Unplace(key, sandboxes_.at(key));
    } else {
      (void)scheduler_->Release(candidate, ports.span());
    }
    if (!absl::IsResourceExhausted(last) && !IsAgentUnreachable(last)) break;
    LOG(INFO) << "agent " << agent->id << " could not take sandbox " << Qualified(sandbox)
              << " (" << last << "); trying the next candidate";
  }
  ClearPlacement(status);
  status->set_phase(SandboxStatus::Pending);
  if (absl::IsResourceExhausted(last) || IsAgentUnreachable(last)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "no candidate agent could take sandbox ", Qualified(sandbox), "; last: ", last.message()));
  }
  return last;
}

void SandboxService::UpdateWarm(
    AgentHandle agent,
    const google::protobuf::RepeatedPtrField<fsb::agent::v1::WarmCount>& counts) {
  const InternedWarm warm = InternWarm(*scheduler_, counts);
  // NOT_FOUND only: the agent went away since it answered, with its warm counts.
  (void)scheduler_->SetWarm(agent, warm);
}

absl::StatusOr<Sandbox> SandboxService::Apply(const Sandbox& resource, bool* created) {
  const absl::Time now = clock_->Now();
  absl::StatusOr<Sandbox> desired = SandboxFromResource(resource, options_.default_mode, now);
  if (!desired.ok()) return desired.status();
  const Key key{desired->metadata().namespace_(), desired->metadata().name()};
  bool exists;
  {
    absl::MutexLock lock(&mu_);
    exists = sandboxes_.contains(key);
  }
  *created = !exists;
  // A create racing this one is caught by CreateRecord (ALREADY_EXISTS, or the same
  // sandbox when it came from the same request id).
  if (!exists) {
    CreateTimings timings;
    return CreateRecord(*std::move(desired), timings);
  }

  uint64_t ticket = 0;
  bool strong = false;
  Sandbox result;
  {
    absl::MutexLock lock(&mu_);
    auto it = sandboxes_.find(key);
    if (it == sandboxes_.end()) {
      return absl::AbortedError(absl::StrCat("sandbox ", Qualified(key.first, key.second),
                                             " was deleted while being applied; apply again"));
    }
    Entry& entry = it->second;
    if (entry.op == Op::kCreating || entry.op == Op::kDeleting ||
        entry.sandbox.status().phase() == SandboxStatus::Terminating) {
      return absl::FailedPreconditionError(absl::StrCat(
          "sandbox ", Qualified(key.first, key.second), " is being created or deleted"));
    }
    const std::string immutable = ImmutableSpecChanges(entry.sandbox.spec(), desired->spec());
    if (!immutable.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sandbox ", Qualified(key.first, key.second), ": spec fields ", immutable,
          " cannot change after create; delete the sandbox and create it again"));
    }
    Sandbox updated = entry.sandbox;
    auto* meta = updated.mutable_metadata();
    *meta->mutable_labels() = desired->metadata().labels();
    // The user's annotations replace theirs; fsb's own bookkeeping stays.
    auto annotations = desired->metadata().annotations();
    annotations[kRequestIdAnnotation] = meta->annotations().at(kRequestIdAnnotation);
    annotations[kSpecHashAnnotation] = meta->annotations().at(kSpecHashAnnotation);
    *meta->mutable_annotations() = annotations;
    auto* spec = updated.mutable_spec();
    const SandboxSpec& want = desired->spec();
    if (want.has_expire_time()) {
      *spec->mutable_expire_time() = want.expire_time();
    } else {
      spec->clear_expire_time();
    }
    spec->set_failure_policy(want.failure_policy());
    spec->set_recovery_timeout_seconds(want.recovery_timeout_seconds());
    spec->set_reset_revision(want.reset_revision());
    if (!google::protobuf::util::MessageDifferencer::Equals(updated.spec(), entry.sandbox.spec())) {
      meta->set_generation(meta->generation() + 1);
    }
    if (!google::protobuf::util::MessageDifferencer::Equals(updated, entry.sandbox)) {
      Unindex(key, entry);
      entry.sandbox = std::move(updated);
      Index(key, entry);
      ticket = Persist(key);
      wake_ = true;
    }
    strong = entry.sandbox.spec().consistency_mode() == SandboxSpec::strong;
    result = entry.sandbox;
  }
  if (strong && ticket != 0) {
    if (absl::Status s = AwaitDurable(key, ticket); !s.ok()) return s;
  }
  return result;
}

absl::StatusOr<Sandbox> SandboxService::Get(std::string_view ns, std::string_view name) const {
  const Key key{ns.empty() ? kDefaultNamespace : ns, name};
  absl::MutexLock lock(&mu_);
  auto it = sandboxes_.find(key);
  if (it == sandboxes_.end()) {
    return absl::NotFoundError(
        absl::StrCat("sandbox ", Qualified(key.first, key.second), " not found"));
  }
  Sandbox sandbox = it->second.sandbox;
  sandbox.mutable_metadata()->set_resource_version(
      persister_.StoredVersion(store::ObjectKey{"Sandbox", key.first, key.second}));
  return sandbox;
}

absl::StatusOr<std::vector<Sandbox>> SandboxService::List(std::string_view ns,
                                                          std::string_view label_selector) const {
  absl::StatusOr<store::LabelSelector> selector = store::ParseLabelSelector(label_selector);
  if (!selector.ok()) return selector.status();
  std::vector<Sandbox> out;
  absl::MutexLock lock(&mu_);
  // Keys are ordered by namespace first, so one namespace is a contiguous range.
  auto it = ns.empty() ? sandboxes_.begin() : sandboxes_.lower_bound(Key{ns, ""});
  for (; it != sandboxes_.end() && (ns.empty() || it->first.first == ns); ++it) {
    const auto& labels = it->second.sandbox.metadata().labels();
    if (!selector->empty() && !store::Matches(*selector, store::Labels(labels.begin(), labels.end()))) {
      continue;
    }
    out.push_back(it->second.sandbox);
  }
  return out;
}

absl::StatusOr<Sandbox> SandboxService::Update(const fastpath::v1::UpdateRequest& request) {
  const Key key{request.namespace_().empty() ? kDefaultNamespace : request.namespace_(),
                request.sandbox_name()};
  const std::string qualified = Qualified(key.first, key.second);
  const absl::Time now = clock_->Now();
  uint64_t ticket = 0;
  bool strong = false;
  Sandbox result;
  {
    absl::MutexLock lock(&mu_);
    auto it = sandboxes_.find(key);
    if (it == sandboxes_.end()) return absl::NotFoundError(absl::StrCat("sandbox ", qualified, " not found"));
    Entry& entry = it->second;
    if (entry.op == Op::kCreating) {
      return absl::FailedPreconditionError(
          absl::StrCat("sandbox ", qualified, " is being created; retry when the create returns"));
    }
    if (entry.op == Op::kDeleting || entry.sandbox.status().phase() == SandboxStatus::Terminating) {
      return absl::FailedPreconditionError(absl::StrCat("sandbox ", qualified, " is being deleted"));
    }
    Sandbox updated = entry.sandbox;
    SandboxSpec* spec = updated.mutable_spec();
    switch (request.update_case()) {
      case fastpath::v1::UpdateRequest::kExpireTimeSeconds:
        if (request.expire_time_seconds() < 0) {
          return absl::InvalidArgumentError("expire_time_seconds must not be negative");
        }
        if (request.expire_time_seconds() == 0) {
          spec->clear_expire_time();
        } else {
          const absl::Time at = absl::FromUnixSeconds(request.expire_time_seconds());
          if (at <= now) {
            return absl::InvalidArgumentError(absl::StrCat(
                "expire_time_seconds ", request.expire_time_seconds(), " (", Rfc3339(at),
                ") is not in the future"));
          }
          SetTimestamp(at, spec->mutable_expire_time());
        }
        break;
      case fastpath::v1::UpdateRequest::kResetRevision:
        if (auto t = ParseResetRevision(request.reset_revision()); !t.ok()) return t.status();
        spec->set_reset_revision(request.reset_revision());
        break;
      case fastpath::v1::UpdateRequest::kFailurePolicy:
        if (request.failure_policy() == fastpath::v1::MANUAL) {
          spec->set_failure_policy(SandboxSpec::Manual);
        } else if (request.failure_policy() == fastpath::v1::AUTO_RECREATE) {
          spec->set_failure_policy(SandboxSpec::AutoRecreate);
        } else {
          return absl::InvalidArgumentError(
              absl::StrCat("failure_policy ", request.failure_policy(), " is not a known policy"));
        }
        break;
      case fastpath::v1::UpdateRequest::kRecoveryTimeoutSeconds:
        if (request.recovery_timeout_seconds() < 1 ||
            request.recovery_timeout_seconds() > kMaxRecoveryTimeoutSeconds) {
          return absl::InvalidArgumentError(absl::StrCat(
              "recovery_timeout_seconds ", request.recovery_timeout_seconds(),
              " is out of range 1-", kMaxRecoveryTimeoutSeconds));
        }
        spec->set_recovery_timeout_seconds(request.recovery_timeout_seconds());
        break;
      case fastpath::v1::UpdateRequest::UPDATE_NOT_SET:
        break;
    }
    auto* labels = updated.mutable_metadata()->mutable_labels();
    for (const auto& [k, v] : request.labels()) {
      if (absl::Status s = ValidateLabel("labels", k, v); !s.ok()) return s;
      (*labels)[k] = v;
    }
    for (const std::string& k : request.remove_labels()) labels->erase(k);
    if (labels->size() > static_cast<size_t>(kMaxLabels)) {
      return absl::InvalidArgumentError(
          absl::StrCat("labels: ", labels->size(), " entries, at most ", kMaxLabels, " are allowed"));
    }
    if (!google::protobuf::util::MessageDifferencer::Equals(updated.spec(), entry.sandbox.spec())) {
      updated.mutable_metadata()->set_generation(updated.metadata().generation() + 1);
      wake_ = true;  // expiry or reset may be due now
    }
    if (!google::protobuf::util::MessageDifferencer::Equals(updated, entry.sandbox)) {
      entry.sandbox = std::move(updated);
      ticket = Persist(key);
    }
    strong = entry.sandbox.spec().consistency_mode() == SandboxSpec::strong;
    result = entry.sandbox;
  }
  if (strong && ticket != 0) {
    if (absl::Status s = AwaitDurable(key, ticket); !s.ok()) return s;
  }
  return result;
}

absl::Status SandboxService::Delete(std::string_view ns, std::string_view name,
                                    std::optional<absl::Duration> grace) {
  absl::Status deleted = DeleteRecord(ns, name, grace);
  metrics_.RecordDelete(deleted);
  return deleted;
}

absl::Status SandboxService::DeleteRecord(std::string_view ns, std::string_view name,
                                          std::optional<absl::Duration> grace) {
  const Key key{ns.empty() ? kDefaultNamespace : ns, name};
  const std::string qualified = Qualified(key.first, key.second);
  Sandbox sandbox;
  uint64_t ticket;
  {
    absl::MutexLock lock(&mu_);
    auto it = sandboxes_.find(key);
    if (it == sandboxes_.end()) return absl::NotFoundError(absl::StrCat("sandbox ", qualified, " not found"));
    Entry& entry = it->second;
    if (entry.op != Op::kNone) {
      return absl::FailedPreconditionError(absl::StrCat(
          "sandbox ", qualified, " is being ",
          entry.op == Op::kCreating   ? "created"
          : entry.op == Op::kDeleting ? "deleted"
                                      : "reconciled",
          "; retry in a moment"));
    }
    entry.op = Op::kDeleting;
    entry.sandbox.mutable_status()->set_phase(SandboxStatus::Terminating);
    if (!entry.sandbox.metadata().has_deletion_timestamp()) {
      SetTimestamp(clock_->Now(), entry.sandbox.mutable_metadata()->mutable_deletion_timestamp());
    }
    ticket = Persist(key);
    sandbox = entry.sandbox;
  }
  // The deletion is durable before the container goes: a crash in between leaves a
  // Terminating record that the reconciler deletes, never a record of nothing.
  absl::Status durable = AwaitDurable(key, ticket);
  absl::Status stopped = durable.ok() ? StopOnAgent(sandbox, grace) : durable;
  absl::MutexLock lock(&mu_);
  Entry& entry = sandboxes_.at(key);
  if (stopped.ok()) {
    Erase(key);
    VLOG(1) << "sandbox " << qualified << " deleted";
    return absl::OkStatus();
  }
  entry.sandbox.mutable_status()->set_message(
      absl::StrCat("deletion pending: ", stopped.message()));
  Persist(key);
  Settle(key, entry);
  return absl::UnavailableError(absl::StrCat("sandbox ", qualified,
                                             " is Terminating; the deletion will be retried: ",
                                             stopped.message()));
}

absl::Status SandboxService::StopOnAgent(const Sandbox& sandbox,
                                         std::optional<absl::Duration> grace) {
  const std::string& agent_id = sandbox.status().agent();
  if (agent_id.empty()) return absl::OkStatus();
  absl::StatusOr<AgentSnapshot> agent = scheduler_->GetAgentByID(agent_id);
  if (!agent.ok() || clock_->Now() - agent->last_heartbeat > options_.agent_lost_timeout) {
    // Nothing to ask: should the agent come back with the container, the orphan
    // reconciler deletes it.
    return absl::OkStatus();
  }
  absl::Status s = agents_->DeleteSandbox(agent->address, sandbox.status().container_id(), grace);
  if (s.ok() || absl::IsNotFound(s)) return absl::OkStatus();
  return absl::Status(s.code(), absl::StrCat("agent ", agent_id, ": ", s.message()));
}

absl::StatusOr<SandboxService::Location> SandboxService::Locate(std::string_view ns,
                                                                std::string_view name) const {
  absl::StatusOr<Sandbox> sandbox = Get(ns, name);
  if (!sandbox.ok()) return sandbox.status();
  const SandboxStatus& status = sandbox->status();
  if (!Placed(*sandbox)) {
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox ", Qualified(*sandbox), " has no container on an agent (phase ",
                     SandboxStatus::Phase_Name(status.phase()), ")"));
  }
  absl::StatusOr<AgentSnapshot> agent = scheduler_->GetAgentByID(status.agent());
  if (!agent.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sandbox ", Qualified(*sandbox), ": its agent ", status.agent(), " is not registered"));
  }
  return Location{status.agent(), agent->address, status.container_id(), status.phase()};
}

absl::StatusOr<std::vector<v1alpha1::Agent>> SandboxService::ListAgents() const {
  absl::StatusOr<store::ResourceList<v1alpha1::Agent>> stored = agent_records_.List({});
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
    ready->set_message("known from an earlier registration; not registered since the "
                       "controller started");
    by_name[record.metadata().name()] = std::move(record);
  }
  const absl::Time now = clock_->Now();
  for (const AgentSnapshot& snapshot : scheduler_->GetAllAgents()) {
    v1alpha1::Agent& agent = by_name[snapshot.id];
    agent.set_api_version(store::kApiVersion);
    agent.set_kind("Agent");
    agent.mutable_metadata()->set_name(snapshot.id);
    auto* spec = agent.mutable_spec();
    spec->set_address(snapshot.address);
    spec->set_node(snapshot.node);
    spec->set_pool(snapshot.pool);
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
    ready->set_reason(snapshot.healthy     ? "HeartbeatFresh"
                      : !fresh             ? "HeartbeatMissed"
                      : snapshot.draining  ? "Draining"
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

absl::Status SandboxService::DeleteAgent(std::string_view name) {
  const std::string id(name);
  absl::StatusOr<AgentSnapshot> live = scheduler_->GetAgentByID(id);
  if (live.ok() && clock_->Now() - live->last_heartbeat <= options_.agent_lost_timeout) {
    return absl::FailedPreconditionError(
        absl::StrCat("agent ", id, " is registered and sending heartbeats; stop it first"));
  }
  const bool registered = live.ok() && scheduler_->Remove(id).ok();
  if (registered) {
    // Its sandboxes no longer hold slots anywhere: should the agent register again, it
    // is a new registration and its slots are restored from its report.
    absl::MutexLock lock(&mu_);
    if (auto placed = by_agent_.find(id); placed != by_agent_.end()) {
      for (const Key& key : placed->second) sandboxes_.at(key).holds_slot = false;
    }
  }
  absl::StatusOr<v1alpha1::Agent> deleted = agent_records_.Delete("", id);
  if (absl::IsNotFound(deleted.status())) {
    if (!registered) return absl::NotFoundError(absl::StrCat("agent ", id, " not found"));
  } else if (!deleted.ok()) {
    return deleted.status();
  }
  LOG(INFO) << "agent " << id << " deleted";
  return absl::OkStatus();
}

absl::Status SandboxService::RecordAgent(const AgentDescriptor& agent) {
  v1alpha1::AgentSpec spec;
  spec.set_address(agent.address);
  spec.set_node(agent.node);
  spec.set_pool(agent.pool);
  spec.set_capacity(agent.max_sandboxes);
  absl::StatusOr<v1alpha1::Agent> record = agent_records_.Get("", agent.id);
  if (absl::IsNotFound(record.status())) {
    v1alpha1::Agent created;
    created.mutable_metadata()->set_name(agent.id);
    *created.mutable_spec() = std::move(spec);
    return agent_records_.Create(std::move(created)).status();
  }
  if (!record.ok()) return record.status();
  if (google::protobuf::util::MessageDifferencer::Equals(record->spec(), spec)) {
    return absl::OkStatus();
  }
  *record->mutable_spec() = std::move(spec);
  return agent_records_.Update(*std::move(record)).status();
}

// ---------------------------------------------------------------------------- agents

absl::StatusOr<fsb::agent::v1::RegisterResponse> SandboxService::RegisterAgent(
    const fsb::agent::v1::RegisterRequest& request) {
  const fsb::agent::v1::AgentInfo& info = request.agent();
  AgentDescriptor agent;
  agent.id = info.agent_id();
  agent.address = info.address();
  agent.node = info.node_name();
  agent.pool = info.pool().empty() ? kDefaultPool : info.pool();
  agent.max_sandboxes = info.capacity();
  agent.images.assign(info.images().begin(), info.images().end());
  for (const fsb::agent::v1::WarmCount& count : request.warm()) {
    agent.warm.push_back({count.image(), NonNegative(count.ready()),
                          NonNegative(count.preparing()), NonNegative(count.desired())});
  }
  agent.reported_sandboxes = request.sandboxes_size();
  // An agent whose containerd does not answer takes only creates that claim one of its
  // warm instances, until it answers again.
  agent.runtime_down = request.runtime_unavailable();
  if (absl::Status s = ValidateDnsSubdomain("agent id", agent.id); !s.ok()) return s;
  if (agent.address.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("agent ", agent.id, ": address is required"));
  }
  const bool known = scheduler_->FindAgent(agent.id).has_value();
  absl::StatusOr<AgentHandle> handle = scheduler_->RegisterOrUpdate(agent);
  if (!handle.ok()) return handle.status();
  agents_->AgentUp(agent.address);
  if (!known) {
    absl::MutexLock lock(&mu_);
    RestoreSlots(agent.id);
  }
  Observe(agent.id, request.sandboxes(), /*complete=*/true);
  if (absl::Status s = RecordAgent(agent); !s.ok()) {
    LOG(WARNING) << "agent " << agent.id << ": its record was not stored: " << s;
  }
  LOG(INFO) << "agent " << agent.id << " registered: address " << agent.address << ", node "
            << agent.node << ", pool " << agent.pool << ", capacity " << agent.max_sandboxes
            << ", " << request.sandboxes_size() << " sandboxes, " << agent.warm.size()
            << " warm images" << (agent.runtime_down ? ", container runtime down" : "");
  return WithWarmTargets<fsb::agent::v1::RegisterResponse>(
      pools_->WarmTargets(scheduler_->PoolOf(agent.id)));
}

absl::StatusOr<fsb::agent::v1::HeartbeatResponse> SandboxService::Heartbeat(
    const fsb::agent::v1::HeartbeatRequest& request) {
  std::vector<ImageId> images;
  images.reserve(request.images_size());
  for (const std::string& image : request.images()) {
    if (absl::StatusOr<ImageId> id = scheduler_->InternImage(image); id.ok()) images.push_back(*id);
  }
  const InternedWarm warm = InternWarm(*scheduler_, request.warm());
  HeartbeatUpdate update;
  update.reported_sandboxes = request.sandboxes_size();
  update.images = images;
  update.warm = warm;
  update.runtime_down = request.runtime_unavailable();
  if (absl::Status s = scheduler_->Heartbeat(request.agent_id(), update); !s.ok()) return s;
  Observe(request.agent_id(), request.sandboxes(), /*complete=*/true);
  return WithWarmTargets<fsb::agent::v1::HeartbeatResponse>(
      pools_->WarmTargets(scheduler_->PoolOf(request.agent_id())));
}

void SandboxService::Observe(
    std::string_view agent_id,
    const google::protobuf::RepeatedPtrField<fsb::agent::v1::SandboxStatus>& states,
    bool complete) {
  const absl::Time now = clock_->Now();
  const std::string agent(agent_id);
  absl::flat_hash_set<std::string> reported;
  absl::MutexLock lock(&mu_);
  for (const fsb::agent::v1::SandboxStatus& state : states) {
    reported.insert(state.sandbox_id());
    auto owner = by_container_.find(state.sandbox_id());
    // A claimed warm instance whose id the record does not have yet: it names the
    // record's (proposed) id as its requested id.
    if (owner == by_container_.end() && !state.requested_id().empty()) {
      owner = by_container_.find(state.requested_id());
    }
    if (owner != by_container_.end()) {
      const Key key = owner->second;  // ApplyReported may re-index
      Entry& entry = sandboxes_.at(key);
      if (entry.op != Op::kNone) {
        // A fast create does not know its agent yet; Settle checks the agent.
        if (entry.sandbox.status().agent() == agent) entry.agent_seen = now;
        entry.deferred.emplace(agent, state);
        continue;
      }
      if (entry.sandbox.status().agent() == agent) {
        entry.agent_seen = now;
        ApplyReported(key, entry, state);
        continue;
      }
    }
    unknown_.try_emplace({agent, state.sandbox_id()}, now);
  }
  if (!complete) return;
  for (auto it = unknown_.begin(); it != unknown_.end();) {
    auto next = std::next(it);
    if (it->first.first == agent && !reported.contains(it->first.second)) unknown_.erase(it);
    it = next;
  }
  auto placed = by_agent_.find(agent);
  if (placed == by_agent_.end()) return;
  for (const Key& key : placed->second) {
    Entry& entry = sandboxes_.at(key);
    SandboxStatus* status = entry.sandbox.mutable_status();
    if (entry.op != Op::kNone || status->phase() != SandboxStatus::Running ||
        reported.contains(status->container_id()) ||
        now - entry.agent_seen < options_.orphan_timeout) {
      continue;
    }
    status->set_phase(SandboxStatus::Lost);
    SetTimestamp(now, status->mutable_lost_at());
    SetTimestamp(now + absl::Seconds(entry.sandbox.spec().recovery_timeout_seconds()),
                 status->mutable_recovery_deadline());
    status->set_message(absl::StrCat("agent ", agent, " no longer reports the container"));
    Persist(key);
    wake_ = true;
  }
}

// ----------------------------------------------------------------------- reconcilers

void SandboxService::ReconcileOnce() {
  std::vector<Action> actions = PlanReconcile(clock_->Now());
  for (Action& action : actions) {
    metrics_.RecordReconcile(ActionName(action));
    Execute(action);
  }
  UpdateGauges();
}

void SandboxService::UpdateGauges() {
  std::array<int, SandboxStatus::Phase_ARRAYSIZE> phases{};
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, entry] : sandboxes_) ++phases[entry.sandbox.status().phase()];
  }
  for (int p = SandboxStatus::Pending; p < SandboxStatus::Phase_ARRAYSIZE; ++p) {
    metrics_.Sandboxes(SandboxStatus::Phase_Name(static_cast<SandboxStatus::Phase>(p)))
        .Set(phases[p]);
  }
  int ready = 0, total = 0, used = 0;
  const std::vector<AgentSnapshot> agents = scheduler_->GetAllAgents();
  for (const AgentSnapshot& agent : agents) {
    ready += agent.healthy ? 1 : 0;
    total += agent.capacity;
    used += agent.used;
  }
  metrics_.agents().Set(static_cast<double>(agents.size()));
  metrics_.agents_ready().Set(ready);
  metrics_.capacity_total().Set(total);
  metrics_.capacity_used().Set(used);
}

std::vector<SandboxService::Action> SandboxService::PlanReconcile(absl::Time now) {
  struct AgentState {
    bool lost;
    std::string address;
  };
  absl::flat_hash_map<std::string, AgentState> agents;
  for (const AgentSnapshot& a : scheduler_->GetAllAgents()) {
    agents[a.id] = {now - a.last_heartbeat > options_.agent_lost_timeout, a.address};
  }
  // An agent the scheduler does not know is lost once it had the time to register.
  auto lost = [&](const std::string& id) {
    auto it = agents.find(id);
    return it == agents.end() ? now - started_ > options_.agent_lost_timeout : it->second.lost;
  };

  std::vector<Action> actions;
  absl::MutexLock lock(&mu_);
  for (auto& [key, entry] : sandboxes_) {
    if (entry.op != Op::kNone) continue;
    Sandbox& sandbox = entry.sandbox;
    SandboxStatus* status = sandbox.mutable_status();
    const SandboxSpec& spec = sandbox.spec();
    const SandboxStatus::Phase phase = status->phase();
    auto plan = [&](Action::Kind kind) {
      entry.op = kind == Action::Kind::kDelete ? Op::kDeleting : Op::kReconciling;
      actions.push_back(Action{kind, key, sandbox, "", ""});
    };
    if (phase == SandboxStatus::Terminating) {
      plan(Action::Kind::kDelete);
      continue;
    }
    if (phase == SandboxStatus::Expired) continue;
    if (spec.has_expire_time() && now >= TimeOf(spec.expire_time())) {
      plan(Action::Kind::kExpire);
      continue;
    }
    if (ResetRequested(sandbox)) {
      plan(Action::Kind::kReset);
      continue;
    }
    if (!Placed(sandbox)) {
      if (phase == SandboxStatus::Pending) plan(Action::Kind::kPlace);
      continue;
    }
    const bool agent_lost = lost(status->agent());
    if (agent_lost && (phase == SandboxStatus::Pending || phase == SandboxStatus::Scheduled ||
                       phase == SandboxStatus::Running)) {
      status->set_phase(SandboxStatus::Lost);
      SetTimestamp(now, status->mutable_lost_at());
      SetTimestamp(now + absl::Seconds(spec.recovery_timeout_seconds()),
                   status->mutable_recovery_deadline());
      status->set_message(absl::StrCat("agent ", status->agent(), " lost: no heartbeat for more than ",
                                       absl::FormatDuration(options_.agent_lost_timeout)));
      Persist(key);
      LOG(WARNING) << "sandbox " << Qualified(sandbox) << ": " << status->message();
    }
    if (status->phase() == SandboxStatus::Lost) {
      if (spec.failure_policy() == SandboxSpec::AutoRecreate &&
          now >= TimeOf(status->recovery_deadline())) {
        plan(Action::Kind::kRecreate);
      }
      continue;
    }
    auto agent = agents.find(status->agent());
    if (phase == SandboxStatus::Scheduled && agent != agents.end() &&
        now - entry.agent_seen >= options_.orphan_timeout) {
      plan(Action::Kind::kRedrive);
      actions.back().agent_address = agent->second.address;
    }
  }
  for (auto it = unknown_.begin(); it != unknown_.end();) {
    auto next = std::next(it);
    const auto& [agent, container] = it->first;
    if (now - it->second >= options_.orphan_timeout && !lost(agent)) {
      actions.push_back(Action{Action::Kind::kOrphan, {}, {}, agents[agent].address, container});
      unknown_.erase(it);
    }
    it = next;
  }
  return actions;
}

void SandboxService::Execute(Action& action) {
  const std::string qualified = Qualified(action.key.first, action.key.second);
  switch (action.kind) {
    case Action::Kind::kOrphan: {
      absl::Status s = agents_->DeleteSandbox(action.agent_address, action.container_id, std::nullopt);
      LOG(INFO) << "orphan container " << action.container_id << " on " << action.agent_address
                << " (unknown to the store for "
                << absl::FormatDuration(options_.orphan_timeout) << "): delete: " << s;
      return;
    }
    case Action::Kind::kDelete: {
      absl::Status s = StopOnAgent(action.sandbox, std::nullopt);
      absl::MutexLock lock(&mu_);
      Entry& entry = sandboxes_.at(action.key);
      if (s.ok()) {
        Erase(action.key);
        LOG(INFO) << "sandbox " << qualified << " deleted (retried)";
        return;
      }
      entry.sandbox.mutable_status()->set_message(absl::StrCat("deletion pending: ", s.message()));
      Settle(action.key, entry);
      return;
    }
    case Action::Kind::kExpire: {
      absl::Status s = StopOnAgent(action.sandbox, std::nullopt);
      absl::MutexLock lock(&mu_);
      Entry& entry = sandboxes_.at(action.key);
      SandboxStatus* status = entry.sandbox.mutable_status();
      if (s.ok()) {
        Unplace(action.key, entry);
        ClearLoss(status);
        status->set_phase(SandboxStatus::Expired);
        status->set_message(absl::StrCat(
            "expired at ", Rfc3339(TimeOf(entry.sandbox.spec().expire_time()))));
        LOG(INFO) << "sandbox " << qualified << " " << status->message();
      } else {
        status->set_message(absl::StrCat("expiry pending: ", s.message()));
      }
      Persist(action.key);
      Settle(action.key, entry);
      return;
    }
    case Action::Kind::kRedrive: {
      absl::StatusOr<AgentSnapshot> agent =
          scheduler_->GetAgentByID(action.sandbox.status().agent());
      const bool may_pull =
          !agent.ok() || !HasImage(agent->images, action.sandbox.spec().image());
      absl::StatusOr<fsb::agent::v1::CreateSandboxResponse> answer = agents_->CreateSandbox(
          action.agent_address, AgentSpecOf(action.sandbox), may_pull);
      if (answer.ok() && agent.ok()) UpdateWarm(agent->handle, answer->warm_counts());
      absl::MutexLock lock(&mu_);
      Entry& entry = sandboxes_.at(action.key);
      SandboxStatus* status = entry.sandbox.mutable_status();
      if (answer.ok()) {
        entry.agent_seen = clock_->Now();
        Unindex(action.key, entry);
        ApplyCreated(answer->status(), status);
        Index(action.key, entry);
      } else {
        // Place it again, elsewhere if need be.
        Unplace(action.key, entry);
        status->set_phase(SandboxStatus::Pending);
        status->set_message(absl::StrCat("re-creating on its agent failed: ", answer.status().message()));
      }
      Persist(action.key);
      Settle(action.key, entry);
      return;
    }
    case Action::Kind::kReset:
    case Action::Kind::kRecreate:
    case Action::Kind::kPlace:
      break;
  }

  // Reset, recreate and place all end with a fresh container placed from the spec.
  if (action.kind == Action::Kind::kReset) {
    if (absl::Status s = StopOnAgent(action.sandbox, std::nullopt); !s.ok()) {
      absl::MutexLock lock(&mu_);
      Entry& entry = sandboxes_.at(action.key);
      entry.sandbox.mutable_status()->set_message(absl::StrCat("reset pending: ", s.message()));
      Settle(action.key, entry);
      return;
    }
  }
  Sandbox fresh;
  {
    absl::MutexLock lock(&mu_);
    Entry& entry = sandboxes_.at(action.key);
    ReleaseSlot(entry);
    Unindex(action.key, entry);
    SandboxStatus* status = entry.sandbox.mutable_status();
    if (action.kind != Action::Kind::kPlace) {
      status->set_container_id(RandomHex(8));
      status->set_restart_count(status->restart_count() + 1);
    }
    if (action.kind == Action::Kind::kReset) {
      status->set_accepted_reset_revision(entry.sandbox.spec().reset_revision());
    }
    ClearPlacement(status);
    ClearLoss(status);
    status->clear_exit_code();
    status->set_phase(SandboxStatus::Pending);
    status->set_observed_generation(entry.sandbox.metadata().generation());
    Index(action.key, entry);
    Persist(action.key);
    fresh = entry.sandbox;
  }
  CreateTimings timings;
  absl::StatusOr<Sandbox> started = PlaceAndStart(action.key, fresh, timings);
  absl::MutexLock lock(&mu_);
  Entry& entry = sandboxes_.at(action.key);
  Unindex(action.key, entry);
  if (started.ok()) {
    *entry.sandbox.mutable_status() = started->status();
    entry.holds_slot = true;
    entry.agent_seen = clock_->Now();
    LOG(INFO) << "sandbox " << qualified << " placed on agent " << started->status().agent()
              << " (restart " << started->status().restart_count() << ")";
  } else {
    entry.sandbox.mutable_status()->set_message(
        absl::StrCat("placement failed, will retry: ", started.status().message()));
  }
  Index(action.key, entry);
  Persist(action.key);
  Settle(action.key, entry);
}

}  // namespace fsb::controller
