#include "controller/sandbox/sandbox_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "controller/sandbox/record_rules.h"
#include "controller/store/resources.h"
#include "glog/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "internal/deadline.h"
#include "internal/ids.h"
#include "internal/stopwatch.h"

namespace fsb::controller {
namespace {

using ::fsb::v1alpha1::Sandbox;
using ::fsb::v1alpha1::SandboxSpec;
using ::fsb::v1alpha1::SandboxStatus;

bool Equal(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SandboxService>> SandboxService::Create(
    Scheduler* scheduler, const PoolService* pools, AgentClient* agents, store::Store* store,
    const Clock* clock, metrics::Registry* registry, Options options) {
  auto service = std::unique_ptr<SandboxService>(
      new SandboxService(scheduler, pools, agents, store, clock, registry, options));
  if (absl::Status s = service->table_.Load(clock->Now()); !s.ok()) return s;
  return service;
}

SandboxService::SandboxService(Scheduler* scheduler, const PoolService* pools, AgentClient* agents,
                               store::Store* store, const Clock* clock, metrics::Registry* registry,
                               Options options)
    : scheduler_(scheduler),
      clock_(clock),
      options_(options),
      metrics_(registry),
      table_(store, options.persist_timeout),
      loss_{.timeout = options.agent_lost_timeout, .started = clock->Now()},
      placement_(scheduler, agents, &table_, &metrics_, clock, loss_),
      reconciler_(scheduler, agents, &table_, &placement_, &metrics_, registry, clock,
                  {.orphan_timeout = options.orphan_timeout,
                   .loss = loss_,
                   .interval = options.reconcile_interval}),
      reports_(scheduler, pools, agents, store, &table_, &placement_, &reconciler_, clock,
               {.orphan_timeout = options.orphan_timeout,
                .agent_lost_timeout = options.agent_lost_timeout}) {}

void SandboxService::Start() {
  if (options_.run_reconciler) reconciler_.Start();
}

// ------------------------------------------------------------------------------ create

absl::StatusOr<Sandbox> SandboxService::Create(CreateSpec create) {
  const Stopwatch total;
  CreateTimings timings;
  const Sandbox& asked = create.sandbox;
  const bool asked_strong = asked.spec().consistency_mode() == SandboxSpec::strong;
  const std::string qualified_as_asked = Qualified(
      asked.metadata().namespace_().empty() ? kDefaultNamespace : asked.metadata().namespace_(),
      asked.metadata().name());
  absl::StatusOr<Sandbox> desired =
      SandboxFromCreateSpec(std::move(create), options_.default_mode, clock_->Now());
  timings[CreateStage::kValidate] = total.Elapsed();
  const bool strong =
      desired.ok() ? desired->spec().consistency_mode() == SandboxSpec::strong : asked_strong;
  absl::StatusOr<Sandbox> created =
      desired.ok() ? CreateRecord(*std::move(desired), timings) : desired.status();
  const absl::Duration took = total.Elapsed();
  metrics_.RecordCreate(strong, created.status(), took, timings);
  VLOG(2) << "create " << (created.ok() ? Qualified(*created) : qualified_as_asked)
          << " mode=" << (strong ? "strong" : "fast")
          << " result=" << (created.ok() ? "ok" : absl::StatusCodeToString(created.status().code()))
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
  const SandboxKey key{desired.metadata().namespace_(), desired.metadata().name()};
  {
    RecordTable::Locked table(table_);
    const Deadline wait_deadline = Deadline::In(options_.create_wait_timeout);
    while (true) {
      if (std::optional<SandboxKey> same = table.FindByRequestId(key.first, request_id);
          same.has_value()) {
        const SandboxKey existing_key = *same;
        const SandboxRecord& existing = table.at(existing_key);
        const auto& existing_annotations = existing.sandbox.metadata().annotations();
        auto hash = existing_annotations.find(kSpecHashAnnotation);
        if (hash == existing_annotations.end() || hash->second != spec_hash) {
          return absl::AlreadyExistsError(absl::StrCat(
              "request id \"", request_id, "\" already created sandbox ",
              Qualified(existing_key.first, existing_key.second), " with a different spec"));
        }
        // Answered as the create itself is: once its agent ran it. The same request in
        // flight, or cut short by a controller restart (its record back as Pending or
        // Scheduled, and a warm claim's report still to rename its container), is waited
        // for, then looked at again.
        auto answerable = [](const SandboxRecord& record) {
          return record.op != RecordOp::kCreating && StartConfirmed(record.sandbox);
        };
        if (answerable(existing)) return existing.sandbox;
        auto settled = [&] {
          const SandboxRecord* record = table.Find(existing_key);
          return record == nullptr || answerable(*record);
        };
        if (!table.AwaitWithDeadline(settled, wait_deadline.time())) {
          return absl::UnavailableError(absl::StrCat(
              "sandbox ", Qualified(existing_key.first, existing_key.second), " of request id \"",
              request_id, "\" is still being created; retry later"));
        }
        continue;
      }
      if (const SandboxRecord* taken = table.Find(key); taken != nullptr) {
        const auto& taken_annotations = taken->sandbox.metadata().annotations();
        auto rid = taken_annotations.find(kRequestIdAnnotation);
        return absl::AlreadyExistsError(
            absl::StrCat("sandbox ", Qualified(key.first, key.second), " already exists",
                         rid == taken_annotations.end()
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
    table.Insert(key, desired, RecordOp::kCreating);
  }

  absl::StatusOr<Sandbox> started = placement_.PlaceAndStart(key, desired, timings);
  RecordTable::Locked table(table_);
  if (!started.ok()) {
    placement_.Forget(table, key);
    return started.status();
  }
  table.Change(key, [&](SandboxRecord& record) {
    *record.sandbox.mutable_status() = started->status();
    record.holds_slot = true;
    record.agent_seen = clock_->Now();
  });
  table.Persist(key);
  table.Settle(key);
  const Sandbox& sandbox = table.at(key).sandbox;
  VLOG(1) << "sandbox " << Qualified(key.first, key.second) << " ("
          << sandbox.status().container_id() << ") running on agent " << sandbox.status().agent();
  return sandbox;
}

// ------------------------------------------------------------------------ read, change

absl::StatusOr<Sandbox> SandboxService::Apply(const Sandbox& resource, bool* created) {
  const absl::Time now = clock_->Now();
  absl::StatusOr<Sandbox> desired = SandboxFromResource(resource, options_.default_mode, now);
  if (!desired.ok()) return desired.status();
  const SandboxKey key{desired->metadata().namespace_(), desired->metadata().name()};
  bool exists;
  {
    RecordTable::Locked table(table_);
    exists = table.Find(key) != nullptr;
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
    RecordTable::Locked table(table_);
    SandboxRecord* record = table.Find(key);
    if (record == nullptr) {
      return absl::AbortedError(absl::StrCat("sandbox ", Qualified(key.first, key.second),
                                             " was deleted while being applied; apply again"));
    }
    if (record->op == RecordOp::kCreating || record->op == RecordOp::kDeleting ||
        record->sandbox.status().phase() == SandboxStatus::Terminating) {
      return absl::FailedPreconditionError(absl::StrCat(
          "sandbox ", Qualified(key.first, key.second), " is being created or deleted"));
    }
    const std::string immutable = ImmutableSpecChanges(record->sandbox.spec(), desired->spec());
    if (!immutable.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("sandbox ", Qualified(key.first, key.second), ": spec fields ", immutable,
                       " cannot change after create; delete the sandbox and create it again"));
    }
    Sandbox updated = record->sandbox;
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
    if (!Equal(updated.spec(), record->sandbox.spec())) {
      meta->set_generation(meta->generation() + 1);
    }
    if (!Equal(updated, record->sandbox)) {
      table.Change(key, [&](SandboxRecord& r) { r.sandbox = std::move(updated); });
      ticket = table.Persist(key);
      reconciler_.Wake();
    }
    strong = record->sandbox.spec().consistency_mode() == SandboxSpec::strong;
    result = record->sandbox;
  }
  if (strong && ticket != 0) {
    if (absl::Status s = table_.AwaitDurable(key, ticket); !s.ok()) return s;
  }
  return result;
}

absl::StatusOr<Sandbox> SandboxService::Get(std::string_view ns, std::string_view name) const {
  const SandboxKey key{ns.empty() ? kDefaultNamespace : ns, name};
  RecordTable::Locked table(table_);
  const SandboxRecord* record = table.Find(key);
  if (record == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("sandbox ", Qualified(key.first, key.second), " not found"));
  }
  Sandbox sandbox = record->sandbox;
  sandbox.mutable_metadata()->set_resource_version(table.StoredVersion(key));
  return sandbox;
}

absl::StatusOr<std::vector<Sandbox>> SandboxService::List(std::string_view ns,
                                                          std::string_view label_selector,
                                                          const SandboxListRange& range) const {
  absl::StatusOr<store::LabelSelector> selector = store::ParseLabelSelector(label_selector);
  if (!selector.ok()) return selector.status();
  std::vector<Sandbox> out;
  RecordTable::Locked table(table_);
  const SandboxRecords& records = table.records();
  // Keys are ordered by namespace first, so one namespace is a contiguous range.
  auto it = ns.empty() ? records.begin() : records.lower_bound(SandboxKey{ns, ""});
  if (!range.after.second.empty() && (it == records.end() || !(range.after < it->first))) {
    it = records.upper_bound(range.after);
  }
  for (; it != records.end() && (ns.empty() || it->first.first == ns) &&
         (range.limit == 0 || out.size() < range.limit);
       ++it) {
    if (range.visible && !range.visible(it->first.first)) continue;
    const auto& labels = it->second.sandbox.metadata().labels();
    if (!selector->empty() &&
        !store::Matches(*selector, store::Labels(labels.begin(), labels.end()))) {
      continue;
    }
    out.push_back(it->second.sandbox);
  }
  return out;
}

absl::StatusOr<Sandbox> SandboxService::Update(const SandboxUpdate& update) {
  if (absl::Status s = ValidateSandboxUpdate(update, clock_->Now()); !s.ok()) return s;
  const SandboxKey key{update.ns.empty() ? kDefaultNamespace : update.ns, update.name};
  const std::string qualified = Qualified(key.first, key.second);
  uint64_t ticket = 0;
  bool strong = false;
  Sandbox result;
  {
    RecordTable::Locked table(table_);
    SandboxRecord* record = table.Find(key);
    if (record == nullptr) {
      return absl::NotFoundError(absl::StrCat("sandbox ", qualified, " not found"));
    }
    if (record->op == RecordOp::kCreating) {
      return absl::FailedPreconditionError(
          absl::StrCat("sandbox ", qualified, " is being created; retry when the create returns"));
    }
    if (record->op == RecordOp::kDeleting ||
        record->sandbox.status().phase() == SandboxStatus::Terminating) {
      return absl::FailedPreconditionError(
          absl::StrCat("sandbox ", qualified, " is being deleted"));
    }
    Sandbox updated = record->sandbox;
    SandboxSpec* spec = updated.mutable_spec();
    if (update.expire_time_seconds.has_value()) {
      if (*update.expire_time_seconds == 0) {
        spec->clear_expire_time();
      } else {
        SetTimestamp(absl::FromUnixSeconds(*update.expire_time_seconds),
                     spec->mutable_expire_time());
      }
    }
    if (update.reset_revision.has_value()) spec->set_reset_revision(*update.reset_revision);
    if (update.failure_policy.has_value()) spec->set_failure_policy(*update.failure_policy);
    if (update.recovery_timeout_seconds.has_value()) {
      spec->set_recovery_timeout_seconds(*update.recovery_timeout_seconds);
    }
    auto* labels = updated.mutable_metadata()->mutable_labels();
    for (const auto& [k, v] : update.labels) (*labels)[k] = v;
    for (const std::string& k : update.remove_labels) labels->erase(k);
    if (labels->size() > static_cast<size_t>(kMaxLabels)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "labels: ", labels->size(), " entries, at most ", kMaxLabels, " are allowed"));
    }
    if (!Equal(updated.spec(), record->sandbox.spec())) {
      updated.mutable_metadata()->set_generation(updated.metadata().generation() + 1);
      reconciler_.Wake();  // expiry or reset may be due now
    }
    if (!Equal(updated, record->sandbox)) {
      record->sandbox = std::move(updated);  // no indexed field changed
      ticket = table.Persist(key);
    }
    strong = record->sandbox.spec().consistency_mode() == SandboxSpec::strong;
    result = record->sandbox;
  }
  if (strong && ticket != 0) {
    if (absl::Status s = table_.AwaitDurable(key, ticket); !s.ok()) return s;
  }
  return result;
}

// ------------------------------------------------------------------------------ delete

absl::Status SandboxService::Delete(std::string_view ns, std::string_view name,
                                    std::optional<absl::Duration> grace) {
  absl::Status deleted = DeleteRecord(ns, name, grace);
  metrics_.RecordDelete(deleted);
  return deleted;
}

absl::Status SandboxService::DeleteRecord(std::string_view ns, std::string_view name,
                                          std::optional<absl::Duration> grace) {
  const SandboxKey key{ns.empty() ? kDefaultNamespace : ns, name};
  const std::string qualified = Qualified(key.first, key.second);
  const Deadline wait_deadline = Deadline::In(options_.delete_wait_timeout);
  Sandbox sandbox;
  uint64_t ticket = 0;
  {
    RecordTable::Locked table(table_);
    SandboxRecord* record = table.Find(key);
    if (record == nullptr) {
      return absl::NotFoundError(absl::StrCat("sandbox ", qualified, " not found"));
    }
    if (record->op == RecordOp::kCreating || record->op == RecordOp::kReconciling) {
      return absl::FailedPreconditionError(absl::StrCat(
          "sandbox ", qualified, " is being ",
          record->op == RecordOp::kCreating ? "created" : "reconciled", "; retry in a moment"));
    }
    sandbox = record->sandbox;
    // A deletion already in flight (another delete, or the reconciler's retry) is joined:
    // this call waits for its outcome below.
    if (record->op == RecordOp::kNone) {
      record->op = RecordOp::kDeleting;
      record->sandbox.mutable_status()->set_phase(SandboxStatus::Terminating);
      if (!record->sandbox.metadata().has_deletion_timestamp()) {
        SetTimestamp(clock_->Now(),
                     record->sandbox.mutable_metadata()->mutable_deletion_timestamp());
      }
      ticket = table.Persist(key);
      sandbox = record->sandbox;
    }
  }
  if (ticket != 0) {
    // The deletion is durable before the container goes: a crash in between leaves a
    // Terminating record that the reconciler deletes, never a record of nothing.
    absl::Status durable = table_.AwaitDurable(key, ticket);
    absl::Status stopped = durable.ok() ? placement_.StopOnAgent(sandbox, grace) : durable;
    RecordTable::Locked table(table_);
    if (stopped.ok()) {
      placement_.Forget(table, key);
      VLOG(1) << "sandbox " << qualified << " deleted";
      return absl::OkStatus();
    }
    table.at(key).sandbox.mutable_status()->set_message(
        absl::StrCat("deletion pending: ", stopped.message()));
    table.Persist(key);
    table.Settle(key);
  }
  // Not confirmed yet: the reconciler retries (as soon as the agent registers, if that is
  // what it waits for). Wait a bounded time for the record to end.
  const std::string uid = sandbox.metadata().uid();
  RecordTable::Locked table(table_);
  auto ended = [&] {
    const SandboxRecord* record = table.Find(key);
    return record == nullptr || record->sandbox.metadata().uid() != uid;
  };
  if (table.AwaitWithDeadline(ended, wait_deadline.time())) {
    VLOG(1) << "sandbox " << qualified << " deleted (retried)";
    return absl::OkStatus();
  }
  std::string why = table.at(key).sandbox.status().message();
  if (why.empty()) why = "its agent has not confirmed the deletion";
  return absl::UnavailableError(
      absl::StrCat("sandbox ", qualified, " is Terminating and not deleted yet; ", why,
                   "; the deletion is retried in the background and the sandbox is listed "
                   "until it is done"));
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
  return Location{status.agent(), agent->identity->address, status.container_id(), status.phase()};
}

}  // namespace fsb::controller
