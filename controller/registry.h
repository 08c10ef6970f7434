#ifndef FSB_CONTROLLER_REGISTRY_H_
#define FSB_CONTROLLER_REGISTRY_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "internal/clock.h"

namespace fsb::controller {

// The pool of agents and sandboxes that name none.
inline constexpr char kDefaultPool[] = "default";

// What an agent tells the controller about itself when it registers.
struct AgentRegistration {
  std::string id;       // unique agent name; required
  std::string address;  // host:port of its AgentService; required
  std::string node;
  std::string pool;                 // empty -> "default"
  int capacity = 0;                 // maximum number of sandboxes; >= 0
  std::vector<std::string> images;  // normalized image references on the node
  int reported_sandboxes = 0;       // sandboxes the agent holds right now
};

// Where a sandbox was placed: enough to call the agent and to describe the placement.
struct Placement {
  std::string agent_id;
  std::string address;
  std::string node;
};

// A point-in-time copy of one registered agent.
struct AgentView {
  std::string id;
  std::string address;
  std::string node;
  std::string pool;
  int capacity = 0;
  int used = 0;
  std::vector<std::string> images;  // sorted
  absl::Time last_heartbeat;
  bool healthy = false;  // heartbeat fresher than the registry's timeout
};

// The controller's view of its agents, and the placement of sandboxes onto them.
//
// Each agent's occupancy is used = max(reserved, reported): `reserved` counts the slots
// handed out by Allocate and not yet Released (the controller's own placements, which
// are authoritative for scheduling), `reported` the number of sandboxes the agent said
// it holds in its last heartbeat (which also covers sandboxes the controller does not
// know about, e.g. after a controller restart). Invariant: 0 <= reserved, and Allocate
// never reserves on an agent whose used >= capacity.
//
// An agent is healthy while its last registration or heartbeat is at most
// `heartbeat_timeout` old on the injected clock; only healthy agents are chosen.
// Re-registering an agent replaces its description but keeps its reservations (the
// sandboxes placed there still exist). Agents are never forgotten.
//
// Thread-safe: every method takes the registry's mutex and none calls out while
// holding it.
class Registry {
 public:
  struct Options {
    absl::Duration heartbeat_timeout = absl::Seconds(15);
  };

  // `clock` must outlive the registry.
  Registry(const Clock* clock, Options options);

  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Adds or replaces the agent and marks it fresh; its reported count is taken from
  // `agent.reported_sandboxes`. INVALID_ARGUMENT for an empty id or
  // address, or a negative capacity.
  absl::Status Register(AgentRegistration agent);

  // Marks the agent fresh and replaces its image set and reported sandbox count.
  // NOT_FOUND for an unknown agent: it must register again.
  absl::Status Heartbeat(std::string_view agent_id, std::vector<std::string> images,
                         int reported_sandboxes);

  // Chooses a healthy agent of `pool` with a free slot and reserves the slot. Prefers an
  // agent that has `image` (a normalized reference), then the lower load ratio
  // (used / capacity), then the smaller id. RESOURCE_EXHAUSTED, saying why, when no
  // agent qualifies.
  absl::StatusOr<Placement> Allocate(std::string_view pool, std::string_view image);

  // Returns a slot reserved by Allocate on `agent_id`. Releasing more than was
  // reserved, or on an unknown agent, is a no-op.
  void Release(std::string_view agent_id);

  // The agent's current description. NOT_FOUND for an unknown agent.
  absl::StatusOr<AgentView> Get(std::string_view agent_id) const;

  // Every agent, ordered by id.
  std::vector<AgentView> List() const;

 private:
  struct Agent {
    std::string address;
    std::string node;
    std::string pool;
    int capacity = 0;
    absl::flat_hash_set<std::string> images;
    int reserved = 0;
    int reported = 0;
    absl::Time last_heartbeat;

    int used() const { return reserved > reported ? reserved : reported; }
  };

  bool Healthy(const Agent& agent, absl::Time now) const;
  AgentView View(std::string_view id, const Agent& agent, absl::Time now) const;

  const Clock* const clock_;
  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Agent> agents_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_REGISTRY_H_
