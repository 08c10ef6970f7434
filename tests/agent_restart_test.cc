// The agent survives its own crash and containerd's: killed with SIGKILL while sandboxes
// run (and one is being created), a restarted agent re-adopts them from containerd
// without restarting any, the controller never sees them Lost, and delete still works;
// while containerd is down the agent is not Ready and takes no sandbox, and it recovers
// by itself when containerd returns. Exits reach the controller through containerd's
// event stream at once (the heartbeat is slowed down here to prove it), also an exit
// while containerd was down and no stream could carry it. An exec cut off by the agent's
// SIGKILL is killed and its FIFO folder removed by the restarted agent; snapshot views a
// read left behind are removed by the janitor.
#include <signal.h>

#include <filesystem>
#include <string>
#include <thread>

#include "absl/strings/match.h"
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

constexpr auto& Sleeper = fsb::testing::SleeperRequest;

class AgentRestartTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> agent_flags,
             const std::string& heartbeat_timeout = "--agent-heartbeat-timeout=6s") {
    auto stack =
        LocalStack::Start({.controller_flags = {heartbeat_timeout, "--reconcile-interval=200ms",
                                                "--fastpath-orphan-timeout=2s"},
                           .agent_flags = std::move(agent_flags)});
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = *std::move(stack);
  }

  void SetUp() override {
    if (std::string missing = fsb::testing::MissingPrerequisite(); !missing.empty()) {
      GTEST_SKIP() << "integration test skipped: " << missing;
    }
  }

  fastpath::v1::SandboxInfo Get(const std::string& name) {
    fastpath::v1::GetRequest req;
    req.set_sandbox_name(name);
    fastpath::v1::SandboxInfo info;
    grpc::ClientContext ctx;
    stack_->fastpath().GetSandbox(&ctx, req, &info);
    return info;
  }

  uint32_t Pid(const std::string& id) {
    auto task = stack_->containerd().GetTask(id);
    return task.ok() && task->status() == containerd::v1::types::RUNNING ? task->pid() : 0;
  }

  std::unique_ptr<LocalStack> stack_;
};

TEST_F(AgentRestartTest, KilledAgentReadoptsItsSandboxesWithoutRestartingThem) {
  ASSERT_NO_FATAL_FAILURE(Start({"--janitor-interval-s=1", "--janitor-grace-s=2"}));
  fastpath::v1::CreateResponse a, b;
  ASSERT_TRUE(stack_->Create(Sleeper("a"), &a).ok());
  ASSERT_TRUE(stack_->Create(Sleeper("b"), &b).ok());
  const uint32_t pid_a = Pid(a.sandbox_id());
  ASSERT_GT(pid_a, 0u);

  // One more create in flight when the agent dies.
  std::thread in_flight([&] {
    fastpath::v1::CreateResponse resp;
    stack_->Create(Sleeper("c"), &resp);
  });
  absl::SleepFor(absl::Milliseconds(30));
  stack_->KillAgent();
  in_flight.join();
  EXPECT_EQ(Pid(a.sandbox_id()), pid_a) << "a sandbox died with its agent";

  ASSERT_TRUE(stack_->StartAgent().ok());
  ASSERT_TRUE(stack_->WaitForAgent(absl::Seconds(30)).ok());
  // Same processes, still Running for the controller.
  EXPECT_EQ(Pid(a.sandbox_id()), pid_a);
  EXPECT_GT(Pid(b.sandbox_id()), 0u);
  EXPECT_EQ(Get("a").phase(), "Running");
  EXPECT_EQ(Get("b").phase(), "Running");
  // The interrupted one is either running and known, or gone everywhere.
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<std::vector<std::string>> managed = stack_->ManagedContainers();
        absl::StatusOr<fastpath::v1::ListResponse> listed = stack_->List();
        if (!managed.ok() || !listed.ok()) return false;
        if (static_cast<int>(managed->size()) != listed->items_size()) return false;
        for (const auto& item : listed->items()) {
          if (item.phase() != "Running" || Pid(item.sandbox_id()) == 0) return false;
        }
        return true;
      },
      absl::Seconds(30)));

  // Deleting an adopted sandbox works and removes its container.
  ASSERT_TRUE(stack_->Delete("a").ok());
  EXPECT_TRUE(absl::IsNotFound(stack_->containerd().GetContainer(a.sandbox_id()).status()));
  EXPECT_GT(Pid(b.sandbox_id()), 0u);
}

