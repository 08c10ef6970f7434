// Validates the text exposition with Prometheus' own checker, `promtool check metrics`
// (Debian package prometheus): it parses the format and lints names, types and help.
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/metrics/metrics.h"

namespace fsb::metrics {
namespace {

struct Verdict {
  int exit_code = -1;
  std::string output;  // promtool's complaints; empty when it has none
};

// Pipes `exposition` through `promtool check metrics`.
Verdict PromtoolCheck(const std::string& exposition) {
  Verdict verdict;
  char path[] = "/tmp/fsb_promtool_test_XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) {
    verdict.output = std::string("mkstemp: ") + std::strerror(errno);
    return verdict;
  }
  const bool written =
      write(fd, exposition.data(), exposition.size()) == static_cast<ssize_t>(exposition.size());
  close(fd);
  FILE* promtool =
      written ? popen((std::string("promtool check metrics < ") + path + " 2>&1").c_str(), "r")
              : nullptr;
  if (promtool != nullptr) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), promtool)) > 0) verdict.output.append(buf, n);
    const int status = pclose(promtool);
    if (status != -1 && WIFEXITED(status)) verdict.exit_code = WEXITSTATUS(status);
  } else {
    verdict.output = std::string("cannot run promtool on ") + path + ": " + std::strerror(errno);
  }
  unlink(path);
  return verdict;
}

class PromtoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "promtool not found: install the prometheus package";
    }
  }
};

TEST_F(PromtoolTest, EveryKindOfMetricPassesWithoutComplaint) {
  Registry r;
  auto& creates = r.AddCounter("fsb_creates_total", "Creates by result and reason.");
  creates.Add({{"result", "ok"}, {"reason", ""}}).Increment(41);
  creates.Add({{"result", "error"}, {"reason", "quote \" backslash \\ newline \n end"}})
      .Increment();
  creates.Add({{"result", "error"}, {"reason", "UTF-8: grüße ✓"}}).Increment(0.5);
  creates.Add({{"result", "error"}, {"reason", "braces {} and commas, = signs"}});
  r.AddCounter("fsb_restarts_total", "Help with \\ a backslash\nand a second line.")
      .Add({})
      .Increment();

  auto& sandboxes = r.AddGauge("fsb_sandboxes", "Sandboxes by phase.");
  sandboxes.Add({{"phase", "Running"}}).Set(3);
  sandboxes.Add({{"phase", "Pending"}}).Set(-2.5);
  sandboxes.Add({{"phase", "Huge"}}).Set(1e300);
  sandboxes.Add({{"phase", "Tiny"}}).Set(1e-300);
  sandboxes.Add({{"phase", "Unknown"}}).Set(NAN);
  r.AddGauge("fsb_capacity_ratio", "A family without children yet.");

  auto& create =
      r.AddHistogram("fastpath_create_sandbox_duration_seconds", "Latency of CreateSandbox.",
                     {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1});
  for (double v : {0.0, 0.001, 0.003, 0.2, 1.0, 7.5}) {
    create.Add({{"mode", "fast"}, {"success", "true"}}).Observe(v);
  }
  create.Add({{"mode", "strong"}, {"success", "false"}});
  auto& stages =
      r.AddHistogram("fsb_create_stage_duration_seconds", "Create stages.", LatencyBuckets());
  stages.Add({{"stage", "agent_rpc"}}).Observe(0.0123);
  stages.Add({{"stage", "a \"quoted\\stage\"\n"}}).Observe(42);
  r.AddHistogram("fsb_unlabelled_seconds", "No labels.", {0.5}).Add({}).Observe(0.25);

  const std::string exposition = r.Serialize();
  Verdict verdict = PromtoolCheck(exposition);
  EXPECT_EQ(verdict.exit_code, 0) << verdict.output << "\n--- exposition:\n" << exposition;
  EXPECT_EQ(verdict.output, "") << "\n--- exposition:\n" << exposition;
}

// The check is not vacuous: promtool complains, and the test would see it, about an
// exposition that breaks the conventions.
TEST_F(PromtoolTest, ComplaintsAreSeen) {
  Registry r;
  r.AddCounter("fsb_creates", "A counter without the _total suffix.").Add({}).Increment();
  Verdict verdict = PromtoolCheck(r.Serialize());
  EXPECT_NE(verdict.exit_code, 0);
  EXPECT_THAT(verdict.output, ::testing::HasSubstr("_total"));
}

}  // namespace
}  // namespace fsb::metrics
