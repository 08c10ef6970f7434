#include "cli/commands.h"

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/temp_dir_testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "internal/request_limits.h"

namespace fsb::cli {
namespace {

using fastpath::v1::ApplyRequest;
using fastpath::v1::ApplyResponse;
using fastpath::v1::CreateRequest;
using fastpath::v1::CreateResponse;
using fastpath::v1::DeleteRequest;
using fastpath::v1::DeleteResponse;
using fastpath::v1::GetRequest;
using fastpath::v1::ListAgentsRequest;
using fastpath::v1::ListAgentsResponse;
using fastpath::v1::ListRequest;
using fastpath::v1::ListResponse;
using fastpath::v1::SandboxInfo;
using fastpath::v1::UpdateRequest;
using fastpath::v1::UpdateResponse;
using fsb::v1alpha1::Agent;
using fsb::v1alpha1::Sandbox;
using ::testing::_;
using ::testing::DoAll;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Invoke;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::Return;
using ::testing::SaveArg;
using ::testing::SetArgPointee;
using ::testing::SizeIs;
using ::testing::StartsWith;
using ::testing::StrictMock;
using ::testing::UnorderedElementsAre;

// The unary RPCs are mocked; the async ones are unused by the CLI.
class MockFastPathStub : public fastpath::v1::FastPathService::StubInterface {
 public:
  MOCK_METHOD(grpc::Status, CreateSandbox,
              (grpc::ClientContext*, const CreateRequest&, CreateResponse*), (override));
  MOCK_METHOD(grpc::Status, DeleteSandbox,
              (grpc::ClientContext*, const DeleteRequest&, DeleteResponse*), (override));
  MOCK_METHOD(grpc::Status, UpdateSandbox,
              (grpc::ClientContext*, const UpdateRequest&, UpdateResponse*), (override));
  MOCK_METHOD(grpc::Status, ListSandboxes,
              (grpc::ClientContext*, const ListRequest&, ListResponse*), (override));
  MOCK_METHOD(grpc::Status, GetSandbox, (grpc::ClientContext*, const GetRequest&, SandboxInfo*),
              (override));
  MOCK_METHOD(grpc::Status, GetSandboxResource, (grpc::ClientContext*, const GetRequest&, Sandbox*),
              (override));
  MOCK_METHOD(grpc::Status, ApplySandbox,
              (grpc::ClientContext*, const ApplyRequest&, ApplyResponse*), (override));
  MOCK_METHOD(grpc::Status, ListAgents,
              (grpc::ClientContext*, const ListAgentsRequest&, ListAgentsResponse*), (override));
  MOCK_METHOD(grpc::Status, DeleteAgent,
              (grpc::ClientContext*, const fastpath::v1::DeleteAgentRequest&,
               fastpath::v1::DeleteAgentResponse*),
              (override));
  MOCK_METHOD(grpc::Status, ApplySandboxPool,
              (grpc::ClientContext*, const fastpath::v1::ApplySandboxPoolRequest&,
               fastpath::v1::ApplySandboxPoolResponse*),
              (override));
  MOCK_METHOD(grpc::Status, ListSandboxPools,
              (grpc::ClientContext*, const fastpath::v1::ListSandboxPoolsRequest&,
               fastpath::v1::ListSandboxPoolsResponse*),
              (override));
  MOCK_METHOD(grpc::Status, DeleteSandboxPool,
              (grpc::ClientContext*, const fastpath::v1::DeleteSandboxPoolRequest&,
               fastpath::v1::DeleteSandboxPoolResponse*),
              (override));

 private:
  // The async forms of `method`, which the CLI does not use.
#define FSB_UNUSED_ASYNC(method, Request, Response)                              \
  grpc::ClientAsyncResponseReaderInterface<Response>* Async##method##Raw(        \
      grpc::ClientContext*, const Request&, grpc::CompletionQueue*) override {   \
    return nullptr;                                                              \
  }                                                                              \
  grpc::ClientAsyncResponseReaderInterface<Response>* PrepareAsync##method##Raw( \
      grpc::ClientContext*, const Request&, grpc::CompletionQueue*) override {   \
    return nullptr;                                                              \
  }
  FSB_UNUSED_ASYNC(CreateSandbox, CreateRequest, CreateResponse)
  FSB_UNUSED_ASYNC(DeleteSandbox, DeleteRequest, DeleteResponse)
  FSB_UNUSED_ASYNC(UpdateSandbox, UpdateRequest, UpdateResponse)
  FSB_UNUSED_ASYNC(ListSandboxes, ListRequest, ListResponse)
  FSB_UNUSED_ASYNC(GetSandbox, GetRequest, SandboxInfo)
  FSB_UNUSED_ASYNC(GetSandboxResource, GetRequest, Sandbox)
  FSB_UNUSED_ASYNC(ApplySandbox, ApplyRequest, ApplyResponse)
  FSB_UNUSED_ASYNC(ListAgents, ListAgentsRequest, ListAgentsResponse)
  FSB_UNUSED_ASYNC(DeleteAgent, fastpath::v1::DeleteAgentRequest, fastpath::v1::DeleteAgentResponse)
  FSB_UNUSED_ASYNC(ApplySandboxPool, fastpath::v1::ApplySandboxPoolRequest,
                   fastpath::v1::ApplySandboxPoolResponse)
  FSB_UNUSED_ASYNC(ListSandboxPools, fastpath::v1::ListSandboxPoolsRequest,
                   fastpath::v1::ListSandboxPoolsResponse)
  FSB_UNUSED_ASYNC(DeleteSandboxPool, fastpath::v1::DeleteSandboxPoolRequest,
                   fastpath::v1::DeleteSandboxPoolResponse)
#undef FSB_UNUSED_ASYNC
};

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

SandboxInfo Info(const std::string& name, const std::string& phase, int64_t age_seconds) {
  SandboxInfo info;
  info.set_sandbox_name(name);
  info.set_sandbox_id("sb-" + name);
  info.set_phase(phase);
  info.set_image("busybox");
  info.set_agent_pod("agent-1");
  info.set_created_at(absl::ToUnixSeconds(kNow) - age_seconds);
  return info;
}

