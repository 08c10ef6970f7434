#include "agent/exit_watcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "github.com/containerd/containerd/api/events/task.pb.h"
#include "github.com/containerd/containerd/api/services/events/v1/events.grpc.pb.h"
#include "glog/logging.h"
#include "grpcpp/channel.h"

namespace fsb::agent {
namespace {

constexpr absl::Duration kMinBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);

}  // namespace

ExitWatcher::ExitWatcher(Containerd* containerd, Callback on_exit)
    : containerd_(containerd), on_exit_(std::move(on_exit)) {}

ExitWatcher::~ExitWatcher() { Stop(); }

void ExitWatcher::Start() {
  CHECK(!thread_.joinable()) << "ExitWatcher started twice";
  thread_ = std::thread([this] { Run(); });
}

void ExitWatcher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    if (active_ != nullptr) active_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void ExitWatcher::Run() {
  absl::Duration backoff = kMinBackoff;
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
  while (true) {
    if (Follow()) backoff = kMinBackoff;
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), backoff)) return;
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

bool ExitWatcher::Follow() {
  std::shared_ptr<grpc::ChannelInterface> channel = containerd_->channel();
  auto stub = containerd::services::events::v1::Events::NewStub(channel);
  grpc::ClientContext ctx;
  // A subscription lives as long as the agent: no deadline, cancelled by Stop().
  ctx.AddMetadata("containerd-namespace", containerd_->options().ns);
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return false;
    active_ = &ctx;
  }
  containerd::services::events::v1::SubscribeRequest req;
  req.add_filters(absl::StrCat("topic==\"/tasks/exit\",namespace==\"",
                               containerd_->options().ns, "\""));
  std::unique_ptr<grpc::ClientReader<containerd::services::events::v1::Envelope>> reader =
      stub->Subscribe(&ctx, req);
  bool delivered = false;
  containerd::services::events::v1::Envelope envelope;
  while (reader->Read(&envelope)) {
    delivered = true;
    // containerd's type URLs may lack the "host/" prefix that Any::UnpackTo requires.
    containerd::events::TaskExit exit;
    if (!absl::EndsWith(envelope.event().type_url(), exit.GetDescriptor()->full_name()) ||
        !exit.ParseFromString(envelope.event().value())) {
      LOG(WARNING) << "unreadable " << envelope.topic() << " event: " << envelope.event().type_url();
      continue;
    }
    // The init process of a task has the container's id; exec'd processes their own.
    if (exit.id() == exit.container_id()) on_exit_(exit.container_id(), exit.exit_status());
  }
  grpc::Status status = reader->Finish();
  absl::MutexLock lock(&mu_);
  active_ = nullptr;
  if (!stop_) {
    LOG(WARNING) << "containerd event stream ended (" << status.error_message()
                 << "); subscribing again";
  }
  return delivered;
}

}  // namespace fsb::agent
