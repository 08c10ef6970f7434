#include "internal/subprocess.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb {
namespace {

using ::testing::HasSubstr;

TEST(RunSubprocessTest, FeedsStdinAndCapturesBothStreamsAndTheExitCode) {
  absl::StatusOr<SubprocessResult> r = RunSubprocess(
      {.argv = {"/bin/sh", "-c", "cat; echo oops >&2; exit 3"}, .stdin_data = "hello"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->stdout_data, "hello");
  EXPECT_EQ(r->stderr_data, "oops\n");
}

TEST(RunSubprocessTest, PassesExactlyTheGivenEnvironment) {
  absl::StatusOr<SubprocessResult> r =
      RunSubprocess({.argv = {"/usr/bin/env"}, .env = {"CNI_COMMAND=ADD", "A=b"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->stdout_data, "CNI_COMMAND=ADD\nA=b\n");
}

TEST(RunSubprocessTest, LargeStdinToAProgramThatDoesNotReadItIsNotFatal) {
  // The child exits without reading: our writes see EPIPE, not SIGPIPE.
  absl::StatusOr<SubprocessResult> r =
      RunSubprocess({.argv = {"/bin/true"}, .stdin_data = std::string(8 << 20, 'x')});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0);
}

TEST(RunSubprocessTest, ASignalIsReportedAs128PlusItsNumber) {
  absl::StatusOr<SubprocessResult> r = RunSubprocess({.argv = {"/bin/sh", "-c", "kill -9 $$"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 128 + 9);
}

TEST(RunSubprocessTest, AProgramPastItsTimeoutIsKilled) {
  absl::StatusOr<SubprocessResult> r =
      RunSubprocess({.argv = {"/bin/sleep", "30"}, .timeout = absl::Milliseconds(100)});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(r.status().message(), HasSubstr("/bin/sleep"));
}

TEST(RunSubprocessTest, AMissingProgramIsAnErrorNamingIt) {
  absl::StatusOr<SubprocessResult> r = RunSubprocess({.argv = {"/nonexistent/plugin"}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(r.status().message(), HasSubstr("/nonexistent/plugin"));
}

TEST(RunSubprocessTest, NoProgramIsInvalid) {
  EXPECT_EQ(RunSubprocess({}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fsb
