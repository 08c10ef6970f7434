// `fsb bench` against an in-process fake of the FastPath API and fake /metrics pages.
// Nothing here asserts a timing: the figures checked come from the fake pages.
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cli/commands.h"
#include "cli/json_value_testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace fsb::cli {
namespace {

namespace fp = fastpath::v1;
using fsb::cli::testing::Field;
using fsb::cli::testing::Number;
using google::protobuf::Value;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::SizeIs;

// Creates succeed unless the name ends with one of `refuse_suffixes` ("-3": the fourth);
// deletes succeed for created names and are NOT_FOUND otherwise; ListAgents answers
// `agents`, paged. Everything is recorded.
class FakeFastPath final : public fp::FastPathService::Service {
 public:
  grpc::Status CreateSandbox(grpc::ServerContext*, const fp::CreateRequest* request,
                             fp::CreateResponse* response) override {
    absl::MutexLock lock(&mu);
    creates.push_back(*request);
    for (const std::string& suffix : refuse_suffixes) {
      if (!absl::EndsWith(request->name(), suffix)) continue;
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "no agent has a free slot");
    }
    created.insert(request->name());
    response->set_sandbox_name(request->name());
    response->set_sandbox_id("id-" + request->name());
    response->set_agent_pod("node-1");
    return grpc::Status::OK;
  }

  grpc::Status DeleteSandbox(grpc::ServerContext*, const fp::DeleteRequest* request,
                             fp::DeleteResponse* response) override {
    absl::MutexLock lock(&mu);
    deletes.push_back(*request);
    if (!created.contains(request->sandbox_name())) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "sandbox not found");
    }
    response->set_success(true);
    return grpc::Status::OK;
  }

  // With a page size, one agent per page: the continue token is the next one's index.
  // Without one, as the controller does for a list too big for one message (here: more
  // than one agent), RESOURCE_EXHAUSTED.
  grpc::Status ListAgents(grpc::ServerContext*, const fp::ListAgentsRequest* request,
                          fp::ListAgentsResponse* response) override {
    absl::MutexLock lock(&mu);
    ++list_agents_calls;
    if (request->page_size() == 0) {
      if (agents.items_size() > 1) {
        return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many agents; page the list");
      }
      *response = agents;
      return grpc::Status::OK;
    }
    int index = 0;
    if (!request->continue_token().empty() &&
        !absl::SimpleAtoi(request->continue_token(), &index)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad continue token");
    }
    if (index < agents.items_size()) *response->add_items() = agents.items(index);
    if (index + 1 < agents.items_size()) response->set_continue_token(absl::StrCat(index + 1));
    return grpc::Status::OK;
  }

  absl::Mutex mu;
  std::vector<std::string> refuse_suffixes ABSL_GUARDED_BY(mu);
  fp::ListAgentsResponse agents ABSL_GUARDED_BY(mu);
  std::vector<fp::CreateRequest> creates ABSL_GUARDED_BY(mu);
  std::set<std::string> created ABSL_GUARDED_BY(mu);
  std::vector<fp::DeleteRequest> deletes ABSL_GUARDED_BY(mu);
  int list_agents_calls ABSL_GUARDED_BY(mu) = 0;
};

// A histogram series in the text format: cumulative `counts` at `bounds`, then +Inf.
std::string Series(const std::string& name, const std::string& labels,
                   const std::vector<std::pair<std::string, int>>& buckets, double sum) {
  std::string text;
  int count = 0;
  for (const auto& [le, cumulative] : buckets) {
    absl::StrAppend(&text, name, "_bucket{", labels, labels.empty() ? "" : ",", "le=\"", le, "\"} ",
                    cumulative, "\n");
    count = cumulative;
  }
  absl::StrAppend(&text, name, "_sum{", labels, "} ", sum, "\n", name, "_count{", labels, "} ",
                  count, "\n");
  return text;
}