// Runs the CLI against a strict mock: any RPC without an expectation fails the test.
class CliTest : public ::testing::Test {
 protected:
  int RunCli(const std::vector<std::string>& args) {
    CliContext context;
    context.env = [this](std::string_view name) -> std::optional<std::string> {
      auto it = env_.find(std::string(name));
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    context.connect = [this](const Connection& connection)
        -> std::unique_ptr<fastpath::v1::FastPathService::StubInterface> {
      connected_endpoints_.push_back(connection.endpoint);
      connections_.push_back(connection);
      return std::move(owned_stub_);
    };
    context.in = &in_;
    context.out = &out_;
    context.err = &err_;
    context.now = kNow;
    return ::fsb::cli::Run(args, context);
  }

  std::unique_ptr<StrictMock<MockFastPathStub>> owned_stub_ =
      std::make_unique<StrictMock<MockFastPathStub>>();
  StrictMock<MockFastPathStub>& stub_ = *owned_stub_;
  std::map<std::string, std::string> env_;
  std::vector<std::string> connected_endpoints_;
  std::vector<Connection> connections_;
  std::istringstream in_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(CliTest, RunCreatesTheSandboxAndReportsIt) {
  CreateRequest sent;
  std::chrono::system_clock::time_point deadline;
  CreateResponse response;
  response.set_sandbox_id("sb-123");
  response.set_sandbox_name("web");
  response.set_agent_pod("agent-7");
  response.add_endpoints("10.0.0.1:80");
  EXPECT_CALL(stub_, CreateSandbox(_, _, _))
      .WillOnce(DoAll(
          Invoke([&](grpc::ClientContext* context, const CreateRequest& request, CreateResponse*) {
            sent = request;
            deadline = context->deadline();
          }),
          SetArgPointee<2>(response), Return(grpc::Status::OK)));

  const auto before = std::chrono::system_clock::now();
  EXPECT_EQ(RunCli({"-n",      "team",     "--timeout", "5s",        "run",   "--image",
                    "busybox", "--name",   "web",       "--env",     "A=b=c", "--label",
                    "app=web", "--port",   "80",        "--workdir", "/app",  "--pool",
                    "p1",      "--strong", "--",        "sh",        "-c",    "echo hi"}),
            0);

  EXPECT_EQ(sent.image(), "busybox");
  EXPECT_EQ(sent.name(), "web");
  EXPECT_EQ(sent.namespace_(), "team");
  EXPECT_EQ(sent.pool_ref(), "p1");
  EXPECT_EQ(sent.working_dir(), "/app");
  EXPECT_EQ(sent.consistency_mode(), fastpath::v1::STRONG);
  EXPECT_THAT(sent.envs(), UnorderedElementsAre(Pair("A", "b=c")));
  EXPECT_THAT(sent.labels(), UnorderedElementsAre(Pair("app", "web")));
  EXPECT_THAT(sent.exposed_ports(), ElementsAre(80));
  EXPECT_THAT(sent.command(), ElementsAre("sh", "-c", "echo hi"));
  EXPECT_THAT(sent.args(), IsEmpty());
  // The deadline is --timeout from the moment of the call.
  EXPECT_GT(deadline, before + std::chrono::seconds(4));
  EXPECT_LE(deadline, std::chrono::system_clock::now() + std::chrono::seconds(5));

  EXPECT_THAT(out_.str(), StartsWith("sandbox/web created\n"));
  EXPECT_THAT(out_.str(), HasSubstr("  id:        sb-123\n"));
  EXPECT_THAT(out_.str(), HasSubstr("  agent:     agent-7\n"));
  EXPECT_THAT(out_.str(), HasSubstr("  endpoints: 10.0.0.1:80\n"));
  EXPECT_THAT(out_.str(), HasSubstr("  took:      "));
  EXPECT_EQ(err_.str(), "");
  EXPECT_THAT(connected_endpoints_, ElementsAre("127.0.0.1:9090"));
}

TEST_F(CliTest, RunDefaultsToFastAndPrintsTheGeneratedName) {
  CreateRequest sent;
  CreateResponse response;
  response.set_sandbox_id("sb-9");
  response.set_sandbox_name("busybox-x7k2");
  response.set_agent_pod("agent-1");
  EXPECT_CALL(stub_, CreateSandbox(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), SetArgPointee<2>(response), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"run", "--image", "busybox"}), 0);
  EXPECT_EQ(sent.consistency_mode(), fastpath::v1::FAST);
  EXPECT_EQ(sent.namespace_(), "default");
  EXPECT_EQ(sent.name(), "");
  EXPECT_THAT(sent.command(), IsEmpty());
  EXPECT_THAT(out_.str(), StartsWith("sandbox/busybox-x7k2 created\n"));
  EXPECT_THAT(out_.str(), Not(HasSubstr("endpoints")));
}

TEST_F(CliTest, ServerErrorExitsOneWithCodeAndMessage) {
  EXPECT_CALL(stub_, CreateSandbox(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                    "image \"docker.io/library/nope:latest\" not found")));
  EXPECT_EQ(RunCli({"run", "--image", "nope"}), 1);
  EXPECT_EQ(err_.str(),
            "fsb: error: NOT_FOUND: image \"docker.io/library/nope:latest\" not found\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CliTest, UnavailableAddsAnEndpointHint) {
  env_["FSB_ENDPOINT"] = "ctrl:9090";
  EXPECT_CALL(stub_, ListSandboxes(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused")));
  EXPECT_EQ(RunCli({"ls"}), 1);
  EXPECT_THAT(err_.str(), StartsWith("fsb: error: UNAVAILABLE: connection refused\n"));
  EXPECT_THAT(err_.str(), HasSubstr("ctrl:9090"));
}

TEST_F(CliTest, EndpointComesFromFlagThenEnvironment) {
  env_["FSB_ENDPOINT"] = "env-host:1";
  EXPECT_CALL(stub_, ListSandboxes(_, _, _)).WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(RunCli({"ls", "--endpoint", "flag-host:2"}), 0);
  EXPECT_THAT(connected_endpoints_, ElementsAre("flag-host:2"));
}

TEST_F(CliTest, TheCurrentContextReachesTheConnectionAndTheRequests) {
  testing::ScopedTempDir dir;
  dir.Write("token", "t0k\n");
  env_["FSB_CONFIG"] = dir.Write("config.yaml", R"(current-context: prod
contexts:
  - {name: prod, endpoint: "ctrl:9090", namespace: team-a, token-file: token}
)");
  ListRequest sent;
  EXPECT_CALL(stub_, ListSandboxes(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"ls"}), 0) << err_.str();
  EXPECT_EQ(sent.namespace_(), "team-a");
  ASSERT_THAT(connections_, SizeIs(1));
  EXPECT_EQ(connections_[0].endpoint, "ctrl:9090");
  EXPECT_EQ(connections_[0].transport, Transport::kTls);
  EXPECT_EQ(connections_[0].token, "t0k");
}

TEST_F(CliTest, ABadConfigExitsTwoWithoutConnecting) {
  testing::ScopedTempDir dir;
  const std::string path = dir.Write("config.yaml", "contexts: [{name: a, tokn: x}]\n");
  env_["FSB_CONFIG"] = path;
  EXPECT_EQ(RunCli({"ls"}), 2);
  EXPECT_EQ(err_.str(),
            absl::StrCat("fsb: error: ", path, ": context \"a\": unknown field \"tokn\"\n"));
  EXPECT_THAT(connected_endpoints_, IsEmpty());
}

TEST_F(CliTest, CommandsWithoutServerDoNotReadTheConfig) {
  testing::ScopedTempDir dir;
  env_["FSB_CONFIG"] = dir.Write("config.yaml", "not: [valid\n");
  EXPECT_EQ(RunCli({"version"}), 0);
  EXPECT_EQ(RunCli({"help"}), 0);
  EXPECT_EQ(err_.str(), "");
}

TEST_F(CliTest, WarningsGoToStderr) {
  EXPECT_CALL(stub_, ListSandboxes(_, _, _)).WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(RunCli({"ls", "--insecure-skip-tls-verify"}), 0);
  EXPECT_THAT(err_.str(),
              StartsWith("fsb: warning: the certificate of 127.0.0.1:9090 is not verified"));
}

TEST_F(CliTest, UnauthenticatedSaysWhereTheTokenCameFrom) {
  env_["FSB_TOKEN"] = "old";
  EXPECT_CALL(stub_, ListSandboxes(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown token")));
  EXPECT_EQ(RunCli({"ls"}), 1);
  EXPECT_EQ(err_.str(),
            "fsb: error: UNAUTHENTICATED: unknown token\n"
            "fsb: the token came from FSB_TOKEN; is it the current one?\n");
}

class CliUsageErrorTest : public CliTest,
                          public ::testing::WithParamInterface<std::vector<std::string>> {};

TEST_P(CliUsageErrorTest, ExitsTwoWithoutAnyRpc) {
  EXPECT_EQ(RunCli(GetParam()), 2);
  EXPECT_THAT(err_.str(), StartsWith("fsb: error: "));
  EXPECT_THAT(err_.str(), HasSubstr("\nRun 'fsb help' for usage.\n"));
  EXPECT_EQ(out_.str(), "");
  EXPECT_THAT(connected_endpoints_, IsEmpty());  // and the strict mock saw no call
}

INSTANTIATE_TEST_SUITE_P(
    Cli, CliUsageErrorTest,
    ::testing::Values(std::vector<std::string>{"frobnicate"},
                      std::vector<std::string>{"ls", "--frob"}, std::vector<std::string>{"run"},
                      std::vector<std::string>{"run", "--image", "b", "--env", "NOEQ"},
                      std::vector<std::string>{"run", "--image", "b", "--env", "9X=1"},
                      std::vector<std::string>{"run", "--image", "b", "--label", "a b=c"},
                      std::vector<std::string>{"run", "--image", "b", "--port", "99999"},
                      std::vector<std::string>{"run", "--image", "b", "--network", "host"},
                      std::vector<std::string>{"run", "--image", "b", "-p", "1:2/icmp"},
                      std::vector<std::string>{"run", "--image", "b", "-p", "1:2", "-p", "1:3"},
                      std::vector<std::string>{"get"}, std::vector<std::string>{"rm"},
                      std::vector<std::string>{"ls", "-o", "toml"},
                      std::vector<std::string>{"get", "web", "-o", "toml"},
                      std::vector<std::string>{"run", "--image", "b", "--cpu", "lots"},
                      std::vector<std::string>{"run", "--image", "b", "--memory", "1.5"},
                      std::vector<std::string>{"run", "--image", "b", "--pids", "0"},
                      std::vector<std::string>{"run", "--image", "b", "--expire-in", "0s"},
                      std::vector<std::string>{"run", "--image", "b", "--failure-policy", "x"},
                      std::vector<std::string>{"run", "--image", "b", "--recovery-timeout", "2d"},
                      std::vector<std::string>{"ls", "--selector="},
                      std::vector<std::string>{"update", "web"},
                      std::vector<std::string>{"update", "web", "--no-expire", "--expire-in", "1m"},
                      std::vector<std::string>{"update", "web", "--expire-at", "1"},
                      std::vector<std::string>{"reset"},
                      std::vector<std::string>{"rm", "web", "--grace", "5", "--now"},
                      std::vector<std::string>{"apply"},
                      std::vector<std::string>{"apply", "-f", "/nonexistent/fsb/x.yaml"},
                      std::vector<std::string>{"agents", "-o", "csv"}));

TEST_F(CliTest, UsageErrorMessageNamesTheProblem) {
  EXPECT_EQ(RunCli({"run", "--image", "busybox", "--env", "NOEQ"}), 2);
  EXPECT_EQ(err_.str(),
            "fsb: error: --env \"NOEQ\" is invalid: expected KEY=VALUE\n"
            "Run 'fsb help' for usage.\n");
}

TEST_F(CliTest, HelpGoesToStdoutAndExitsZero) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"help"}, {"--help"}, {"-h"}}) {
    out_.str("");
    EXPECT_EQ(RunCli(args), 0);
    EXPECT_EQ(out_.str(), UsageText());
  }
  EXPECT_EQ(err_.str(), "");
  EXPECT_THAT(connected_endpoints_, IsEmpty());
}

