#include "internal/admin/pprof_server.h"

#include <gperftools/profiler.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/admin/admin_test_util.h"

namespace fsb::admin {
namespace {

using ::fsb::admin::testing::CommandResult;
using ::fsb::admin::testing::Fetch;
using ::fsb::admin::testing::HttpReply;
using ::fsb::admin::testing::OnPath;
using ::fsb::admin::testing::RunShell;
using ::fsb::admin::testing::SelfExe;
using ::fsb::admin::testing::ShellQuote;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kNoGooglePprof[] = "google-pprof not found: install the google-perftools package";

std::unique_ptr<PprofServer> StartPprof() {
  absl::StatusOr<std::unique_ptr<PprofServer>> server =
      PprofServer::Create({.bind_address = "127.0.0.1:0"});
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

HttpReply Get(const PprofServer& server, std::string_view target) {
  absl::StatusOr<HttpReply> reply = Fetch(server.port(), target);
  EXPECT_TRUE(reply.ok()) << target << ": " << reply.status();
  return reply.ok() ? *std::move(reply) : HttpReply{};
}

// google-pprof's text report of `profile`, a profile of this test binary.
CommandResult PprofText(std::string_view profile) {
  char path[] = "/tmp/fsb_admin_test_XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0) << std::strerror(errno);
  EXPECT_EQ(write(fd, profile.data(), profile.size()), static_cast<ssize_t>(profile.size()));
  close(fd);
  CommandResult result =
      RunShell(absl::StrCat("google-pprof --text ", ShellQuote(SelfExe()), " ", path));
  unlink(path);
  return result;
}

// Keeps a CPU busy until `stop`, in a function the CPU profile must name.
ABSL_ATTRIBUTE_NOINLINE void BurnCpuForTheProfiler(const std::atomic<bool>& stop) {
  volatile uint64_t x = 1;
  while (!stop.load(std::memory_order_relaxed)) {
    for (int i = 0; i < 100000; ++i) x = x * 6364136223846793005u + 1442695040888963407u;
  }
}

#if FSB_HEAP_PROFILES
// Allocates 64 MiB in blocks, in a function the heap profile must name.
ABSL_ATTRIBUTE_NOINLINE std::vector<std::unique_ptr<char[]>> AllocateForTheHeapProfile() {
  constexpr size_t kBlock = 256 << 10;
  std::vector<std::unique_ptr<char[]>> blocks;
  for (int i = 0; i < 256; ++i) {
    blocks.emplace_back(new char[kBlock]);
    std::memset(blocks.back().get(), i, kBlock);
  }
  return blocks;
}

// tcmalloc reads TCMALLOC_SAMPLE_PARAMETER once, when the process starts: setenv in a
// test is too late. So a test that needs heap sampling on (or off) runs in a child when
// this process is the other way: this binary again, with the variable set (or unset) and
// only the current test, whose result becomes this test's. Returns true when this process
// is already the right one and the caller runs the test's body.
bool InProcessWithHeapSampling(bool on) {
  const char* value = getenv("TCMALLOC_SAMPLE_PARAMETER");
  if ((value != nullptr && atoll(value) > 0) == on) return true;
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  CommandResult child = RunShell(absl::StrCat(
      on ? "env TCMALLOC_SAMPLE_PARAMETER=524288 " : "env -u TCMALLOC_SAMPLE_PARAMETER ",
      ShellQuote(SelfExe()), " --gtest_filter=", test->test_suite_name(), ".", test->name()));
  EXPECT_EQ(child.exit_code, 0) << child.output;
  EXPECT_THAT(child.output, HasSubstr("[  PASSED  ] 1 test.")) << child.output;
  return false;
}
#endif  // FSB_HEAP_PROFILES

TEST(PprofServerTest, IndexListsTheEndpoints) {
  std::unique_ptr<PprofServer> server = StartPprof();
  ASSERT_NE(server, nullptr);
  for (const char* path : {"/debug/pprof/", "/debug/pprof"}) {
    HttpReply reply = Get(*server, path);
    EXPECT_EQ(reply.status, 200);
    EXPECT_EQ(reply.headers["content-type"], "text/plain; charset=utf-8");
    EXPECT_THAT(reply.body, HasSubstr("/debug/pprof/profile?seconds=N"));
    EXPECT_THAT(reply.body, HasSubstr("/debug/pprof/heap"));
  }
  EXPECT_EQ(Get(*server, "/metrics").status, 404);
  EXPECT_EQ(Get(*server, "/debug/pprof/goroutine").status, 404);
}

TEST(PprofServerTest, CpuProfileIsReadableByGooglePprof) {
  std::unique_ptr<PprofServer> server = StartPprof();
  ASSERT_NE(server, nullptr);
  std::atomic<bool> stop{false};
  std::thread burner([&stop] { BurnCpuForTheProfiler(stop); });
  HttpReply reply = Get(*server, "/debug/pprof/profile?seconds=1");
  stop = true;
  burner.join();
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.headers["content-type"], "application/octet-stream");
  ASSERT_FALSE(reply.body.empty());
  // The profiler is free again.
  ProfilerState state{};
  ProfilerGetCurrentState(&state);
  EXPECT_FALSE(state.enabled);

  if (!OnPath("google-pprof")) GTEST_SKIP() << kNoGooglePprof;
  CommandResult pprof = PprofText(reply.body);
  EXPECT_EQ(pprof.exit_code, 0) << pprof.output;
  EXPECT_THAT(pprof.output, HasSubstr("Total: "));
  EXPECT_THAT(pprof.output, HasSubstr("BurnCpuForTheProfiler"));
}

TEST(PprofServerTest, BadSecondsAreRejected) {
  std::unique_ptr<PprofServer> server = StartPprof();
  ASSERT_NE(server, nullptr);
  for (const char* seconds : {"0", "301", "-1", "abc", "1.5", "", "1s", "99999999999"}) {
    HttpReply reply = Get(*server, absl::StrCat("/debug/pprof/profile?seconds=", seconds));
    EXPECT_EQ(reply.status, 400) << seconds;
    EXPECT_EQ(reply.body, absl::StrCat("seconds=\"", seconds,
                                       "\": expected a whole number of seconds from 1 to 300\n"));
  }
}

TEST(PprofServerTest, OneCpuProfileAtATimeAndStopCutsItShort) {
  std::unique_ptr<PprofServer> server = StartPprof();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<HttpReply> first;
  std::thread taker([&] { first = Fetch(server->port(), "/debug/pprof/profile?seconds=300"); });
  // Wait (bounded) until the first request runs the profiler.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  ProfilerState state{};
  for (ProfilerGetCurrentState(&state); !state.enabled && absl::Now() < deadline;
       ProfilerGetCurrentState(&state)) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(state.enabled) << "the first profile never started";

  HttpReply second = Get(*server, "/debug/pprof/profile?seconds=1");
  EXPECT_EQ(second.status, 409);
  EXPECT_THAT(second.body, HasSubstr("already being taken"));

  server->Stop();  // does not wait the 300 s out
  taker.join();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->status, 503);
  EXPECT_EQ(first->body, "CPU profile cut short: the server is stopping\n");
  ProfilerGetCurrentState(&state);
  EXPECT_FALSE(state.enabled);
}

#if FSB_HEAP_PROFILES
TEST(PprofServerTest, HeapProfileWithSamplingIsReadableByGooglePprof) {
  if (!OnPath("google-pprof")) GTEST_SKIP() << kNoGooglePprof;
  if (!InProcessWithHeapSampling(true)) return;
  std::unique_ptr<PprofServer> server = StartPprof();
  ASSERT_NE(server, nullptr);
  std::vector<std::unique_ptr<char[]>> blocks = AllocateForTheHeapProfile();
  HttpReply reply = Get(*server, "/debug/pprof/heap");
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.headers["content-type"], "application/octet-stream");
  EXPECT_THAT(reply.body, StartsWith("heap profile: "));

