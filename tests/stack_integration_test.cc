// End to end through real processes: fsb CLI / FastPath gRPC -> fsb-controller ->
// fsb-agent -> a private containerd -> runc. What containerd reports is checked through
// containerd's own API.
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "agent/containerd/client.h"
#include "fastpath/v1/fastpath.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/testing/local_stack.h"

namespace fsb {
namespace {

using fsb::testing::LocalStack;
using fsb::testing::PrivateContainerd;
using fsb::testing::WaitFor;
using ::testing::HasSubstr;
using ::testing::Not;

class StackTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fsb::testing::MissingPrerequisite().empty()) return;
    auto stack = LocalStack::Start({.agent_capacity = 4});
    if (!stack.ok()) {
      setup_error_ = new std::string(stack.status().ToString());
      return;
    }
    stack_ = stack->release();
  }

  static void TearDownTestSuite() { delete stack_; }

  void SetUp() override {
    if (std::string missing = fsb::testing::MissingPrerequisite(); !missing.empty()) {
      GTEST_SKIP() << "integration test skipped: " << missing;
    }
    ASSERT_EQ(setup_error_, nullptr) << *setup_error_;
  }

  static grpc::Status Create(const fastpath::v1::CreateRequest& req,
                             fastpath::v1::CreateResponse* resp) {
    return stack_->Create(req, resp);
  }
  static grpc::Status Delete(const std::string& name) { return stack_->Delete(name); }

  static std::string ReadLog(const std::string& sandbox_id) {
    std::ifstream f(stack_->agent_state_dir() + "/logs/" + sandbox_id + ".log");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  int Fsb(const std::vector<std::string>& args, std::string* out, std::string* err) {
    return stack_->Fsb(args, out, err);
  }

  static inline std::string* setup_error_ = nullptr;
  static inline LocalStack* stack_ = nullptr;
};

