#include "agent/sandbox_manager.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "absl/algorithm/container.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "agent/fake_runtime.h"
#include "agent/warm/fake_init.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "internal/ids.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// `sleep 60` in the test image, as sandbox `id` named "sb-<id>".
v1::SandboxSpec SleepSpec(const std::string& id) {
  v1::SandboxSpec spec;
  spec.set_sandbox_id(id);
  spec.set_name("sb-" + id);
  spec.set_namespace_("default");
  spec.set_image("fsb/busybox");
  spec.add_command("sleep");
  spec.add_command("60");
  return spec;
}

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

  static v1::SandboxSpec Spec(const std::string& id) { return SleepSpec(id); }

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

// A container missing from one list (taken while its create finished, or while
// containerd restarted) is not gone for good: listed running again, it is RUNNING again.
TEST_F(ReadyManagerTest, RefreshRevivesAContainerListedAgain) {
  ASSERT_TRUE(manager_.Create(Spec("a1")).ok());
  const ContainerState listed = runtime_.running["a1"];
  runtime_.running.erase("a1");
  ASSERT_TRUE(manager_.Refresh().ok());
  EXPECT_EQ(manager_.Get("a1")->phase(), v1::SANDBOX_PHASE_UNKNOWN);
  runtime_.running["a1"] = listed;
  ASSERT_TRUE(manager_.Refresh().ok());
  EXPECT_EQ(manager_.Get("a1")->phase(), v1::SANDBOX_PHASE_RUNNING);
  EXPECT_EQ(manager_.Get("a1")->message(), "");
  // Still gone: still UNKNOWN; stopped meanwhile: EXITED.
  runtime_.running.erase("a1");
  ASSERT_TRUE(manager_.Refresh().ok());
  ASSERT_TRUE(manager_.Refresh().ok());
  EXPECT_EQ(manager_.Get("a1")->phase(), v1::SANDBOX_PHASE_UNKNOWN);
  runtime_.running["a1"] = listed;
  runtime_.running["a1"].task = TaskState::kStopped;
  runtime_.running["a1"].exit_status = 4;
  ASSERT_TRUE(manager_.Refresh().ok());
  EXPECT_EQ(manager_.Get("a1")->phase(), v1::SANDBOX_PHASE_EXITED);
  EXPECT_EQ(manager_.Get("a1")->exit_code(), 4);
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

// The process may die before its create answers (the exit event comes first). The create
// still owns the entry (here it fails and erases it), so neither a repeated create nor a
// delete may act on the exited sandbox until then. (A delete let through would stop the
// container while the create erased the entry under it: the agent aborted.)
TEST_F(ReadyManagerTest, ASandboxThatExitsWhileBeingCreatedIsTheCreatesUntilItAnswers) {
  absl::Notification exited, create_may_finish;
  runtime_.create_error = absl::UnavailableError("task create failed");
  runtime_.on_create = [&](const ContainerParams&) {
    EXPECT_TRUE(manager_.OnExit("a1", 1));
    exited.Notify();
    create_may_finish.WaitForNotification();
  };
  absl::Status created;
  std::thread create([&] { created = manager_.Create(Spec("a1")).status(); });
  exited.WaitForNotification();
  EXPECT_EQ(manager_.Get("a1")->phase(), v1::SANDBOX_PHASE_EXITED);
  EXPECT_TRUE(absl::IsUnavailable(manager_.Create(Spec("a1")).status()));
  // Should the delete get as far as stopping, the create finishes meanwhile.
  runtime_.on_stop = [&](std::string_view) {
    create_may_finish.Notify();
    create.join();
  };
  const absl::Status deleted = manager_.Delete("a1", std::nullopt);
  if (!create_may_finish.HasBeenNotified()) create_may_finish.Notify();
  if (create.joinable()) create.join();
  EXPECT_TRUE(absl::IsFailedPrecondition(deleted)) << deleted;
  EXPECT_THAT(deleted.message(), HasSubstr("still being created"));
  EXPECT_TRUE(runtime_.stops.empty());
  EXPECT_TRUE(absl::IsUnavailable(created)) << created;
  EXPECT_TRUE(absl::IsNotFound(manager_.Delete("a1", std::nullopt)));
}

// Once such a create has answered, the exited sandbox is deleted as any other.
TEST_F(ReadyManagerTest, ASandboxThatExitedDuringASuccessfulCreateIsDeletedAfterIt) {
  runtime_.on_create = [&](const ContainerParams&) { EXPECT_TRUE(manager_.OnExit("a1", 3)); };
  absl::StatusOr<SandboxManager::Created> created = manager_.Create(Spec("a1"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->status.phase(), v1::SANDBOX_PHASE_EXITED);
  EXPECT_EQ(created->status.exit_code(), 3);
  EXPECT_TRUE(manager_.Delete("a1", std::nullopt).ok());
  EXPECT_EQ(runtime_.stops.size(), 1u);
  EXPECT_TRUE(manager_.List().empty());
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
  EXPECT_THAT(json, HasSubstr(R"("cpu":{"shares":1024,"quota":25000,"period":100000})"));
  EXPECT_THAT(json, HasSubstr(R"("memory":{"limit":33554432})"));
  EXPECT_THAT(json, HasSubstr(R"("pids":{"limit":64})"));
  EXPECT_THAT(json, HasSubstr(R"("readonly":true)"));
}

TEST_F(SandboxManagerTest, TheDefaultsFillEachLimitTheRequestLeavesOut) {
  SandboxManager manager(&runtime_, &shim_groups_, &clock_, &metrics_,
                         {.capacity = 3,
                          .log_dir = log_dir_.string(),
                          .defaults = {.pids = 300,
                                       .memory_bytes = 128 << 20,
                                       .cpu_shares = 512,
                                       .oom_score_adj = 700,
                                       .nofile = 4096}});
  ASSERT_TRUE(manager.Recover().ok());
  ASSERT_TRUE(manager.Create(Spec("d1")).ok());
  const std::string& none = runtime_.created[0].spec_json;
  EXPECT_THAT(none, HasSubstr(R"("pids":{"limit":300})"));
  EXPECT_THAT(none, HasSubstr(R"("memory":{"limit":134217728})"));
  EXPECT_THAT(none, HasSubstr(R"("cpu":{"shares":512})"));  // no quota unless requested
  EXPECT_THAT(none, HasSubstr(R"("oomScoreAdj":700)"));
  EXPECT_THAT(none, HasSubstr(R"({"type":"RLIMIT_NOFILE","hard":4096,"soft":4096})"));

  v1::SandboxSpec memory = Spec("d2");
  memory.mutable_resources()->set_memory_bytes(512 << 20);  // above the default
  ASSERT_TRUE(manager.Create(memory).ok());
  const std::string& some = runtime_.created[1].spec_json;
  EXPECT_THAT(some, HasSubstr(R"("memory":{"limit":536870912})"));
  EXPECT_THAT(some, HasSubstr(R"("pids":{"limit":300})"));

  v1::SandboxSpec all = Spec("d3");
  all.mutable_resources()->set_cpu_millicores(100);
  all.mutable_resources()->set_memory_bytes(16 << 20);
  all.mutable_resources()->set_pids(8);
  ASSERT_TRUE(manager.Create(all).ok());
  const std::string& each = runtime_.created[2].spec_json;
  EXPECT_THAT(each, HasSubstr(R"("cpu":{"shares":512,"quota":10000,"period":100000})"));
  EXPECT_THAT(each, HasSubstr(R"("memory":{"limit":16777216})"));
  EXPECT_THAT(each, HasSubstr(R"("pids":{"limit":8})"));
  EXPECT_THAT(each, HasSubstr(R"("oomScoreAdj":700)"));
  // What exec takes its process from is the same spec.
  EXPECT_EQ(*manager.RuntimeSpec("d3"), each);
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

// The log folder is the node's: should it vanish (or be unreadable), deletes and the
// janitor still do the rest of their work and leave the logs for a later pass.
TEST_F(ReadyManagerTest, AVanishedLogFolderFailsNeitherDeleteNorJanitor) {
  ASSERT_TRUE(manager_.Create(Spec("a1")).ok());
  runtime_.running["stray"] = ContainerState{
      .id = "stray", .created_at = absl::FromUnixSeconds(1000), .task = TaskState::kRunning};
  std::filesystem::remove_all(log_dir_);
  EXPECT_TRUE(manager_.Delete("a1", std::nullopt).ok());
  EXPECT_EQ(manager_.Get("a1").status().code(), absl::StatusCode::kNotFound);
  clock_.Advance(absl::Seconds(61));
  absl::StatusOr<GarbageReport> report = manager_.CollectGarbage();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->containers, 1);
  EXPECT_EQ(report->log_files, 0);
  // A file where the folder was is no folder either.
  std::ofstream(log_dir_.string()) << "x";
  EXPECT_TRUE(manager_.CollectGarbage().ok());
  std::filesystem::remove(log_dir_);
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
    EXPECT_THAT(text, HasSubstr(absl::StrCat(
                          "fsb_agent_create_stage_duration_seconds_count{stage=\"", stage, "\"}")));
  }
  EXPECT_THAT(text, HasSubstr("fsb_agent_capacity_slots{state=\"total\"} 2"));
  EXPECT_THAT(text, HasSubstr("fsb_agent_capacity_slots{state=\"used\"} 0"));
  EXPECT_THAT(text, HasSubstr("fsb_agent_sandboxes{phase=\"running\"} 0"));
}

// ---- The warm path ----

// Whether two OCI runtime specs agree on the value at `path` (e.g. {"linux", "resources"}).
::testing::AssertionResult SameInSpecs(const std::string& a_json, const std::string& b_json,
                                       const std::vector<std::string>& path) {
  google::protobuf::Value a, b;
  CHECK(google::protobuf::util::JsonStringToMessage(a_json, a.mutable_struct_value()).ok());
  CHECK(google::protobuf::util::JsonStringToMessage(b_json, b.mutable_struct_value()).ok());
  for (const std::string& key : path) {
    if (!a.struct_value().fields().contains(key) || !b.struct_value().fields().contains(key)) {
      return ::testing::AssertionFailure() << "no " << key;
    }
    google::protobuf::Value next_a = a.struct_value().fields().at(key);
    google::protobuf::Value next_b = b.struct_value().fields().at(key);
    a = std::move(next_a);
    b = std::move(next_b);
  }
  if (!google::protobuf::util::MessageDifferencer::Equals(a, b)) {
    return ::testing::AssertionFailure() << a.DebugString() << "\nvs\n" << b.DebugString();
  }
  return ::testing::AssertionSuccess();
}

class WarmManagerTest : public ::testing::Test {
 protected:
  // The agent's defaults, the pool's and the manager's alike.
  static constexpr SandboxDefaults kDefaults{.pids = 200,
                                             .memory_bytes = 256 << 20,
                                             .cpu_shares = 512,
                                             .oom_score_adj = 600,
                                             .nofile = 2048};

  WarmManagerTest()
      : dir_(std::filesystem::path(::testing::TempDir()) / ("sbm_warm_" + RandomHex(4))),
        limits_({.cpu = (dir_ / "cg/cpu").string(),
                 .memory = (dir_ / "cg/memory").string(),
                 .pids = (dir_ / "cg/pids").string()}),
        pool_(&runtime_, &groups_, &clock_, &metrics_,
              {.state_dir = (dir_ / "warm").string(),
               .init_binary = "/bin/fsb-init",
               .log_dir = (dir_ / "logs").string(),
               .defaults = kDefaults,
               .init_timeout = absl::Milliseconds(100),
               .connect = inits_.Connector()}) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "logs");
  }
  ~WarmManagerTest() override {
    pool_.Stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // A manager over the shared fake runtime (and pool), recovered.
  std::unique_ptr<SandboxManager> NewManager(const CgroupLimits* limits) {
    auto m = std::make_unique<SandboxManager>(
        &runtime_, &groups_, &clock_, &metrics_,
        SandboxManager::Options{
            .capacity = 4, .log_dir = (dir_ / "logs").string(), .defaults = kDefaults},
        SandboxManager::Warm{&pool_, limits});
    CHECK(m->Recover().ok());
    // Recover started the workers (with nothing to do); these tests refill by hand.
    pool_.Stop();
    pool_.SetControllerTargets(std::vector<WarmTarget>{{"docker.io/fsb/busybox:latest", 4}});
    return m;
  }
  // The instance's cgroup files, as runc would have made them.
  void MakeCgroup(const std::string& id) {
    for (const char* c : {"cpu", "memory", "pids"}) {
      std::filesystem::create_directories(dir_ / "cg" / c / "fsb" / id);
    }
    for (const char* f : {"cpu/cpu.cfs_period_us", "cpu/cpu.cfs_quota_us",
                          "memory/memory.limit_in_bytes", "pids/pids.max"}) {
      const std::filesystem::path file(f);
      std::ofstream(dir_ / "cg" / file.parent_path() / "fsb" / id / file.filename());
    }
  }
  std::string ReadCgroup(const std::string& file) {
    std::ifstream in(dir_ / "cg" / file);
    std::string s;
    std::getline(in, s);
    return s;
  }

  static v1::SandboxSpec Spec(const std::string& id) {
    v1::SandboxSpec spec = SleepSpec(id);
    (*spec.mutable_env())["GREETING"] = "hi";
    spec.set_working_dir("/work");
    return spec;
  }

  std::filesystem::path dir_;
  FakeRuntime runtime_;
  ShimGroups groups_{8};
  ManualClock clock_{absl::FromUnixSeconds(1000)};
  metrics::Registry registry_;
  AgentMetrics metrics_{&registry_};
  FakeInits inits_;
  CgroupLimits limits_;
  WarmPool pool_;
};

