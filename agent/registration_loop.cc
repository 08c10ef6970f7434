#include "agent/registration_loop.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "internal/deadline.h"
#include "internal/image_ref.h"
#include "internal/status.h"

namespace fsb::agent {
namespace {

constexpr absl::Duration kRetryInterval = absl::Seconds(1);

}  // namespace

RegistrationLoop::RegistrationLoop(std::shared_ptr<grpc::ChannelInterface> controller,
                                   SandboxManager* manager, Runtime* runtime, Options options)
    : stub_(fsb::agent::v1::Registration::NewStub(controller)),
      manager_(manager),
      runtime_(runtime),
      options_(std::move(options)),
      loop_({.name = "fsb-registrar"}, [this] { return Round(); }) {}

RegistrationLoop::~RegistrationLoop() { Stop(); }

void RegistrationLoop::Start() { loop_.Start(); }

void RegistrationLoop::Stop() { loop_.Stop(); }

void RegistrationLoop::PushNow() { loop_.Wake(); }

absl::Status RegistrationLoop::Ready() const {
  absl::MutexLock lock(&mu_);
  return ready_;
}

absl::Duration RegistrationLoop::Round() {
  registered_ = Tick(registered_);
  if (!registered_) {
    absl::MutexLock lock(&mu_);
    if (ready_.ok()) ready_ = absl::UnavailableError("lost the controller; registering again");
  }
  // Not registered yet (controller or runtime not up): try again soon, whatever the
  // heartbeat period.
  return registered_ ? options_.interval : std::min(options_.interval, kRetryInterval);
}

void RegistrationLoop::ApplyWarmTargets(const fsb::agent::v1::WarmTargets* targets) {
  if (options_.warm == nullptr) return;
  if (targets == nullptr) {
    options_.warm->SetControllerTargets(std::nullopt);
    return;
  }
  std::vector<WarmTarget> wanted;
  for (const auto& t : targets->targets()) {
    if (auto ref = NormalizeImageReference(t.image()); ref.ok())
      wanted.push_back({*ref, t.count()});
  }
  options_.warm->SetControllerTargets(std::move(wanted));
}

bool RegistrationLoop::Tick(bool registered) {
  if (!manager_->ready()) {
    if (absl::Status s = manager_->Recover(); !s.ok()) {
      LOG(WARNING) << "cannot recover sandboxes from the runtime yet: " << s;
      absl::MutexLock lock(&mu_);
      ready_ = absl::UnavailableError(
          absl::StrCat("recovering the sandboxes from the runtime: ", s.message()));
      return false;
    }
  }
  const absl::Status refreshed = manager_->Refresh();
  manager_->SetRuntimeAvailable(refreshed.ok());
  if (!refreshed.ok()) {
    LOG(WARNING) << "cannot refresh sandbox states from the runtime: " << refreshed;
  }
  // Readiness after this round, if the controller hears it.
  const absl::Status ready =
      refreshed.ok()
          ? absl::OkStatus()
          : absl::UnavailableError(absl::StrCat("runtime unavailable: ", refreshed.message()));
  std::vector<std::string> images;
  if (auto names = runtime_->ListImages(); names.ok()) {
    for (const std::string& name : *names) {
      // containerd also lists digest-only names of imported images; report references.
      if (auto ref = NormalizeImageReference(name); ref.ok()) images.push_back(*ref);
    }
  } else {
    LOG(WARNING) << "cannot list images: " << names.status();
  }
  std::vector<fsb::agent::v1::SandboxStatus> sandboxes = manager_->List();

  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline::In(options_.rpc_timeout).ToChrono());
  if (registered) {
    fsb::agent::v1::HeartbeatRequest req;
    req.set_agent_id(options_.agent.agent_id());
    req.set_runtime_unavailable(!refreshed.ok());
    for (auto& i : images) req.add_images(std::move(i));
    for (auto& s : sandboxes) *req.add_sandboxes() = std::move(s);
    for (auto& w : manager_->WarmCounts()) *req.add_warm() = std::move(w);
    fsb::agent::v1::HeartbeatResponse resp;
    absl::Status s = FromGrpcStatus(stub_->Heartbeat(&ctx, req, &resp));
    if (s.ok()) {
      ApplyWarmTargets(resp.has_warm_targets() ? &resp.warm_targets() : nullptr);
      absl::MutexLock lock(&mu_);
      ready_ = ready;
      return true;
    }
    LOG(WARNING) << "heartbeat failed, registering again: " << s;
    return false;
  }
  fsb::agent::v1::RegisterRequest req;
  *req.mutable_agent() = options_.agent;
  req.set_runtime_unavailable(!refreshed.ok());
  for (auto& i : images) req.mutable_agent()->add_images(std::move(i));
  for (auto& s : sandboxes) *req.add_sandboxes() = std::move(s);
  for (auto& w : manager_->WarmCounts()) *req.add_warm() = std::move(w);
  fsb::agent::v1::RegisterResponse resp;
  absl::Status s = FromGrpcStatus(stub_->Register(&ctx, req, &resp));
  if (!s.ok()) {
    LOG(WARNING) << "cannot register with the controller: " << s;
    return false;
  }
  ApplyWarmTargets(resp.has_warm_targets() ? &resp.warm_targets() : nullptr);
  LOG(INFO) << "registered with the controller as " << options_.agent.agent_id();
  absl::MutexLock lock(&mu_);
  ready_ = ready;
  return true;
}

}  // namespace fsb::agent
