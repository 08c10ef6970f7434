#include "agent/containerd/runtime.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

TEST(TaskCreateErrorTest, RuncRefusingTheProcessIsInvalidArgument) {
  const absl::Status exec = TaskCreateError(absl::UnknownError(
      "failed to create shim task: OCI runtime create failed: runc create failed: unable to "
      "start container process: exec: \"/no/such\": stat /no/such: no such file or directory: "
      "unknown"));
  EXPECT_EQ(exec.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(exec.message(),
            "cannot start the sandbox's process: exec: \"/no/such\": stat /no/such: no such file "
            "or directory");
  EXPECT_EQ(TaskCreateError(
                absl::UnknownError("runc create failed: unable to start container process: error "
                                   "during container init: mkdir /etc/passwd: not a directory: "
                                   "unknown"))
                .code(),
            absl::StatusCode::kInvalidArgument);
  // Other failures keep their code.
  const absl::Status mount = absl::UnknownError(
      "runc create failed: unable to start container process: error during container init: "
      "error mounting \"proc\": permission denied: unknown");
  EXPECT_EQ(TaskCreateError(mount), mount);
  EXPECT_EQ(TaskCreateError(absl::UnavailableError("down")).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace fsb::agent