// The controller's page before and after six creates: allocate saw 6 more (2 up to
// 0.5 ms, 4 in (0.5 ms, 1 ms]), validate 6 (all up to 0.25 ms), the whole create 6 (all
// in (100 ms, 250 ms]).
const std::string kControllerBefore =
    "# TYPE fsb_create_stage_duration_seconds histogram\n" +
    Series("fsb_create_stage_duration_seconds", "stage=\"allocate\"",
           {{"0.0005", 10}, {"0.001", 10}, {"+Inf", 10}}, 0.002);
const std::string kControllerAfter =
    Series("fastpath_create_sandbox_duration_seconds", "mode=\"fast\",success=\"true\"",
           {{"0.1", 0}, {"0.25", 6}, {"+Inf", 6}}, 0.9) +
    Series("fsb_create_stage_duration_seconds", "stage=\"allocate\"",
           {{"0.0005", 12}, {"0.001", 16}, {"+Inf", 16}}, 0.005) +
    Series("fsb_create_stage_duration_seconds", "stage=\"validate\"", {{"0.00025", 6}, {"+Inf", 6}},
           0.0006) +
    Series("fsb_create_stage_duration_seconds", "stage=\"persist\"", {{"+Inf", 0}}, 0);
const std::string kAgentAfter =
    Series("fsb_agent_create_stage_duration_seconds", "stage=\"container_create\"",
           {{"0.01", 6}, {"+Inf", 6}}, 0.03) +
    Series("fsb_agent_create_stage_duration_seconds", "stage=\"image_resolve\"",
           {{"0.001", 6}, {"+Inf", 6}}, 0.003) +
    Series("fsb_containerd_rpc_duration_seconds", "rpc=\"Tasks.Create\"", {{"0.1", 6}, {"+Inf", 6}},
           0.5);

class BenchCommandsTest : public ::testing::Test {
 protected:
  BenchCommandsTest() {
    grpc::ServerBuilder builder;
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    absl::MutexLock lock(&fake_.mu);
    fsb::v1alpha1::Agent* agent = fake_.agents.add_items();
    agent->mutable_metadata()->set_name("node-1");
    agent->mutable_spec()->set_address("10.0.0.5:5758");
  }
  ~BenchCommandsTest() override { server_->Shutdown(); }

  int Fsb(const std::vector<std::string>& args) {
    CliContext context;
    context.env = [](std::string_view) { return std::nullopt; };
    context.connect = [this](const Connection&) {
      ++connects_;
      return fp::FastPathService::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
    };
    context.http_get = [this](const std::string& url) -> absl::StatusOr<std::string> {
      absl::MutexLock lock(&pages_mu_);
      fetched_.push_back(url);
      auto it = pages_.find(url);
      if (it == pages_.end() || it->second.empty()) {
        return absl::UnavailableError(absl::StrCat("GET ", url, ": connection refused"));
      }
      std::string page = it->second.front();
      it->second.pop_front();
      return page;
    };
    context.in = &in_;
    context.out = &out_;
    context.err = &err_;
    context.now = absl::FromUnixSeconds(1'800'000'000);
    return fsb::cli::Run(args, context);
  }

  // Serves `before`, then `after`, at `url`.
  void Pages(const std::string& url, std::string before, std::string after) {
    absl::MutexLock lock(&pages_mu_);
    pages_[url] = {std::move(before), std::move(after)};
  }

  void DefaultPages() {
    Pages("http://127.0.0.1:9091/metrics", kControllerBefore, kControllerAfter);
    Pages("http://10.0.0.5:5759/metrics", "", kAgentAfter);
  }

  std::vector<std::string> Fetched() {
    absl::MutexLock lock(&pages_mu_);
    return fetched_;
  }

  std::vector<fp::CreateRequest> Creates() {
    absl::MutexLock lock(&fake_.mu);
    return fake_.creates;
  }

  std::vector<fp::DeleteRequest> Deletes() {
    absl::MutexLock lock(&fake_.mu);
    return fake_.deletes;
  }

  // The -o json output, parsed.
  Value Json() {
    Value value;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(out_.str(), &value).ok()) << out_.str();
    return value;
  }

