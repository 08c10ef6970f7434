// Every stage timed, end to end: after a create through the real stack, the
// controller's and the agent's /metrics pass `promtool check metrics` and hold every
// stage histogram populated; a real Prometheus server scrapes both and answers
// fastpath_create_sandbox_duration_seconds_count > 0 through its query API; /healthz and
// /readyz answer; google-pprof reads a CPU profile fetched from the controller.
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/local_stack.h"

namespace fsb {
namespace {

using fsb::testing::LocalStack;
using fsb::testing::PrivateContainerd;
using fsb::testing::RunCommand;
using fsb::testing::WaitFor;
using ::testing::HasSubstr;

// GET http://address/path with curl; returns the HTTP status (0 when unreachable).
int Get(const std::string& address, const std::string& path, std::string* body) {
  std::string out;
  const int code = RunCommand(
      {"curl", "-s", "-w", "\n%{http_code}", absl::StrCat("http://", address, path)}, &out);
  if (code != 0) return 0;
  const size_t nl = out.rfind('\n');
  int status = 0;
  if (nl == std::string::npos || !absl::SimpleAtoi(out.substr(nl + 1), &status)) return 0;
  if (body != nullptr) *body = out.substr(0, nl);
  return status;
}

bool Have(const std::string& program) {
  return RunCommand({"sh", "-c", "command -v " + program}) == 0;
}

class MetricsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = fsb::testing::MissingPrerequisite(); !missing.empty()) {
      GTEST_SKIP() << "integration test skipped: " << missing;
    }
    auto stack = LocalStack::Start({});
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = *std::move(stack);
    fastpath::v1::CreateRequest req;
    req.set_name("timed");
    req.set_image(PrivateContainerd::kTestImage);
    req.add_command("sleep");
    req.add_command("600");
    fastpath::v1::CreateResponse resp;
    ASSERT_TRUE(stack_->Create(req, &resp).ok());
  }

  // Writes `text` to a file in the stack's folder and runs promtool on it.
  void ExpectPromtoolAccepts(const std::string& what, const std::string& text) {
    if (!Have("promtool")) GTEST_SKIP() << "promtool missing (package prometheus)";
    const std::string file = stack_->dir() + "/" + what + ".prom";
    std::ofstream(file) << text;
    std::string out;
    const int code = RunCommand({"sh", "-c", "promtool check metrics < " + file}, &out, &out);
    EXPECT_EQ(code, 0) << what << ": " << out;
    EXPECT_EQ(out, "") << what << ": promtool complained";
  }

  std::unique_ptr<LocalStack> stack_;
};

TEST_F(MetricsE2eTest, EveryStageIsPopulatedAndPromtoolAcceptsBothEndpoints) {
  std::string controller, agent;
  ASSERT_EQ(Get(stack_->controller_metrics(), "/metrics", &controller), 200);
  ASSERT_EQ(Get(stack_->agent_metrics(), "/metrics", &agent), 200);
  EXPECT_THAT(
      controller,
      HasSubstr(
          "fastpath_create_sandbox_duration_seconds_count{mode=\"fast\",success=\"true\"} 1"));
  for (const char* stage : {"validate", "allocate", "agent_rpc"}) {
    EXPECT_THAT(controller,
                HasSubstr(absl::StrCat("fsb_create_stage_duration_seconds_count{stage=\"", stage,
                                       "\"} 1")));
  }
  for (const char* stage : {"admission", "image_resolve", "container_create", "snapshot_prepare",
                            "task_create", "task_start"}) {
    EXPECT_THAT(agent,
                HasSubstr(absl::StrCat("fsb_agent_create_stage_duration_seconds_count{stage=\"",
                                       stage, "\"} 1")));
  }
  EXPECT_THAT(agent, HasSubstr("fsb_containerd_rpc_duration_seconds_count{rpc=\"Tasks.Create\"}"));
  EXPECT_THAT(controller, HasSubstr("fsb_grpc_server_handled_total{code=\"OK\",method=\"/"
                                    "fastpath.v1.FastPathService/CreateSandbox\"} 1"));
  ExpectPromtoolAccepts("controller", controller);
  ExpectPromtoolAccepts("agent", agent);
}

