#ifndef FSB_AGENT_WARM_WARM_TARGETS_H_
#define FSB_AGENT_WARM_WARM_TARGETS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/warm/warm_pool.h"

namespace fsb::agent {

// The most prepared instances of one image an agent keeps (SandboxPool.spec.warmImages
// caps its count the same way).
inline constexpr int kMaxWarmPerImage = 1000;

// Parses --warm values: each "IMAGE=N" or a comma-separated list of them. Images are
// normalized; an image named twice is an error. INVALID_ARGUMENT naming the bad entry.
absl::StatusOr<std::vector<WarmTarget>> ParseWarmTargets(const std::vector<std::string>& values);

}  // namespace fsb::agent

#endif  // FSB_AGENT_WARM_WARM_TARGETS_H_