TEST_F(AgentRestartTest, ContainerdDownMeansNotReadyAndTheAgentRecoversByItself) {
  ASSERT_NO_FATAL_FAILURE(Start({}));
  fastpath::v1::CreateResponse before;
  ASSERT_TRUE(stack_->Create(Sleeper("before"), &before).ok());
  const uint32_t pid = Pid(before.sandbox_id());

  ASSERT_TRUE(stack_->containerd_daemon().KillDaemon().ok());
  auto ready = [&] {
    fastpath::v1::ListAgentsRequest req;
    fastpath::v1::ListAgentsResponse resp;
    grpc::ClientContext ctx;
    return stack_->fastpath().ListAgents(&ctx, req, &resp).ok() && resp.items_size() == 1 &&
           resp.items(0).status().conditions(0).status() == "True";
  };
  ASSERT_TRUE(WaitFor([&] { return !ready(); }, absl::Seconds(20)));
  fastpath::v1::CreateResponse refused;
  grpc::Status s = stack_->Create(Sleeper("during"), &refused);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.error_code(), ::testing::AnyOf(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                               grpc::StatusCode::UNAVAILABLE));

  ASSERT_TRUE(stack_->containerd_daemon().StartDaemon().ok());
  ASSERT_TRUE(WaitFor(ready, absl::Seconds(30)));
  EXPECT_EQ(Pid(before.sandbox_id()), pid) << "the sandbox did not survive containerd's restart";
  fastpath::v1::CreateResponse after;
  ASSERT_TRUE(stack_->Create(Sleeper("after"), &after).ok());
  EXPECT_GT(Pid(after.sandbox_id()), 0u);
}

TEST_F(AgentRestartTest, ExitsArePushedAtOnceEvenAfterContainerdRestarts) {
  // Heartbeats every 5 minutes (and a controller that waits that long for them): only
  // the event-driven push can deliver an exit while the test waits.
  ASSERT_NO_FATAL_FAILURE(
      Start({"--heartbeat_interval_ms=300000"}, "--agent-heartbeat-timeout=600s"));
  auto create_exiting = [&](const std::string& name, const std::string& script) {
    fastpath::v1::CreateRequest req = Sleeper(name);
    req.clear_command();
    req.add_command("sh");
    req.add_command("-c");
    req.add_command(script);
    fastpath::v1::CreateResponse resp;
    EXPECT_TRUE(stack_->Create(req, &resp).ok());
    return resp.sandbox_id();
  };
  auto expect_failed = [&](const std::string& name, int code) {
    ASSERT_TRUE(WaitFor([&] { return Get(name).phase() == "Failed"; }, absl::Seconds(20)))
        << Get(name).DebugString();
    EXPECT_EQ(Get(name).exit_code(), code);
  };
  create_exiting("first", "sleep 0.5; exit 5");
  expect_failed("first", 5);

  // One exits while containerd is down: no event stream is live to carry it, so the agent
  // must read it when its new stream goes live.
  const std::string gap = create_exiting("gap", "sleep 2; exit 7");
  const uint32_t gap_pid = Pid(gap);
  ASSERT_TRUE(stack_->containerd_daemon().KillDaemon().ok());
  if (gap_pid > 0) {
    EXPECT_TRUE(
        WaitFor([&] { return kill(static_cast<pid_t>(gap_pid), 0) != 0; }, absl::Seconds(20)));
  }
  ASSERT_TRUE(stack_->containerd_daemon().StartDaemon().ok());
  expect_failed("gap", 7);
  // The agent subscribes again; creates work, and exits are pushed again.
  grpc::Status probe_status;
  ASSERT_TRUE(WaitFor(
      [&] {
        fastpath::v1::CreateResponse probe;
        probe_status = stack_->Create(Sleeper("probe"), &probe);
        return probe_status.ok();
      },
      absl::Seconds(30)))
      << probe_status.error_code() << ": " << probe_status.error_message();
  create_exiting("second", "sleep 0.5; exit 6");
  expect_failed("second", 6);
}