TEST_F(MetricsE2eTest, HealthAndReadiness) {
  std::string body;
  EXPECT_EQ(Get(stack_->controller_metrics(), "/healthz", &body), 200);
  EXPECT_EQ(Get(stack_->controller_metrics(), "/readyz", &body), 200);
  EXPECT_EQ(Get(stack_->agent_metrics(), "/healthz", &body), 200);
  EXPECT_TRUE(WaitFor([&] { return Get(stack_->agent_metrics(), "/readyz", &body) == 200; },
                      absl::Seconds(10)))
      << body;
}

TEST_F(MetricsE2eTest, ARealPrometheusScrapesBothAndAnswersTheQuery) {
  if (!Have("prometheus")) GTEST_SKIP() << "prometheus missing (package prometheus)";
  const std::string dir = stack_->dir() + "/prometheus";
  const std::string web = absl::StrCat("127.0.0.1:", fsb::testing::FreePort());
  std::ofstream(dir + ".yml") << "global:\n  scrape_interval: 1s\nscrape_configs:\n"
                              << "  - job_name: fsb\n    static_configs:\n"
                              << "      - targets: ['" << stack_->controller_metrics() << "', '"
                              << stack_->agent_metrics() << "']\n";
  auto prometheus = fsb::testing::ChildProcess::Start(
      {"/usr/bin/prometheus", "--config.file=" + dir + ".yml", "--storage.tsdb.path=" + dir,
       "--web.listen-address=" + web},
      dir + ".log");
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();
  // Prometheus scrapes each target at its own offset within the interval, so wait until both
  // targets have been scraped successfully, then for the controller's create count.
  std::string answer;
  const bool both_up = WaitFor(
      [&] {
        return Get(web, "/api/v1/query?query=sum(up)", &answer) == 200 &&
               answer.find("\"2\"]") != std::string::npos;
      },
      absl::Seconds(60));
  std::string targets;
  (void)Get(web, "/api/v1/targets", &targets);
  EXPECT_TRUE(both_up) << answer << "\n" << targets;
  const bool scraped = WaitFor(
      [&] {
        return Get(web,
                   "/api/v1/query?query=sum(fastpath_create_sandbox_duration_seconds_count)%3E0",
                   &answer) == 200 &&
               answer.find("\"result\":[{") != std::string::npos;
      },
      absl::Seconds(60));
  EXPECT_TRUE(scraped) << answer;
}

TEST_F(MetricsE2eTest, GooglePprofReadsAProfileFromTheController) {
  if (!Have("google-pprof")) GTEST_SKIP() << "google-pprof missing (package google-perftools)";
  const std::string profile = stack_->dir() + "/controller.prof";
  // Keep the controller busy while it is profiled, so the profile has samples.
  std::atomic<bool> done{false};
  std::thread load([&] {
    while (!done) (void)stack_->List();
  });
  const int fetched = RunCommand(
      {"curl", "-sf", "-o", profile,
       absl::StrCat("http://", stack_->controller_pprof(), "/debug/pprof/profile?seconds=2")});
  done = true;
  load.join();
  ASSERT_EQ(fetched, 0);
  std::string out;
  EXPECT_EQ(RunCommand({"google-pprof", "--text", FSB_CONTROLLER_BIN, profile}, &out, &out), 0)
      << out;
  // Samples were taken; which functions they land in depends on the machine's scheduling
  // (under CI load, all 90 samples of one run were in gRPC and libc), so the check that
  // the profile is the controller's is its memory map, which names the binary.
  int samples = 0;
  const size_t total = out.find("Total: ");
  ASSERT_NE(total, std::string::npos) << out;
  ASSERT_TRUE(
      absl::SimpleAtoi(out.substr(total + 7, out.find(' ', total + 7) - total - 7), &samples))
      << out;
  EXPECT_GT(samples, 0) << out;
  std::ifstream in(profile, std::ios::binary);
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(raw, HasSubstr(FSB_CONTROLLER_BIN));
}

}  // namespace
}  // namespace fsb
