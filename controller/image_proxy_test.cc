#include "controller/image_proxy.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "controller/client_auth_testing.h"
#include "fsb/agent/v1/agent.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "internal/clock.h"

namespace fsb::controller {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// An agent's ImageService that records the archive it receives and the `force` of each
// chunk, and answers with a fixed image name, or with `error` when set.
class FakeAgentImages final : public fsb::agent::v1::ImageService::Service {
 public:
  explicit FakeAgentImages(grpc::Status error = grpc::Status::OK) : error_(std::move(error)) {}

  grpc::Status ImportImage(grpc::ServerContext*,
                           grpc::ServerReader<fsb::agent::v1::ImportImageChunk>* reader,
                           fsb::agent::v1::ImportImageResponse* resp) override {
    fsb::agent::v1::ImportImageChunk chunk;
    std::string received;
    std::vector<bool> forces;
    while (reader->Read(&chunk)) {
      received += chunk.data();
      forces.push_back(chunk.force());
    }
    absl::MutexLock lock(&mu_);
    received_ = received;
    forces_ = std::move(forces);
    if (!error_.ok()) return error_;
    resp->add_images("docker.io/fsb/imported:1");
    return grpc::Status::OK;
  }

  std::string received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  std::vector<bool> forces() {
    absl::MutexLock lock(&mu_);
    return forces_;
  }

 private:
  const grpc::Status error_;
  absl::Mutex mu_;
  std::string received_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> forces_ ABSL_GUARDED_BY(mu_);
};

class ImageProxyTest : public ::testing::Test {
 protected:
  // Registers agent `id`, served in process by a fake answering `error` (OK: success).
  FakeAgentImages& AddAgent(const std::string& id, grpc::Status error = grpc::Status::OK) {
    fakes_.push_back(std::make_unique<FakeAgentImages>(std::move(error)));
    grpc::ServerBuilder builder;
    builder.RegisterService(fakes_.back().get());
    servers_.push_back(builder.BuildAndStart());
    channels_[id + ":5758"] = servers_.back()->InProcessChannel(grpc::ChannelArguments());
    EXPECT_TRUE(scheduler_
                    .RegisterOrUpdate({.id = id,
                                       .address = id + ":5758",
                                       .node = id,
                                       .pool = "default",
                                       .max_sandboxes = 1})
                    .ok());
    return *fakes_.back();
  }

  // The proxy under test, served in process; created on first use.
  fastpath::v1::Images::Stub& Proxy() {
    if (stub_ == nullptr) {
      proxy_ = std::make_unique<ImageProxy>(
          &scheduler_,
          [this](std::string_view address) { return channels_.at(std::string(address)); }, &auth_,
          ImageProxy::Options{.import_timeout = absl::Seconds(30)});
      grpc::ServerBuilder builder;
      builder.RegisterService(proxy_.get());
      servers_.push_back(builder.BuildAndStart());
      stub_ = fastpath::v1::Images::NewStub(
          servers_.back()->InProcessChannel(grpc::ChannelArguments()));
    }
    return *stub_;
  }

