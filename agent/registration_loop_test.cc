#include "agent/registration_loop.h"

#include <atomic>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/fake_runtime.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

namespace v1 = ::fsb::agent::v1;

// Long enough that no periodic heartbeat happens during a test: every round after the
// first comes from the channel watcher.
constexpr absl::Duration kNoHeartbeat = absl::Hours(1);
// How long a test waits for what it expects before it fails (not a latency bound).
constexpr absl::Duration kPatience = absl::Seconds(30);

// The controller's side of registration, as a freshly started controller behaves:
// heartbeats of agents it has not seen register are NOT_FOUND.
class FakeController final : public v1::Registration::Service {
 public:
  grpc::Status Register(grpc::ServerContext*, const v1::RegisterRequest* req,
                        v1::RegisterResponse*) override {
    absl::MutexLock lock(&mu_);
    known_.insert(req->agent().agent_id());
    ++registers_;
    last_register_images_ = req->agent().images_size();
    last_register_bytes_ = req->ByteSizeLong();
    return grpc::Status::OK;
  }
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* req,
                         v1::HeartbeatResponse*) override {
    absl::MutexLock lock(&mu_);
    if (!known_.contains(req->agent_id())) {
      ++refused_heartbeats_;
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "agent not registered");
    }
    return grpc::Status::OK;
  }

  // As a restarted controller: it no longer knows any agent.
  void Forget() {
    absl::MutexLock lock(&mu_);
    known_.clear();
  }

  // Whether at least `n` registrations arrived within kPatience.
  bool AwaitRegisters(int n) { return Await(&registers_, n); }
  int registers() {
    absl::MutexLock lock(&mu_);
    return registers_;
  }
  int refused_heartbeats() {
    absl::MutexLock lock(&mu_);
    return refused_heartbeats_;
  }
  // The number of images and the size of the last registration.
  int last_register_images() {
    absl::MutexLock lock(&mu_);
    return last_register_images_;
  }
  size_t last_register_bytes() {
    absl::MutexLock lock(&mu_);
    return last_register_bytes_;
  }

 private:
  absl::Mutex mu_;
  std::set<std::string> known_ ABSL_GUARDED_BY(mu_);
  int registers_ ABSL_GUARDED_BY(mu_) = 0;
  int refused_heartbeats_ ABSL_GUARDED_BY(mu_) = 0;
  int last_register_images_ ABSL_GUARDED_BY(mu_) = 0;
  size_t last_register_bytes_ ABSL_GUARDED_BY(mu_) = 0;

  bool Await(const int* count, int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return *count >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kPatience);
  }
};

// Counts the loop's rounds: each lists the node's images once. The images are
// FakeRuntime's, or `images` when set before the loop starts.
class RoundCountingRuntime : public FakeRuntime {
 public:
  absl::StatusOr<std::vector<std::string>> ListImages() override {
    ++rounds;
    if (!images.empty()) return images;
    return FakeRuntime::ListImages();
  }
  std::atomic<int> rounds = 0;
  std::vector<std::string> images;
};

// A controller process: its service behind a server on `address` ("127.0.0.1:0": any
// port, see port()).
class ControllerServer {
 public:
  explicit ControllerServer(const std::string& address) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    CHECK(server_ != nullptr) << "cannot listen on " << address;
  }
  ~ControllerServer() { server_->Shutdown(absl::ToChronoTime(absl::Now())); }

  int port() const { return port_; }
  FakeController& service() { return service_; }

 private:
  FakeController service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

class RegistrationLoopTest : public ::testing::Test {
 protected:
  RegistrationLoopTest()
      : log_dir_(std::filesystem::path(::testing::TempDir()) / "registration_logs"),
        manager_(&runtime_, &shim_groups_, &clock_, &metrics_,
                 {.capacity = 2, .log_dir = log_dir_.string()}) {
    std::filesystem::create_directories(log_dir_);
    info_.set_agent_id("agent-1");
    info_.set_node_name("node-1");
    info_.set_address("127.0.0.1:5758");
    info_.set_pool("default");
    info_.set_capacity(2);
  }

  // Whether the loop becomes Ready within kPatience: it is once the controller's answer
  // is in, a moment after the controller counted the call.
  static bool AwaitReady(RegistrationLoop& loop) {
    const absl::Time deadline = absl::Now() + kPatience;
    while (!loop.Ready().ok() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
    return loop.Ready().ok();
  }

  // A loop on a channel to `port`, connected first when `connect` (so that the loop's
  // first round is its only one until a wake, the channel watcher's included).
  std::unique_ptr<RegistrationLoop> NewLoop(int port, bool connect = true,
                                            size_t max_message_bytes = kMaxAgentMessageBytes) {
    std::shared_ptr<grpc::Channel> channel =
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                  grpc::InsecureChannelCredentials(), ControllerChannelArguments());
    if (connect) {
      CHECK(channel->WaitForConnected(absl::ToChronoTime(absl::Now() + kPatience)));
    }
    return std::make_unique<RegistrationLoop>(
        channel, &manager_, &runtime_,
        RegistrationLoop::Options{
            .agent = info_, .interval = kNoHeartbeat, .max_message_bytes = max_message_bytes});
  }