TEST_F(CliTest, NoArgumentsPrintsUsageToStderrAndExitsTwo) {
  EXPECT_EQ(RunCli({}), 2);
  EXPECT_EQ(err_.str(), UsageText());
  EXPECT_EQ(out_.str(), "");
  EXPECT_THAT(connected_endpoints_, IsEmpty());
}

TEST_F(CliTest, Version) {
  EXPECT_EQ(RunCli({"version"}), 0);
  EXPECT_EQ(out_.str(), "fsb version 0.1.0\n");
  EXPECT_THAT(connected_endpoints_, IsEmpty());
}

ListResponse ThreeSandboxes() {
  ListResponse list;
  *list.add_items() = Info("web", "Running", 5);
  *list.add_items() = Info("api", "Pending", 200);
  list.mutable_items(1)->clear_agent_pod();
  *list.add_items() = Info("batch", "Succeeded", 4 * 86400 + 3600);
  list.mutable_items(2)->add_endpoints("10.0.0.2:80");
  return list;
}

TEST_F(CliTest, ListPrintsAnAlignedTableSortedByName) {
  ListRequest sent;
  EXPECT_CALL(stub_, ListSandboxes(_, _, _))
      .WillOnce(
          DoAll(SaveArg<1>(&sent), SetArgPointee<2>(ThreeSandboxes()), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"ls", "-n", "team"}), 0);
  EXPECT_EQ(sent.namespace_(), "team");
  EXPECT_EQ(out_.str(),
            "NAME    PHASE       IMAGE     AGENT     AGE\n"
            "api     Pending     busybox   <none>    3m\n"
            "batch   Succeeded   busybox   agent-1   4d\n"
            "web     Running     busybox   agent-1   5s\n");
}

TEST_F(CliTest, ListFollowsEveryPage) {
  // The server's pages: web, then api and batch; each request continues the last.
  const ListResponse all = ThreeSandboxes();
  std::vector<ListRequest> sent;
  EXPECT_CALL(stub_, ListSandboxes(_, _, _))
      .Times(2)
      .WillRepeatedly(
          Invoke([&](grpc::ClientContext*, const ListRequest& request, ListResponse* response) {
            sent.push_back(request);
            if (request.continue_token().empty()) {
              *response->add_items() = all.items(0);
              response->set_continue_token("page-2");
            } else {
              *response->add_items() = all.items(1);
              *response->add_items() = all.items(2);
            }
            return grpc::Status::OK;
          }));
  EXPECT_EQ(RunCli({"ls", "-o", "json"}), 0) << err_.str();
  ASSERT_THAT(sent, SizeIs(2));
  EXPECT_EQ(sent[0].page_size(), kMaxListPageSize);
  EXPECT_EQ(sent[1].continue_token(), "page-2");
  EXPECT_EQ(sent[1].page_size(), kMaxListPageSize);
  ListResponse printed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out_.str(), &printed).ok()) << out_.str();
  ASSERT_EQ(printed.items_size(), 3);
  EXPECT_EQ(printed.continue_token(), "");
}

TEST_F(CliTest, ListStopsAtAServerThatRepeatsItsToken) {
  EXPECT_CALL(stub_, ListSandboxes(_, _, _))
      .Times(2)
      .WillRepeatedly(Invoke([&](grpc::ClientContext*, const ListRequest&, ListResponse* response) {
        response->set_continue_token("same");
        return grpc::Status::OK;
      }));
  EXPECT_EQ(RunCli({"ls"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("the same continue token twice"));
}

TEST_F(CliTest, ListWideAddsIdIpNetworkAndEndpoints) {
  ListResponse list = ThreeSandboxes();
  list.mutable_items(2)->set_ip("10.88.0.2");
  list.mutable_items(2)->set_network("no-egress");
  EXPECT_CALL(stub_, ListSandboxes(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(list), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"list", "-o", "wide"}), 0);
  EXPECT_THAT(out_.str(),
              StartsWith("NAME    PHASE       IMAGE     AGENT     AGE   ID         IP    "
                         "      NETWORK     ENDPOINTS\n"));
  EXPECT_THAT(out_.str(), HasSubstr("batch   Succeeded   busybox   agent-1   4d    sb-batch   "
                                    "10.88.0.2   no-egress   10.0.0.2:80\n"));
}

TEST_F(CliTest, GetWideShowsTheSandboxIp) {
  SandboxInfo info = Info("web", "Running", 60);
  info.set_ip("10.88.0.7");
  info.set_network("egress");
  info.add_endpoints("10.88.0.7:80");
  info.add_endpoints("192.0.2.1:8080");
  EXPECT_CALL(stub_, GetSandbox(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(info), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"get", "web", "-o", "wide"}), 0);
  EXPECT_EQ(out_.str(),
            "NAME   PHASE     IMAGE     AGENT     AGE   ID       IP          NETWORK   ENDPOINTS\n"
            "web    Running   busybox   agent-1   1m    sb-web   10.88.0.7   egress    "
            "10.88.0.7:80,192.0.2.1:8080\n");
}