// The janitor removes what nobody owns — an fsb container of this agent that no sandbox
// owns and a snapshot left without its container — and never touches a container
// without fsb's labels.
TEST_F(AgentRestartTest, JanitorRemovesOnlyUnownedFsbObjects) {
  ASSERT_NO_FATAL_FAILURE(Start({"--janitor-interval-s=1", "--janitor-grace-s=1"}));
  fsb::agent::Containerd& ctr = stack_->containerd();
  auto container = [&](const std::string& id, bool fsb_labels) {
    containerd::services::containers::v1::Container c;
    c.set_id(id);
    c.set_image(PrivateContainerd::kTestImage);
    c.mutable_runtime()->set_name("io.containerd.runc.v2");
    c.mutable_spec()->set_type_url("types.containerd.io/opencontainers/runtime-spec/1/Spec");
    c.mutable_spec()->set_value("{}");
    if (fsb_labels) {
      (*c.mutable_labels())["fsb.io/managed"] = "true";
      (*c.mutable_labels())["fsb.io/agent"] = stack_->agent_id();
    }
    return ctr.CreateContainer(c);
  };
  ASSERT_TRUE(container("stray-fsb", true).ok());
  ASSERT_TRUE(container("not-ours", false).ok());
  auto image = ctr.GetImage(PrivateContainerd::kTestImage);
  ASSERT_TRUE(image.ok());
  // A snapshot of ours whose container is gone.
  auto parent = ctr.ListSnapshots("");
  ASSERT_TRUE(parent.ok() && !parent->empty());
  std::string chain;
  for (const auto& s : *parent) {
    if (s.kind() == containerd::services::snapshots::v1::COMMITTED) chain = s.name();
  }
  ASSERT_FALSE(chain.empty());
  ASSERT_TRUE(
      ctr.PrepareSnapshot("stray-snap", chain,
                          {{"fsb.io/managed", "true"}, {"fsb.io/agent", stack_->agent_id()}})
          .ok());
  // A view of an image an agent read a file from, as its crash mid-read leaves it (with
  // the lease that keeps containerd's garbage collector off it for minutes); and another
  // agent's, which stays.
  auto leftover_view = [&](const std::string& key, const std::string& agent) {
    return ctr.CreateLease(key, absl::Now() + absl::Hours(1)).ok() &&
           ctr.ViewSnapshot(key, chain, {{"fsb.io/view-of-agent", agent}}, key).ok();
  };
  ASSERT_TRUE(leftover_view("fsb-view-left", stack_->agent_id()));
  ASSERT_TRUE(leftover_view("fsb-view-other", "another-agent"));

  EXPECT_TRUE(WaitFor(
      [&] {
        return absl::IsNotFound(ctr.GetContainer("stray-fsb").status()) &&
               absl::IsNotFound(ctr.StatSnapshot("stray-snap").status()) &&
               absl::IsNotFound(ctr.StatSnapshot("fsb-view-left").status());
      },
      absl::Seconds(30)));
  EXPECT_TRUE(ctr.GetContainer("not-ours").ok()) << "the janitor touched a foreign container";
  // Its lease went with it: the id is free again (containerd deletes missing leases
  // without an error, so only a create tells).
  const absl::Status lease = ctr.CreateLease("fsb-view-left", absl::Now() + absl::Minutes(1));
  EXPECT_TRUE(lease.ok()) << "its lease was left: " << lease;
  ASSERT_TRUE(ctr.DeleteLease("fsb-view-left").ok());
  EXPECT_TRUE(ctr.StatSnapshot("fsb-view-other").ok()) << "the janitor took another's view";
  ASSERT_TRUE(ctr.DeleteContainer("not-ours").ok());
  ASSERT_TRUE(ctr.RemoveSnapshot("fsb-view-other").ok());
  ASSERT_TRUE(ctr.DeleteLease("fsb-view-other").ok());
}