TEST_F(WarmManagerTest, AHitBecomesTheSandboxUnderTheInstancesId) {
  auto manager = NewManager(&limits_);
  ASSERT_TRUE(pool_.RefillOnce());
  const std::string instance = runtime_.created.back().id;
  const size_t containers = runtime_.created.size();
  absl::StatusOr<SandboxManager::Created> created = manager->Create(Spec("p1"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->warm);
  EXPECT_EQ(created->status.sandbox_id(), instance);
  EXPECT_EQ(created->status.requested_id(), "p1");
  EXPECT_EQ(created->status.phase(), v1::SANDBOX_PHASE_RUNNING);
  EXPECT_EQ(created->status.log_path(), (dir_ / "logs" / (instance + ".log")).string());
  EXPECT_EQ(runtime_.created.size(), containers);  // no container was made for it
  ASSERT_EQ(inits_.orders().size(), 1u);
  const FakeInits::Received order = inits_.orders()[0];
  EXPECT_EQ(order.argv, (std::vector<std::string>{"sleep", "60"}));
  EXPECT_THAT(order.env, ::testing::Contains("GREETING=hi"));
  EXPECT_EQ(order.hostname, "sb-p1");
  EXPECT_EQ(order.cwd, "/work");
  EXPECT_EQ(order.bounding & (uint64_t{1} << 21), 0u);  // never CAP_SYS_ADMIN
  // Both ids name it; the same request again is the same sandbox.
  EXPECT_EQ(manager->Get("p1")->sandbox_id(), instance);
  EXPECT_EQ(manager->Get(instance)->requested_id(), "p1");
  EXPECT_TRUE(manager->Create(Spec("p1"))->warm);
  // Exec sees the process a cold create would have had, not the instance's.
  absl::StatusOr<std::string> spec_json = manager->RuntimeSpec("p1");
  ASSERT_TRUE(spec_json.ok());
  EXPECT_THAT(*spec_json, HasSubstr(R"("args":["sleep","60"])"));
  EXPECT_THAT(*spec_json, Not(HasSubstr("CAP_SYS_ADMIN")));
  EXPECT_THAT(*spec_json, Not(HasSubstr("umount2")));  // nor init's seccomp additions
  // Recorded in containerd off the request path.
  EXPECT_TRUE(pool_.ReadClaim(instance).has_value());
  pool_.Reap();
  EXPECT_EQ(runtime_.running.at(instance).labels.at(kSandboxIdLabel), "p1");
  EXPECT_FALSE(pool_.ReadClaim(instance).has_value());
  // Its exit is the sandbox's; a delete by the proposed id removes the instance.
  EXPECT_TRUE(manager->OnExit(instance, 3));
  EXPECT_EQ(manager->Get("p1")->exit_code(), 3);
  ASSERT_TRUE(manager->Delete("p1", absl::ZeroDuration()).ok());
  EXPECT_EQ(runtime_.removed.back(), instance);
  EXPECT_FALSE(std::filesystem::exists(pool_.ControlDir(instance)));
  EXPECT_EQ(manager->Get("p1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(WarmManagerTest, MissesAndUnusableInstancesGoCold) {
  auto manager = NewManager(&limits_);
  // Empty pool: cold, under the proposed id.
  absl::StatusOr<SandboxManager::Created> cold = manager->Create(Spec("c1"));
  ASSERT_TRUE(cold.ok()) << cold.status();
  EXPECT_FALSE(cold->warm);
  EXPECT_EQ(cold->status.sandbox_id(), "c1");
  // An init that dies without a word: the create still succeeds, cold, and the
  // instance is removed.
  inits_.set_behavior(FakeInitBehavior::kDie);
  ASSERT_TRUE(pool_.RefillOnce());
  const std::string dead = runtime_.created.back().id;
  absl::StatusOr<SandboxManager::Created> fell = manager->Create(Spec("c2"));
  ASSERT_TRUE(fell.ok()) << fell.status();
  EXPECT_FALSE(fell->warm);
  EXPECT_EQ(fell->status.sandbox_id(), "c2");
  pool_.Reap();
  EXPECT_THAT(runtime_.removed, ::testing::Contains(dead));
  // Limits the kernel refuses (here: no cgroup folder): cold as well.
  inits_.set_behavior(FakeInitBehavior::kExec);
  ASSERT_TRUE(pool_.RefillOnce());
  v1::SandboxSpec limited = Spec("c3");
  limited.mutable_resources()->set_memory_bytes(64 << 20);
  absl::StatusOr<SandboxManager::Created> refused = manager->Create(limited);
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_FALSE(refused->warm);
  EXPECT_EQ(refused->status.sandbox_id(), "c3");
  EXPECT_THAT(registry_.Serialize(),
              HasSubstr(R"(fsb_agent_warm_claims_total{reason="limits",result="miss"} 1)"));
}

TEST_F(WarmManagerTest, LimitsAreWrittenBeforeTheProcessIsReleased) {
  auto manager = NewManager(&limits_);
  ASSERT_TRUE(pool_.RefillOnce());
  const std::string instance = runtime_.created.back().id;
  MakeCgroup(instance);
  v1::SandboxSpec spec = Spec("l1");
  spec.mutable_resources()->set_cpu_millicores(500);
  spec.mutable_resources()->set_memory_bytes(32 << 20);
  spec.mutable_resources()->set_pids(20);
  absl::StatusOr<SandboxManager::Created> created = manager->Create(spec);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->warm);
  EXPECT_EQ(ReadCgroup("cpu/fsb/" + instance + "/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(ReadCgroup("memory/fsb/" + instance + "/memory.limit_in_bytes"), "33554432");
  EXPECT_EQ(ReadCgroup("pids/fsb/" + instance + "/pids.max"), "20");
  // The recorded spec carries them too, as a cold create's would.
  EXPECT_THAT(*manager->RuntimeSpec("l1"), HasSubstr(R"("memory":{"limit":33554432})"));
}

// A warm sandbox ends up with the limits a cold one gets: the instance was made with the
// defaults, and a claim writes only what the request sets over them.
TEST_F(WarmManagerTest, AClaimKeepsTheInstancesDefaultsAndWritesOnlyTheRequestsLimits) {
  auto manager = NewManager(&limits_);
  ASSERT_TRUE(pool_.RefillOnce());
  const std::string plain = runtime_.created.back().id;
  const std::string instance_spec = runtime_.created.back().spec_json;
  EXPECT_THAT(instance_spec, HasSubstr(R"("pids":{"limit":200})"));
  EXPECT_THAT(instance_spec, HasSubstr(R"("memory":{"limit":268435456})"));
  EXPECT_THAT(instance_spec, HasSubstr(R"("cpu":{"shares":512})"));
  EXPECT_THAT(instance_spec, HasSubstr(R"("oomScoreAdj":600)"));
  MakeCgroup(plain);
  // No limits in the request: warm, nothing written, and the recorded spec is the
  // one a cold create of it makes (the instance's id aside).
  absl::StatusOr<SandboxManager::Created> created = manager->Create(Spec("q1"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->warm);
  for (const char* f : {"cpu/cpu.cfs_quota_us", "memory/memory.limit_in_bytes", "pids/pids.max"}) {
    const std::filesystem::path file(f);
    EXPECT_EQ(ReadCgroup((file.parent_path() / "fsb" / plain / file.filename()).string()), "") << f;
  }
  const std::string warm_spec = *manager->RuntimeSpec("q1");
  EXPECT_THAT(warm_spec, HasSubstr(R"("pids":{"limit":200})"));
  EXPECT_THAT(warm_spec, HasSubstr(R"("memory":{"limit":268435456})"));
  EXPECT_THAT(warm_spec, HasSubstr(R"("cpu":{"shares":512})"));
  EXPECT_THAT(warm_spec, HasSubstr(R"("oomScoreAdj":600)"));
  // Init sets the NOFILE runc set for the cold create.
  ASSERT_EQ(inits_.orders().size(), 1u);
  ASSERT_EQ(inits_.orders()[0].rlimits.size(), 1u);
  EXPECT_EQ(inits_.orders()[0].rlimits[0].soft, 2048u);
  EXPECT_EQ(inits_.orders()[0].rlimits[0].hard, 2048u);
  FakeRuntime cold_runtime;
  SandboxManager cold(&cold_runtime, &groups_, &clock_, &metrics_,
                      {.capacity = 1, .log_dir = (dir_ / "logs").string(), .defaults = kDefaults});
  ASSERT_TRUE(cold.Recover().ok());
  ASSERT_TRUE(cold.Create(Spec("q1")).ok());
  const std::string cold_spec = *cold.RuntimeSpec("q1");
  EXPECT_TRUE(SameInSpecs(warm_spec, cold_spec, {"process"}));
  EXPECT_TRUE(SameInSpecs(warm_spec, cold_spec, {"linux", "resources"}));
  EXPECT_TRUE(SameInSpecs(warm_spec, cold_spec, {"linux", "maskedPaths"}));

  // Only the request's memory limit is written; pids keeps the instance's default.
  ASSERT_TRUE(pool_.RefillOnce());
  const std::string limited = runtime_.created.back().id;
  MakeCgroup(limited);
  v1::SandboxSpec memory = Spec("q2");
  memory.mutable_resources()->set_memory_bytes(32 << 20);
  created = manager->Create(memory);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->warm);
  EXPECT_EQ(ReadCgroup("memory/fsb/" + limited + "/memory.limit_in_bytes"), "33554432");
  EXPECT_EQ(ReadCgroup("pids/fsb/" + limited + "/pids.max"), "");
  EXPECT_EQ(ReadCgroup("cpu/fsb/" + limited + "/cpu.cfs_quota_us"), "");
  EXPECT_THAT(*manager->RuntimeSpec("q2"), HasSubstr(R"("memory":{"limit":33554432})"));
  EXPECT_THAT(*manager->RuntimeSpec("q2"), HasSubstr(R"("pids":{"limit":200})"));
}

TEST_F(WarmManagerTest, WithoutALimitsWriterARequestWithLimitsGoesCold) {
  auto manager = NewManager(nullptr);
  ASSERT_TRUE(pool_.RefillOnce());
  v1::SandboxSpec spec = Spec("n1");
  spec.mutable_resources()->set_pids(5);
  EXPECT_FALSE(manager->Create(spec)->warm);
  EXPECT_TRUE(manager->Create(Spec("n2"))->warm);  // the instance was given back
}

TEST_F(WarmManagerTest, AProcessInitRejectsFailsTheCreateAndAdmitsNothing) {
  auto manager = NewManager(&limits_);
  inits_.set_behavior(FakeInitBehavior::kBadExecutable);
  ASSERT_TRUE(pool_.RefillOnce());
  const std::string instance = runtime_.created.back().id;
  absl::StatusOr<SandboxManager::Created> created = manager->Create(Spec("b1"));
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(created.status().message(), HasSubstr("executable \"nope\""));
  EXPECT_EQ(manager->Get("b1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager->Get(instance).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(manager->List().empty());
  pool_.Reap();
  EXPECT_EQ(runtime_.removed.back(), instance);  // used up: removed
  EXPECT_FALSE(pool_.ReadClaim(instance).has_value());
}

TEST_F(WarmManagerTest, ContainerdDownRefusesOnlyColdCreates) {
  auto manager = NewManager(&limits_);
  ASSERT_TRUE(pool_.RefillOnce());
  manager->SetRuntimeAvailable(false);
  EXPECT_TRUE(manager->Create(Spec("w1"))->warm);
  absl::StatusOr<SandboxManager::Created> cold = manager->Create(Spec("w2"));
  EXPECT_EQ(cold.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(cold.status().message(), HasSubstr("containerd is not answering"));
  EXPECT_EQ(manager->Get("w2").status().code(), absl::StatusCode::kNotFound);
  manager->SetRuntimeAvailable(true);
  EXPECT_TRUE(manager->Create(Spec("w2")).ok());
}

TEST_F(WarmManagerTest, RecoverSortsInstancesIntoSandboxesPoolAndGarbage) {
  std::string bound, journaled, idle, broken;
  {
    auto previous = NewManager(&limits_);
    ASSERT_TRUE(pool_.RefillOnce());
    ASSERT_TRUE(previous->Create(Spec("r1")).ok());  // bound below
    bound = previous->Get("r1")->sandbox_id();
    pool_.Reap();
    ASSERT_TRUE(pool_.RefillOnce());
    ASSERT_TRUE(previous->Create(Spec("r2")).ok());  // never bound: the journal says it
    journaled = previous->Get("r2")->sandbox_id();
    ASSERT_TRUE(pool_.RefillOnce());
    idle = runtime_.created.back().id;
    ASSERT_TRUE(pool_.RefillOnce());
    broken = runtime_.created.back().id;
  }
  // The new agent process: r1's and r2's inits are gone (they exec'd), `idle` answers,
  // `broken` does not.
  WarmPool fresh(&runtime_, &groups_, &clock_, &metrics_,
                 {.state_dir = (dir_ / "warm").string(),
                  .init_binary = "/bin/fsb-init",
                  .log_dir = (dir_ / "logs").string(),
                  .defaults = kDefaults,
                  .init_timeout = absl::Milliseconds(100),
                  .connect = [&](const std::string& path,
                                 absl::Duration timeout) -> absl::StatusOr<InitConnection> {
                    if (path == fresh.SocketPath(idle)) return inits_.Connect(path, timeout);
                    return absl::UnavailableError("connection refused");
                  }});
  for (auto& [id, c] : runtime_.running) c.created_at = clock_.Now();
  for (auto& [id, c] : runtime_.running) c.labels[kWarmChainLabel] = "sha256:chain";
  // The fake keeps only labels the pool set; the bound one was updated above.
  SandboxManager manager(&runtime_, &groups_, &clock_, &metrics_,
                         {.capacity = 4, .log_dir = (dir_ / "logs").string()}, {&fresh, &limits_});
  ASSERT_TRUE(manager.Recover().ok());
  fresh.Stop();
  EXPECT_EQ(manager.Get("r1")->sandbox_id(), bound);
  EXPECT_EQ(manager.Get("r2")->sandbox_id(), journaled);
  EXPECT_EQ(manager.Get(journaled)->requested_id(), "r2");
  EXPECT_THAT(*manager.RuntimeSpec("r2"), HasSubstr(R"("args":["sleep","60"])"));
  EXPECT_TRUE(fresh.Owns(idle));
  EXPECT_THAT(runtime_.removed, ::testing::Contains(broken));
  EXPECT_EQ(manager.List().size(), 2u);
  fresh.Reap();  // r2's binding is recorded now
  EXPECT_EQ(runtime_.running.at(journaled).labels.at(kSandboxIdLabel), "r2");
}

// Cold creates on network slots: real network namespaces (root only) attached by fake
// CNI plugins that lease 10.88.0.N.
class NetworkManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    dir_ = std::filesystem::path(::testing::TempDir()) / "sbm_net";
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "logs");
    cni_ = std::make_unique<CniNetwork>(
        CniOptions{}, [this](const SubprocessCall& call) -> absl::StatusOr<SubprocessResult> {
          const bool add = absl::c_linear_search(call.env, "CNI_COMMAND=ADD");
          if (add && !plugin_error_.empty()) return SubprocessResult{1, plugin_error_, ""};
          SubprocessResult r;
          if (add) r.stdout_data = R"({"ips":[{"address":"10.88.0.7/16","gateway":"10.88.0.1"}]})";
          return r;
        });
    slots_ = std::make_unique<NetworkSlots>(
        NetworkSlots::Options{.dir = (dir_ / "slots").string(), .free_target = 0}, cni_.get(),
        &clock_, &metrics_);
    manager_ = std::make_unique<SandboxManager>(
        &runtime_, &shim_groups_, &clock_, &metrics_,
        SandboxManager::Options{.log_dir = (dir_ / "logs").string()}, SandboxManager::Warm{},
        slots_.get());
    ASSERT_TRUE(manager_->Recover().ok());
  }
  void TearDown() override {
    manager_.reset();
    slots_.reset();
    if (dir_.empty()) return;
    NetworkSlots cleanup({.dir = (dir_ / "slots").string(), .free_target = 0}, cni_.get(), &clock_,
                         &metrics_);
    (void)cleanup.Recover({});  // unmounts whatever a failed test left
    cleanup.Stop();
    std::filesystem::remove_all(dir_);
  }
  int SlotFolders() const {
    int n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_ / "slots", ec))
      n += !e.path().empty();
    return n;
  }
  bool EventuallyNoSlots() const {
    for (int i = 0; i < 500 && SlotFolders() != 0; ++i) usleep(10000);
    return SlotFolders() == 0;
  }

  std::filesystem::path dir_;
  std::string plugin_error_;
  FakeRuntime runtime_;
  ShimGroups shim_groups_{1};
  ManualClock clock_{absl::FromUnixSeconds(1000)};
  metrics::Registry registry_;
  AgentMetrics metrics_{&registry_};
  std::unique_ptr<CniNetwork> cni_;
  std::unique_ptr<NetworkSlots> slots_;
  std::unique_ptr<SandboxManager> manager_;
};

TEST_F(NetworkManagerTest, AColdSandboxJoinsASlotOfItsOwnWhichGoesWithIt) {
  v1::SandboxSpec spec = SleepSpec("n1");
  spec.set_network(v1::SANDBOX_NETWORK_NO_EGRESS);
  auto created = manager_->Create(spec);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->status.ip(), "10.88.0.7");
  ASSERT_EQ(runtime_.created.size(), 1u);
  const ContainerParams& p = runtime_.created[0];
  const std::string slot = p.labels.at(kNetworkSlotLabel);
  const std::string slot_dir = (dir_ / "slots" / slot).string();
  EXPECT_THAT(p.spec_json,
              HasSubstr(absl::StrCat(R"({"type":"network","path":")", slot_dir, R"(/netns"})")));
  EXPECT_THAT(p.spec_json, HasSubstr(absl::StrCat(R"("source":")", slot_dir, R"(/hosts")")));
  std::ifstream hosts(slot_dir + "/hosts");
  std::string text((std::istreambuf_iterator<char>(hosts)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("10.88.0.7\tsb-n1\n"));
  EXPECT_EQ(manager_->Get("n1")->ip(), "10.88.0.7");

  ASSERT_TRUE(manager_->Delete("n1", absl::ZeroDuration()).ok());
  EXPECT_TRUE(EventuallyNoSlots());
}

TEST_F(NetworkManagerTest, APluginFailureFailsTheCreateAndLeavesNothing) {
  plugin_error_ = R"({"code":11,"msg":"failed to set bridge addr: permission denied"})";
  auto created = manager_->Create(SleepSpec("n1"));
  EXPECT_EQ(created.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(created.status().message(), HasSubstr("bridge"));
  EXPECT_THAT(created.status().message(), HasSubstr("permission denied"));
  EXPECT_TRUE(runtime_.created.empty());
  EXPECT_TRUE(manager_->List().empty());
  EXPECT_EQ(SlotFolders(), 0);
}

TEST_F(NetworkManagerTest, ARuntimeFailureReleasesTheSlot) {
  runtime_.create_error = absl::InternalError("runc exploded");
  EXPECT_EQ(manager_->Create(SleepSpec("n1")).status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(EventuallyNoSlots());
}

TEST_F(NetworkManagerTest, RecoverAdoptsTheSlotOfARunningSandbox) {
  ASSERT_TRUE(manager_->Create(SleepSpec("n1")).ok());
  const std::string slot = runtime_.created[0].labels.at(kNetworkSlotLabel);
  // The agent restarts: a new pool and manager over the same folder and containers.
  manager_.reset();
  slots_ = std::make_unique<NetworkSlots>(
      NetworkSlots::Options{.dir = (dir_ / "slots").string(), .free_target = 0}, cni_.get(),
      &clock_, &metrics_);
  manager_ =
      std::make_unique<SandboxManager>(&runtime_, &shim_groups_, &clock_, &metrics_,
                                       SandboxManager::Options{.log_dir = (dir_ / "logs").string()},
                                       SandboxManager::Warm{}, slots_.get());
  ASSERT_TRUE(manager_->Recover().ok());
  EXPECT_EQ(manager_->Get("n1")->ip(), "10.88.0.7");
  EXPECT_TRUE(slots_->Get(slot).ok());
  EXPECT_EQ(SlotFolders(), 1);
}

TEST(SandboxManagerNetworkTest, PublishedPortsNeedIsolatedNetworking) {
  FakeRuntime runtime;
  ShimGroups shim_groups(1);
  ManualClock clock(absl::FromUnixSeconds(1000));
  metrics::Registry registry;
  AgentMetrics metrics(&registry);
  SandboxManager manager(&runtime, &shim_groups, &clock, &metrics,
                         {.log_dir = ::testing::TempDir()});
  ASSERT_TRUE(manager.Recover().ok());
  v1::SandboxSpec spec = SleepSpec("p1");
  v1::PortPublish* port = spec.add_published_ports();
  port->set_host_port(8080);
  port->set_container_port(80);
  auto created = manager.Create(spec);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(created.status().message(), HasSubstr("--sandbox-network=host"));
  port->set_container_port(0);
  created = manager.Create(spec);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(created.status().message(), HasSubstr("published_ports"));
  EXPECT_TRUE(runtime.created.empty());
}

}  // namespace
}  // namespace fsb::agent