TEST_F(CliTest, RunSendsTheNetworkAndPublishedPorts) {
  CreateRequest sent;
  EXPECT_CALL(stub_, CreateSandbox(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"run", "--image", "busybox", "--port", "80", "--network", "no-egress", "-p",
                    "8080:80", "--publish", "5353:53/udp"}),
            0);
  EXPECT_EQ(sent.network(), "no-egress");
  EXPECT_THAT(sent.publish(), ElementsAre("8080:80/tcp", "5353:53/udp"));
  EXPECT_THAT(sent.exposed_ports(), ElementsAre(80));
}

TEST_F(CliTest, RunWithoutNetworkFlagsLeavesThemToTheServer) {
  CreateRequest sent;
  EXPECT_CALL(stub_, CreateSandbox(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"run", "--image", "busybox"}), 0);
  EXPECT_EQ(sent.network(), "");
  EXPECT_THAT(sent.publish(), IsEmpty());
}

TEST_F(CliTest, ABadNetworkOrPublishIsAUsageError) {
  EXPECT_EQ(RunCli({"run", "--image", "busybox", "--network", "none"}), 2);
  EXPECT_EQ(err_.str(),
            "fsb: error: --network \"none\" is not a network mode: use egress or no-egress\n"
            "Run 'fsb help' for usage.\n");
  err_.str("");
  EXPECT_EQ(RunCli({"run", "--image", "busybox", "-p", "80"}), 2);
  EXPECT_EQ(err_.str(),
            "fsb: error: -p \"80\" is invalid: use HOST_PORT:CONTAINER_PORT[/tcp|udp]\n"
            "Run 'fsb help' for usage.\n");
  EXPECT_THAT(connected_endpoints_, IsEmpty());
}

TEST_F(CliTest, ListJsonOfNothingHasEmptyItems) {
  EXPECT_CALL(stub_, ListSandboxes(_, _, _)).WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(RunCli({"ls", "-o", "json"}), 0);
  // Every page gathered: no continue token left.
  EXPECT_EQ(out_.str(), "{\n \"items\": [],\n \"continue_token\": \"\"\n}\n");
}

TEST_F(CliTest, ListEmptySaysSoOnStderr) {
  EXPECT_CALL(stub_, ListSandboxes(_, _, _)).WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(RunCli({"ls"}), 0);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(), "No sandboxes found in namespace \"default\".\n");
}

TEST_F(CliTest, ListJsonParsesBack) {
  EXPECT_CALL(stub_, ListSandboxes(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(ThreeSandboxes()), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"ls", "-o", "json"}), 0);
  ListResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out_.str(), &parsed).ok()) << out_.str();
  ASSERT_EQ(parsed.items_size(), 3);
  EXPECT_EQ(parsed.items(0).sandbox_name(), "api");
  EXPECT_EQ(parsed.items(2).sandbox_id(), "sb-web");
}

TEST_F(CliTest, ListYamlIsASandboxList) {
  EXPECT_CALL(stub_, ListSandboxes(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(ThreeSandboxes()), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"ls", "-o", "yaml"}), 0);
  EXPECT_THAT(out_.str(), StartsWith("apiVersion: fsb.io/v1alpha1\nkind: SandboxList\nitems:\n"));
  EXPECT_THAT(out_.str(), HasSubstr("      name: api\n"));
}

TEST_F(CliTest, GetPrintsOneRow) {
  GetRequest sent;
  EXPECT_CALL(stub_, GetSandbox(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), SetArgPointee<2>(Info("web", "Running", 7200)),
                      Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"get", "web", "--namespace=team"}), 0);
  EXPECT_EQ(sent.sandbox_name(), "web");
  EXPECT_EQ(sent.namespace_(), "team");
  EXPECT_EQ(out_.str(),
            "NAME   PHASE     IMAGE     AGENT     AGE\n"
            "web    Running   busybox   agent-1   2h\n");
}

TEST_F(CliTest, GetNotFoundExitsOne) {
  EXPECT_CALL(stub_, GetSandbox(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "sandbox \"web\" not found")));
  EXPECT_EQ(RunCli({"get", "web"}), 1);
  EXPECT_EQ(err_.str(), "fsb: error: NOT_FOUND: sandbox \"web\" not found\n");
}

TEST_F(CliTest, DeleteEachNameAndReportFailuresAtTheEnd) {
  DeleteResponse ok;
  ok.set_success(true);
  std::vector<std::string> deleted;
  EXPECT_CALL(stub_, DeleteSandbox(_, _, _))
      .Times(3)
      .WillRepeatedly(
          Invoke([&](grpc::ClientContext*, const DeleteRequest& request, DeleteResponse* response) {
            deleted.push_back(request.namespace_() + "/" + request.sandbox_name());
            if (request.sandbox_name() == "b") {
              return grpc::Status(grpc::StatusCode::NOT_FOUND, "sandbox \"b\" not found");
            }
            response->set_success(true);
            return grpc::Status::OK;
          }));
  EXPECT_EQ(RunCli({"rm", "a", "b", "c", "-n", "team"}), 1);
  EXPECT_THAT(deleted, ElementsAre("team/a", "team/b", "team/c"));
  EXPECT_EQ(out_.str(), "sandbox/a deleted\nsandbox/c deleted\n");
  EXPECT_EQ(err_.str(), "fsb: error: NOT_FOUND: sandbox \"b\" not found\n");
  EXPECT_THAT(connected_endpoints_, ElementsAre("127.0.0.1:9090"));  // one connection
}

TEST_F(CliTest, DeleteAlias) {
  EXPECT_CALL(stub_, DeleteSandbox(_, _, _))
      .WillOnce(Invoke([](grpc::ClientContext*, const DeleteRequest&, DeleteResponse* response) {
        response->set_success(true);
        return grpc::Status::OK;
      }));
  EXPECT_EQ(RunCli({"delete", "web"}), 0);
  EXPECT_EQ(out_.str(), "sandbox/web deleted\n");
}

TEST_F(CliTest, RunSendsResourcesPoliciesAndExpiry) {
  CreateRequest sent;
  EXPECT_CALL(stub_, CreateSandbox(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"run", "--image", "busybox", "--name", "job", "--request-id", "req-1",
                    "--expire-in", "10m", "--failure-policy", "AutoRecreate", "--recovery-timeout",
                    "90s", "--cpu", "0.5", "--memory", "1Gi", "--pids", "64"}),
            0);
  EXPECT_EQ(sent.request_id(), "req-1");
  EXPECT_EQ(sent.expire_time_seconds(), absl::ToUnixSeconds(kNow) + 600);
  EXPECT_EQ(sent.failure_policy(), fastpath::v1::AUTO_RECREATE);
  EXPECT_EQ(sent.recovery_timeout_seconds(), 90);
  ASSERT_TRUE(sent.has_resources());
  EXPECT_EQ(sent.resources().cpu_millicores(), 500);
  EXPECT_EQ(sent.resources().memory_bytes(), int64_t{1} << 30);
  EXPECT_EQ(sent.resources().pids(), 64);
}

TEST_F(CliTest, RunWithoutResourcesSendsNone) {
  CreateRequest sent;
  EXPECT_CALL(stub_, CreateSandbox(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"run", "--image", "busybox", "--memory", "64Mi"}), 0);
  EXPECT_EQ(sent.resources().memory_bytes(), 64 << 20);
  EXPECT_EQ(sent.resources().cpu_millicores(), 0);

  owned_stub_ = std::make_unique<StrictMock<MockFastPathStub>>();
  StrictMock<MockFastPathStub>& second = *owned_stub_;
  EXPECT_CALL(second, CreateSandbox(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"run", "--image", "busybox"}), 0);
  EXPECT_FALSE(sent.has_resources());
  EXPECT_EQ(sent.expire_time_seconds(), 0);
  EXPECT_EQ(sent.failure_policy(), fastpath::v1::MANUAL);
  EXPECT_EQ(sent.request_id(), "");
}

