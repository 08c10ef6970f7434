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
// How long the watcher waits for a state change before it looks whether to stop: bounds
// how long Stop() waits for it.
constexpr absl::Duration kWatchWait = absl::Milliseconds(250);

}  // namespace

grpc::ChannelArguments ControllerChannelArguments(grpc::ChannelArguments base) {
  const int max_ms = static_cast<int>(absl::ToInt64Milliseconds(kMaxReconnectBackoff));
  base.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(max_ms, 100));
  base.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_ms);
  return base;
}

RegistrationLoop::RegistrationLoop(std::shared_ptr<grpc::ChannelInterface> controller,
                                   SandboxManager* manager, Runtime* runtime, Options options)
    : channel_(std::move(controller)),
      stub_(fsb::agent::v1::Registration::NewStub(channel_)),
      manager_(manager),
      runtime_(runtime),
      options_(std::move(options)),
      loop_({.name = "fsb-registrar"}, [this] { return Round(); }) {}

RegistrationLoop::~RegistrationLoop() { Stop(); }

void RegistrationLoop::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (watch_stop_ || watcher_.joinable()) return;
    watcher_ = std::thread([this] { WatchChannel(); });
  }
  loop_.Start();
}

void RegistrationLoop::Stop() {
  std::thread watcher;
  {
    absl::MutexLock lock(&mu_);
    watch_stop_ = true;
    watcher = std::move(watcher_);
  }
  if (watcher.joinable()) watcher.join();
  loop_.Stop();
}

void RegistrationLoop::WatchChannel() {
  // try_to_connect: an idle channel (the connection broke) connects again at once.
  grpc_connectivity_state state = channel_->GetState(/*try_to_connect=*/true);
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (watch_stop_) return;
    }
    if (!channel_->WaitForStateChange(state, Deadline::In(kWatchWait).ToChrono())) continue;
    const grpc_connectivity_state was = state;
    state = channel_->GetState(/*try_to_connect=*/true);
    // Back after a lost connection, perhaps to a restarted controller: a heartbeat now
    // finds out (and registers again if the controller does not know this agent).
    if (state == GRPC_CHANNEL_READY && was != GRPC_CHANNEL_READY) loop_.Wake();
  }
}

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

absl::Status RegistrationLoop::FitLimit(const google::protobuf::Message& request,
                                        google::protobuf::RepeatedPtrField<std::string>* images,
                                        size_t sandboxes) {
  const int listed = images->size();
  size_t size = request.ByteSizeLong();
  while (size > options_.max_message_bytes && !images->empty()) {
    // Each name takes its bytes, a tag and a length; drop about as many as needed.
    size_t excess = size - options_.max_message_bytes;
    while (excess > 0 && !images->empty()) {
      excess -= std::min(excess, images->rbegin()->size() + 2);
      images->RemoveLast();
    }
    size = request.ByteSizeLong();
  }
  const int dropped = listed - images->size();
  if (dropped != images_dropped_) {
    if (dropped > 0) {
      LOG(WARNING) << "reporting " << images->size() << " of the node's " << listed
                   << " images: all of them exceed the limit of " << options_.max_message_bytes
                   << " bytes of a message to the controller";
    } else if (images_dropped_ > 0) {
      LOG(INFO) << "reporting every image of the node again";
    }
    images_dropped_ = dropped;
  }
  if (size <= options_.max_message_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("the report of ", sandboxes, " sandboxes takes ", size,
                   " bytes, more than the limit of ", options_.max_message_bytes,
                   " bytes of a message to the controller; lower the agent's capacity"));
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
  // A report too large to send: not ready, and the controller hears nothing.
  const auto refuse = [this](const absl::Status& why) {
    LOG(ERROR) << why;
    absl::MutexLock lock(&mu_);
    ready_ = why;
    return false;
  };

  if (registered) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline::In(options_.rpc_timeout).ToChrono());
    fsb::agent::v1::HeartbeatRequest req;
    req.set_agent_id(options_.agent.agent_id());
    req.set_runtime_unavailable(!refreshed.ok());
    for (const auto& i : images) req.add_images(i);
    for (const auto& s : sandboxes) *req.add_sandboxes() = s;
    for (auto& w : manager_->WarmCounts()) *req.add_warm() = std::move(w);
    if (absl::Status fits = FitLimit(req, req.mutable_images(), sandboxes.size()); !fits.ok()) {
      return refuse(fits);
    }
    fsb::agent::v1::HeartbeatResponse resp;
    absl::Status s = FromGrpcStatus(stub_->Heartbeat(&ctx, req, &resp));
    if (s.ok()) {
      ApplyWarmTargets(resp.has_warm_targets() ? &resp.warm_targets() : nullptr);
      absl::MutexLock lock(&mu_);
      ready_ = ready;
      return true;
    }
    if (!absl::IsNotFound(s)) {
      LOG(WARNING) << "heartbeat failed, registering again: " << s;
      return false;
    }
    // The controller answers but does not know this agent (it restarted): register now.
    LOG(INFO) << "the controller does not know this agent, registering again: " << s;
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline::In(options_.rpc_timeout).ToChrono());
  fsb::agent::v1::RegisterRequest req;
  *req.mutable_agent() = options_.agent;
  req.set_runtime_unavailable(!refreshed.ok());
  for (auto& i : images) req.mutable_agent()->add_images(std::move(i));
  for (auto& s : sandboxes) *req.add_sandboxes() = std::move(s);
  for (auto& w : manager_->WarmCounts()) *req.add_warm() = std::move(w);
  if (absl::Status fits =
          FitLimit(req, req.mutable_agent()->mutable_images(), req.sandboxes_size());
      !fits.ok()) {
    return refuse(fits);
  }
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