  FakeFastPath fake_;
  std::unique_ptr<grpc::Server> server_;
  int connects_ = 0;
  absl::Mutex pages_mu_;
  std::map<std::string, std::deque<std::string>> pages_ ABSL_GUARDED_BY(pages_mu_);
  std::vector<std::string> fetched_ ABSL_GUARDED_BY(pages_mu_);
  std::istringstream in_;
  std::ostringstream out_, err_;
};

TEST_F(BenchCommandsTest, CreatesEveryNamedSandboxAndReportsEveryFigureAsJson) {
  DefaultPages();
  EXPECT_EQ(Fsb({"-n", "perf", "bench", "--image", "fsb/busybox", "--requests", "6",
                 "--concurrency", "3", "-o", "json"}),
            kExitOk)
      << err_.str();
  EXPECT_EQ(err_.str(), "");

  const std::vector<fp::CreateRequest> creates = Creates();
  ASSERT_THAT(creates, SizeIs(6));
  std::set<std::string> names;
  for (const fp::CreateRequest& create : creates) {
    names.insert(create.name());
    EXPECT_EQ(create.image(), "fsb/busybox");
    EXPECT_EQ(create.namespace_(), "perf");
    EXPECT_EQ(create.consistency_mode(), fp::FAST);
    EXPECT_THAT(create.command(), ElementsAre("sleep", "3600"));
  }
  ASSERT_THAT(names, SizeIs(6));
  const std::string run_id = names.begin()->substr(6, 8);
  for (int i = 0; i < 6; ++i) {
    EXPECT_THAT(names, Contains(absl::StrCat("bench-", run_id, "-", i)));
  }
  EXPECT_THAT(run_id, MatchesRegex("[0-9a-f]{8}"));
  EXPECT_EQ(connects_, 1);

  const Value report = Json();
  EXPECT_EQ(Field(report, "run_id").string_value(), run_id);
  EXPECT_EQ(Field(report, "namespace").string_value(), "perf");
  EXPECT_EQ(Number(report, "requests"), 6);
  EXPECT_EQ(Number(report, "concurrency"), 3);
  EXPECT_EQ(Number(report, "rate"), 0);
  EXPECT_EQ(Field(report, "consistency").string_value(), "fast");
  EXPECT_EQ(Number(report, "succeeded"), 6);
  EXPECT_EQ(Number(report, "failed"), 0);
  EXPECT_EQ(Number(Field(report, "latency_ms"), "count"), 6);
  EXPECT_THAT(Field(report, "latencies_ms").list_value().values(), SizeIs(6));
  EXPECT_THAT(Field(report, "failures").list_value().values(), IsEmpty());
  EXPECT_THAT(Field(report, "sandboxes").list_value().values(), SizeIs(6));
  EXPECT_EQ(Field(report, "cleanup").kind_case(), Value::kNullValue);
  const auto& sources = Field(report, "metrics_sources").list_value().values();
  ASSERT_THAT(sources, SizeIs(2));
  EXPECT_EQ(Field(sources[0], "name").string_value(), "controller");
  EXPECT_EQ(Field(sources[0], "address").string_value(), "127.0.0.1:9091");
  EXPECT_EQ(Field(sources[1], "name").string_value(), "agent node-1");
  EXPECT_EQ(Field(sources[1], "address").string_value(), "10.0.0.5:5759");

  // Stages in create order; only series that observed something during the run.
  const auto& stages = Field(report, "stages").list_value().values();
  std::vector<std::string> rows;
  for (const Value& stage : stages) {
    rows.push_back(absl::StrCat(Field(stage, "source").string_value(), "/",
                                Field(stage, "stage").string_value()));
  }
  EXPECT_THAT(rows, ElementsAre("controller/total", "controller/validate", "controller/allocate",
                                "agent node-1/image_resolve", "agent node-1/container_create",
                                "agent node-1/Tasks.Create"));
  const Value& total = stages[0];
  EXPECT_EQ(Field(total, "metric").string_value(), "fastpath_create_sandbox_duration_seconds");
  EXPECT_EQ(Number(total, "count"), 6);
  EXPECT_DOUBLE_EQ(Number(total, "mean_ms"), 150);
  EXPECT_DOUBLE_EQ(Number(total, "p50_ms"), 175);
  EXPECT_DOUBLE_EQ(Number(total, "p90_ms"), 235);
  const Value& allocate = stages[2];
  EXPECT_EQ(Number(allocate, "count"), 6);
  EXPECT_DOUBLE_EQ(Number(allocate, "mean_ms"), 0.5);
  EXPECT_DOUBLE_EQ(Number(allocate, "p50_ms"), 0.625);
  EXPECT_DOUBLE_EQ(Number(allocate, "p90_ms"), 0.925);
  EXPECT_EQ(Field(stages[5], "metric").string_value(), "fsb_containerd_rpc_duration_seconds");

  // Keys are sorted, so equal reports print equally.
  EXPECT_LT(out_.str().find("\"cleanup\""), out_.str().find("\"run_id\""));
}

