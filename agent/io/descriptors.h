#ifndef FSB_AGENT_IO_DESCRIPTORS_H_
#define FSB_AGENT_IO_DESCRIPTORS_H_

#include <string_view>

#include "absl/status/status.h"
#include "agent/logger/fd.h"

namespace fsb::agent {

// The answer when the kernel refused `what` (a descriptor: "an eventfd") with `error`
// (errno): RESOURCE_EXHAUSTED, naming the cause — "no file descriptor left for <what>:
// Too many open files" for EMFILE/ENFILE, "cannot create <what>: <reason>" otherwise. The
// request is refused, the agent goes on.
absl::Status DescriptorError(std::string_view what, int error);

// "<what> <path>: <errno's text>" for a failed file operation, from errno:
// RESOURCE_EXHAUSTED when it needed a descriptor and none was left (EMFILE, ENFILE),
// INTERNAL otherwise.
absl::Status ErrnoStatus(std::string_view what, std::string_view path);

// OK when `event` was created; its DescriptorError otherwise. Checked by whoever creates
// an EventFd before relying on it (a failed one never wakes a poll).
absl::Status EventFdStatus(const logger::EventFd& event);

}  // namespace fsb::agent

#endif  // FSB_AGENT_IO_DESCRIPTORS_H_
