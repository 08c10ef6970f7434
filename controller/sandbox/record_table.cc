#include "controller/sandbox/record_table.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "controller/sandbox/record_rules.h"
#include "controller/sandbox_spec.h"
#include "controller/store/resources.h"
#include "glog/logging.h"
#include "internal/strings.h"

namespace fsb::controller {
namespace {

using ::fsb::v1alpha1::Sandbox;
using ::fsb::v1alpha1::SandboxStatus;

store::ObjectKey StoreKey(const SandboxKey& key) {
  return store::ObjectKey{"Sandbox", key.first, key.second};
}

}  // namespace

RecordTable::RecordTable(store::Store* store, absl::Duration persist_timeout)
    : persist_timeout_(persist_timeout), store_(store), persister_(store, {}) {}

RecordTable::~RecordTable() {
  if (absl::Status s = persister_.WaitAll(persist_timeout_); !s.ok()) {
    LOG(WARNING) << "shutting down with unwritten sandbox records: " << s;
  }
}

absl::Status RecordTable::Load(absl::Time loaded_at) {
  store::ListOptions list{.kind = "Sandbox", .limit = 500};
  int loaded = 0;
  Locked table(*this);
  do {
    absl::StatusOr<store::ListResult> page = store_->List(list);
    if (!page.ok()) return page.status();
    list.continue_token = page->continue_token;
    absl::StatusOr<std::vector<Sandbox>> sandboxes =
        store::DecodeOrQuarantine<Sandbox>(store_, std::move(page->items));
    if (!sandboxes.ok()) return sandboxes.status();
    for (Sandbox& sandbox : *sandboxes) {
      persister_.Known(store::KeyOf(sandbox), sandbox.metadata().resource_version());
      const SandboxKey key{sandbox.metadata().namespace_(), sandbox.metadata().name()};
      SandboxRecord& record = table.Insert(key, std::move(sandbox), RecordOp::kNone);
      record.stored = true;
      record.agent_seen = loaded_at;
      ++loaded;
    }
  } while (!list.continue_token.empty());
  LOG(INFO) << "loaded " << loaded << " sandboxes from the store";
  return absl::OkStatus();
}

absl::Status RecordTable::AwaitDurable(const SandboxKey& key, uint64_t ticket) {
  absl::Status s = persister_.Wait(StoreKey(key), ticket, persist_timeout_);
  if (s.ok()) return s;
  return absl::UnavailableError(absl::StrCat("sandbox ", Qualified(key.first, key.second),
                                             " could not be stored: ", s.message()));
}

void RecordTable::Index(const SandboxKey& key, const SandboxRecord& record) {
  const Sandbox& s = record.sandbox;
  auto it = s.metadata().annotations().find(kRequestIdAnnotation);
  if (it != s.metadata().annotations().end()) by_request_id_[{key.first, it->second}] = key;
  if (!s.status().container_id().empty()) by_container_[s.status().container_id()] = key;
  if (Placed(s)) by_agent_[s.status().agent()].insert(key);
}

void RecordTable::Unindex(const SandboxKey& key, const SandboxRecord& record) {
  const Sandbox& s = record.sandbox;
  auto erase_if_ours = [&](auto& index, const auto& k) {
    auto it = index.find(k);
    if (it != index.end() && it->second == key) index.erase(it);
  };
  auto it = s.metadata().annotations().find(kRequestIdAnnotation);
  if (it != s.metadata().annotations().end()) {
    erase_if_ours(by_request_id_, std::pair<std::string, std::string>(key.first, it->second));
  }
  erase_if_ours(by_container_, s.status().container_id());
  if (Placed(s)) {
    auto agent = by_agent_.find(s.status().agent());
    if (agent != by_agent_.end()) {
      agent->second.erase(key);
      if (agent->second.empty()) by_agent_.erase(agent);
    }
  }
}

// ------------------------------------------------------------------------------ Locked

RecordTable::Locked::Locked(RecordTable& table) : table_(table) { table_.mu_.Lock(); }

RecordTable::Locked::~Locked() { table_.mu_.Unlock(); }

SandboxRecord* RecordTable::Locked::Find(const SandboxKey& key) {
  auto it = table_.records_.find(key);
  return it == table_.records_.end() ? nullptr : &it->second;
}

std::optional<SandboxKey> RecordTable::Locked::FindByRequestId(
    const std::string& namespace_name, const std::string& request_id) const {
  auto it = table_.by_request_id_.find(std::make_pair(namespace_name, request_id));
  if (it == table_.by_request_id_.end()) return std::nullopt;
  return it->second;
}

std::optional<SandboxKey> RecordTable::Locked::FindByContainer(
    const std::string& container_id) const {
  auto it = table_.by_container_.find(container_id);
  if (it == table_.by_container_.end()) return std::nullopt;
  return it->second;
}

const absl::flat_hash_set<SandboxKey>* RecordTable::Locked::PlacedOn(
    std::string_view agent_id) const {
  auto it = table_.by_agent_.find(Sv(agent_id));
  return it == table_.by_agent_.end() ? nullptr : &it->second;
}

SandboxRecord& RecordTable::Locked::Insert(const SandboxKey& key, Sandbox sandbox, RecordOp op) {
  SandboxRecord& record = table_.records_[key];
  record.sandbox = std::move(sandbox);
  record.op = op;
  table_.Index(key, record);
  return record;
}

uint64_t RecordTable::Locked::Persist(const SandboxKey& key) {
  SandboxRecord& record = at(key);
  record.stored = true;
  record.sandbox.mutable_metadata()->clear_resource_version();
  return table_.persister_.Put(store::EncodeObject(record.sandbox));
}

void RecordTable::Locked::ApplyReport(const SandboxKey& key, const ReportedSandbox& state,
                                      std::string_view agent_host) {
  bool changed = false;
  SandboxRecord& record = at(key);
  if (state.container_id != record.sandbox.status().container_id()) {
    // A claimed warm instance, reported under its own id before the create's answer
    // was recorded (or after it was lost): it is this record's container.
    VLOG(1) << "sandbox " << Qualified(record.sandbox) << ": container "
            << record.sandbox.status().container_id() << " runs as " << state.container_id;
    Change(key, [&](SandboxRecord& r) {
      r.sandbox.mutable_status()->set_container_id(state.container_id);
    });
    changed = true;
  }
  const SandboxStatus::Phase phase = record.sandbox.status().phase();
  if (phase != SandboxStatus::Terminating && phase != SandboxStatus::Expired) {
    // Evaluated both: the phase and the address are independent facts.
    const bool moved = ApplyAgentState(state, record.sandbox.mutable_status());
    const bool addressed = ApplyReportedIp(state, agent_host, &record.sandbox);
    changed = changed || moved || addressed;
  }
  if (changed) Persist(key);
}

void RecordTable::Locked::Settle(const SandboxKey& key) {
  SandboxRecord& record = at(key);
  record.op = RecordOp::kNone;
  if (!record.deferred) return;
  const DeferredReport report = *std::move(record.deferred);
  record.deferred.reset();
  if (report.agent == record.sandbox.status().agent() &&
      Describes(report.state, record.sandbox.status().container_id())) {
    ApplyReport(key, report.state, report.agent_host);
  }
}

void RecordTable::Locked::Erase(const SandboxKey& key) {
  auto it = table_.records_.find(key);
  if (it == table_.records_.end()) return;
  DCHECK(!it->second.holds_slot) << "erasing " << Qualified(key.first, key.second)
                                 << " with its slot held";
  table_.Unindex(key, it->second);
  const bool stored = it->second.stored;
  table_.records_.erase(it);
  if (stored) table_.persister_.Remove(StoreKey(key));
}

int64_t RecordTable::Locked::StoredVersion(const SandboxKey& key) const {
  return table_.persister_.StoredVersion(StoreKey(key));
}

}  // namespace fsb::controller
