#include "controller/pool_service.h"

#include <string>

#include "controller/fastpath_server.h"
#include "controller/service_test_env.h"
#include "controller/store/sqlite_store_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::controller {
namespace {

using ::fsb::v1alpha1::SandboxPool;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

SandboxPool Pool(std::string name, int max_per_agent) {
  SandboxPool pool;
  pool.set_api_version("fsb.io/v1alpha1");
  pool.set_kind("SandboxPool");
  pool.mutable_metadata()->set_name(std::move(name));
  pool.mutable_spec()->set_max_sandboxes_per_agent(max_per_agent);
  return pool;
}

CreateSpec InPool(std::string name, std::string pool) {
  CreateSpec create;
  create.sandbox.mutable_metadata()->set_name(std::move(name));
  create.sandbox.mutable_spec()->set_image("busybox");
  create.sandbox.mutable_spec()->set_pool_ref(std::move(pool));
  return create;
}

TEST(PoolFromResourceTest, NormalizesWarmImagesAndClearsServerFields) {
  SandboxPool pool = Pool("gpu", 2);
  pool.mutable_metadata()->set_uid("client-uid");
  pool.mutable_metadata()->set_resource_version(7);
  pool.mutable_status()->set_agents(9);
  auto* warm = pool.mutable_spec()->add_warm_images();
  warm->set_image("busybox");
  warm->set_count(3);
  absl::StatusOr<SandboxPool> admitted = PoolFromResource(pool);
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(admitted->spec().warm_images(0).image(), "docker.io/library/busybox:latest");
  EXPECT_EQ(admitted->metadata().uid(), "");
  EXPECT_EQ(admitted->metadata().resource_version(), 0);
  EXPECT_FALSE(admitted->has_status());
  // apiVersion and kind may be left out; they are filled in.
  SandboxPool bare;
  bare.mutable_metadata()->set_name("cpu");
  absl::StatusOr<SandboxPool> filled = PoolFromResource(bare);
  ASSERT_TRUE(filled.ok()) << filled.status();
  EXPECT_EQ(filled->kind(), "SandboxPool");
  EXPECT_EQ(filled->api_version(), "fsb.io/v1alpha1");
}

struct RejectionCase {
  std::string what;
  void (*change)(SandboxPool&);
  std::string message;
};

class PoolRejectionTest : public ::testing::TestWithParam<RejectionCase> {};

TEST_P(PoolRejectionTest, IsInvalidArgumentNamingTheField) {
  SandboxPool pool = Pool("gpu", 1);
  GetParam().change(pool);
  absl::StatusOr<SandboxPool> admitted = PoolFromResource(pool);
  EXPECT_EQ(admitted.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(admitted.status().message(), HasSubstr(GetParam().message));
}

void AddWarm(SandboxPool& pool, const std::string& image, int count) {
  auto* warm = pool.mutable_spec()->add_warm_images();
  warm->set_image(image);
  warm->set_count(count);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PoolRejectionTest,
    ::testing::Values(
        RejectionCase{"kind", [](SandboxPool& p) { p.set_kind("Sandbox"); },
                      "kind must be SandboxPool, not Sandbox"},
        RejectionCase{"apiVersion", [](SandboxPool& p) { p.set_api_version("v1"); },
                      "apiVersion must be fsb.io/v1alpha1"},
        RejectionCase{"name", [](SandboxPool& p) { p.mutable_metadata()->set_name("GPU_pool"); },
                      "metadata.name"},
        RejectionCase{"namespace",
                      [](SandboxPool& p) { p.mutable_metadata()->set_namespace_("team"); },
                      "a SandboxPool is cluster-scoped"},
        RejectionCase{
            "label",
            [](SandboxPool& p) { (*p.mutable_metadata()->mutable_labels())["bad key!"] = "x"; },
            "labels"},
        RejectionCase{"negative max",
                      [](SandboxPool& p) { p.mutable_spec()->set_max_sandboxes_per_agent(-1); },
                      "spec.maxSandboxesPerAgent: -1 sandboxes is below the minimum of 0"},
        RejectionCase{"huge max",
                      [](SandboxPool& p) { p.mutable_spec()->set_max_sandboxes_per_agent(100001); },
                      "spec.maxSandboxesPerAgent: 100001 sandboxes is above the maximum of 100000"},
        RejectionCase{"annotation key",
                      [](SandboxPool& p) {
                        (*p.mutable_metadata()->mutable_annotations())["bad key!"] = "x";
                      },
                      "annotations \"bad key!\" is invalid"},
        RejectionCase{"annotation value with NUL",
                      [](SandboxPool& p) {
                        (*p.mutable_metadata()->mutable_annotations())["note"] =
                            std::string("a\0b", 3);
                      },
                      "annotations[\"note\"]: holds a NUL byte at offset 1"},
        RejectionCase{"huge warm count", [](SandboxPool& p) { AddWarm(p, "busybox", 1001); },
                      "spec.warmImages[0].count: 1001 instances is above the maximum of 1000"},
        RejectionCase{"warm image digest too short",
                      [](SandboxPool& p) { AddWarm(p, "busybox@sha256:abc", 1); },
                      "spec.warmImages[0].image: image reference \"busybox@sha256:abc\" has a "
                      "malformed digest"},
        RejectionCase{"empty warm image", [](SandboxPool& p) { AddWarm(p, "", 1); },
                      "spec.warmImages[0].image is required"},
        RejectionCase{"malformed warm image", [](SandboxPool& p) { AddWarm(p, "Bad Image", 1); },
                      "spec.warmImages[0].image"},
        RejectionCase{"repeated warm image",
                      [](SandboxPool& p) {
                        AddWarm(p, "busybox", 1);
                        AddWarm(p, "docker.io/library/busybox:latest", 2);
                      },
                      "spec.warmImages[1].image: docker.io/library/busybox:latest is listed "
                      "twice"},
        RejectionCase{"negative warm count", [](SandboxPool& p) { AddWarm(p, "busybox", -1); },
                      "spec.warmImages[0].count: -1 instances is below the minimum of 0"},
        RejectionCase{"too many warm images",
                      [](SandboxPool& p) {
                        for (int i = 0; i <= kMaxWarmImages; ++i) {
                          AddWarm(p, "img" + std::to_string(i), 1);
                        }
                      },
                      "spec.warmImages: 65 entries, at most 64"}),
    [](const auto& info) {
      std::string name = info.param.what;
      for (char& c : name) {
        if (!isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

class PoolServiceTest : public ::testing::Test {
 protected:
  PoolService& pools() { return env_.pools(); }

  absl::StatusOr<SandboxPool> Apply(const SandboxPool& pool, bool* created = nullptr) {
    bool ignored;
    return pools().Apply(pool, created == nullptr ? &ignored : created);
  }

  ServiceTestEnv env_;
};

TEST_F(PoolServiceTest, MaxSandboxesPerAgentCapsThePoolsAgentsAndOnlyThem) {
  env_.AddAgent("g1", 3, "gpu");
  env_.AddAgent("c1", 3, "cpu");
  bool created = false;
  absl::StatusOr<SandboxPool> applied = Apply(Pool("gpu", 1), &created);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_TRUE(created);
  EXPECT_EQ(applied->metadata().generation(), 1);
  EXPECT_NE(applied->metadata().uid(), "");

  ASSERT_TRUE(env_.service().Create(InPool("a", "gpu")).ok());
  absl::StatusOr<v1alpha1::Sandbox> second = env_.service().Create(InPool("b", "gpu"));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(second.status().message(), HasSubstr("are full"));
  // The cpu pool has no SandboxPool: its agent keeps its own capacity.
  for (const char* name : {"c", "d", "e"}) {
    EXPECT_TRUE(env_.service().Create(InPool(name, "cpu")).ok()) << name;
  }

  absl::StatusOr<std::vector<SandboxPool>> listed = pools().List();
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].metadata().name(), "gpu");
  EXPECT_EQ((*listed)[0].status().agents(), 1);
  EXPECT_EQ((*listed)[0].status().sandboxes(), 1);
  EXPECT_EQ((*listed)[0].status().observed_generation(), 1);
  EXPECT_EQ(env_.scheduler().GetAgentByID("g1")->capacity, 1);
}

TEST_F(PoolServiceTest, ApplyAgainUpdatesSpecAndLabelsAndRaisesTheCap) {
  env_.AddAgent("g1", 3, "gpu");
  ASSERT_TRUE(Apply(Pool("gpu", 1)).ok());
  SandboxPool again = Pool("gpu", 2);
  (*again.mutable_metadata()->mutable_labels())["team"] = "ml";
  bool created = true;
  absl::StatusOr<SandboxPool> updated = Apply(again, &created);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_FALSE(created);
  EXPECT_EQ(updated->metadata().generation(), 2);
  EXPECT_EQ(updated->metadata().labels().at("team"), "ml");
  EXPECT_EQ(env_.scheduler().GetAgentByID("g1")->capacity, 2);
  // The same spec again changes nothing but is accepted.
  absl::StatusOr<SandboxPool> same = Apply(again, &created);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->metadata().generation(), 2);
}

TEST_F(PoolServiceTest, LimitsAreDurableAcrossARestart) {
  ASSERT_TRUE(Apply(Pool("gpu", 1)).ok());
  env_.Restart();
  // After a restart agents register again; the stored limit already applies.
  env_.AddAgent("g1", 3, "gpu");
  EXPECT_EQ(env_.scheduler().GetAgentByID("g1")->capacity, 1);
  absl::StatusOr<std::vector<SandboxPool>> listed = pools().List();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].spec().max_sandboxes_per_agent(), 1);
}

// A stored pool that does not decode does not keep the controller from starting: it is
// quarantined and counted, and the other pools apply.
TEST_F(PoolServiceTest, AnUndecodablePoolIsQuarantinedAndTheOthersApply) {
  ASSERT_TRUE(Apply(Pool("gpu", 1)).ok());
  absl::Status restarted = env_.RestartWithStoreEdit([](const std::string& path) {
    ASSERT_TRUE(store::InsertRawObject(path, {"SandboxPool", "", "broken"}, "\x0a\xff").ok());
  });
  ASSERT_TRUE(restarted.ok()) << restarted;
  env_.AddAgent("g1", 3, "gpu");
  EXPECT_EQ(env_.scheduler().GetAgentByID("g1")->capacity, 1);
  absl::StatusOr<std::vector<SandboxPool>> listed = pools().List();
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].metadata().name(), "gpu");
  EXPECT_THAT(env_.store_registry().Serialize(),
              HasSubstr("fsb_controller_store_quarantined_rows_total{kind=\"SandboxPool\"} 1"));
}

