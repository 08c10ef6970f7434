#include "agent/containerd/exit_watcher.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "github.com/containerd/containerd/api/events/task.pb.h"
#include "glog/logging.h"
#include "google/protobuf/wrappers.pb.h"

namespace fsb::agent {
namespace {

constexpr absl::Duration kMinBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);
// The watcher's own event: published after subscribing, its return proves the stream live.
constexpr char kMarkerTopic[] = "/fsb/agent/exit-watcher-live";
// A marker published before containerd registered the subscription is not delivered to
// it, so markers repeat at this interval, at most kMaxMarkers times.
constexpr absl::Duration kMarkerInterval = absl::Milliseconds(200);
constexpr int kMaxMarkers = 25;
constexpr absl::Duration kMarkerTimeout = absl::Seconds(1);

}  // namespace

ExitWatcher::ExitWatcher(Containerd* containerd, Callback on_exit, std::function<void()> on_live)
    : containerd_(containerd), on_exit_(std::move(on_exit)), on_live_(std::move(on_live)) {}

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
  grpc::ClientContext ctx;  // a subscription lives as long as the agent: cancelled by Stop()
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return false;
    active_ = &ctx;
    live_ = false;
    ended_ = false;
  }
  const std::string& ns = containerd_->options().ns;
  std::unique_ptr<Containerd::EventStream> reader = containerd_->SubscribeEvents(
      &ctx, {absl::StrCat("topic==\"/tasks/exit\",namespace==\"", ns, "\""),
             absl::StrCat("topic==\"", kMarkerTopic, "\",namespace==\"", ns, "\"")});
  const std::string token = absl::StrCat(getpid(), ".", ++subscriptions_);
  std::thread markers([&] { PublishMarkers(token); });

  containerd::services::events::v1::Envelope envelope;
  while (reader->Read(&envelope)) {
    const std::string& type_url = envelope.event().type_url();
    if (envelope.topic() == kMarkerTopic) {
      google::protobuf::StringValue marker;
      if (absl::EndsWith(type_url, marker.GetDescriptor()->full_name()) &&
          marker.ParseFromString(envelope.event().value()) && marker.value() == token) {
        GoLive("its marker came back");
      }
      continue;
    }
    // containerd's type URLs may lack the "host/" prefix that Any::UnpackTo requires.
    containerd::events::TaskExit exit;
    if (!absl::EndsWith(type_url, exit.GetDescriptor()->full_name()) ||
        !exit.ParseFromString(envelope.event().value())) {
      LOG(WARNING) << "unreadable " << envelope.topic() << " event: " << type_url;
      continue;
    }
    // The init process of a task has the container's id; exec'd processes their own.
    if (exit.id() == exit.container_id()) on_exit_(exit.container_id(), exit.exit_status());
  }
  grpc::Status status = reader->Finish();
  bool live;
  {
    absl::MutexLock lock(&mu_);
    ended_ = true;
    live = live_;
  }
  markers.join();
  absl::MutexLock lock(&mu_);
  active_ = nullptr;
  if (!stop_) {
    LOG(WARNING) << "containerd event stream ended (" << status.error_message()
                 << "); subscribing again";
  }
  return live;
}

void ExitWatcher::PublishMarkers(const std::string& token) {
  google::protobuf::StringValue marker;
  marker.set_value(token);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return live_ || ended_ || stop_; };
  for (int sent = 0; sent < kMaxMarkers; ++sent) {
    // A short timeout: Stop() waits for it.
    if (absl::Status s = containerd_->PublishEvent(kMarkerTopic, marker, kMarkerTimeout); !s.ok()) {
      VLOG(1) << "publishing the exit watcher's marker: " << s.message();
    }
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&done), kMarkerInterval)) return;
  }
  GoLive("no marker came back; assuming the stream is live");
}

void ExitWatcher::GoLive(std::string_view why) {
  {
    absl::MutexLock lock(&mu_);
    if (live_ || ended_) return;
    live_ = true;
  }
  VLOG(1) << "containerd event stream live (" << why << ")";
  on_live_();
}

}  // namespace fsb::agent
