#include "cli/commands.h"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace fsb::cli {
namespace {

using fastpath::v1::CreateRequest;
using fastpath::v1::CreateResponse;
using fastpath::v1::DeleteRequest;
using fastpath::v1::DeleteResponse;
using fastpath::v1::GetRequest;
using fastpath::v1::ListRequest;
using fastpath::v1::ListResponse;
using fastpath::v1::SandboxInfo;
using fastpath::v1::UpdateRequest;
using fastpath::v1::UpdateResponse;
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

 private:
  template <typename T>
  using Reader = grpc::ClientAsyncResponseReaderInterface<T>;
  Reader<CreateResponse>* AsyncCreateSandboxRaw(grpc::ClientContext*, const CreateRequest&,
                                                grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<CreateResponse>* PrepareAsyncCreateSandboxRaw(grpc::ClientContext*,
                                                       const CreateRequest&,
                                                       grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<DeleteResponse>* AsyncDeleteSandboxRaw(grpc::ClientContext*, const DeleteRequest&,
                                                grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<DeleteResponse>* PrepareAsyncDeleteSandboxRaw(grpc::ClientContext*,
                                                       const DeleteRequest&,
                                                       grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<UpdateResponse>* AsyncUpdateSandboxRaw(grpc::ClientContext*, const UpdateRequest&,
                                                grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<UpdateResponse>* PrepareAsyncUpdateSandboxRaw(grpc::ClientContext*,
                                                       const UpdateRequest&,
                                                       grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<ListResponse>* AsyncListSandboxesRaw(grpc::ClientContext*, const ListRequest&,
                                              grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<ListResponse>* PrepareAsyncListSandboxesRaw(grpc::ClientContext*, const ListRequest&,
                                                     grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<SandboxInfo>* AsyncGetSandboxRaw(grpc::ClientContext*, const GetRequest&,
                                          grpc::CompletionQueue*) override {
    return nullptr;
  }
  Reader<SandboxInfo>* PrepareAsyncGetSandboxRaw(grpc::ClientContext*, const GetRequest&,
                                                 grpc::CompletionQueue*) override {
    return nullptr;
  }
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
    context.connect = [this](const std::string& endpoint)
        -> std::unique_ptr<fastpath::v1::FastPathService::StubInterface> {
      connected_endpoints_.push_back(endpoint);
      return std::move(owned_stub_);
    };
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
      .WillOnce(DoAll(Invoke([&](grpc::ClientContext* context, const CreateRequest& request,
                                 CreateResponse*) {
                        sent = request;
                        deadline = context->deadline();
                      }),
                      SetArgPointee<2>(response), Return(grpc::Status::OK)));

  const auto before = std::chrono::system_clock::now();
  EXPECT_EQ(RunCli({"-n", "team", "--timeout", "5s", "run", "--image", "busybox", "--name",
                    "web", "--env", "A=b=c", "--label", "app=web", "--port", "80", "--workdir",
                    "/app", "--pool", "p1", "--strong", "--", "sh", "-c", "echo hi"}),
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
  EXPECT_EQ(err_.str(), "fsb: error: NOT_FOUND: image \"docker.io/library/nope:latest\" not found\n");
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
                      std::vector<std::string>{"ls", "--frob"},
                      std::vector<std::string>{"run"},
                      std::vector<std::string>{"run", "--image", "b", "--env", "NOEQ"},
                      std::vector<std::string>{"run", "--image", "b", "--env", "9X=1"},
                      std::vector<std::string>{"run", "--image", "b", "--label", "a b=c"},
                      std::vector<std::string>{"run", "--image", "b", "--port", "99999"},
                      std::vector<std::string>{"get"},
                      std::vector<std::string>{"rm"},
                      std::vector<std::string>{"ls", "-o", "toml"},
                      std::vector<std::string>{"get", "web", "-o", "toml"}));

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
      .WillOnce(DoAll(SaveArg<1>(&sent), SetArgPointee<2>(ThreeSandboxes()),
                      Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"ls", "-n", "team"}), 0);
  EXPECT_EQ(sent.namespace_(), "team");
  EXPECT_EQ(out_.str(),
            "NAME    PHASE       IMAGE     AGENT     AGE\n"
            "api     Pending     busybox   <none>    3m\n"
            "batch   Succeeded   busybox   agent-1   4d\n"
            "web     Running     busybox   agent-1   5s\n");
}

TEST_F(CliTest, ListWideAddsIdAndEndpoints) {
  EXPECT_CALL(stub_, ListSandboxes(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(ThreeSandboxes()), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"list", "-o", "wide"}), 0);
  EXPECT_THAT(out_.str(),
              StartsWith("NAME    PHASE       IMAGE     AGENT     AGE   ID         ENDPOINTS\n"));
  EXPECT_THAT(out_.str(),
              HasSubstr("batch   Succeeded   busybox   agent-1   4d    sb-batch   10.0.0.2:80\n"));
}

TEST_F(CliTest, ListJsonOfNothingHasEmptyItems) {
  EXPECT_CALL(stub_, ListSandboxes(_, _, _)).WillOnce(Return(grpc::Status::OK));
  EXPECT_EQ(RunCli({"ls", "-o", "json"}), 0);
  EXPECT_EQ(out_.str(), "{\n \"items\": []\n}\n");
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

TEST_F(CliTest, GetJsonIsTheSandboxInfo) {
  SandboxInfo info = Info("web", "Running", 5);
  info.mutable_labels()->insert({"app", "web"});
  EXPECT_CALL(stub_, GetSandbox(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(info), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"get", "web", "-o", "json"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("\"sandbox_name\""));
  SandboxInfo parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out_.str(), &parsed).ok());
  EXPECT_EQ(parsed.SerializeAsString(), info.SerializeAsString());
}

TEST_F(CliTest, GetYamlIsASandbox) {
  SandboxInfo info = Info("web", "Running", 5);
  info.set_message("said \"no\"");
  EXPECT_CALL(stub_, GetSandbox(_, _, _))
      .WillOnce(DoAll(SetArgPointee<2>(info), Return(grpc::Status::OK)));
  EXPECT_EQ(RunCli({"get", "web", "-o", "yaml"}), 0);
  EXPECT_THAT(out_.str(), StartsWith("apiVersion: fsb.io/v1alpha1\nkind: Sandbox\nmetadata:\n"
                                     "  name: web\n  uid: sb-web\n"));
  EXPECT_THAT(out_.str(), HasSubstr("  message: \"said \\\"no\\\"\"\n"));
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
      .WillRepeatedly(Invoke([&](grpc::ClientContext*, const DeleteRequest& request,
                                 DeleteResponse* response) {
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

}  // namespace
}  // namespace fsb::cli