TEST_F(CliTest, ListSendsTheSelector) {
  ListRequest sent;
  EXPECT_CALL(stub_, ListSandboxes(_, _, _))
      .WillOnce(
          DoAll(SaveArg<1>(&sent), SetArgPointee<2>(ThreeSandboxes()), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"ls", "-l", "app=web,tier!=batch"}), 0);
  EXPECT_EQ(sent.label_selector(), "app=web,tier!=batch");
  EXPECT_EQ(sent.namespace_(), "default");
  EXPECT_THAT(out_.str(), StartsWith("NAME    PHASE"));
}

TEST_F(CliTest, ListAllNamespacesSendsNoNamespaceAndAddsAColumn) {
  ListRequest sent;
  ListResponse list;
  *list.add_items() = Info("web", "Running", 5);
  list.mutable_items(0)->set_namespace_("team-b");
  *list.add_items() = Info("web", "Running", 60);
  list.mutable_items(1)->set_namespace_("team-a");
  *list.add_items() = Info("api", "Pending", 120);
  list.mutable_items(2)->set_namespace_("team-b");
  EXPECT_CALL(stub_, ListSandboxes(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), SetArgPointee<2>(list), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"ls", "-A", "-n", "ignored"}), 0);
  EXPECT_EQ(sent.namespace_(), "");
  EXPECT_EQ(out_.str(),
            "NAMESPACE   NAME   PHASE     IMAGE     AGENT     AGE\n"
            "team-a      web    Running   busybox   agent-1   1m\n"
            "team-b      api    Pending   busybox   agent-1   2m\n"
            "team-b      web    Running   busybox   agent-1   5s\n");
}

TEST_F(CliTest, ListEmptyMentionsScopeAndSelector) {
  EXPECT_CALL(stub_, ListSandboxes(_, _, _)).WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(RunCli({"ls", "-A", "--selector", "app=x"}), 0);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(), "No sandboxes found in any namespace matching \"app=x\".\n");
}

Sandbox ResourceOf(const std::string& name) {
  Sandbox sandbox;
  sandbox.set_api_version("fsb.io/v1alpha1");
  sandbox.set_kind("Sandbox");
  sandbox.mutable_metadata()->set_name(name);
  sandbox.mutable_metadata()->set_namespace_("team");
  sandbox.mutable_metadata()->set_uid("u-1");
  sandbox.mutable_metadata()->set_resource_version(7);
  sandbox.mutable_metadata()->mutable_creation_timestamp()->set_seconds(absl::ToUnixSeconds(kNow));
  sandbox.mutable_spec()->set_image("docker.io/library/busybox:latest");
  sandbox.mutable_spec()->set_failure_policy(fsb::v1alpha1::SandboxSpec::AutoRecreate);
  sandbox.mutable_status()->set_phase(fsb::v1alpha1::SandboxStatus::Running);
  sandbox.mutable_status()->set_restart_count(1);
  return sandbox;
}

TEST_F(CliTest, GetYamlIsTheSandboxResource) {
  GetRequest sent;
  EXPECT_CALL(stub_, GetSandboxResource(_, _, _))
      .WillOnce(
          DoAll(SaveArg<1>(&sent), SetArgPointee<2>(ResourceOf("web")), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"get", "web", "-n", "team", "-o", "yaml"}), 0);
  EXPECT_EQ(sent.sandbox_name(), "web");
  EXPECT_EQ(sent.namespace_(), "team");
  EXPECT_EQ(out_.str(),
            "apiVersion: fsb.io/v1alpha1\n"
            "kind: Sandbox\n"
            "metadata:\n"
            "  creationTimestamp: \"2027-01-15T08:00:00Z\"\n"
            "  name: web\n"
            "  namespace: team\n"
            "  resourceVersion: \"7\"\n"
            "  uid: u-1\n"
            "spec:\n"
            "  failurePolicy: AutoRecreate\n"
            "  image: docker.io/library/busybox:latest\n"
            "status:\n"
            "  phase: Running\n"
            "  restartCount: 1\n");
}

TEST_F(CliTest, GetJsonIsTheSandboxResourceInLowerCamel) {
  EXPECT_CALL(stub_, GetSandboxResource(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(ResourceOf("web")), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"get", "web", "-o", "json"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("\"creationTimestamp\": \"2027-01-15T08:00:00Z\""));
  EXPECT_THAT(out_.str(), HasSubstr("\"failurePolicy\": \"AutoRecreate\""));
  Sandbox parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out_.str(), &parsed).ok());
  EXPECT_EQ(parsed.SerializeAsString(), ResourceOf("web").SerializeAsString());
}

TEST_F(CliTest, GetResourceNotFoundExitsOne) {
  EXPECT_CALL(stub_, GetSandboxResource(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "sandbox default/web not found")));
  EXPECT_EQ(RunCli({"get", "web", "-o", "yaml"}), 1);
  EXPECT_EQ(err_.str(), "fsb: error: NOT_FOUND: sandbox default/web not found\n");
  EXPECT_EQ(out_.str(), "");
}

UpdateResponse Updated(const std::string& phase) {
  UpdateResponse response;
  response.set_success(true);
  response.mutable_sandbox()->set_phase(phase);
  response.mutable_sandbox()->set_agent_pod("agent-3");
  return response;
}

TEST_F(CliTest, UpdateSendsOneRequestPerFieldWithLabelsOnTheFirst) {
  std::vector<UpdateRequest> sent;
  EXPECT_CALL(stub_, UpdateSandbox(_, _, _))
      .Times(3)
      .WillRepeatedly(
          Invoke([&](grpc::ClientContext*, const UpdateRequest& request, UpdateResponse* response) {
            sent.push_back(request);
            *response = Updated(sent.size() == 3 ? "Running" : "Pending");
            return grpc::Status::OK;
          }));
  EXPECT_EQ(
      RunCli({"update", "web", "-n", "team", "--recovery-timeout", "5m", "-l", "a=1",
              "--failure-policy", "auto-recreate", "--expire-in", "1h", "--remove-label", "old"}),
      0);
  ASSERT_EQ(sent.size(), 3u);
  for (const UpdateRequest& request : sent) {
    EXPECT_EQ(request.sandbox_name(), "web");
    EXPECT_EQ(request.namespace_(), "team");
  }
  EXPECT_EQ(sent[0].update_case(), UpdateRequest::kExpireTimeSeconds);
  EXPECT_EQ(sent[0].expire_time_seconds(), absl::ToUnixSeconds(kNow) + 3600);
  EXPECT_THAT(sent[0].labels(), UnorderedElementsAre(Pair("a", "1")));
  EXPECT_THAT(sent[0].remove_labels(), ElementsAre("old"));
  EXPECT_EQ(sent[1].update_case(), UpdateRequest::kFailurePolicy);
  EXPECT_EQ(sent[1].failure_policy(), fastpath::v1::AUTO_RECREATE);
  EXPECT_THAT(sent[1].labels(), IsEmpty());
  EXPECT_THAT(sent[1].remove_labels(), IsEmpty());
  EXPECT_EQ(sent[2].update_case(), UpdateRequest::kRecoveryTimeoutSeconds);
  EXPECT_EQ(sent[2].recovery_timeout_seconds(), 300);
  EXPECT_THAT(sent[2].labels(), IsEmpty());
  EXPECT_EQ(out_.str(),
            "sandbox/web updated\n"
            "  phase:     Running\n"
            "  agent:     agent-3\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(CliTest, UpdateLabelsOnlyIsOneRequestWithoutOneof) {
  UpdateRequest sent;
  EXPECT_CALL(stub_, UpdateSandbox(_, _, _))
      .WillOnce(
          DoAll(SaveArg<1>(&sent), SetArgPointee<2>(Updated("Running")), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"update", "web", "--remove-label", "x"}), 0);
  EXPECT_EQ(sent.update_case(), UpdateRequest::UPDATE_NOT_SET);
  EXPECT_THAT(sent.remove_labels(), ElementsAre("x"));
  EXPECT_THAT(out_.str(), StartsWith("sandbox/web updated\n"));
}