TEST_F(PoolServiceTest, DeleteRemovesTheCapAndUnknownIsNotFound) {
  env_.AddAgent("g1", 3, "gpu");
  ASSERT_TRUE(Apply(Pool("gpu", 1)).ok());
  ASSERT_TRUE(pools().Delete("gpu").ok());
  EXPECT_EQ(env_.scheduler().GetAgentByID("g1")->capacity, 3);
  absl::Status again = pools().Delete("gpu");
  EXPECT_EQ(again.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(again.message(), HasSubstr("sandbox pool \"gpu\" not found"));
  absl::Status malformed = pools().Delete(std::string("gpu\0", 4));
  EXPECT_EQ(malformed.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(malformed.message(), HasSubstr("name \"gpu\\000\" is invalid"));
  EXPECT_TRUE(pools().List()->empty());
}

TEST_F(PoolServiceTest, InvalidPoolChangesNothing) {
  env_.AddAgent("g1", 3, "gpu");
  ASSERT_TRUE(Apply(Pool("gpu", 1)).ok());
  EXPECT_EQ(Apply(Pool("gpu", -5)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(env_.scheduler().GetAgentByID("g1")->capacity, 1);
  EXPECT_EQ(pools().List()->at(0).spec().max_sandboxes_per_agent(), 1);
}

// A heartbeat of `agent` reporting warm instances of busybox.
void ReportWarm(SandboxService& service, const std::string& agent, int ready, int preparing,
                int desired) {
  AgentHeartbeat beat;
  beat.agent_id = agent;
  beat.warm.push_back({"busybox", static_cast<uint32_t>(ready), static_cast<uint32_t>(preparing),
                       static_cast<uint32_t>(desired)});
  ASSERT_TRUE(service.Heartbeat(beat).ok());
}

TEST_F(PoolServiceTest, StatusSumsTheAgentsWarmInstancesPerImage) {
  env_.AddAgent("g1", 4, "gpu");
  env_.AddAgent("g2", 4, "gpu");
  env_.AddAgent("c1", 4, "cpu");
  ReportWarm(env_.service(), "g1", 3, 1, 4);
  ReportWarm(env_.service(), "g2", 4, 0, 4);
  ReportWarm(env_.service(), "c1", 9, 0, 9);
  // Without warm images the agents keep what their own flags say.
  ASSERT_TRUE(Apply(Pool("gpu", 0)).ok());
  std::vector<SandboxPool> listed = *pools().List();
  ASSERT_EQ(listed[0].status().warm_size(), 1);
  const v1alpha1::WarmStatus& own = listed[0].status().warm(0);
  EXPECT_EQ(own.image(), "docker.io/library/busybox:latest");
  EXPECT_EQ(own.ready(), 7);
  EXPECT_EQ(own.preparing(), 1);
  EXPECT_EQ(own.desired(), 8);

  // A pool that lists warm images desires count x agents of each, and nothing else.
  SandboxPool warm = Pool("gpu", 0);
  AddWarm(warm, "alpine", 2);
  AddWarm(warm, "busybox", 5);
  absl::StatusOr<SandboxPool> applied = Apply(warm);
  ASSERT_TRUE(applied.ok()) << applied.status();
  ASSERT_EQ(applied->status().warm_size(), 2);
  EXPECT_EQ(applied->status().warm(0).image(), "docker.io/library/alpine:latest");
  EXPECT_EQ(applied->status().warm(0).ready(), 0);
  EXPECT_EQ(applied->status().warm(0).desired(), 4);
  EXPECT_EQ(applied->status().warm(1).image(), "docker.io/library/busybox:latest");
  EXPECT_EQ(applied->status().warm(1).ready(), 7);
  EXPECT_EQ(applied->status().warm(1).desired(), 10);
  SandboxPool only_alpine = Pool("gpu", 0);
  AddWarm(only_alpine, "alpine", 1);
  applied = Apply(only_alpine);
  ASSERT_TRUE(applied.ok());
  ASSERT_EQ(applied->status().warm_size(), 2);
  EXPECT_EQ(applied->status().warm(1).ready(), 7);  // kept until the agents drop them
  EXPECT_EQ(applied->status().warm(1).desired(), 0);
}

TEST_F(PoolServiceTest, WarmTargetsFollowTheStoredPool) {
  const PoolId gpu = env_.scheduler().InternPool("gpu");
  EXPECT_EQ(pools().WarmTargets(gpu), nullptr);
  SandboxPool pool = Pool("gpu", 0);
  AddWarm(pool, "busybox", 3);
  AddWarm(pool, "alpine", 0);
  ASSERT_TRUE(Apply(pool).ok());
  std::shared_ptr<const fsb::agent::v1::WarmTargets> targets = pools().WarmTargets(gpu);
  ASSERT_NE(targets, nullptr);
  ASSERT_EQ(targets->targets_size(), 2);
  EXPECT_EQ(targets->targets(0).image(), "docker.io/library/busybox:latest");
  EXPECT_EQ(targets->targets(0).count(), 3);
  EXPECT_EQ(targets->targets(1).count(), 0);  // listed with 0: keep none of it
  EXPECT_EQ(pools().WarmTargets(env_.scheduler().InternPool("cpu")), nullptr);
  // An invalid change keeps the last valid targets.
  AddWarm(pool, "busybox", 1);
  EXPECT_FALSE(Apply(pool).ok());
  EXPECT_EQ(pools().WarmTargets(gpu)->targets_size(), 2);

  env_.Restart();
  ASSERT_NE(pools().WarmTargets(gpu), nullptr);
  ASSERT_TRUE(Apply(Pool("gpu", 0)).ok());  // no warm image listed any more
  EXPECT_EQ(pools().WarmTargets(gpu), nullptr);
}

TEST_F(PoolServiceTest, FastPathAdapterMapsCodes) {
  metrics::Registry registry;
  const ClientAuth auth = ClientAuth::AllowAll(&registry);
  FastPathServer server(&env_.service(), &env_.pools(), &auth);
  grpc::ServerContext ctx;
  fastpath::v1::ApplySandboxPoolRequest apply;
  *apply.mutable_pool() = Pool("gpu", 2);
  fastpath::v1::ApplySandboxPoolResponse applied;
  ASSERT_TRUE(server.ApplySandboxPool(&ctx, &apply, &applied).ok());
  EXPECT_TRUE(applied.created());
  EXPECT_EQ(applied.pool().spec().max_sandboxes_per_agent(), 2);

  apply.mutable_pool()->mutable_metadata()->set_name("Not A Label");
  EXPECT_EQ(server.ApplySandboxPool(&ctx, &apply, &applied).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  fastpath::v1::ListSandboxPoolsRequest list;
  fastpath::v1::ListSandboxPoolsResponse listed;
  ASSERT_TRUE(server.ListSandboxPools(&ctx, &list, &listed).ok());
  ASSERT_EQ(listed.items_size(), 1);
  EXPECT_EQ(listed.items(0).metadata().name(), "gpu");

  fastpath::v1::DeleteSandboxPoolRequest del;
  fastpath::v1::DeleteSandboxPoolResponse deleted;
  del.set_name("gpu");
  EXPECT_TRUE(server.DeleteSandboxPool(&ctx, &del, &deleted).ok());
  EXPECT_EQ(server.DeleteSandboxPool(&ctx, &del, &deleted).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace fsb::controller