// The exec folders (<state dir>/exec/<container id>.<exec id>) agent 0 has now.
std::vector<std::string> ExecFolders(const std::string& state_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(state_dir + "/exec", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  return names;
}

TEST_F(AgentRestartTest, AnExecCutOffByAnAgentKillIsKilledAndItsFolderRemovedOnRestart) {
  ASSERT_NO_FATAL_FAILURE(Start({"--janitor-interval-s=1"}));
  fastpath::v1::CreateResponse box;
  ASSERT_TRUE(stack_->Create(Sleeper("exec-box"), &box).ok());

  // An exec that would run for ten minutes, through the controller as `fsb exec` does.
  auto io = fastpath::v1::SandboxIO::NewStub(stack_->ClientChannel(stack_->admin_token()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(2));
  auto stream = io->Exec(&ctx);
  fastpath::v1::ExecRequest start;
  start.mutable_start()->set_sandbox_name("exec-box");
  for (const char* arg : {"sh", "-c", "echo started; exec sleep 600"}) {
    start.mutable_start()->add_args(arg);
  }
  ASSERT_TRUE(stream->Write(start));
  fsb::agent::v1::ExecOutput first;
  ASSERT_TRUE(stream->Read(&first));
  EXPECT_EQ(first.stdout(), "started\n");
  const std::vector<std::string> folders = ExecFolders(stack_->agent_state_dir());
  ASSERT_EQ(folders.size(), 1u);
  const std::string& folder = folders[0];
  ASSERT_TRUE(absl::StartsWith(folder, box.sandbox_id() + "."));
  const std::string exec_id = folder.substr(box.sandbox_id().size() + 1);
  auto exec_state = [&] { return stack_->containerd().GetTask(box.sandbox_id(), exec_id); };
  ASSERT_TRUE(exec_state().ok()) << exec_state().status();
  // The janitor (every second here) leaves a live session's exec alone.
  absl::SleepFor(absl::Seconds(3));
  ASSERT_EQ(ExecFolders(stack_->agent_state_dir()), folders);
  ASSERT_EQ(exec_state()->status(), containerd::v1::types::RUNNING);

  stack_->KillAgent();
  ctx.TryCancel();
  stream->Finish();
  // The shim keeps the exec running without its agent: this is what is left behind.
  absl::StatusOr<containerd::v1::types::Process> left = exec_state();
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_EQ(left->status(), containerd::v1::types::RUNNING);

  ASSERT_TRUE(stack_->StartAgent().ok());
  ASSERT_TRUE(stack_->WaitForAgent(absl::Seconds(30)).ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        return absl::IsNotFound(exec_state().status()) &&
               ExecFolders(stack_->agent_state_dir()).empty();
      },
      absl::Seconds(30)))
      << "exec " << exec_id << ": " << exec_state().status();
  // The sandbox itself is untouched.
  EXPECT_GT(Pid(box.sandbox_id()), 0u);
  std::string metrics;
  fsb::testing::RunCommand({"curl", "-sf", "http://" + stack_->agent_metrics() + "/metrics"},
                           &metrics);
  EXPECT_TRUE(absl::StrContains(metrics, "fsb_agent_janitor_removed_total{kind=\"exec\"} 1"))
      << "the removal was not counted";
}

}  // namespace
}  // namespace fsb
