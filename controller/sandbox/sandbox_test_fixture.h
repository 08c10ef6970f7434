#ifndef FSB_CONTROLLER_SANDBOX_SANDBOX_TEST_FIXTURE_H_
#define FSB_CONTROLLER_SANDBOX_SANDBOX_TEST_FIXTURE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controller/sandbox/sandbox_service.h"
#include "controller/service_test_env.h"
#include "controller/store/resources.h"
#include "gtest/gtest.h"

namespace fsb::controller {

inline constexpr char kBusybox[] = "docker.io/library/busybox:latest";

// A create of `name` from `image`, as the FastPath adapter decodes it.
inline CreateSpec Request(std::string name, std::string image = "busybox") {
  CreateSpec create;
  create.sandbox.mutable_metadata()->set_name(std::move(name));
  create.sandbox.mutable_spec()->set_image(std::move(image));
  return create;
}

// The sandbox tests' common ground: a ServiceTestEnv (orphan timeout 10 s, agent lost
// after 15 s, deletes that wait for no retry) and helpers that speak the service's domain types.
class SandboxTest : public ::testing::Test {
 protected:
  SandboxService& service() { return env_.service(); }
  FakeAgentClient& agents() { return env_.agents(); }
  ManualClock& clock() { return env_.clock(); }

  int Used(const std::string& agent) { return env_.scheduler().GetAgentByID(agent)->used; }

  // The record as the store holds it (flushing pending writes first).
  absl::StatusOr<v1alpha1::Sandbox> Stored(const std::string& name,
                                           const std::string& ns = "default") {
    absl::Status flushed = service().Flush(absl::Seconds(10));
    if (!flushed.ok()) return flushed;
    absl::StatusOr<store::Object> object = env_.store().Get({"Sandbox", ns, name});
    if (!object.ok()) return object.status();
    return store::DecodeObject<v1alpha1::Sandbox>(*object);
  }

  // A heartbeat from `agent` reporting `sandboxes` (each with the given phase).
  absl::Status Report(const std::string& agent,
                      const std::vector<const v1alpha1::Sandbox*>& sandboxes,
                      ReportedSandbox::Phase phase = ReportedSandbox::Phase::kRunning,
                      int exit_code = 0) {
    AgentHeartbeat beat;
    beat.agent_id = agent;
    for (const v1alpha1::Sandbox* s : sandboxes) {
      beat.sandboxes.push_back(
          {.container_id = s->status().container_id(), .phase = phase, .exit_code = exit_code});
    }
    return service().Heartbeat(beat).status();
  }

  absl::StatusOr<v1alpha1::Sandbox> Update(const std::string& name, void (*set)(SandboxUpdate&)) {
    SandboxUpdate update;
    update.name = name;
    set(update);
    return service().Update(update);
  }

  ServiceTestEnv env_{SandboxService::Options{.orphan_timeout = absl::Seconds(10),
                                              .agent_lost_timeout = absl::Seconds(15),
                                              .delete_wait_timeout = absl::ZeroDuration()}};
};

// Makes the fake agent answer every create as a warm claim does: instance `id` (or,
// when empty, "warm-" + the proposed id), warm, and `ready` instances left.
inline void AnswerWarm(FakeAgentClient& agents, std::string id = "", int ready = 1) {
  agents.set_on_answer([id, ready](const FakeAgentClient::CreateCall& call,
                                   fsb::agent::v1::CreateSandboxResponse& answer) {
    answer.mutable_status()->set_sandbox_id(id.empty() ? "warm-" + call.spec.sandbox_id() : id);
    answer.mutable_status()->set_requested_id(call.spec.sandbox_id());
    answer.set_warm(true);
    fsb::agent::v1::WarmCount* left = answer.add_warm_counts();
    left->set_image(call.spec.image());
    left->set_ready(ready);
    left->set_desired(ready + 1);
  });
}

// A report of a claimed warm instance: its own id, naming the proposed one.
inline ReportedSandbox WarmState(const std::string& id, const std::string& requested,
                                 ReportedSandbox::Phase phase = ReportedSandbox::Phase::kRunning) {
  return {.container_id = id, .requested_id = requested, .phase = phase};
}

// A heartbeat of `agent` reporting `states`.
inline AgentHeartbeat Beat(const std::string& agent, std::vector<ReportedSandbox> states = {}) {
  AgentHeartbeat beat;
  beat.agent_id = agent;
  beat.sandboxes = std::move(states);
  return beat;
}

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_SANDBOX_SANDBOX_TEST_FIXTURE_H_