TEST_F(BenchCommandsTest, TheTextReportShowsTheRunLatenciesAndStages) {
  DefaultPages();
  EXPECT_EQ(Fsb({"bench", "--image", "fsb/busybox", "--requests", "6", "--concurrency", "2"}),
            kExitOk)
      << err_.str();
  const std::string text = out_.str();
  EXPECT_THAT(text, MatchesRegex("bench [0-9a-f]{8}: 6 creates of fsb/busybox \\(sleep 3600\\) "
                                 "in namespace default, concurrency 2, fast\n"
                                 "6 succeeded, 0 failed in [^:]+: [0-9.]+ creates/s\n(.|\n)*"));
  EXPECT_THAT(text, HasSubstr("create latency as the client saw it (ms)\n"
                              "COUNT   MIN"));
  EXPECT_THAT(text, ::testing::ContainsRegex("\ncontroller +total +6 +150.0 +175.0 +235.0\n"));
  EXPECT_THAT(text, ::testing::ContainsRegex("\ncontroller +allocate +6 +0.500 +0.625 +0.925\n"));
  EXPECT_THAT(text, ::testing::ContainsRegex("\nagent node-1 +containerd Tasks.Create +6 "));
  EXPECT_THAT(text, Not(HasSubstr("failed creates")));
  EXPECT_THAT(text, Not(HasSubstr("cleanup")));
}

TEST_F(BenchCommandsTest, FailuresAreGroupedByCodeWithAnExampleAndExitOne) {
  DefaultPages();
  {
    absl::MutexLock lock(&fake_.mu);
    fake_.refuse_suffixes = {"-1", "-3"};
  }
  EXPECT_EQ(Fsb({"bench", "--image", "busybox", "--requests", "4", "--concurrency", "2"}),
            kExitServerError);
  EXPECT_THAT(Creates(), SizeIs(4));
  EXPECT_THAT(out_.str(), HasSubstr("\n2 succeeded, 2 failed in "));
  EXPECT_THAT(out_.str(), HasSubstr("failed creates\nCODE "));
  EXPECT_THAT(out_.str(),
              ::testing::ContainsRegex("\nRESOURCE_EXHAUSTED +2 +no agent has a free slot\n"));
}

