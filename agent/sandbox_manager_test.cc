#include "agent/sandbox_manager.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "absl/synchronization/notification.h"

#include "absl/status/status.h"
#include "agent/fake_runtime.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class SandboxManagerTest : public ::testing::Test {
 protected:
  SandboxManagerTest()
      : log_dir_(std::filesystem::path(::testing::TempDir()) / "sbm_logs"),
        manager_(&runtime_, &shim_groups_, &clock_, &metrics_,
                 {.capacity = 2,
                  .log_dir = log_dir_.string(),
                  .default_grace = absl::Seconds(3),
                  .janitor_grace = absl::Seconds(60)}) {
    std::filesystem::create_directories(log_dir_);
  }

  static v1::SandboxSpec Spec(const std::string& id) {
    v1::SandboxSpec spec;
    spec.set_sandbox_id(id);
    spec.set_name("sb-" + id);
    spec.set_namespace_("default");
    spec.set_image("fsb/busybox");
    spec.add_command("sleep");
    spec.add_command("60");
    return spec;
  }

  std::filesystem::path log_dir_;
  FakeRuntime runtime_;
  ShimGroups shim_groups_{2};
  ManualClock clock_{absl::FromUnixSeconds(1000)};
  metrics::Registry registry_;
  AgentMetrics metrics_{&registry_};
  SandboxManager manager_;
};

// Most tests start from a recovered (empty) node.
class ReadyManagerTest : public SandboxManagerTest {
 protected:
  ReadyManagerTest() { CHECK(manager_.Recover().ok()); }
};

TEST_F(ReadyManagerTest, CreateStartsTheContainerWithLabelsSpecAndLog) {
  auto status = manager_.Create(Spec("a1"));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_FALSE(status->warm);
  EXPECT_EQ(status->status.phase(), v1::SANDBOX_PHASE_RUNNING);
  EXPECT_EQ(status->status.pid(), 101u);
  EXPECT_EQ(status->status.created_at_unix_nanos(), absl::ToUnixNanos(absl::FromUnixSeconds(1000)));
  ASSERT_EQ(runtime_.created.size(), 1u);
  const ContainerParams& p = runtime_.created[0];
  EXPECT_EQ(p.id, "a1");
  EXPECT_EQ(p.image, "docker.io/fsb/busybox:latest");
  EXPECT_EQ(p.chain_id, "sha256:chain");
  EXPECT_EQ(p.log_path, (log_dir_ / "a1.log").string());
  EXPECT_EQ(p.labels.at(kSandboxNameLabel), "sb-a1");
  EXPECT_EQ(p.labels.at(kSandboxNamespaceLabel), "default");
  EXPECT_THAT(p.spec_json, HasSubstr(R"("args":["sleep","60"])"));
  EXPECT_THAT(p.spec_json, HasSubstr(R"("cgroupsPath":"/fsb/a1")"));
  EXPECT_THAT(p.spec_json, HasSubstr(R"("hostname":"sb-a1")"));
}