TEST_F(StackTest, CreateRunsARealContainerAndDeleteRemovesIt) {
  fastpath::v1::CreateRequest req;
  req.set_name("hello");
  req.set_image(PrivateContainerd::kTestImage);
  req.add_command("sh");
  req.add_command("-c");
  req.add_command("echo hello; sleep 60");
  fastpath::v1::CreateResponse created;
  ASSERT_TRUE(Create(req, &created).ok());
  EXPECT_EQ(created.sandbox_name(), "hello");
  EXPECT_EQ(created.agent_pod(), "it-agent");
  const std::string id = created.sandbox_id();
  ASSERT_FALSE(id.empty());

  // containerd itself says the task runs, with a pid.
  auto task = stack_->containerd().GetTask(id);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), containerd::v1::types::RUNNING);
  EXPECT_GT(task->pid(), 0u);
  auto container = stack_->containerd().GetContainer(id);
  ASSERT_TRUE(container.ok()) << container.status();
  EXPECT_EQ(container->labels().at("fsb.io/managed"), "true");
  EXPECT_EQ(container->labels().at("fsb.io/sandbox-name"), "hello");
  EXPECT_TRUE(
      WaitFor([&] { return ReadLog(id).find("hello") != std::string::npos; }, absl::Seconds(10)))
      << "log: " << ReadLog(id);

  fastpath::v1::ListRequest list_req;
  fastpath::v1::ListResponse list;
  grpc::ClientContext list_ctx;
  ASSERT_TRUE(stack_->fastpath().ListSandboxes(&list_ctx, list_req, &list).ok());
  bool listed = false;
  for (const auto& item : list.items()) {
    if (item.sandbox_name() == "hello") {
      listed = true;
      EXPECT_EQ(item.sandbox_id(), id);
      EXPECT_EQ(item.phase(), "Running");
      EXPECT_EQ(item.image(), PrivateContainerd::kTestImage);
    }
  }
  EXPECT_TRUE(listed);

  ASSERT_TRUE(Delete("hello").ok());
  EXPECT_TRUE(absl::IsNotFound(stack_->containerd().GetTask(id).status()));
  EXPECT_TRUE(absl::IsNotFound(stack_->containerd().GetContainer(id).status()));
  EXPECT_TRUE(absl::IsNotFound(stack_->containerd().StatSnapshot(id).status()));
  EXPECT_FALSE(std::filesystem::exists(stack_->agent_state_dir() + "/logs/" + id + ".log"));

  fastpath::v1::GetRequest get;
  get.set_sandbox_name("hello");
  fastpath::v1::SandboxInfo info;
  grpc::ClientContext get_ctx;
  EXPECT_EQ(stack_->fastpath().GetSandbox(&get_ctx, get, &info).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(StackTest, UnknownImageIsNotFoundNamingTheImage) {
  fastpath::v1::CreateRequest req;
  req.set_name("noimage");
  req.set_image("docker.io/fsb/does-not-exist:1");
  fastpath::v1::CreateResponse resp;
  grpc::Status s = Create(req, &resp);
  // The node lacks it and tries to pull it: no registry is reachable from here
  // (UNAVAILABLE naming the registry); one that is would say NOT_FOUND.
  EXPECT_THAT(s.error_code(),
              ::testing::AnyOf(grpc::StatusCode::NOT_FOUND, grpc::StatusCode::UNAVAILABLE));
  EXPECT_THAT(s.error_message(), HasSubstr("docker.io/fsb/does-not-exist:1"));
  EXPECT_THAT(s.error_message(), HasSubstr("docker.io"));
  // Nothing was left behind: the name is free again.
  req.set_image(PrivateContainerd::kTestImage);
  req.add_command("true");
  ASSERT_TRUE(Create(req, &resp).ok());
  EXPECT_TRUE(Delete("noimage").ok());
}

TEST_F(StackTest, EmptyImageIsInvalidArgument) {
  fastpath::v1::CreateRequest req;
  req.set_name("empty-image");
  fastpath::v1::CreateResponse resp;
  grpc::Status s = Create(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("image"));
}

// A request outside the limits is refused by the controller, naming the field, before
// anything is placed: no record, no container.
TEST_F(StackTest, OutOfLimitsCreatesAreInvalidArgumentAndCreateNothing) {
  auto before = stack_->ManagedContainers();
  ASSERT_TRUE(before.ok()) << before.status();
  std::string out, err;
  // The CLI takes 1Mi; the controller's floor is 6 MiB.
  EXPECT_EQ(Fsb({"run", "--image", PrivateContainerd::kTestImage, "--name", "tiny", "--memory",
                 "1Mi", "--", "sleep", "60"},
                &out, &err),
            1);
  EXPECT_THAT(err, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(err, HasSubstr("resources.memory_bytes: 1048576 bytes is below the minimum of "
                             "6291456"));
  EXPECT_EQ(Fsb({"get", "tiny"}, &out, &err), 1);
  EXPECT_THAT(err, HasSubstr("not found"));

  fastpath::v1::CreateRequest req;
  req.set_name("nul-arg");
  req.set_image(PrivateContainerd::kTestImage);
  req.add_command("sh");
  req.add_command(std::string("-c\0true", 7));
  fastpath::v1::CreateResponse resp;
  grpc::Status s = Create(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "command[1]: holds a NUL byte at offset 2");
  EXPECT_EQ(Delete("nul-arg").error_code(), grpc::StatusCode::NOT_FOUND);

  auto after = stack_->ManagedContainers();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, *before) << "containerd has no container for a refused create";
}

TEST_F(StackTest, SameRequestIsIdempotentDuplicateNameIsAlreadyExists) {
  fastpath::v1::CreateRequest req;
  req.set_name("dup");
  req.set_image(PrivateContainerd::kTestImage);
  req.add_command("sleep");
  req.add_command("60");
  fastpath::v1::CreateResponse first, again, other;
  ASSERT_TRUE(Create(req, &first).ok());
  // The same request again is the same sandbox: no second container.
  ASSERT_TRUE(Create(req, &again).ok());
  EXPECT_EQ(again.sandbox_id(), first.sandbox_id());
  // The same name with another spec is taken.
  req.set_command(1, "120");
  grpc::Status s = Create(req, &other);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(s.error_message(), HasSubstr("dup"));
  // The first sandbox is untouched, and it is the only one.
  auto task = stack_->containerd().GetTask(first.sandbox_id());
  ASSERT_TRUE(task.ok());
  EXPECT_EQ(task->status(), containerd::v1::types::RUNNING);
  auto managed = stack_->ManagedContainers();
  ASSERT_TRUE(managed.ok());
  EXPECT_EQ(std::count(managed->begin(), managed->end(), first.sandbox_id()), 1);
  EXPECT_EQ(managed->size(), 1u);
  EXPECT_TRUE(Delete("dup").ok());
}

TEST_F(StackTest, DeleteUnknownIsNotFound) {
  EXPECT_EQ(Delete("never-was").error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(StackTest, CliRunListGetRemove) {
  std::string out, err;
  EXPECT_EQ(Fsb({"run", "--name", "cli1"}, &out, &err), 2) << "missing --image is a usage error";
  EXPECT_THAT(err, HasSubstr("--image"));

  out.clear();
  err.clear();
  ASSERT_EQ(Fsb({"run", "--image", PrivateContainerd::kTestImage, "--name", "cli1", "--env",
                 "GREETING=hi", "--", "sh", "-c", "echo $GREETING; sleep 60"},
                &out, &err),
            0)
      << err;
  EXPECT_THAT(out, HasSubstr("cli1"));
  EXPECT_THAT(out, HasSubstr("it-agent"));

  out.clear();
  ASSERT_EQ(Fsb({"ls"}, &out, &err), 0) << err;
  EXPECT_THAT(out, HasSubstr("NAME"));
  EXPECT_THAT(out, HasSubstr("cli1"));
  EXPECT_THAT(out, HasSubstr("Running"));

  out.clear();
  ASSERT_EQ(Fsb({"get", "cli1", "-o", "yaml"}, &out, &err), 0) << err;
  EXPECT_THAT(out, HasSubstr("kind: Sandbox"));
  EXPECT_THAT(out, HasSubstr("cli1"));

  out.clear();
  ASSERT_EQ(Fsb({"rm", "cli1"}, &out, &err), 0) << err;
  err.clear();
  EXPECT_EQ(Fsb({"get", "cli1"}, &out, &err), 1);
  EXPECT_THAT(err, HasSubstr("NOT_FOUND"));
}

// Ports through the whole stack: sandboxes on one agent may listen on the same port, a
// host port is published by at most one of them, and the endpoints are the sandbox's ip
// (the agent's host while the agent reports none) per exposed port and the agent's host
// per published one.
TEST_F(StackTest, CliPortsNetworkAndEndpoints) {
  grpc::ClientContext agents_ctx;
  fastpath::v1::ListAgentsResponse agents;
  ASSERT_TRUE(stack_->fastpath().ListAgents(&agents_ctx, {}, &agents).ok());
  ASSERT_EQ(agents.items_size(), 1);
  const std::string& address = agents.items(0).spec().address();
  const std::string agent_host = address.substr(0, address.rfind(':'));
  const std::string host_port = absl::StrCat(fsb::testing::FreePort());

  std::string out, err;
  ASSERT_EQ(Fsb({"run", "--image", PrivateContainerd::kTestImage, "--name", "port-a", "--port",
                 "8080", "-p", host_port + ":8080", "--network", "no-egress", "--", "sleep", "60"},
                &out, &err),
            0)
      << err;
  EXPECT_THAT(out, HasSubstr("endpoints: "));
  grpc::ClientContext get_ctx;
  fastpath::v1::GetRequest get;
  get.set_sandbox_name("port-a");
  fastpath::v1::SandboxInfo info;
  ASSERT_TRUE(stack_->fastpath().GetSandbox(&get_ctx, get, &info).ok());
  EXPECT_EQ(info.network(), "no-egress");
  EXPECT_THAT(info.publish(), ::testing::ElementsAre(host_port + ":8080/tcp"));
  ASSERT_FALSE(info.ip().empty());  // the sandbox's own address on the agent's bridge
  EXPECT_THAT(info.endpoints(),
              ::testing::ElementsAre(info.ip() + ":8080", agent_host + ":" + host_port));

  // Another sandbox on the same agent listens on the same port.
  out.clear();
  ASSERT_EQ(Fsb({"run", "--image", PrivateContainerd::kTestImage, "--name", "port-b", "--port",
                 "8080", "--", "sleep", "60"},
                &out, &err),
            0)
      << err;
  // But no second one publishes the same host port there.
  err.clear();
  EXPECT_EQ(Fsb({"run", "--image", PrivateContainerd::kTestImage, "--name", "port-c", "-p",
                 host_port + ":9090", "--", "sleep", "60"},
                &out, &err),
            1);
  EXPECT_THAT(err, HasSubstr("RESOURCE_EXHAUSTED"));
  EXPECT_THAT(err, HasSubstr(absl::StrCat("port ", host_port, "/tcp is already taken")));

  out.clear();
  ASSERT_EQ(Fsb({"get", "port-a", "-o", "wide"}, &out, &err), 0) << err;
  EXPECT_THAT(out, HasSubstr("   IP   "));
  EXPECT_THAT(out, HasSubstr("no-egress"));
  out.clear();
  ASSERT_EQ(Fsb({"get", "port-a", "-o", "yaml"}, &out, &err), 0) << err;
  EXPECT_THAT(out, HasSubstr("network: no-egress"));
  EXPECT_THAT(out, HasSubstr(absl::StrCat("hostPort: ", host_port)));

  err.clear();
  EXPECT_EQ(Fsb({"run", "--image", PrivateContainerd::kTestImage, "--network", "none"}, &out, &err),
            2);
  EXPECT_THAT(err, HasSubstr("--network \"none\" is not a network mode"));

  out.clear();
  ASSERT_EQ(Fsb({"rm", "--now", "port-a", "port-b"}, &out, &err), 0) << err;
}

// The sandbox lifecycle through the CLI: labels and selectors, update, reset (a new
// container), expiry (the container goes, the record stays), apply, agents.
TEST_F(StackTest, CliLifecycleUpdateResetExpireApplyAgents) {
  std::string out, err;
  ASSERT_EQ(Fsb({"run", "--image", PrivateContainerd::kTestImage, "--name", "life", "-l", "team=a",
                 "--", "sleep", "600"},
                &out, &err),
            0)
      << err;
  out.clear();
  ASSERT_EQ(Fsb({"ls", "-l", "team=a"}, &out, &err), 0) << err;
  EXPECT_THAT(out, HasSubstr("life"));
  out.clear();
  err.clear();
  ASSERT_EQ(Fsb({"ls", "-l", "team=b"}, &out, &err), 0) << err;
  EXPECT_THAT(out, Not(HasSubstr("life")));

  out.clear();
  ASSERT_EQ(
      Fsb({"update", "life", "--failure-policy", "auto-recreate", "-l", "tier=x"}, &out, &err), 0)
      << err;
  out.clear();
  ASSERT_EQ(Fsb({"get", "life", "-o", "yaml"}, &out, &err), 0) << err;
  EXPECT_THAT(out, HasSubstr("failurePolicy: AutoRecreate"));
  EXPECT_THAT(out, HasSubstr("tier: x"));
  EXPECT_THAT(out, HasSubstr("resourceVersion:"));

  // Reset: a fresh container replaces the old one, which containerd no longer has.
  fastpath::v1::GetRequest get;
  get.set_sandbox_name("life");
  auto info = [&] {
    fastpath::v1::SandboxInfo i;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stack_->fastpath().GetSandbox(&ctx, get, &i).ok());
    return i;
  };
  const std::string old_id = info().sandbox_id();
  ASSERT_EQ(Fsb({"reset", "life"}, &out, &err), 0) << err;
  ASSERT_TRUE(WaitFor([&] { return info().restart_count() == 1 && info().phase() == "Running"; },
                      absl::Seconds(30)))
      << info().DebugString();
  const std::string new_id = info().sandbox_id();
  EXPECT_NE(new_id, old_id);
  EXPECT_TRUE(absl::IsNotFound(stack_->containerd().GetContainer(old_id).status()));
  auto task = stack_->containerd().GetTask(new_id);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), containerd::v1::types::RUNNING);

  // Expiry: the container goes, the record stays as Expired.
  ASSERT_EQ(Fsb({"run", "--image", PrivateContainerd::kTestImage, "--name", "brief", "--expire-in",
                 "2s", "--", "sleep", "600"},
                &out, &err),
            0)
      << err;
  get.set_sandbox_name("brief");
  const std::string brief_id = info().sandbox_id();
  ASSERT_TRUE(WaitFor([&] { return info().phase() == "Expired"; }, absl::Seconds(30)));
  EXPECT_TRUE(absl::IsNotFound(stack_->containerd().GetContainer(brief_id).status()));
  EXPECT_EQ(Fsb({"rm", "brief"}, &out, &err), 0) << err;

  // Apply: create, then configure a mutable field; an immutable change is refused.
  const std::string manifest = stack_->dir() + "/applied.yaml";
  auto write = [&](const std::string& label, const std::string& image) {
    std::ofstream(manifest) << "apiVersion: fsb.io/v1alpha1\nkind: Sandbox\nmetadata:\n"
                            << "  name: applied\n  labels:\n    stage: " << label << "\n"
                            << "spec:\n  image: " << image << "\n  command: [sleep, \"600\"]\n";
  };
  write("one", PrivateContainerd::kTestImage);
  out.clear();
  ASSERT_EQ(Fsb({"apply", "-f", manifest}, &out, &err), 0) << err;
  EXPECT_THAT(out, HasSubstr("sandbox/applied created"));
  write("two", PrivateContainerd::kTestImage);
  out.clear();
  ASSERT_EQ(Fsb({"apply", "-f", manifest}, &out, &err), 0) << err;
  EXPECT_THAT(out, HasSubstr("sandbox/applied configured"));
  write("two", "docker.io/fsb/other:1");
  err.clear();
  EXPECT_EQ(Fsb({"apply", "-f", manifest}, &out, &err), 1);
  EXPECT_THAT(err, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(err, HasSubstr("image"));

  out.clear();
  ASSERT_EQ(Fsb({"agents"}, &out, &err), 0) << err;
  EXPECT_THAT(out, HasSubstr(LocalStack::kAgentId));
  EXPECT_THAT(out, HasSubstr("True"));

  EXPECT_EQ(Fsb({"rm", "--now", "life", "applied"}, &out, &err), 0) << err;
  EXPECT_TRUE(absl::IsNotFound(stack_->containerd().GetContainer(new_id).status()));
}

// Limits reach the kernel: the sandbox's cgroup (v1 here; v2 paths are checked too)
// holds the CFS quota, memory limit and pids limit asked for; the root filesystem can
// be read-only; the hostname is the sandbox's name.
TEST_F(StackTest, ResourceLimitsReadOnlyRootAndHostname) {
  fastpath::v1::CreateRequest req;
  req.set_name("limited");
  req.set_image(PrivateContainerd::kTestImage);
  req.add_command("sh");
  req.add_command("-c");
  req.add_command("hostname; touch /probe 2>&1 || echo read-only; sleep 600");
  req.mutable_resources()->set_cpu_millicores(250);
  req.mutable_resources()->set_memory_bytes(64 << 20);
  req.mutable_resources()->set_pids(50);
  req.set_read_only_root_filesystem(true);
  fastpath::v1::CreateResponse resp;
  ASSERT_TRUE(Create(req, &resp).ok());
  const std::string id = resp.sandbox_id();
  auto read = [](const std::string& path) {
    std::ifstream f(path);
    std::string value;
    f >> value;
    return value;
  };
  const bool v1 = std::filesystem::exists("/sys/fs/cgroup/cpu");
  if (v1) {
    EXPECT_EQ(read("/sys/fs/cgroup/cpu/fsb/" + id + "/cpu.cfs_quota_us"), "25000");
    EXPECT_EQ(read("/sys/fs/cgroup/cpu/fsb/" + id + "/cpu.cfs_period_us"), "100000");
    EXPECT_EQ(read("/sys/fs/cgroup/memory/fsb/" + id + "/memory.limit_in_bytes"),
              std::to_string(64 << 20));
    EXPECT_EQ(read("/sys/fs/cgroup/pids/fsb/" + id + "/pids.max"), "50");
  } else {
    EXPECT_EQ(read("/sys/fs/cgroup/fsb/" + id + "/memory.max"), std::to_string(64 << 20));
    EXPECT_EQ(read("/sys/fs/cgroup/fsb/" + id + "/pids.max"), "50");
  }
  EXPECT_TRUE(WaitFor(
      [&] {
        const std::string log = ReadLog(id);
        return log.find("limited") != std::string::npos &&
               log.find("Read-only file system") != std::string::npos;
      },
      absl::Seconds(10)))
      << ReadLog(id);
  ASSERT_TRUE(Delete("limited").ok());
  if (v1) {
    EXPECT_FALSE(std::filesystem::exists("/sys/fs/cgroup/cpu/fsb/" + id));
  }
}

}  // namespace
}  // namespace fsb
