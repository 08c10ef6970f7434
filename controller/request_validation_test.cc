#include "controller/request_validation.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/request_limits.h"

namespace fsb::controller {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

TEST(ValidateCreateRequestTest, RunsTheServersDecodingAndChecks) {
  fastpath::v1::CreateRequest req;
  req.set_image("busybox");
  EXPECT_TRUE(ValidateCreateRequest(req, kNow).ok());
  req.mutable_resources()->set_memory_bytes(1048576);
  EXPECT_EQ(ValidateCreateRequest(req, kNow).message(),
            "resources.memory_bytes: 1048576 bytes is below the minimum of 6291456");
  req.mutable_resources()->clear_memory_bytes();
  req.add_publish("x:1");  // refused by the decoding
  EXPECT_EQ(ValidateCreateRequest(req, kNow).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidateUpdateRequestTest, RunsTheServersDecodingAndChecks) {
  fastpath::v1::UpdateRequest req;
  req.set_sandbox_name("web");
  req.set_recovery_timeout_seconds(30);
  EXPECT_TRUE(ValidateUpdateRequest(req, kNow).ok());
  req.set_failure_policy(static_cast<fastpath::v1::FailurePolicy>(5));
  EXPECT_THAT(ValidateUpdateRequest(req, kNow).message(), HasSubstr("failure_policy 5"));
  req.set_expire_time_seconds(kMaxUnixSeconds + 1);
  EXPECT_THAT(ValidateUpdateRequest(req, kNow).message(),
              HasSubstr("expire_time_seconds: 253402300800 Unix seconds is outside"));
}

TEST(ValidateApplyRequestTest, RunsTheServersChecks) {
  fastpath::v1::ApplyRequest req;
  req.mutable_sandbox()->mutable_metadata()->set_name("web");
  req.mutable_sandbox()->mutable_spec()->set_image("busybox");
  EXPECT_TRUE(ValidateApplyRequest(req, kNow).ok());
  req.mutable_sandbox()->mutable_spec()->mutable_resources()->set_cpu_millicores(1);
  EXPECT_EQ(ValidateApplyRequest(req, kNow).message(),
            "resources.cpu_millicores: 1 millicores is below the minimum of 10");
}

TEST(ValidateApplySandboxPoolRequestTest, RunsTheServersChecks) {
  fastpath::v1::ApplySandboxPoolRequest req;
  req.mutable_pool()->mutable_metadata()->set_name("gpu");
  req.mutable_pool()->mutable_spec()->set_max_sandboxes_per_agent(kMaxSandboxesPerAgentLimit);
  EXPECT_TRUE(ValidateApplySandboxPoolRequest(req).ok());
  req.mutable_pool()->mutable_spec()->set_max_sandboxes_per_agent(kMaxSandboxesPerAgentLimit + 1);
  EXPECT_THAT(ValidateApplySandboxPoolRequest(req).message(),
              HasSubstr("spec.maxSandboxesPerAgent: 100001 sandboxes is above the maximum"));
}

TEST(DeleteGraceFromRequestTest, UnsetZeroAndTheLimit) {
  fastpath::v1::DeleteRequest req;
  req.set_sandbox_name("web");
  absl::StatusOr<std::optional<absl::Duration>> grace = DeleteGraceFromRequest(req);
  ASSERT_TRUE(grace.ok()) << grace.status();
  EXPECT_FALSE(grace->has_value());
  req.set_grace_period_seconds(0);
  EXPECT_EQ(**DeleteGraceFromRequest(req), absl::ZeroDuration());
  req.set_grace_period_seconds(kMaxDeleteGracePeriodSeconds);
  EXPECT_EQ(**DeleteGraceFromRequest(req), absl::Seconds(kMaxDeleteGracePeriodSeconds));
}

TEST(DeleteGraceFromRequestTest, Rejects) {
  fastpath::v1::DeleteRequest req;
  req.set_sandbox_name("web");
  req.set_grace_period_seconds(-1);
  EXPECT_EQ(DeleteGraceFromRequest(req).status().message(),
            "grace_period_seconds: -1 seconds is below the minimum of 0");
  req.set_grace_period_seconds(kMaxDeleteGracePeriodSeconds + 1);
  EXPECT_EQ(DeleteGraceFromRequest(req).status().message(),
            "grace_period_seconds: 601 seconds is above the maximum of 600");
  req.clear_grace_period_seconds();
  req.clear_sandbox_name();
  EXPECT_EQ(DeleteGraceFromRequest(req).status().message(), "sandbox_name is empty");
  req.set_sandbox_name("web");
  req.set_namespace_(std::string(64, 'n'));
  EXPECT_THAT(DeleteGraceFromRequest(req).status().message(),
              HasSubstr("longer than 63 characters"));
}

TEST(ValidateLogsRequestTest, AcceptsTheLimits) {
  fastpath::v1::LogsRequest req;
  req.set_sandbox_name("web");
  req.set_tail_lines(-1);
  EXPECT_TRUE(ValidateLogsRequest(req).ok());
  req.set_tail_lines(INT64_MIN);  // any negative tail: every line
  EXPECT_TRUE(ValidateLogsRequest(req).ok());
  req.set_tail_lines(kMaxLogsTailLines);
  req.set_since_unix_seconds(kMaxUnixSeconds);
  EXPECT_TRUE(ValidateLogsRequest(req).ok());
}

TEST(ValidateLogsRequestTest, Rejects) {
  fastpath::v1::LogsRequest req;
  req.set_sandbox_name("web");
  req.set_tail_lines(kMaxLogsTailLines + 1);
  EXPECT_EQ(ValidateLogsRequest(req).message(),
            "tail_lines: 1000001 lines is above the maximum of 1000000");
  req.clear_tail_lines();
  req.set_since_unix_seconds(-1);
  EXPECT_EQ(ValidateLogsRequest(req).message(),
            "since_unix_seconds: -1 seconds is below the minimum of 0");
  req.set_since_unix_seconds(INT64_MAX);
  EXPECT_EQ(ValidateLogsRequest(req).message(),
            "since_unix_seconds: 9223372036854775807 seconds is above the maximum of "
            "253402300799");
  req.clear_since_unix_seconds();
  req.set_sandbox_name("Web");
  EXPECT_THAT(ValidateLogsRequest(req).message(), HasSubstr("sandbox_name \"Web\""));
}

fastpath::v1::ExecStart Start() {
  fastpath::v1::ExecStart start;
  start.set_sandbox_name("web");
  start.add_args("sh");
  return start;
}

TEST(ValidateExecStartTest, AcceptsTheLimits) {
  fastpath::v1::ExecStart start = Start();
  EXPECT_TRUE(ValidateExecStart(start).ok());
  start.set_rows(kMaxTerminalSide);
  start.set_cols(1);
  start.set_working_dir("/" + std::string(kMaxPathBytes - 1, 'd'));
  (*start.mutable_env())["TERM"] = "xterm";
  for (int i = 1; i < kMaxArgs; ++i) start.add_args("");
  EXPECT_TRUE(ValidateExecStart(start).ok()) << ValidateExecStart(start);
}

struct BadStart {
  std::string what;
  void (*mutate)(fastpath::v1::ExecStart&);
  std::string message;
};

class ValidateExecStartRejectsTest : public ::testing::TestWithParam<BadStart> {};

TEST_P(ValidateExecStartRejectsTest, InvalidArgumentNamingTheField) {
  fastpath::v1::ExecStart start = Start();
  GetParam().mutate(start);
  absl::Status s = ValidateExecStart(start);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << GetParam().what;
  EXPECT_THAT(s.message(), HasSubstr(GetParam().message)) << s;
}

INSTANTIATE_TEST_SUITE_P(
    All, ValidateExecStartRejectsTest,
    ::testing::Values(
        BadStart{"no args", [](auto& s) { s.clear_args(); },
                 "args: is empty; an exec needs the program to run"},
        BadStart{"empty program", [](auto& s) { s.set_args(0, ""); },
                 "args[0]: is empty; it names the program to run"},
        BadStart{"NUL in an arg", [](auto& s) { s.add_args(std::string("-\0c", 3)); },
                 "args[1]: holds a NUL byte at offset 1"},
        BadStart{"too many args",
                 [](auto& s) {
                   for (int i = 0; i < kMaxArgs; ++i) s.add_args("x");
                 },
                 "args: 1025 entries, at most 1024 are allowed"},
        BadStart{"bad env name", [](auto& s) { (*s.mutable_env())["A-B"] = "x"; }, "env \"A-B\""},
        BadStart{"NUL in an env value",
                 [](auto& s) { (*s.mutable_env())["K"] = std::string("\0", 1); },
                 "env[K]: holds a NUL byte at offset 0"},
        BadStart{"relative dir", [](auto& s) { s.set_working_dir("tmp"); },
                 "working_dir \"tmp\" must be an absolute path"},
        BadStart{"NUL in the dir", [](auto& s) { s.set_working_dir(std::string("/\0", 2)); },
                 "working_dir: holds a NUL byte at offset 1"},
        BadStart{"rows without cols", [](auto& s) { s.set_rows(24); },
                 "rows, cols: 24x0 is not a terminal size: both 0 (unset) or both in 1-65535"},
        BadStart{"cols past a winsize",
                 [](auto& s) {
                   s.set_rows(24);
                   s.set_cols(kMaxTerminalSide + 1);
                 },
                 "rows, cols: 24x65536 is not a terminal size"},
        BadStart{"no sandbox", [](auto& s) { s.clear_sandbox_name(); }, "sandbox_name is empty"},
        BadStart{"bad namespace", [](auto& s) { s.set_namespace_("a_b"); },
                 "namespace \"a_b\" is invalid"}),
    [](const auto& info) {
      std::string name = info.param.what;
      for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

}  // namespace
}  // namespace fsb::controller