  CommandResult pprof = PprofText(reply.body);
  EXPECT_EQ(pprof.exit_code, 0) << pprof.output;
  EXPECT_THAT(pprof.output, HasSubstr("AllocateForTheHeapProfile")) << pprof.output;
}

TEST(PprofServerTest, HeapProfileWithoutSamplingSaysHowToTurnItOn) {
  if (!InProcessWithHeapSampling(false)) return;
  std::unique_ptr<PprofServer> server = StartPprof();
  ASSERT_NE(server, nullptr);
  HttpReply reply = Get(*server, "/debug/pprof/heap");
  EXPECT_EQ(reply.status, 501);
  EXPECT_EQ(reply.headers["content-type"], "text/plain; charset=utf-8");
  EXPECT_THAT(reply.body, HasSubstr("heap sampling is off"));
  EXPECT_THAT(reply.body, HasSubstr("TCMALLOC_SAMPLE_PARAMETER="));
}
#else
TEST(PprofServerTest, HeapProfileInASanitizerBuildSaysWhyThereIsNone) {
  std::unique_ptr<PprofServer> server = StartPprof();
  ASSERT_NE(server, nullptr);
  HttpReply reply = Get(*server, "/debug/pprof/heap");
  EXPECT_EQ(reply.status, 501);
  EXPECT_THAT(reply.body, HasSubstr("sanitizer build"));
}
#endif

TEST(PprofServerTest, TempDirMustBeAFolder) {
  absl::StatusOr<std::unique_ptr<PprofServer>> server =
      PprofServer::Create({.bind_address = "127.0.0.1:0", .temp_dir = "/nonexistent/fsb-profiles"});
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(), HasSubstr("/nonexistent/fsb-profiles"));
}

}  // namespace
}  // namespace fsb::admin
