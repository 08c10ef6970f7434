#include "controller/registration_server.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "controller/service_test_env.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "gtest/gtest.h"
#include "internal/deadline.h"
#include "internal/message_limits.h"

namespace fsb::controller {
namespace {

// Calls the adapter's methods directly: without verify_agents it ignores the
// ServerContext (tests/auth_test.cc covers the mutual-TLS check).
class RegistrationServerTest : public ::testing::Test {
 protected:
  ServiceTestEnv env_;
  RegistrationServer server_{&env_.service(), absl::Seconds(5), /*verify_agents=*/false};
};

TEST_F(RegistrationServerTest, RegisterAddsTheAgentAndAnswersTheInterval) {
  fsb::agent::v1::RegisterRequest req;
  req.mutable_agent()->set_agent_id("agent-1");
  req.mutable_agent()->set_address("10.0.0.9:5758");
  req.mutable_agent()->set_pool("gpu");
  req.mutable_agent()->set_capacity(3);
  fsb::agent::v1::RegisterResponse resp;
  ASSERT_TRUE(server_.Register(nullptr, &req, &resp).ok());
  EXPECT_EQ(resp.heartbeat_interval_millis(), 5000);
  absl::StatusOr<AgentSnapshot> agent = env_.scheduler().GetAgentByID("agent-1");
  ASSERT_TRUE(agent.ok());
  EXPECT_EQ(agent->identity->address, "10.0.0.9:5758");
  EXPECT_EQ(agent->identity->pool, "gpu");
  EXPECT_EQ(agent->max_sandboxes, 3);

  fsb::agent::v1::HeartbeatRequest beat;
  beat.set_agent_id("agent-1");
  fsb::agent::v1::HeartbeatResponse beat_resp;
  EXPECT_TRUE(server_.Heartbeat(nullptr, &beat, &beat_resp).ok());
  EXPECT_FALSE(beat_resp.has_warm_targets());
}

TEST_F(RegistrationServerTest, AnswersCarryThePoolsWarmTargets) {
  v1alpha1::SandboxPool pool;
  pool.mutable_metadata()->set_name("gpu");
  v1alpha1::WarmImage* warm = pool.mutable_spec()->add_warm_images();
  warm->set_image("busybox");
  warm->set_count(2);
  bool created;
  ASSERT_TRUE(env_.pools().Apply(pool, &created).ok());

  fsb::agent::v1::RegisterRequest req;
  req.mutable_agent()->set_agent_id("agent-1");
  req.mutable_agent()->set_address("10.0.0.9:5758");
  req.mutable_agent()->set_pool("gpu");
  fsb::agent::v1::RegisterResponse resp;
  ASSERT_TRUE(server_.Register(nullptr, &req, &resp).ok());
  EXPECT_EQ(resp.heartbeat_interval_millis(), 5000);
  ASSERT_EQ(resp.warm_targets().targets_size(), 1);
  EXPECT_EQ(resp.warm_targets().targets(0).count(), 2);

  fsb::agent::v1::HeartbeatRequest beat;
  beat.set_agent_id("agent-1");
  fsb::agent::v1::HeartbeatResponse beat_resp;
  ASSERT_TRUE(server_.Heartbeat(nullptr, &beat, &beat_resp).ok());
  ASSERT_EQ(beat_resp.warm_targets().targets_size(), 1);
  EXPECT_EQ(beat_resp.warm_targets().targets(0).image(), "docker.io/library/busybox:latest");
}

TEST_F(RegistrationServerTest, ErrorsBecomeTheirGrpcCodes) {
  fsb::agent::v1::RegisterRequest req;  // no agent id
  fsb::agent::v1::RegisterResponse resp;
  EXPECT_EQ(server_.Register(nullptr, &req, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  fsb::agent::v1::HeartbeatRequest beat;
  beat.set_agent_id("ghost");
  fsb::agent::v1::HeartbeatResponse beat_resp;
  EXPECT_EQ(server_.Heartbeat(nullptr, &beat, &beat_resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// A registration of `bytes` or a little more: its node has that many bytes of images.
fsb::agent::v1::RegisterRequest RegistrationOf(size_t bytes) {
  fsb::agent::v1::RegisterRequest req;
  req.mutable_agent()->set_agent_id("agent-1");
  req.mutable_agent()->set_address("10.0.0.9:5758");
  req.mutable_agent()->set_capacity(3);
  const std::string padding(400, 'x');
  for (size_t i = 0, size = req.ByteSizeLong(); size < bytes; ++i) {
    std::string* image = req.mutable_agent()->add_images();
    *image = absl::StrCat("docker.io/fsb/", padding, i, ":latest");
    size += image->size() + 2;  // a lower bound: its tag and a one-byte length at least
  }
  return req;
}

// The listener as fsb-controller builds it, on loopback.
TEST(AgentListenerTest, AcceptsRegistrationsUpToTheLimitAndRefusesLarger) {
  ServiceTestEnv env;
  RegistrationServer service{&env.service(), absl::Seconds(5), /*verify_agents=*/false};
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  AcceptAgentMessages(builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = fsb::agent::v1::Registration::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  const auto register_of = [&](size_t bytes) {
    grpc::ClientContext ctx;
    ctx.set_deadline(Deadline::In(absl::Seconds(60)).ToChrono());
    fsb::agent::v1::RegisterResponse resp;
    return stub->Register(&ctx, RegistrationOf(bytes), &resp);
  };

  // Past gRPC's default 4 MiB.
  const grpc::Status large = register_of(size_t{5} << 20);
  EXPECT_TRUE(large.ok()) << large.error_message();
  const grpc::Status too_large = register_of(size_t{kMaxAgentMessageBytes} + 1);
  EXPECT_EQ(too_large.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << too_large.error_message();
  server->Shutdown(Deadline::In(absl::Seconds(5)).ToChrono());
}

}  // namespace
}  // namespace fsb::controller