TEST_F(CliTest, UpdateNoExpireSendsZero) {
  UpdateRequest sent;
  EXPECT_CALL(stub_, UpdateSandbox(_, _, _))
      .WillOnce(
          DoAll(SaveArg<1>(&sent), SetArgPointee<2>(Updated("Running")), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"update", "web", "--no-expire"}), 0);
  EXPECT_EQ(sent.update_case(), UpdateRequest::kExpireTimeSeconds);
  EXPECT_EQ(sent.expire_time_seconds(), 0);
}

TEST_F(CliTest, UpdateStopsAtTheFirstError) {
  int calls = 0;
  EXPECT_CALL(stub_, UpdateSandbox(_, _, _))
      .Times(2)
      .WillRepeatedly(Invoke([&](grpc::ClientContext*, const UpdateRequest&,
                                 UpdateResponse* response) {
        if (++calls == 2) {
          return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "sandbox is being deleted");
        }
        *response = Updated("Running");
        return grpc::Status::OK;
      }));
  EXPECT_EQ(RunCli({"update", "web", "--no-expire", "--failure-policy", "manual",
                    "--recovery-timeout", "10"}),
            1);
  EXPECT_EQ(err_.str(), "fsb: error: FAILED_PRECONDITION: sandbox is being deleted\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CliTest, UpdateNotSuccessfulExitsOne) {
  UpdateResponse refused;
  refused.set_success(false);
  refused.set_message("nothing changed");
  EXPECT_CALL(stub_, UpdateSandbox(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(refused), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"update", "web", "-l", "a=b"}), 1);
  EXPECT_EQ(err_.str(), "fsb: error: sandbox/web was not updated: nothing changed\n");
}

TEST_F(CliTest, ResetSendsNowAsAnRfc3339NanosecondRevision) {
  UpdateRequest sent;
  EXPECT_CALL(stub_, UpdateSandbox(_, _, _))
      .WillOnce(
          DoAll(SaveArg<1>(&sent), SetArgPointee<2>(Updated("Running")), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"reset", "web", "-n", "team"}), 0);
  EXPECT_EQ(sent.sandbox_name(), "web");
  EXPECT_EQ(sent.namespace_(), "team");
  EXPECT_EQ(sent.update_case(), UpdateRequest::kResetRevision);
  EXPECT_EQ(sent.reset_revision(), "2027-01-15T08:00:00.000000000Z");
  EXPECT_THAT(sent.labels(), IsEmpty());
  EXPECT_EQ(out_.str(), "sandbox/web reset requested\n");
}

TEST_F(CliTest, ResetFailureExitsOne) {
  EXPECT_CALL(stub_, UpdateSandbox(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "sandbox default/web not found")));
  EXPECT_EQ(RunCli({"reset", "web"}), 1);
  EXPECT_EQ(err_.str(), "fsb: error: NOT_FOUND: sandbox default/web not found\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CliTest, DeleteWithGraceSetsItAndExtendsTheDeadline) {
  std::vector<DeleteRequest> sent;
  std::vector<std::chrono::system_clock::time_point> deadlines;
  EXPECT_CALL(stub_, DeleteSandbox(_, _, _))
      .Times(2)
      .WillRepeatedly(Invoke([&](grpc::ClientContext* context, const DeleteRequest& request,
                                 DeleteResponse* response) {
        sent.push_back(request);
        deadlines.push_back(context->deadline());
        response->set_success(true);
        return grpc::Status::OK;
      }));
  const auto before = std::chrono::system_clock::now();
  EXPECT_EQ(RunCli({"rm", "a", "b", "--grace", "2m", "--timeout", "5s"}), 0);
  ASSERT_EQ(sent.size(), 2u);
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_TRUE(sent[i].has_grace_period_seconds());
    EXPECT_EQ(sent[i].grace_period_seconds(), 120);
    // --timeout plus the grace the server may wait.
    EXPECT_GT(deadlines[i], before + std::chrono::seconds(124));
    EXPECT_LE(deadlines[i], std::chrono::system_clock::now() + std::chrono::seconds(125));
  }
}

TEST_F(CliTest, DeleteNowAndDefaultGrace) {
  std::vector<DeleteRequest> sent;
  EXPECT_CALL(stub_, DeleteSandbox(_, _, _))
      .WillOnce(
          Invoke([&](grpc::ClientContext*, const DeleteRequest& request, DeleteResponse* response) {
            sent.push_back(request);
            response->set_success(true);
            return grpc::Status::OK;
          }));
  EXPECT_EQ(RunCli({"rm", "--now", "a"}), 0);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(sent[0].has_grace_period_seconds());
  EXPECT_EQ(sent[0].grace_period_seconds(), 0);

  owned_stub_ = std::make_unique<StrictMock<MockFastPathStub>>();
  StrictMock<MockFastPathStub>& second = *owned_stub_;
  EXPECT_CALL(second, DeleteSandbox(_, _, _))
      .WillOnce(
          Invoke([&](grpc::ClientContext*, const DeleteRequest& request, DeleteResponse* response) {
            sent.push_back(request);
            response->set_success(true);
            return grpc::Status::OK;
          }));
  EXPECT_EQ(RunCli({"rm", "a"}), 0);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_FALSE(sent[1].has_grace_period_seconds());  // the agent's default
}

// Writes `content` to a fresh file under the test's temporary folder.
std::string WriteTempFile(const std::string& name, const std::string& content) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  return path;
}

constexpr char kTwoSandboxes[] = R"(apiVersion: fsb.io/v1alpha1
kind: Sandbox
metadata:
  name: web
spec:
  image: busybox
  failurePolicy: AutoRecreate
---
apiVersion: fsb.io/v1alpha1
kind: Sandbox
metadata: {name: db, namespace: data}
spec: {image: postgres}
)";

TEST_F(CliTest, ApplySendsEverySandboxAndReportsCreatedOrConfigured) {
  const std::string path = WriteTempFile("two.yaml", kTwoSandboxes);
  std::vector<Sandbox> sent;
  EXPECT_CALL(stub_, ApplySandbox(_, _, _))
      .Times(2)
      .WillRepeatedly(
          Invoke([&](grpc::ClientContext*, const ApplyRequest& request, ApplyResponse* response) {
            sent.push_back(request.sandbox());
            response->set_created(sent.size() == 1);
            *response->mutable_sandbox() = request.sandbox();
            return grpc::Status::OK;
          }));
  EXPECT_EQ(RunCli({"apply", "-f", path, "-n", "team"}), 0);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].metadata().name(), "web");
  EXPECT_EQ(sent[0].metadata().namespace_(), "team");  // from -n when the file has none
  EXPECT_EQ(sent[0].spec().image(), "busybox");
  EXPECT_EQ(sent[0].spec().failure_policy(), fsb::v1alpha1::SandboxSpec::AutoRecreate);
  EXPECT_EQ(sent[1].metadata().name(), "db");
  EXPECT_EQ(sent[1].metadata().namespace_(), "data");  // the file's own wins
  EXPECT_EQ(out_.str(), "sandbox/web created\nsandbox/db configured\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(CliTest, ApplyReadsStandardInput) {
  in_.str(R"({"apiVersion": "fsb.io/v1alpha1", "kind": "Sandbox",
              "metadata": {"name": "web"}, "spec": {"image": "busybox"}})");
  ApplyRequest sent;
  ApplyResponse created;
  created.set_created(true);
  EXPECT_CALL(stub_, ApplySandbox(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), SetArgPointee<2>(created), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"apply", "-f", "-"}), 0);
  EXPECT_EQ(sent.sandbox().metadata().name(), "web");
  EXPECT_EQ(sent.sandbox().metadata().namespace_(), "default");
  EXPECT_EQ(out_.str(), "sandbox/web created\n");
}

