#include "controller/registry.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "internal/strings.h"

namespace fsb::controller {
namespace {

// What placement compares between two candidate agents.
struct Rank {
  bool has_image;
  int used;
  int capacity;
  std::string_view id;
};

// Whether candidate `a` is a better placement than candidate `b`.
bool Better(const Rank& a, const Rank& b) {
  if (a.has_image != b.has_image) return a.has_image;
  // Lower load ratio first: a.used / a.capacity < b.used / b.capacity, without division.
  // Candidates have capacity > used >= 0, so the products are exact.
  const int64_t lhs = static_cast<int64_t>(a.used) * b.capacity;
  const int64_t rhs = static_cast<int64_t>(b.used) * a.capacity;
  if (lhs != rhs) return lhs < rhs;
  return a.id < b.id;
}

}  // namespace

Registry::Registry(const Clock* clock, Options options) : clock_(clock), options_(options) {}

absl::Status Registry::Register(AgentRegistration agent) {
  if (agent.id.empty()) return absl::InvalidArgumentError("agent id is required");
  if (agent.address.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("agent ", agent.id, ": address is required"));
  }
  if (agent.capacity < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("agent ", agent.id, ": capacity must be >= 0, got ", agent.capacity));
  }
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  Agent& entry = agents_[agent.id];  // keeps `reserved` of a re-registering agent
  entry.address = std::move(agent.address);
  entry.node = std::move(agent.node);
  entry.pool = agent.pool.empty() ? kDefaultPool : std::move(agent.pool);
  entry.capacity = agent.capacity;
  entry.images = absl::flat_hash_set<std::string>(std::make_move_iterator(agent.images.begin()),
                                                  std::make_move_iterator(agent.images.end()));
  entry.reported = std::max(agent.reported_sandboxes, 0);
  entry.last_heartbeat = now;
  return absl::OkStatus();
}

absl::Status Registry::Heartbeat(std::string_view agent_id, std::vector<std::string> images,
                                 int reported_sandboxes) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = agents_.find(Sv(agent_id));
  if (it == agents_.end()) {
    return absl::NotFoundError(
        absl::StrCat("agent ", Sv(agent_id), " is not registered; register again"));
  }
  Agent& agent = it->second;
  agent.images = absl::flat_hash_set<std::string>(std::make_move_iterator(images.begin()),
                                                  std::make_move_iterator(images.end()));
  agent.reported = std::max(reported_sandboxes, 0);
  agent.last_heartbeat = now;
  return absl::OkStatus();
}

absl::StatusOr<Placement> Registry::Allocate(std::string_view pool, std::string_view image) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  int in_pool = 0;
  int healthy = 0;
  Agent* best = nullptr;
  Rank best_rank{};
  for (auto& [id, agent] : agents_) {
    if (agent.pool != pool) continue;
    ++in_pool;
    if (!Healthy(agent, now)) continue;
    ++healthy;
    if (agent.used() >= agent.capacity) continue;
    const Rank rank{agent.images.contains(Sv(image)), agent.used(), agent.capacity, id};
    if (best == nullptr || Better(rank, best_rank)) {
      best = &agent;
      best_rank = rank;
    }
  }
  if (best == nullptr) {
    if (in_pool == 0) {
      return absl::ResourceExhaustedError(absl::StrCat("no agent in pool \"", Sv(pool), "\""));
    }
    if (healthy == 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat("no healthy agent in pool \"", Sv(pool), "\": all ", in_pool,
                       " agents missed their heartbeats for more than ",
                       absl::FormatDuration(options_.heartbeat_timeout)));
    }
    return absl::ResourceExhaustedError(absl::StrCat("all agents in pool \"", Sv(pool),
                                                     "\" are full (", healthy, " healthy agents)"));
  }
  ++best->reserved;
  return Placement{std::string(best_rank.id), best->address, best->node};
}

void Registry::Release(std::string_view agent_id) {
  absl::MutexLock lock(&mu_);
  auto it = agents_.find(Sv(agent_id));
  if (it != agents_.end() && it->second.reserved > 0) --it->second.reserved;
}

absl::StatusOr<AgentView> Registry::Get(std::string_view agent_id) const {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = agents_.find(Sv(agent_id));
  if (it == agents_.end()) {
    return absl::NotFoundError(absl::StrCat("agent ", Sv(agent_id), " is not registered"));
  }
  return View(it->first, it->second, now);
}

std::vector<AgentView> Registry::List() const {
  const absl::Time now = clock_->Now();
  std::vector<AgentView> out;
  {
    absl::MutexLock lock(&mu_);
    out.reserve(agents_.size());
    for (const auto& [id, agent] : agents_) out.push_back(View(id, agent, now));
  }
  std::sort(out.begin(), out.end(),
            [](const AgentView& a, const AgentView& b) { return a.id < b.id; });
  return out;
}

bool Registry::Healthy(const Agent& agent, absl::Time now) const {
  return now - agent.last_heartbeat <= options_.heartbeat_timeout;
}

AgentView Registry::View(std::string_view id, const Agent& agent, absl::Time now) const {
  AgentView view{.id = std::string(id),
                 .address = agent.address,
                 .node = agent.node,
                 .pool = agent.pool,
                 .capacity = agent.capacity,
                 .used = agent.used(),
                 .images = {agent.images.begin(), agent.images.end()},
                 .last_heartbeat = agent.last_heartbeat,
                 .healthy = Healthy(agent, now)};
  std::sort(view.images.begin(), view.images.end());
  return view;
}

}  // namespace fsb::controller
