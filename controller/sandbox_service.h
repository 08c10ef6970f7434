#ifndef FSB_CONTROLLER_SANDBOX_SERVICE_H_
#define FSB_CONTROLLER_SANDBOX_SERVICE_H_

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "controller/agent_client.h"
#include "controller/registry.h"
#include "fastpath/v1/fastpath.pb.h"
#include "fsb/agent/v1/agent.pb.h"
#include "fsb/v1alpha1/resources.pb.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "internal/clock.h"

namespace fsb::controller {

inline constexpr char kDefaultNamespace[] = "default";

// The controller's sandbox domain: validates requests, places sandboxes on agents
// through the Registry, drives the agents through an AgentClient and keeps one record
// per sandbox, keyed by (namespace, name).
//
// Records are fsb.io/v1alpha1 Sandbox resources, the shape the durable store persists:
// metadata (name, namespace, labels, creationTimestamp), spec (normalized image,
// command, args, env sorted by name, working dir, exposed ports, pool, consistency
// mode) and status (phase, agent, node, container_id = the sandbox id, endpoints,
// exit code, message). They live in memory only for now.
//
// Invariants:
// * A name is reserved (a Pending record exists) before any agent is called, so two
//   concurrent creates of one name never both reach an agent.
// * Every record placed on an agent holds exactly one Registry slot, released when the
//   record is removed; a failed create removes its record and releases its slot.
// * At most one create or delete runs per record; the other gets FAILED_PRECONDITION.
// * Heartbeats update the phase only of settled (not busy, not Terminating) records
//   placed on the reporting agent.
// Thread-safe: one mutex guards the records and is never held across agent calls.
class SandboxService {
 public:
  // `registry`, `agents` and `clock` must outlive the service.
  SandboxService(Registry* registry, AgentClient* agents, const Clock* clock);

  SandboxService(const SandboxService&) = delete;
  SandboxService& operator=(const SandboxService&) = delete;

  // Validates, places and starts a sandbox; returns its record, phase Running (or
  // Succeeded/Failed if the agent already saw it exit). Defaults: namespace "default",
  // name "sb-<8 hex>", pool "default". INVALID_ARGUMENT naming the bad field;
  // ALREADY_EXISTS for a taken namespace/name; RESOURCE_EXHAUSTED when no agent can take
  // it; otherwise the agent's status unchanged (e.g. NOT_FOUND for an unknown image).
  absl::StatusOr<fsb::v1alpha1::Sandbox> Create(const fastpath::v1::CreateRequest& request);

  // An empty `ns` means "default". NOT_FOUND for an unknown sandbox.
  absl::StatusOr<fsb::v1alpha1::Sandbox> Get(std::string_view ns, std::string_view name) const;

  // The sandboxes of `ns` (every namespace when empty), ordered by (namespace, name).
  std::vector<fsb::v1alpha1::Sandbox> List(std::string_view ns) const;

  // Stops and removes the sandbox on its agent (an agent that no longer knows it counts
  // as done), releases its slot and forgets it. An empty `ns` means "default".
  // NOT_FOUND for an unknown sandbox; FAILED_PRECONDITION while it is being created or
  // deleted; on an agent error the record stays, phase Terminating, and Delete may be
  // retried.
  absl::Status Delete(std::string_view ns, std::string_view name);

  // Registers (or re-registers) an agent and applies the sandbox states it reports.
  // INVALID_ARGUMENT for a malformed agent description.
  absl::Status RegisterAgent(const fsb::agent::v1::RegisterRequest& request);

  // Refreshes an agent's liveness, images and load and applies the sandbox states it
  // reports. NOT_FOUND for an unknown agent (it must register again).
  absl::Status Heartbeat(const fsb::agent::v1::HeartbeatRequest& request);

 private:
  using Key = std::pair<std::string, std::string>;  // (namespace, name)

  struct Entry {
    fsb::v1alpha1::Sandbox sandbox;
    bool busy = false;  // a create or delete is calling the agent
  };

  // Applies agent-reported states to the settled records placed on `agent_id`.
  void Observe(std::string_view agent_id,
               const google::protobuf::RepeatedPtrField<fsb::agent::v1::SandboxStatus>& states);
  // Drops the Pending record of a failed create and returns `status`.
  absl::Status AbortCreate(const Key& key, absl::Status status);

  Registry* const registry_;
  AgentClient* const agents_;
  const Clock* const clock_;
  mutable absl::Mutex mu_;
  std::map<Key, Entry> sandboxes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_SANDBOX_SERVICE_H_