  // Sends `messages` (a target, then data chunks) and returns the call's status.
  // As `token`'s holder (TestTokens; the admin by default).
  grpc::Status Import(const std::vector<fastpath::v1::ImportImageRequest>& messages,
                      fastpath::v1::ImportImageResponse* resp,
                      std::string_view token = "ops-token") {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", Sv(token)));
    auto writer = Proxy().ImportImage(&ctx, resp);
    for (const auto& m : messages) {
      if (!writer->Write(m)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }

  static fastpath::v1::ImportImageRequest Target(const std::string& agent, bool force = false) {
    fastpath::v1::ImportImageRequest req;
    req.mutable_target()->set_agent(agent);
    req.mutable_target()->set_force(force);
    return req;
  }
  static fastpath::v1::ImportImageRequest Data(const std::string& data) {
    fastpath::v1::ImportImageRequest req;
    req.set_data(data);
    return req;
  }

  ManualClock clock_;
  Scheduler scheduler_{&clock_};
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<FakeAgentImages>> fakes_;
  TestTokens tokens_;
  metrics::Registry registry_;
  ClientAuth auth_{tokens_.store(), &registry_};
  std::unique_ptr<ImageProxy> proxy_;
  // Destroyed first: servers stop before the services they serve go.
  std::vector<std::unique_ptr<grpc::Server>> servers_;
  std::unique_ptr<fastpath::v1::Images::Stub> stub_;
};

TEST_F(ImageProxyTest, ForwardsTheArchiveToTheNamedAgent) {
  FakeAgentImages& a = AddAgent("a");
  FakeAgentImages& b = AddAgent("b");
  fastpath::v1::ImportImageResponse resp;
  grpc::Status s = Import({Target("b"), Data("tar "), Data(""), Data("bytes")}, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(b.received(), "tar bytes");
  EXPECT_EQ(a.received(), "");
  ASSERT_EQ(resp.results_size(), 1);
  EXPECT_EQ(resp.results(0).agent(), "b");
  EXPECT_THAT(resp.results(0).images(), ElementsAre("docker.io/fsb/imported:1"));
  EXPECT_EQ(resp.results(0).error(), "");
}

TEST_F(ImageProxyTest, OnlyAdminsImport) {
  FakeAgentImages& a = AddAgent("a");
  fastpath::v1::ImportImageResponse resp;
  grpc::Status s = Import({Target("a"), Data("tar")}, &resp, "alice-token");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("alice (role user) may not write cluster-wide"));
  EXPECT_EQ(Import({Target("a"), Data("tar")}, &resp, "").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(a.received(), "");
}

TEST_F(ImageProxyTest, EmptyTargetMeansEveryAgentAndReportsEach) {
  FakeAgentImages& ok = AddAgent("a");
  FakeAgentImages& full =
      AddAgent("b", grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "disk full"));
  fastpath::v1::ImportImageResponse resp;
  grpc::Status s = Import({Target(""), Data(std::string(3 << 20, 'x'))}, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ok.received().size(), size_t{3} << 20);
  EXPECT_EQ(full.received().size(), size_t{3} << 20);
  ASSERT_EQ(resp.results_size(), 2);
  EXPECT_EQ(resp.results(0).agent(), "a");
  EXPECT_THAT(resp.results(0).images(), ElementsAre("docker.io/fsb/imported:1"));
  EXPECT_EQ(resp.results(1).agent(), "b");
  EXPECT_TRUE(resp.results(1).images().empty());
  EXPECT_EQ(resp.results(1).error(), "RESOURCE_EXHAUSTED: disk full");
}

TEST_F(ImageProxyTest, ForceReachesEveryAgentInTheFirstChunk) {
  FakeAgentImages& a = AddAgent("a");
  FakeAgentImages& b = AddAgent("b");
  fastpath::v1::ImportImageResponse resp;
  grpc::Status s = Import({Target("", /*force=*/true), Data("tar "), Data("bytes")}, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(a.forces(), ElementsAre(true, false));
  EXPECT_THAT(b.forces(), ElementsAre(true, false));
  EXPECT_EQ(b.received(), "tar bytes");

  s = Import({Target("a"), Data("tar "), Data("bytes")}, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(a.forces(), ElementsAre(false, false));
}

TEST_F(ImageProxyTest, FailsWhenEveryAgentFails) {
  AddAgent("a", grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "not a tar"));
  AddAgent("b", grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "not a tar"));
  fastpath::v1::ImportImageResponse resp;
  grpc::Status s = Import({Target(""), Data("junk")}, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("agent a: not a tar; agent b: not a tar"));
}

TEST_F(ImageProxyTest, TheNamedAgentsErrorIsTheCallsError) {
  AddAgent("a", grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "not an OCI image archive"));
  fastpath::v1::ImportImageResponse resp;
  grpc::Status s = Import({Target("a"), Data("junk")}, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "not an OCI image archive");
}

TEST_F(ImageProxyTest, RejectsBadTargets) {
  fastpath::v1::ImportImageResponse resp;
  EXPECT_EQ(Import({Target("")}, &resp).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  AddAgent("a");
  grpc::Status unknown = Import({Target("nope"), Data("x")}, &resp);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(unknown.error_message(), HasSubstr("agent \"nope\" is not registered"));
  EXPECT_EQ(Import({Data("x")}, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Import({}, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Import({Target("a"), Data("x"), Target("a")}, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace fsb::controller
