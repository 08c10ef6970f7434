#include "controller/request_validation.h"

#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "controller/fastpath_server.h"
#include "controller/pool_service.h"
#include "controller/sandbox_spec.h"
#include "internal/request_limits.h"
#include "internal/validation.h"

namespace fsb::controller {

absl::Status ValidateCreateRequest(const fastpath::v1::CreateRequest& request, absl::Time now) {
  return SandboxFromCreateSpec(CreateSpecFromRequest(request), v1alpha1::SandboxSpec::fast, now)
      .status();
}

absl::Status ValidateUpdateRequest(const fastpath::v1::UpdateRequest& request, absl::Time now) {
  return ValidateSandboxUpdate(SandboxUpdateFromRequest(request), now);
}

absl::Status ValidateApplyRequest(const fastpath::v1::ApplyRequest& request, absl::Time now) {
  return SandboxFromResource(request.sandbox(), v1alpha1::SandboxSpec::fast, now).status();
}

absl::Status ValidateApplySandboxPoolRequest(const fastpath::v1::ApplySandboxPoolRequest& request) {
  return PoolFromResource(request.pool()).status();
}

absl::StatusOr<std::optional<absl::Duration>> DeleteGraceFromRequest(
    const fastpath::v1::DeleteRequest& request) {
  if (absl::Status s = ValidateSandboxRef(request.namespace_(), request.sandbox_name()); !s.ok()) {
    return s;
  }
  if (!request.has_grace_period_seconds()) return std::nullopt;
  if (absl::Status s = ValidateRange("grace_period_seconds", request.grace_period_seconds(), 0,
                                     kMaxDeleteGracePeriodSeconds, "seconds");
      !s.ok()) {
    return s;
  }
  return absl::Seconds(request.grace_period_seconds());
}

absl::Status ValidateLogsRequest(const fastpath::v1::LogsRequest& request) {
  if (absl::Status s = ValidateSandboxRef(request.namespace_(), request.sandbox_name()); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateRange("since_unix_seconds", request.since_unix_seconds(), 0,
                                     kMaxUnixSeconds, "seconds");
      !s.ok()) {
    return s;
  }
  if (request.tail_lines() > kMaxLogsTailLines) {
    return absl::InvalidArgumentError(absl::StrCat("tail_lines: ", request.tail_lines(),
                                                   " lines is above the maximum of ",
                                                   kMaxLogsTailLines));
  }
  return absl::OkStatus();
}

absl::Status ValidateExecStart(const fastpath::v1::ExecStart& start) {
  if (absl::Status s = ValidateSandboxRef(start.namespace_(), start.sandbox_name()); !s.ok()) {
    return s;
  }
  if (start.args().empty()) {
    return absl::InvalidArgumentError("args: is empty; an exec needs the program to run");
  }
  if (absl::Status s = ValidateArgv({{"args", start.args()}}); !s.ok()) return s;
  std::vector<std::pair<std::string_view, std::string_view>> env;
  env.reserve(start.env_size());
  for (const auto& [name, value] : start.env()) env.emplace_back(name, value);
  if (absl::Status s = ValidateEnv("env", env); !s.ok()) return s;
  if (absl::Status s = ValidateWorkingDir("working_dir", start.working_dir()); !s.ok()) return s;
  if (start.rows() > kMaxTerminalSide || start.cols() > kMaxTerminalSide ||
      (start.rows() == 0) != (start.cols() == 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rows, cols: ", start.rows(), "x", start.cols(),
                     " is not a terminal size: both 0 (unset) or both in 1-", kMaxTerminalSide));
  }
  return absl::OkStatus();
}

}  // namespace fsb::controller