  std::filesystem::path log_dir_;
  RoundCountingRuntime runtime_;
  ShimGroups shim_groups_{2};
  ManualClock clock_{absl::FromUnixSeconds(1000)};
  metrics::Registry registry_;
  AgentMetrics metrics_{&registry_};
  SandboxManager manager_;
  v1::AgentInfo info_;
};

TEST_F(RegistrationLoopTest, RegistersAgainWithARestartedControllerWithoutWaitingForAHeartbeat) {
  auto first = std::make_unique<ControllerServer>("127.0.0.1:0");
  const int port = first->port();
  std::unique_ptr<RegistrationLoop> loop = NewLoop(port);
  EXPECT_FALSE(loop->Ready().ok());
  loop->Start();
  ASSERT_TRUE(first->service().AwaitRegisters(1));

  // The controller restarts on the same port; the next periodic heartbeat is an hour
  // away, so only the reconnection can bring the agent back.
  first.reset();
  const absl::Time restarted = absl::Now();
  ControllerServer second(absl::StrCat("127.0.0.1:", port));
  ASSERT_TRUE(second.service().AwaitRegisters(1));
  LOG(INFO) << "registered again " << absl::Now() - restarted << " after the restart";
  // At most one heartbeat first, refused by the controller that does not know the agent,
  // the registration following in the same round; none when a round ran while no
  // controller answered (a slow machine, ThreadSanitizer), whose failed heartbeat makes the
  // next round register at once.
  EXPECT_LE(second.service().refused_heartbeats(), 1);
  EXPECT_EQ(second.service().registers(), 1);
  EXPECT_TRUE(AwaitReady(*loop)) << loop->Ready();
  loop->Stop();
}

TEST_F(RegistrationLoopTest, HeartbeatNotFoundRegistersInTheSameRound) {
  ControllerServer controller("127.0.0.1:0");
  std::unique_ptr<RegistrationLoop> loop = NewLoop(controller.port());
  loop->Start();
  ASSERT_TRUE(controller.service().AwaitRegisters(1));
  controller.service().Forget();
  const int rounds = runtime_.rounds;
  loop->PushNow();
  ASSERT_TRUE(controller.service().AwaitRegisters(2));
  // In one round, not in a retry round after it: the refused heartbeat, then at once the
  // registration.
  EXPECT_EQ(runtime_.rounds, rounds + 1);
  EXPECT_EQ(controller.service().refused_heartbeats(), 1);
  EXPECT_TRUE(AwaitReady(*loop)) << loop->Ready();
}

TEST_F(RegistrationLoopTest, AReportPastTheLimitDropsImageNamesToFit) {
  for (int i = 0; i < 200; ++i) {
    runtime_.images.push_back(absl::StrCat("docker.io/fsb/image-", i, ":latest"));
  }
  constexpr size_t kLimit = 2000;  // room for some 50 of the 200 names
  ControllerServer controller("127.0.0.1:0");
  std::unique_ptr<RegistrationLoop> loop = NewLoop(controller.port(), true, kLimit);
  loop->Start();
  ASSERT_TRUE(controller.service().AwaitRegisters(1));
  EXPECT_LE(controller.service().last_register_bytes(), kLimit);
  EXPECT_GT(controller.service().last_register_images(), 10);
  EXPECT_LT(controller.service().last_register_images(), 200);
  EXPECT_TRUE(AwaitReady(*loop)) << loop->Ready();
  loop->Stop();
}

TEST_F(RegistrationLoopTest, AReportTooLargeEvenWithoutImagesIsNotSentAndNotReady) {
  ControllerServer controller("127.0.0.1:0");
  // Smaller than the agent's own description.
  std::unique_ptr<RegistrationLoop> loop = NewLoop(controller.port(), true, 16);
  loop->Start();
  // Two rounds at least: the first one has decided (the retry interval is 1 s).
  const absl::Time deadline = absl::Now() + kPatience;
  while (runtime_.rounds < 2 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  loop->Stop();
  ASSERT_GE(runtime_.rounds, 2);
  EXPECT_EQ(controller.service().registers(), 0);
  const absl::Status ready = loop->Ready();
  EXPECT_EQ(ready.code(), absl::StatusCode::kResourceExhausted) << ready;
  EXPECT_THAT(std::string(ready.message()),
              ::testing::HasSubstr("more than the limit of 16 bytes"));
}

TEST_F(RegistrationLoopTest, StopsWhileTheControllerIsDown) {
  int port;
  {
    ControllerServer gone("127.0.0.1:0");
    port = gone.port();
  }
  std::unique_ptr<RegistrationLoop> loop = NewLoop(port, /*connect=*/false);
  loop->Start();
  loop->Start();  // idempotent
  EXPECT_FALSE(loop->Ready().ok());
  loop->Stop();
  loop->Stop();  // idempotent
  EXPECT_FALSE(loop->Ready().ok());
}

}  // namespace
}  // namespace fsb::agent