TEST_F(BenchCommandsTest, CleanupDeletesEveryNameAtOnceAndSkipsFailedCreates) {
  DefaultPages();
  {
    absl::MutexLock lock(&fake_.mu);
    fake_.refuse_suffixes = {"-2"};
  }
  EXPECT_EQ(Fsb({"bench", "--image", "busybox", "--requests", "3", "--cleanup", "-o", "json"}),
            kExitServerError);
  std::set<std::string> deleted;
  for (const fp::DeleteRequest& d : Deletes()) {
    deleted.insert(d.sandbox_name());
    EXPECT_EQ(d.namespace_(), "default");
    EXPECT_TRUE(d.has_grace_period_seconds());
    EXPECT_EQ(d.grace_period_seconds(), 0);
  }
  std::set<std::string> created;
  for (const fp::CreateRequest& c : Creates()) created.insert(c.name());
  EXPECT_EQ(deleted, created);
  const Value report = Json();
  EXPECT_EQ(Number(report, "failed"), 1);
  EXPECT_THAT(Field(report, "sandboxes").list_value().values(), SizeIs(2));
  const Value& cleanup = Field(report, "cleanup");
  EXPECT_EQ(Number(cleanup, "deleted"), 3);  // the failed create's NOT_FOUND counts as done
  EXPECT_EQ(Number(cleanup, "failed"), 0);
  const auto& failures = Field(report, "failures").list_value().values();
  ASSERT_THAT(failures, SizeIs(1));
  EXPECT_EQ(Field(failures[0], "code").string_value(), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(Number(failures[0], "count"), 1);
  EXPECT_EQ(Field(failures[0], "example").string_value(), "no agent has a free slot");
}

TEST_F(BenchCommandsTest, CleanupReportsItsDurationAndSucceeds) {
  DefaultPages();
  EXPECT_EQ(Fsb({"bench", "--image", "busybox", "--requests", "2", "--cleanup"}), kExitOk);
  EXPECT_THAT(Deletes(), SizeIs(2));
  EXPECT_THAT(out_.str(), HasSubstr("\ncleanup: 2 deleted, 0 failed in "));
}

TEST_F(BenchCommandsTest, ExplicitMetricsAddressesReplaceTheDefaults) {
  Pages("http://ctl:7000/metrics", kControllerBefore, kControllerAfter);
  Pages("http://a:1/metrics", "", kAgentAfter);
  Pages("http://[::1]:2/metrics", "", kAgentAfter);
  EXPECT_EQ(Fsb({"bench", "--image", "busybox", "--requests", "6", "--controller-metrics",
                 "ctl:7000", "--agent-metrics", "a:1", "--agent-metrics", "[::1]:2"}),
            kExitOk);
  EXPECT_EQ(err_.str(), "");
  EXPECT_THAT(Fetched(), ElementsAre("http://ctl:7000/metrics", "http://a:1/metrics",
                                     "http://[::1]:2/metrics", "http://ctl:7000/metrics",
                                     "http://a:1/metrics", "http://[::1]:2/metrics"));
  absl::MutexLock lock(&fake_.mu);
  EXPECT_EQ(fake_.list_agents_calls, 0);
  EXPECT_THAT(out_.str(), ::testing::ContainsRegex("\nagent a:1 +image_resolve +6 "));
  EXPECT_THAT(out_.str(), ::testing::ContainsRegex("\nagent \\[::1\\]:2 +image_resolve +6 "));
}

TEST_F(BenchCommandsTest, MetricsHostsFollowTheEndpointAndTheAgentsAddresses) {
  Pages("http://10.1.1.1:9091/metrics", kControllerBefore, kControllerAfter);
  Pages("http://10.0.0.5:6000/metrics", "", kAgentAfter);
  EXPECT_EQ(Fsb({"--endpoint", "10.1.1.1:9000", "bench", "--image", "busybox", "--requests", "1",
                 "--agent-metrics-port", "6000"}),
            kExitOk);
  EXPECT_EQ(err_.str(), "");
  EXPECT_THAT(Fetched(),
              ElementsAre("http://10.1.1.1:9091/metrics", "http://10.0.0.5:6000/metrics",
                          "http://10.1.1.1:9091/metrics", "http://10.0.0.5:6000/metrics"));
}

TEST_F(BenchCommandsTest, EveryPageOfAgentsIsReadForTheirMetrics) {
  {
    absl::MutexLock lock(&fake_.mu);
    fsb::v1alpha1::Agent* agent = fake_.agents.add_items();
    agent->mutable_metadata()->set_name("node-2");
    agent->mutable_spec()->set_address("10.0.0.6:5758");
  }
  DefaultPages();
  Pages("http://10.0.0.6:5759/metrics", "", kAgentAfter);
  EXPECT_EQ(Fsb({"bench", "--image", "busybox", "--requests", "1"}), kExitOk);
  EXPECT_EQ(err_.str(), "");
  EXPECT_THAT(Fetched(),
              ElementsAre("http://127.0.0.1:9091/metrics", "http://10.0.0.5:5759/metrics",
                          "http://10.0.0.6:5759/metrics", "http://127.0.0.1:9091/metrics",
                          "http://10.0.0.5:5759/metrics", "http://10.0.0.6:5759/metrics"));
  absl::MutexLock lock(&fake_.mu);
  EXPECT_EQ(fake_.list_agents_calls, 2);
}

TEST_F(BenchCommandsTest, UnreadableMetricsAreWarningsAndTheRunGoesOn) {
  EXPECT_EQ(Fsb({"bench", "--image", "busybox", "--requests", "2"}), kExitOk);
  EXPECT_THAT(Creates(), SizeIs(2));
  EXPECT_THAT(err_.str(), HasSubstr("fsb: warning: cannot read the metrics of controller at "
                                    "127.0.0.1:9091 before the run: "));
  EXPECT_THAT(err_.str(), HasSubstr("fsb: warning: cannot read the metrics of agent node-1 at "
                                    "10.0.0.5:5759 after the run: "));
  EXPECT_THAT(out_.str(), HasSubstr("2 succeeded, 0 failed"));
  EXPECT_THAT(out_.str(), Not(HasSubstr("server stages")));
}

TEST_F(BenchCommandsTest, PacedStrongRunsCarryTheCommand) {
  DefaultPages();
  EXPECT_EQ(Fsb({"bench", "--image", "busybox", "--requests", "3", "--concurrency", "3", "--rate",
                 "1000", "--strong", "--", "sh", "-c", "sleep 9"}),
            kExitOk);
  const std::vector<fp::CreateRequest> creates = Creates();
  ASSERT_THAT(creates, SizeIs(3));
  for (const fp::CreateRequest& create : creates) {
    EXPECT_EQ(create.consistency_mode(), fp::STRONG);
    EXPECT_THAT(create.command(), ElementsAre("sh", "-c", "sleep 9"));
  }
  EXPECT_THAT(out_.str(), HasSubstr(", concurrency 3, at most 1000/s, strong\n"));
}

TEST_F(BenchCommandsTest, UsageErrorsComeBeforeAnyCall) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"bench"},
           {"bench", "--requests", "5"},
           {"bench", "--image", "Bad Image"},
           {"bench", "--image", "busybox", "--requests", "0"},
           {"bench", "--image", "busybox", "--requests", "x"},
           {"bench", "--image", "busybox", "--requests", "100001"},
           {"bench", "--image", "busybox", "--concurrency", "0"},
           {"bench", "--image", "busybox", "--requests", "4", "--concurrency", "5"},
           {"bench", "--image", "busybox", "--rate", "0"},
           {"bench", "--image", "busybox", "--rate", "-1"},
           {"bench", "--image", "busybox", "--rate", "fast"},
           {"bench", "--image", "busybox", "--rate", "nan"},
           {"bench", "--image", "busybox", "--controller-metrics", "nohost"},
           {"bench", "--image", "busybox", "--agent-metrics", "h:0"},
           {"bench", "--image", "busybox", "--agent-metrics-port", "70000"},
           {"bench", "--image", "busybox", "-o", "yaml"},
           {"bench", "--image", "busybox", "extra"},
           {"bench", "--image", "busybox", "--"},
           {"bench", "--image", "busybox", "--agent", "a"},
       }) {
    err_.str("");
    EXPECT_EQ(Fsb(args), kExitUsage) << ::testing::PrintToString(args);
    EXPECT_THAT(err_.str(), HasSubstr("fsb: error: ")) << ::testing::PrintToString(args);
  }
  EXPECT_EQ(connects_, 0);
  EXPECT_THAT(Fetched(), IsEmpty());
}

}  // namespace
}  // namespace fsb::cli
