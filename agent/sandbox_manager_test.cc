#include "agent/sandbox_manager.h"

#include <filesystem>
#include <fstream>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;

// A deterministic in-memory Runtime that records what it was asked to do.
class FakeRuntime : public Runtime {
 public:
  absl::StatusOr<ResolvedImage> ResolveImage(std::string_view name) override {
    if (name != "docker.io/fsb/busybox:latest") {
      return absl::NotFoundError(absl::StrCat("image \"", std::string(name), "\" not found"));
    }
    ResolvedImage image{std::string(name), "sha256:chain", {}};
    image.config.mutable_config()->add_cmd("sh");
    return image;
  }
  absl::StatusOr<uint32_t> CreateAndStart(const ContainerParams& params) override {
    if (!create_error.ok()) return create_error;
    created.push_back(params);
    running[params.id] = ContainerState{params.id, params.labels, TaskState::kRunning, 100, 0};
    return 100 + static_cast<uint32_t>(created.size());
  }
  absl::Status Stop(std::string_view id, absl::Duration grace) override {
    stops.emplace_back(std::string(id), grace);
    return absl::OkStatus();
  }
  absl::Status Remove(std::string_view id) override {
    removed.emplace_back(id);
    return running.erase(std::string(id)) ? absl::OkStatus() : absl::NotFoundError("gone");
  }
  absl::StatusOr<std::vector<ContainerState>> ListManaged() override {
    std::vector<ContainerState> out;
    for (const auto& [id, s] : running) out.push_back(s);
    return out;
  }
  absl::StatusOr<std::vector<std::string>> ListImages() override {
    return std::vector<std::string>{"docker.io/fsb/busybox:latest"};
  }

  absl::Status create_error;
  std::vector<ContainerParams> created;
  std::vector<std::pair<std::string, absl::Duration>> stops;
  std::vector<std::string> removed;
  std::map<std::string, ContainerState> running;
};

class SandboxManagerTest : public ::testing::Test {
 protected:
  SandboxManagerTest()
      : log_dir_(std::filesystem::path(::testing::TempDir()) / "sbm_logs"),
        manager_(&runtime_, &clock_,
                 {.capacity = 2, .log_dir = log_dir_.string(), .default_grace = absl::Seconds(3)}) {
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
  ManualClock clock_{absl::FromUnixSeconds(1000)};
  SandboxManager manager_;
};

TEST_F(SandboxManagerTest, CreateStartsTheContainerWithLabelsSpecAndLog) {
  auto status = manager_.Create(Spec("a1"));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->phase(), v1::SANDBOX_PHASE_RUNNING);
  EXPECT_EQ(status->pid(), 101u);
  EXPECT_EQ(status->created_at_unix_nanos(), absl::ToUnixNanos(absl::FromUnixSeconds(1000)));
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

TEST_F(SandboxManagerTest, SameSpecIsIdempotentDifferentSpecConflicts) {
  ASSERT_TRUE(manager_.Create(Spec("a1")).ok());
  auto again = manager_.Create(Spec("a1"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->pid(), 101u);
  EXPECT_EQ(runtime_.created.size(), 1u);
  v1::SandboxSpec other = Spec("a1");
  other.add_args("x");
  EXPECT_EQ(manager_.Create(other).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(SandboxManagerTest, CapacityIsEnforcedAndFreedByDelete) {
  ASSERT_TRUE(manager_.Create(Spec("a1")).ok());
  ASSERT_TRUE(manager_.Create(Spec("a2")).ok());
  auto full = manager_.Create(Spec("a3"));
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(full.status().message(), HasSubstr("capacity"));
  ASSERT_TRUE(manager_.Delete("a1", std::nullopt).ok());
  EXPECT_TRUE(manager_.Create(Spec("a3")).ok());
}

TEST_F(SandboxManagerTest, UnknownImageIsNotFoundAndAdmitsNothing) {
  v1::SandboxSpec spec = Spec("a1");
  spec.set_image("nope:1");
  auto status = manager_.Create(spec);
  EXPECT_EQ(status.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.status().message(), HasSubstr("docker.io/library/nope:1"));
  EXPECT_TRUE(manager_.List().empty());
  EXPECT_EQ(manager_.Get("a1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SandboxManagerTest, RuntimeFailureAdmitsNothing) {
  runtime_.create_error = absl::InternalError("runc exploded");
  auto status = manager_.Create(Spec("a1"));
  EXPECT_EQ(status.status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(manager_.List().empty());
}

TEST_F(SandboxManagerTest, RejectsMalformedSpecs) {
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

TEST_F(SandboxManagerTest, DeleteStopsGracefullyRemovesAndDropsTheLog) {
  ASSERT_TRUE(manager_.Create(Spec("a1")).ok());
  std::ofstream(log_dir_ / "a1.log") << "hello\n";
  ASSERT_TRUE(manager_.Delete("a1", std::nullopt).ok());
  ASSERT_EQ(runtime_.stops.size(), 1u);
  EXPECT_EQ(runtime_.stops[0].second, absl::Seconds(3));  // the default grace
  EXPECT_EQ(runtime_.removed, std::vector<std::string>{"a1"});
  EXPECT_FALSE(std::filesystem::exists(log_dir_ / "a1.log"));
  EXPECT_EQ(manager_.Get("a1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SandboxManagerTest, DeleteUnknownIsNotFound) {
  absl::Status s = manager_.Delete("missing", absl::Seconds(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("missing"));
  EXPECT_TRUE(runtime_.stops.empty());
}

TEST_F(SandboxManagerTest, RefreshRecordsExitsAndVanishedContainers) {
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

}  // namespace
}  // namespace fsb::agent
