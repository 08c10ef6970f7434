#include "controller/registration_server.h"

#include "controller/service_test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

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

}  // namespace
}  // namespace fsb::controller
