#ifndef FSB_CONTROLLER_REQUEST_VALIDATION_H_
#define FSB_CONTROLLER_REQUEST_VALIDATION_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fastpath/v1/fastpath.pb.h"

namespace fsb::controller {

// The checks of the FastPath API's requests that need no state, in one place per
// request kind. Every field is checked against internal/request_limits.h; a refusal is
// INVALID_ARGUMENT whose message names the field, says what is wrong and gives the
// limit. Requests are checked before anything is looked up, placed or stored, so a
// refused request changes nothing. Pure ("now" is passed in), thread-safe.

// What the controller checks of a create, an update, an apply of a Sandbox or of a
// SandboxPool before it acts: the same decoding (CreateSpecFromRequest,
// SandboxUpdateFromRequest) and validation (SandboxFromCreateSpec, ValidateSandboxUpdate,
// SandboxFromResource, PoolFromResource) the services run, without their state: what
// depends on records (a taken name, an update's label count once applied, an apply's
// change of an immutable field) is not checked here. For callers that only validate:
// fuzz targets and tests.
absl::Status ValidateCreateRequest(const fastpath::v1::CreateRequest& request, absl::Time now);
absl::Status ValidateUpdateRequest(const fastpath::v1::UpdateRequest& request, absl::Time now);
absl::Status ValidateApplyRequest(const fastpath::v1::ApplyRequest& request, absl::Time now);
absl::Status ValidateApplySandboxPoolRequest(const fastpath::v1::ApplySandboxPoolRequest& request);

// A delete's sandbox (ValidateSandboxRef) and grace period, which it returns: unset
// (the agent's default) or 0-kMaxDeleteGracePeriodSeconds.
absl::StatusOr<std::optional<absl::Duration>> DeleteGraceFromRequest(
    const fastpath::v1::DeleteRequest& request);

// A logs request: its sandbox (ValidateSandboxRef), since_unix_seconds in
// 0..kMaxUnixSeconds, tail_lines at most kMaxLogsTailLines (negative: every line).
absl::Status ValidateLogsRequest(const fastpath::v1::LogsRequest& request);

// An exec's start: its sandbox (ValidateSandboxRef), args not empty (ValidateArgv),
// env (ValidateEnv), working dir (ValidateWorkingDir), and a terminal size of rows and
// cols both 0 (unset) or both in 1..kMaxTerminalSide.
absl::Status ValidateExecStart(const fastpath::v1::ExecStart& start);

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_REQUEST_VALIDATION_H_
