#include "controller/store/persister.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "internal/strings.h"

namespace fsb::store {

Persister::Persister(Store* store, Options options)
    : store_(store), options_(options), thread_([this] { Run(); }) {}

Persister::~Persister() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

std::string Persister::MapKey(const ObjectKey& key) {
  const absl::string_view separator("\0", 1);
  return absl::StrCat(key.kind, separator, key.ns, separator, key.name);
}

void Persister::Known(const ObjectKey& key, int64_t resource_version) {
  absl::MutexLock lock(&mu_);
  State& state = states_[MapKey(key)];
  state.key = key;
  state.stored_version = resource_version;
}

uint64_t Persister::Put(Object object) {
  ObjectKey key = object.key;
  return Declare(key, std::move(object));
}

uint64_t Persister::Remove(const ObjectKey& key) { return Declare(key, std::nullopt); }

uint64_t Persister::Declare(const ObjectKey& key, std::optional<Object> desired) {
  const std::string map_key = MapKey(key);
  absl::MutexLock lock(&mu_);
  State& state = states_[map_key];
  if (state.persisted_ticket == state.latest_ticket) ++pending_;
  state.key = key;
  state.desired = std::move(desired);
  state.latest_ticket = next_ticket_++;
  if (!state.queued) {
    state.queued = true;
    queue_.push_back(map_key);
  }
  return state.latest_ticket;
}

void Persister::Run() {
  absl::Duration backoff = options_.min_backoff;
  auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); };
  absl::MutexLock lock(&mu_);
  while (true) {
    mu_.Await(absl::Condition(&has_work));
    if (stop_) return;
    const std::string map_key = std::move(queue_.front());
    queue_.pop_front();
    State& state = states_.at(map_key);
    state.queued = false;
    const uint64_t ticket = state.latest_ticket;
    const std::optional<Object> desired = state.desired;
    const int64_t stored_version = state.stored_version;
    const ObjectKey key = state.key;

    mu_.Unlock();
    absl::StatusOr<int64_t> written = Write(key, desired, stored_version);
    mu_.Lock();

    State& after = states_.at(map_key);
    if (written.ok()) {
      backoff = options_.min_backoff;
      after.stored_version = *written;
      after.last_error = absl::OkStatus();
      if (ticket > after.persisted_ticket) {
        const bool was_pending = after.persisted_ticket < after.latest_ticket;
        after.persisted_ticket = ticket;
        if (was_pending && after.persisted_ticket == after.latest_ticket) --pending_;
      }
      if (!after.desired.has_value() && after.stored_version == 0 && !after.queued &&
          after.persisted_ticket == after.latest_ticket) {
        states_.erase(map_key);
      }
      continue;
    }
    LOG(WARNING) << "store write of " << key.kind << " " << key.ns << "/" << key.name
                 << " failed (retrying in " << backoff << "): " << written.status();
    after.last_error = written.status();
    if (!after.queued) {
      after.queued = true;
      queue_.push_back(map_key);
    }
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
    mu_.AwaitWithTimeout(absl::Condition(&stopping), backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

absl::StatusOr<int64_t> Persister::Write(const ObjectKey& key, const std::optional<Object>& desired,
                                         int64_t stored_version) {
  if (!desired.has_value()) {
    absl::StatusOr<Object> deleted = store_->Delete(key, std::nullopt);
    if (deleted.ok() || absl::IsNotFound(deleted.status())) return 0;
    return deleted.status();
  }
  // A few rounds: each conflict means someone else wrote in between; re-read and retry.
  absl::Status last;
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (stored_version == 0) {
      absl::StatusOr<int64_t> created = store_->Create(*desired);
      if (created.ok() || !absl::IsAlreadyExists(created.status())) return created;
      last = created.status();
    } else {
      absl::StatusOr<int64_t> updated = store_->Update(*desired, stored_version);
      if (updated.ok()) return updated;
      if (!absl::IsAborted(updated.status()) && !absl::IsNotFound(updated.status())) {
        return updated.status();
      }
      last = updated.status();
    }
    absl::StatusOr<Object> current = store_->Get(key);
    if (current.ok()) {
      stored_version = current->resource_version;
    } else if (absl::IsNotFound(current.status())) {
      stored_version = 0;
    } else {
      return current.status();
    }
  }
  return absl::AbortedError(absl::StrCat("store keeps changing under ", Sv(key.kind), " ",
                                         Sv(key.ns), "/", Sv(key.name), ": ", last.message()));
}

absl::Status Persister::Wait(const ObjectKey& key, uint64_t ticket, absl::Duration timeout) {
  const std::string map_key = MapKey(key);
  auto durable = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = states_.find(map_key);
    return it == states_.end() || it->second.persisted_ticket >= ticket;
  };
  absl::MutexLock lock(&mu_);
  if (mu_.AwaitWithTimeout(absl::Condition(&durable), timeout)) return absl::OkStatus();
  const absl::Status& error = states_.at(map_key).last_error;
  return absl::DeadlineExceededError(
      absl::StrCat("the store did not confirm the write of ", Sv(key.kind), " ", Sv(key.ns), "/",
                   Sv(key.name), " within ", absl::FormatDuration(timeout),
                   error.ok() ? std::string() : absl::StrCat(": ", error.ToString())));
}

absl::Status Persister::WaitAll(absl::Duration timeout) {
  auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return pending_ == 0; };
  absl::MutexLock lock(&mu_);
  if (mu_.AwaitWithTimeout(absl::Condition(&drained), timeout)) return absl::OkStatus();
  return absl::DeadlineExceededError(
      absl::StrCat(pending_, " store writes still pending after ", absl::FormatDuration(timeout)));
}

int64_t Persister::StoredVersion(const ObjectKey& key) const {
  absl::MutexLock lock(&mu_);
  auto it = states_.find(MapKey(key));
  return it == states_.end() ? 0 : it->second.stored_version;
}

}  // namespace fsb::store
