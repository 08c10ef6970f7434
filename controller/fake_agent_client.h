#ifndef FSB_CONTROLLER_FAKE_AGENT_CLIENT_H_
#define FSB_CONTROLLER_FAKE_AGENT_CLIENT_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "controller/agent_client.h"

namespace fsb::controller {

// A deterministic in-memory AgentClient for tests. It records every call and answers
// with the configured statuses (per agent address where set, else the default); a
// successful create reports the sandbox RUNNING under the proposed id, as a cold create.
// `on_create` (`on_delete`), when set, runs inside CreateSandbox (DeleteSandbox) before
// it answers (without the fake's lock held), e.g. to block the call; a delete is recorded
// once its hook returned; `on_answer`, when set, may then change a
// successful answer (e.g. to a warm claim's). Thread-safe.
class FakeAgentClient : public AgentClient {
 public:
  struct CreateCall {
    std::string address;
    fsb::agent::v1::SandboxSpec spec;
    bool may_pull = false;
  };
  struct DeleteCall {
    std::string address;
    std::string sandbox_id;
    std::optional<absl::Duration> grace;
  };

  using AnswerHook = std::function<void(const CreateCall&, fsb::agent::v1::CreateSandboxResponse&)>;

  absl::StatusOr<fsb::agent::v1::CreateSandboxResponse> CreateSandbox(
      std::string_view address, const fsb::agent::v1::SandboxSpec& spec, bool may_pull) override {
    const CreateCall call{std::string(address), spec, may_pull};
    std::function<void()> hook;
    AnswerHook answer_hook;
    {
      absl::MutexLock lock(&mu_);
      creates_.push_back(call);
      hook = on_create_;
      answer_hook = on_answer_;
    }
    if (hook) hook();
    {
      absl::MutexLock lock(&mu_);
      if (auto it = create_status_for_.find(call.address); it != create_status_for_.end()) {
        if (!it->second.ok()) return it->second;
      } else if (!create_status_.ok()) {
        return create_status_;
      }
    }
    fsb::agent::v1::CreateSandboxResponse answer;
    fsb::agent::v1::SandboxStatus& status = *answer.mutable_status();
    status.set_sandbox_id(spec.sandbox_id());
    status.set_name(spec.name());
    status.set_namespace_(spec.namespace_());
    status.set_image(spec.image());
    status.set_phase(fsb::agent::v1::SANDBOX_PHASE_RUNNING);
    if (answer_hook) answer_hook(call, answer);
    return answer;
  }

  absl::Status DeleteSandbox(std::string_view address, std::string_view sandbox_id,
                             std::optional<absl::Duration> grace) override {
    const DeleteCall call{std::string(address), std::string(sandbox_id), grace};
    std::function<void(const DeleteCall&)> hook;
    {
      absl::MutexLock lock(&mu_);
      hook = on_delete_;
    }
    if (hook) hook(call);
    absl::MutexLock lock(&mu_);
    deletes_.push_back(call);
    return delete_status_;
  }

  void AgentUp(std::string_view /*agent_id*/, std::string_view address) override {
    absl::MutexLock lock(&mu_);
    agents_up_.emplace_back(address);
  }
  std::vector<std::string> agents_up() {
    absl::MutexLock lock(&mu_);
    return agents_up_;
  }

  void set_create_status(absl::Status s) {
    absl::MutexLock lock(&mu_);
    create_status_ = std::move(s);
  }
  void set_create_status_for(const std::string& address, absl::Status s) {
    absl::MutexLock lock(&mu_);
    create_status_for_[address] = std::move(s);
  }
  void set_delete_status(absl::Status s) {
    absl::MutexLock lock(&mu_);
    delete_status_ = std::move(s);
  }
  void set_on_create(std::function<void()> hook) {
    absl::MutexLock lock(&mu_);
    on_create_ = std::move(hook);
  }
  void set_on_delete(std::function<void(const DeleteCall&)> hook) {
    absl::MutexLock lock(&mu_);
    on_delete_ = std::move(hook);
  }
  void set_on_answer(AnswerHook hook) {
    absl::MutexLock lock(&mu_);
    on_answer_ = std::move(hook);
  }
  std::vector<CreateCall> creates() const {
    absl::MutexLock lock(&mu_);
    return creates_;
  }
  std::vector<DeleteCall> deletes() const {
    absl::MutexLock lock(&mu_);
    return deletes_;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Status create_status_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Status> create_status_for_ ABSL_GUARDED_BY(mu_);
  absl::Status delete_status_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> agents_up_ ABSL_GUARDED_BY(mu_);
  std::function<void()> on_create_ ABSL_GUARDED_BY(mu_);
  std::function<void(const DeleteCall&)> on_delete_ ABSL_GUARDED_BY(mu_);
  AnswerHook on_answer_ ABSL_GUARDED_BY(mu_);
  std::vector<CreateCall> creates_ ABSL_GUARDED_BY(mu_);
  std::vector<DeleteCall> deletes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_FAKE_AGENT_CLIENT_H_
