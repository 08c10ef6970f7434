#ifndef FSB_AGENT_KERNEL_FILE_H_
#define FSB_AGENT_KERNEL_FILE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace fsb::agent {

// Writes `value` to a kernel control file (a cgroup's limit, a process's
// /proc/<pid>/oom_score_adj) in one write(2), as the kernel takes them: no create, no
// truncation. FAILED_PRECONDITION naming the path, the value and the kernel's reason
// when the file cannot be opened or the kernel refuses the value.
absl::Status WriteKernelFile(const std::string& path, std::string_view value);

}  // namespace fsb::agent

#endif  // FSB_AGENT_KERNEL_FILE_H_
