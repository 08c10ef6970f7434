#include "agent/registration_loop.h"

#include "glog/logging.h"
#include "internal/image_ref.h"
#include "internal/status.h"

namespace fsb::agent {

RegistrationLoop::RegistrationLoop(std::shared_ptr<grpc::ChannelInterface> controller,
                                   SandboxManager* manager, Runtime* runtime, Options options)
    : stub_(fsb::agent::v1::Registration::NewStub(controller)),
      manager_(manager),
      runtime_(runtime),
      options_(std::move(options)) {}

RegistrationLoop::~RegistrationLoop() { Stop(); }

void RegistrationLoop::Start() {
  CHECK(!thread_.joinable()) << "RegistrationLoop started twice";
  thread_ = std::thread([this] { Run(); });
}

void RegistrationLoop::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void RegistrationLoop::Run() {
  bool registered = false;
  do {
    registered = Tick(registered);
  } while (!stop_.WaitForNotificationWithTimeout(options_.interval));
}

bool RegistrationLoop::Tick(bool registered) {
  if (absl::Status s = manager_->Refresh(); !s.ok()) {
    LOG(WARNING) << "cannot refresh sandbox states from the runtime: " << s;
  }
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
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
  if (registered) {
    fsb::agent::v1::HeartbeatRequest req;
    req.set_agent_id(options_.agent.agent_id());
    for (auto& i : images) req.add_images(std::move(i));
    for (auto& s : sandboxes) *req.add_sandboxes() = std::move(s);
    fsb::agent::v1::HeartbeatResponse resp;
    absl::Status s = FromGrpcStatus(stub_->Heartbeat(&ctx, req, &resp));
    if (s.ok()) return true;
    LOG(WARNING) << "heartbeat failed, registering again: " << s;
    return false;
  }
  fsb::agent::v1::RegisterRequest req;
  *req.mutable_agent() = options_.agent;
  for (auto& i : images) req.mutable_agent()->add_images(std::move(i));
  for (auto& s : sandboxes) *req.add_sandboxes() = std::move(s);
  fsb::agent::v1::RegisterResponse resp;
  absl::Status s = FromGrpcStatus(stub_->Register(&ctx, req, &resp));
  if (!s.ok()) {
    LOG(WARNING) << "cannot register with the controller: " << s;
    return false;
  }
  LOG(INFO) << "registered with the controller as " << options_.agent.agent_id();
  return true;
}

}  // namespace fsb::agent