TEST_F(CliTest, ApplyContinuesPastAServerErrorAndExitsOne) {
  const std::string path = WriteTempFile("continue.yaml", kTwoSandboxes);
  EXPECT_CALL(stub_, ApplySandbox(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                    "sandbox team/web: spec fields image cannot change")))
      .WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(RunCli({"apply", "-f", path}), 1);
  EXPECT_EQ(err_.str(),
            "fsb: error: INVALID_ARGUMENT: sandbox team/web: spec fields image "
            "cannot change\n");
  EXPECT_EQ(out_.str(), "sandbox/db configured\n");
}

struct ApplyUsageCase {
  std::string content;
  std::string message;  // the expected stderr line after "fsb: error: <file>: "
};

class CliApplyUsageErrorTest : public CliTest,
                               public ::testing::WithParamInterface<ApplyUsageCase> {};

TEST_P(CliApplyUsageErrorTest, ExitsTwoNamingFileAndDocumentWithoutAnyRpc) {
  // A valid document before the bad one is not applied either.
  const std::string path =
      WriteTempFile("bad.yaml", std::string(kTwoSandboxes) + "---\n" + GetParam().content);
  EXPECT_EQ(RunCli({"apply", "-f", path}), 2);
  EXPECT_EQ(err_.str(),
            "fsb: error: " + path + ": " + GetParam().message + "\nRun 'fsb help' for usage.\n");
  EXPECT_EQ(out_.str(), "");
  EXPECT_THAT(connected_endpoints_, IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(
    Cli, CliApplyUsageErrorTest,
    ::testing::Values(
        ApplyUsageCase{"apiVersion: fsb.io/v1alpha1\nkind: Sandbox\nmetadata: {name: x}\n"
                       "spec: {image: b, cpu: 1}\n",
                       "document 3 (line 14): (spec) cpu: Cannot find field."},
        ApplyUsageCase{"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
                       "document 3 (line 14): kind must be Sandbox or SandboxPool, got \"Pod\""},
        ApplyUsageCase{"apiVersion: fsb.io/v1alpha1\nkind: Sandbox\nmetadata: {name: [x\n",
                       "document 3: line 17, column 1: did not find expected ',' or ']' "
                       "(while parsing a flow sequence at line 16)"}));

TEST_F(CliTest, ApplyMissingFileIsAUsageError) {
  EXPECT_EQ(RunCli({"apply", "-f", "/nonexistent/fsb/x.yaml"}), 2);
  EXPECT_EQ(err_.str(),
            "fsb: error: cannot open /nonexistent/fsb/x.yaml: No such file or directory\n"
            "Run 'fsb help' for usage.\n");
  EXPECT_THAT(connected_endpoints_, IsEmpty());
}

TEST_F(CliTest, ApplyEmptyInputIsAUsageError) {
  EXPECT_EQ(RunCli({"apply", "-f", "-"}), 2);
  EXPECT_EQ(err_.str(), "fsb: error: <stdin>: no document found\nRun 'fsb help' for usage.\n");
  EXPECT_THAT(connected_endpoints_, IsEmpty());
}

ListAgentsResponse TwoAgents() {
  ListAgentsResponse list;
  for (const char* name : {"b-agent", "a-agent"}) {
    Agent& agent = *list.add_items();
    agent.set_api_version("fsb.io/v1alpha1");
    agent.set_kind("Agent");
    agent.mutable_metadata()->set_name(name);
    agent.mutable_spec()->set_address("10.0.0.9:5758");
    agent.mutable_spec()->set_node("node-1");
    agent.mutable_spec()->set_pool("default");
    agent.mutable_spec()->set_capacity(5);
    agent.mutable_status()->set_capacity(5);
    agent.mutable_status()->set_allocated(1);
    agent.mutable_status()->add_images("busybox");
    agent.mutable_status()->mutable_last_heartbeat()->set_seconds(absl::ToUnixSeconds(kNow) - 2);
    auto* ready = agent.mutable_status()->add_conditions();
    ready->set_type("Ready");
    ready->set_status(std::string(name) == "a-agent" ? "True" : "False");
  }
  return list;
}

TEST_F(CliTest, AgentsTableSortedByName) {
  EXPECT_CALL(stub_, ListAgents(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(TwoAgents()), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"agents"}), 0);
  EXPECT_EQ(out_.str(),
            "NAME      POOL      NODE     CAPACITY   USED   READY   LAST-HEARTBEAT\n"
            "a-agent   default   node-1   5          1      True    2s\n"
            "b-agent   default   node-1   5          1      False   2s\n");
}

TEST_F(CliTest, AgentsFollowsEveryPage) {
  const ListAgentsResponse two = TwoAgents();
  std::vector<ListAgentsRequest> sent;
  EXPECT_CALL(stub_, ListAgents(_, _, _))
      .Times(2)
      .WillRepeatedly(Invoke([&](grpc::ClientContext*, const ListAgentsRequest& request,
                                 ListAgentsResponse* response) {
        sent.push_back(request);
        *response->add_items() = two.items(request.continue_token().empty() ? 0 : 1);
        if (request.continue_token().empty()) response->set_continue_token("next");
        return grpc::Status::OK;
      }));
  EXPECT_EQ(RunCli({"agents"}), 0) << err_.str();
  ASSERT_THAT(sent, SizeIs(2));
  EXPECT_EQ(sent[0].page_size(), kMaxListPageSize);
  EXPECT_EQ(sent[1].continue_token(), "next");
  EXPECT_THAT(out_.str(), HasSubstr("a-agent"));
  EXPECT_THAT(out_.str(), HasSubstr("b-agent"));
}

TEST_F(CliTest, AgentsWideAddsAddressAndImages) {
  EXPECT_CALL(stub_, ListAgents(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(TwoAgents()), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"agents", "-o", "wide"}), 0);
  EXPECT_THAT(out_.str(), StartsWith("NAME      POOL      NODE     CAPACITY   USED   READY   "
                                     "LAST-HEARTBEAT   ADDRESS         RUNTIME   WARM     IMAGES\n"
                                     "a-agent   default   node-1   5          1      True    "
                                     "2s               10.0.0.9:5758   <none>    <none>   "
                                     "busybox\n"));
}

TEST_F(CliTest, AgentsJsonAndYamlAreTheAgentResources) {
  EXPECT_CALL(stub_, ListAgents(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(TwoAgents()), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"agents", "-o", "json"}), 0);
  ListAgentsResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out_.str(), &parsed).ok()) << out_.str();
  ASSERT_EQ(parsed.items_size(), 2);
  EXPECT_EQ(parsed.items(0).metadata().name(), "a-agent");
  EXPECT_THAT(out_.str(), HasSubstr("\"lastHeartbeat\": \"2027-01-15T07:59:58Z\""));

  owned_stub_ = std::make_unique<StrictMock<MockFastPathStub>>();
  StrictMock<MockFastPathStub>& second = *owned_stub_;
  EXPECT_CALL(second, ListAgents(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(TwoAgents()), Return(grpc::Status::OK)));
  out_.str("");
  EXPECT_EQ(RunCli({"agents", "-o", "yaml"}), 0);
  EXPECT_THAT(out_.str(), StartsWith("items:\n"
                                     "  - apiVersion: fsb.io/v1alpha1\n"
                                     "    kind: Agent\n"
                                     "    metadata:\n"
                                     "      name: a-agent\n"));
  EXPECT_THAT(out_.str(), HasSubstr("      lastHeartbeat: \"2027-01-15T07:59:58Z\"\n"));
}

TEST_F(CliTest, AgentsNoneSaysSoOnStderr) {
  EXPECT_CALL(stub_, ListAgents(_, _, _)).WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(RunCli({"agents"}), 0);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(), "No agents registered.\n");
}