TEST_F(ReadyManagerTest, SameSpecIsIdempotentDifferentSpecConflicts) {
  ASSERT_TRUE(manager_.Create(Spec("a1")).ok());
  auto again = manager_.Create(Spec("a1"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status.pid(), 101u);
  EXPECT_EQ(runtime_.created.size(), 1u);
  v1::SandboxSpec other = Spec("a1");
  other.add_args("x");
  EXPECT_EQ(manager_.Create(other).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(ReadyManagerTest, CapacityIsEnforcedAndFreedByDelete) {
  ASSERT_TRUE(manager_.Create(Spec("a1")).ok());
  ASSERT_TRUE(manager_.Create(Spec("a2")).ok());
  auto full = manager_.Create(Spec("a3"));
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(full.status().message(), HasSubstr("capacity"));
  ASSERT_TRUE(manager_.Delete("a1", std::nullopt).ok());
  EXPECT_TRUE(manager_.Create(Spec("a3")).ok());
}

TEST_F(ReadyManagerTest, UnknownImageIsNotFoundAndAdmitsNothing) {
  v1::SandboxSpec spec = Spec("a1");
  spec.set_image("nope:1");
  auto status = manager_.Create(spec);
  EXPECT_EQ(status.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.status().message(), HasSubstr("docker.io/library/nope:1"));
  EXPECT_TRUE(manager_.List().empty());
  EXPECT_EQ(manager_.Get("a1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ReadyManagerTest, RuntimeFailureAdmitsNothing) {
  runtime_.create_error = absl::InternalError("runc exploded");
  auto status = manager_.Create(Spec("a1"));
  EXPECT_EQ(status.status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(manager_.List().empty());
}

TEST_F(ReadyManagerTest, RejectsMalformedSpecs) {
  auto code = [&](v1::SandboxSpec spec) { return manager_.Create(spec).status(); };
  v1::SandboxSpec s = Spec("a1");
  s.set_sandbox_id("../etc");
  EXPECT_THAT(code(s).message(), HasSubstr("sandbox_id"));
  s = Spec("a1");
  s.set_image("");
  EXPECT_THAT(code(s).message(), HasSubstr("image is required"));
  s = Spec("a1");
  (*s.mutable_env())["BAD-NAME"] = "x";
  EXPECT_THAT(code(s).message(), HasSubstr("BAD-NAME"));
  s = Spec("a1");
  s.set_working_dir("relative");
  EXPECT_THAT(code(s).message(), HasSubstr("absolute"));
  s = Spec("a1");
  s.set_name("Not_A_Label");
  EXPECT_EQ(code(s).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(runtime_.created.empty());
}

TEST_F(ReadyManagerTest, DeleteStopsGracefullyRemovesAndDropsTheLog) {
  ASSERT_TRUE(manager_.Create(Spec("a1")).ok());
  std::ofstream(log_dir_ / "a1.log") << "hello\n";
  ASSERT_TRUE(manager_.Delete("a1", std::nullopt).ok());
  ASSERT_EQ(runtime_.stops.size(), 1u);
  EXPECT_EQ(runtime_.stops[0].second, absl::Seconds(3));  // the default grace
  EXPECT_EQ(runtime_.removed, std::vector<std::string>{"a1"});
  EXPECT_FALSE(std::filesystem::exists(log_dir_ / "a1.log"));
  EXPECT_EQ(manager_.Get("a1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ReadyManagerTest, DeleteUnknownIsNotFound) {
  absl::Status s = manager_.Delete("missing", absl::Seconds(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("missing"));
  EXPECT_TRUE(runtime_.stops.empty());
}

TEST_F(ReadyManagerTest, RefreshRecordsExitsAndVanishedContainers) {
  ASSERT_TRUE(manager_.Create(Spec("a1")).ok());
  ASSERT_TRUE(manager_.Create(Spec("a2")).ok());
  runtime_.running["a1"].task = TaskState::kStopped;
  runtime_.running["a1"].exit_status = 3;
  runtime_.running.erase("a2");
  ASSERT_TRUE(manager_.Refresh().ok());
  auto a1 = manager_.Get("a1");
  EXPECT_EQ(a1->phase(), v1::SANDBOX_PHASE_EXITED);
  EXPECT_EQ(a1->exit_code(), 3);
  EXPECT_EQ(manager_.Get("a2")->phase(), v1::SANDBOX_PHASE_UNKNOWN);
}

TEST_F(SandboxManagerTest, NotReadyUntilRecovered) {
  EXPECT_FALSE(manager_.ready());
  EXPECT_EQ(manager_.Create(Spec("a1")).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(manager_.Delete("a1", std::nullopt).code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(manager_.Recover().ok());
  EXPECT_TRUE(manager_.ready());
  EXPECT_TRUE(manager_.Create(Spec("a1")).ok());
}

TEST_F(SandboxManagerTest, RecoverAdoptsRunningAndExitedAndRemovesInterruptedCreates) {
  // What a previous agent process left in containerd.
  {
    SandboxManager previous(&runtime_, &shim_groups_, &clock_, &metrics_,
                            {.capacity = 8, .log_dir = log_dir_.string()});
    ASSERT_TRUE(previous.Recover().ok());
    ASSERT_TRUE(previous.Create(Spec("run")).ok());
    ASSERT_TRUE(previous.Create(Spec("done")).ok());
    ASSERT_TRUE(previous.Create(Spec("half")).ok());
  }
  runtime_.running["done"].task = TaskState::kStopped;
  runtime_.running["done"].exit_status = 4;
  runtime_.running["half"].task = TaskState::kNoTask;  // killed between container and task
  runtime_.running["alien"] = ContainerState{.id = "alien", .task = TaskState::kRunning};

  ASSERT_TRUE(manager_.Recover().ok());
  auto run = manager_.Get("run");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->phase(), v1::SANDBOX_PHASE_RUNNING);
  EXPECT_EQ(run->name(), "sb-run");
  EXPECT_EQ(run->created_at_unix_nanos(), absl::ToUnixNanos(absl::FromUnixSeconds(1000)));
  EXPECT_EQ(manager_.Get("done")->phase(), v1::SANDBOX_PHASE_EXITED);
  EXPECT_EQ(manager_.Get("done")->exit_code(), 4);
  EXPECT_EQ(manager_.Get("half").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(runtime_.removed, ::testing::ElementsAre("half"));
  EXPECT_EQ(manager_.Get("alien").status().code(), absl::StatusCode::kNotFound);
  // Never restarted: nothing was created again.
  EXPECT_EQ(runtime_.created.size(), 3u);
  // The adopted spec is the original: the same create is idempotent, another conflicts.
  EXPECT_EQ(manager_.Create(Spec("run"))->status.pid(), 100u);
  v1::SandboxSpec other = Spec("run");
  other.add_args("x");
  EXPECT_EQ(manager_.Create(other).status().code(), absl::StatusCode::kAlreadyExists);
  // Adopted sandboxes count against capacity (2): run and done.
  EXPECT_EQ(manager_.Create(Spec("new")).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(ReadyManagerTest, ExitEventsMarkRunningSandboxesExited) {
  ASSERT_TRUE(manager_.Create(Spec("a1")).ok());
  EXPECT_TRUE(manager_.OnExit("a1", 137));
  EXPECT_EQ(manager_.Get("a1")->phase(), v1::SANDBOX_PHASE_EXITED);
  EXPECT_EQ(manager_.Get("a1")->exit_code(), 137);
  EXPECT_FALSE(manager_.OnExit("a1", 1));  // already exited
  EXPECT_FALSE(manager_.OnExit("nope", 0));
}

TEST_F(ReadyManagerTest, ShimGroupsAreBoundedAndFreed) {
  ShimGroups groups2(2), groups1(1);
  SandboxManager big(&runtime_, &groups2, &clock_, &metrics_,
                     {.capacity = 8, .log_dir = log_dir_.string()});
  ASSERT_TRUE(big.Recover().ok());
  for (const char* id : {"g1", "g2", "g3"}) ASSERT_TRUE(big.Create(Spec(id)).ok());
  auto group = [&](int i) { return runtime_.created[i].labels.at(kShimGroupLabel); };
  EXPECT_EQ(group(0), group(1));
  EXPECT_NE(group(0), group(2));
  EXPECT_THAT(runtime_.created[0].spec_json,
              HasSubstr(absl::StrCat(R"("io.containerd.runc.v2.group":")", group(0), "\"")));
  // Freed places are reused before a new group is made: g4 and g5 fill the two groups.
  ASSERT_TRUE(big.Delete("g1", std::nullopt).ok());
  ASSERT_TRUE(big.Create(Spec("g4")).ok());
  ASSERT_TRUE(big.Create(Spec("g5")).ok());
  EXPECT_THAT((std::set<std::string>{group(3), group(4)}),
              ::testing::UnorderedElementsAre(group(0), group(2)));
  // Without grouping, no annotation.
  SandboxManager solo(&runtime_, &groups1, &clock_, &metrics_,
                      {.capacity = 8, .log_dir = log_dir_.string()});
  ASSERT_TRUE(solo.Recover().ok());
  ASSERT_TRUE(solo.Create(Spec("s1")).ok());
  EXPECT_FALSE(runtime_.created.back().labels.contains(kShimGroupLabel));
  EXPECT_THAT(runtime_.created.back().spec_json, Not(HasSubstr("runc.v2.group")));
}

TEST_F(ReadyManagerTest, ConcurrentCreatesGoToDifferentShims) {
  ShimGroups groups8(8);
  SandboxManager big(&runtime_, &groups8, &clock_, &metrics_,
                     {.capacity = 8, .log_dir = log_dir_.string()});
  ASSERT_TRUE(big.Recover().ok());
  absl::Notification in_first, release;
  runtime_.on_create = [&](const ContainerParams& p) {
    if (p.id == "c1") {
      in_first.Notify();
      release.WaitForNotification();
    }
  };
  std::thread first([&] { ASSERT_TRUE(big.Create(Spec("c1")).ok()); });
  in_first.WaitForNotification();
  ASSERT_TRUE(big.Create(Spec("c2")).ok());  // c1's shim is busy creating: another one
  release.Notify();
  first.join();
  runtime_.on_create = nullptr;
  ASSERT_TRUE(big.Create(Spec("c3")).ok());  // nothing in flight: fills a group
  std::map<std::string, std::string> group;
  for (const ContainerParams& p : runtime_.created) group[p.id] = p.labels.at(kShimGroupLabel);
  EXPECT_NE(group["c1"], group["c2"]);
  EXPECT_TRUE(group["c3"] == group["c1"] || group["c3"] == group["c2"]);
}

TEST_F(ReadyManagerTest, LimitsAndReadOnlyRootReachTheSpec) {
  v1::SandboxSpec spec = Spec("a1");
  spec.mutable_resources()->set_cpu_millicores(250);
  spec.mutable_resources()->set_memory_bytes(32 << 20);
  spec.mutable_resources()->set_pids(64);
  spec.set_readonly_rootfs(true);
  ASSERT_TRUE(manager_.Create(spec).ok());
  const std::string& json = runtime_.created[0].spec_json;
  EXPECT_THAT(json, HasSubstr(R"("cpu":{"quota":25000,"period":100000})"));
  EXPECT_THAT(json, HasSubstr(R"("memory":{"limit":33554432})"));
  EXPECT_THAT(json, HasSubstr(R"("pids":{"limit":64})"));
  EXPECT_THAT(json, HasSubstr(R"("readonly":true)"));
}

TEST_F(ReadyManagerTest, NamedImageUserIsResolvedInTheImage) {
  runtime_.image_user = "app";
  runtime_.files["/etc/passwd"] = "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
  runtime_.files["/etc/group"] = "app:x:1001:\nwheel:x:10:root,app\n";
  ASSERT_TRUE(manager_.Create(Spec("a1")).ok());
  EXPECT_THAT(runtime_.created[0].spec_json,
              HasSubstr(R"("user":{"uid":1000,"gid":1001,"additionalGids":[10]})"));
  runtime_.image_user = "ghost";
  auto missing = manager_.Create(Spec("a2"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.status().message(), HasSubstr("\"ghost\" is not in the image's /etc/passwd"));
}

TEST_F(ReadyManagerTest, JanitorRemovesOnlyOldUnownedThings) {
  ASSERT_TRUE(manager_.Create(Spec("mine")).ok());
  std::ofstream(log_dir_ / "mine.log") << "x";
  // Leftovers: a container nobody owns, a snapshot without container, an old log.
  runtime_.running["stray"] = ContainerState{
      .id = "stray", .created_at = absl::FromUnixSeconds(1000), .task = TaskState::kRunning};
  runtime_.snapshots.insert("orphan-snap");
  std::ofstream(log_dir_ / "gone.log") << "x";
  std::ofstream(log_dir_ / "gone.log.1") << "x";
  // Written at the (manual) clock's start.
  const auto old = std::chrono::file_clock::from_sys(std::chrono::system_clock::from_time_t(1000));
  std::filesystem::last_write_time(log_dir_ / "gone.log", old);
  std::filesystem::last_write_time(log_dir_ / "gone.log.1", old);
  std::filesystem::last_write_time(log_dir_ / "mine.log", old);

  // Within the grace period no container or log is touched; a snapshot without its
  // container goes at once (it cannot be a create in progress: those have both).
  clock_.Advance(absl::Seconds(30));
  auto first = manager_.CollectGarbage();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->containers, 0);
  EXPECT_EQ(first->log_files, 0);
  EXPECT_EQ(first->snapshots, 1);
  EXPECT_TRUE(runtime_.running.contains("stray"));
  EXPECT_TRUE(std::filesystem::exists(log_dir_ / "gone.log"));

  clock_.Advance(absl::Seconds(31));
  auto second = manager_.CollectGarbage();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->containers, 1);
  EXPECT_EQ(second->log_files, 2);
  EXPECT_FALSE(runtime_.running.contains("stray"));
  EXPECT_FALSE(runtime_.snapshots.contains("orphan-snap"));
  EXPECT_TRUE(runtime_.running.contains("mine"));
  EXPECT_FALSE(std::filesystem::exists(log_dir_ / "gone.log"));
  EXPECT_FALSE(std::filesystem::exists(log_dir_ / "gone.log.1"));
  EXPECT_TRUE(std::filesystem::exists(log_dir_ / "mine.log"));
}

TEST_F(ReadyManagerTest, CreatesAndDeletesAreCountedAndTimedByStage) {
  ASSERT_TRUE(manager_.Create(Spec("a1")).ok());
  v1::SandboxSpec bad = Spec("a2");
  bad.set_image("nope:1");
  EXPECT_FALSE(manager_.Create(bad).ok());
  ASSERT_TRUE(manager_.Delete("a1", std::nullopt).ok());
  ASSERT_TRUE(manager_.Refresh().ok());
  const std::string text = registry_.Serialize();
  EXPECT_THAT(text, HasSubstr("fsb_agent_sandbox_creates_total{result=\"ok\"} 1"));
  EXPECT_THAT(text, HasSubstr("fsb_agent_sandbox_creates_total{result=\"NOT_FOUND\"} 1"));
  EXPECT_THAT(text, HasSubstr("fsb_agent_sandbox_deletes_total{result=\"ok\"} 1"));
  for (const char* stage : {"admission", "image_resolve", "task_start"}) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat("fsb_agent_create_stage_duration_seconds_count{stage=\"",
                                             stage, "\"}")));
  }
  EXPECT_THAT(text, HasSubstr("fsb_agent_capacity_slots{state=\"total\"} 2"));
  EXPECT_THAT(text, HasSubstr("fsb_agent_capacity_slots{state=\"used\"} 0"));
  EXPECT_THAT(text, HasSubstr("fsb_agent_sandboxes{phase=\"running\"} 0"));
}

}  // namespace
}  // namespace fsb::agent