TEST_F(CliTest, ConnectionFailureIsAServerError) {
  owned_stub_.reset();  // the factory returns no stub
  EXPECT_EQ(RunCli({"agents"}), 1);
  EXPECT_THAT(err_.str(),
              StartsWith("fsb: error: UNAVAILABLE: cannot connect to 127.0.0.1:9090\n"));
}

constexpr char kPoolAndSandbox[] = R"(apiVersion: fsb.io/v1alpha1
kind: SandboxPool
metadata: {name: gpu}
spec:
  maxSandboxesPerAgent: 2
  warmImages: [{image: busybox, count: 1}]
---
apiVersion: fsb.io/v1alpha1
kind: Sandbox
metadata: {name: web}
spec: {image: busybox, poolRef: gpu}
)";

TEST_F(CliTest, ApplySendsPoolsAndSandboxesInFileOrder) {
  const std::string path = WriteTempFile("pool.yaml", kPoolAndSandbox);
  ::testing::InSequence order;
  fastpath::v1::ApplySandboxPoolRequest pool_sent;
  fastpath::v1::ApplySandboxPoolResponse pool_created;
  pool_created.set_created(true);
  EXPECT_CALL(stub_, ApplySandboxPool(_, _, _))
      .WillOnce(
          DoAll(SaveArg<1>(&pool_sent), SetArgPointee<2>(pool_created), Return(grpc::Status::OK)));
  ApplyRequest sandbox_sent;
  EXPECT_CALL(stub_, ApplySandbox(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sandbox_sent), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"apply", "-f", path}), 0);
  EXPECT_EQ(pool_sent.pool().metadata().name(), "gpu");
  EXPECT_EQ(pool_sent.pool().metadata().namespace_(), "");  // pools are cluster-scoped
  EXPECT_EQ(pool_sent.pool().spec().max_sandboxes_per_agent(), 2);
  EXPECT_EQ(sandbox_sent.sandbox().spec().pool_ref(), "gpu");
  EXPECT_EQ(out_.str(), "pool/gpu created\nsandbox/web configured\n");
}

TEST_F(CliTest, ApplyPoolServerErrorExitsOne) {
  const std::string path = WriteTempFile("badpool.yaml", kPoolAndSandbox);
  EXPECT_CALL(stub_, ApplySandboxPool(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                    "spec.warmImages[0].count: -1 is out of range 0-1000")));
  EXPECT_CALL(stub_, ApplySandbox(_, _, _)).WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(RunCli({"apply", "-f", path}), 1);
  EXPECT_EQ(err_.str(),
            "fsb: error: INVALID_ARGUMENT: spec.warmImages[0].count: -1 is out of range 0-1000\n");
}

fastpath::v1::ListSandboxPoolsResponse TwoPools() {
  fastpath::v1::ListSandboxPoolsResponse list;
  for (const char* name : {"cpu", "gpu"}) {
    fsb::v1alpha1::SandboxPool& pool = *list.add_items();
    pool.set_api_version("fsb.io/v1alpha1");
    pool.set_kind("SandboxPool");
    pool.mutable_metadata()->set_name(name);
    pool.mutable_metadata()->mutable_creation_timestamp()->set_seconds(absl::ToUnixSeconds(kNow) -
                                                                       120);
    pool.mutable_status()->set_agents(3);
    pool.mutable_status()->set_sandboxes(4);
  }
  fsb::v1alpha1::SandboxPool& gpu = *list.mutable_items(1);
  gpu.mutable_spec()->set_max_sandboxes_per_agent(2);
  auto* warm = gpu.mutable_spec()->add_warm_images();
  warm->set_image("docker.io/library/busybox:latest");
  warm->set_count(1);
  auto* status = gpu.mutable_status()->add_warm();
  status->set_image("docker.io/library/busybox:latest");
  status->set_ready(2);
  status->set_preparing(1);
  status->set_desired(3);
  return list;
}

TEST_F(CliTest, PoolsTableAndYaml) {
  EXPECT_CALL(stub_, ListSandboxPools(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(TwoPools()), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"pools"}), 0);
  EXPECT_EQ(
      out_.str(),
      "NAME   MAX-PER-AGENT   AGENTS   SANDBOXES   WARM                                   AGE\n"
      "cpu    <none>          3        4           <none>                                 2m\n"
      "gpu    2               3        4           docker.io/library/busybox:latest 2/3   "
      "2m\n");

  owned_stub_ = std::make_unique<StrictMock<MockFastPathStub>>();
  StrictMock<MockFastPathStub>& second = *owned_stub_;
  EXPECT_CALL(second, ListSandboxPools(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(TwoPools()), Return(grpc::Status::OK)));
  out_.str("");
  EXPECT_EQ(RunCli({"pools", "-o", "yaml"}), 0);
  EXPECT_THAT(out_.str(), StartsWith("items:\n"
                                     "  - apiVersion: fsb.io/v1alpha1\n"
                                     "    kind: SandboxPool\n"));
  EXPECT_THAT(out_.str(), HasSubstr("      maxSandboxesPerAgent: 2\n"));
  EXPECT_THAT(out_.str(), HasSubstr("      warm:\n"
                                    "        - desired: 3\n"
                                    "          image: docker.io/library/busybox:latest\n"
                                    "          preparing: 1\n"
                                    "          ready: 2\n"));
}

TEST_F(CliTest, PoolsNoneSaysSoOnStderr) {
  EXPECT_CALL(stub_, ListSandboxPools(_, _, _)).WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(RunCli({"pools"}), 0);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(), "No sandbox pools.\n");
}

TEST_F(CliTest, RmPoolDeletesTheSandboxPoolAndSandboxesAsBefore) {
  fastpath::v1::DeleteSandboxPoolRequest pool_sent;
  EXPECT_CALL(stub_, DeleteSandboxPool(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&pool_sent), Return(grpc::Status::OK)));
  DeleteResponse deleted;
  deleted.set_success(true);
  EXPECT_CALL(stub_, DeleteSandbox(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(deleted), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"rm", "pool/gpu", "web"}), 0);
  EXPECT_EQ(pool_sent.name(), "gpu");
  EXPECT_EQ(out_.str(), "pool/gpu deleted\nsandbox/web deleted\n");
}

TEST_F(CliTest, RmAgentForgetsIt) {
  fastpath::v1::DeleteAgentRequest sent;
  EXPECT_CALL(stub_, DeleteAgent(_, _, _))
      .WillOnce(DoAll(SaveArg<1>(&sent), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"rm", "agent/ip-10-0-0-7.internal"}), 0);
  EXPECT_EQ(sent.name(), "ip-10-0-0-7.internal");
  EXPECT_EQ(out_.str(), "agent/ip-10-0-0-7.internal deleted\n");
}

TEST_F(CliTest, RmLiveAgentIsAServerError) {
  EXPECT_CALL(stub_, DeleteAgent(_, _, _))
      .WillOnce(Return(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                    "agent node-1 is registered and sending heartbeats; stop "
                                    "it first")));
  EXPECT_EQ(RunCli({"rm", "agent/node-1"}), 1);
  EXPECT_EQ(err_.str(),
            "fsb: error: FAILED_PRECONDITION: agent node-1 is registered and "
            "sending heartbeats; stop it first\n");
}

TEST_F(CliTest, RmUnknownPoolIsAServerError) {
  EXPECT_CALL(stub_, DeleteSandboxPool(_, _, _))
      .WillOnce(
          Return(grpc::Status(grpc::StatusCode::NOT_FOUND, "sandbox pool \"gpu\" not found")));
  EXPECT_EQ(RunCli({"rm", "pool/gpu"}), 1);
  EXPECT_EQ(err_.str(), "fsb: error: NOT_FOUND: sandbox pool \"gpu\" not found\n");
}

}  // namespace
}  // namespace fsb::cli
