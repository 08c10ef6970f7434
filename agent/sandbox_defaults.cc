#include "agent/sandbox_defaults.h"

#include "absl/strings/str_cat.h"

namespace fsb::agent {

absl::Status ValidateSandboxDefaults(const SandboxDefaults& defaults) {
  if (defaults.pids < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("default pids limit ", defaults.pids, " is negative"));
  }
  if (defaults.memory_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("default memory limit ", defaults.memory_bytes, " is negative"));
  }
  // The kernel's range of cpu.shares (MIN_SHARES, MAX_SHARES).
  if (defaults.cpu_shares != 0 && (defaults.cpu_shares < 2 || defaults.cpu_shares > 262144)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cpu shares ", defaults.cpu_shares, " are outside 2..262144 (0: none)"));
  }
  if (defaults.oom_score_adj < -1000 || defaults.oom_score_adj > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("oom_score_adj ", defaults.oom_score_adj, " is outside -1000..1000"));
  }
  if (defaults.nofile == 0) return absl::InvalidArgumentError("the NOFILE limit must be positive");
  return absl::OkStatus();
}

void ApplySandboxDefaults(const SandboxDefaults& defaults, const v1::ResourceLimits& request,
                          RuntimeSpecOptions* options) {
  options->cpu_millicores = request.cpu_millicores();
  options->memory_bytes =
      request.memory_bytes() > 0 ? request.memory_bytes() : defaults.memory_bytes;
  options->pids = request.pids() > 0 ? request.pids() : defaults.pids;
  options->cpu_shares = defaults.cpu_shares;
  options->oom_score_adj = defaults.oom_score_adj;
  options->nofile = defaults.nofile;
}

std::string SandboxDefaultsKey(const SandboxDefaults& defaults) {
  return absl::StrCat("pids=", defaults.pids, ",memory=", defaults.memory_bytes,
                      ",cpu-shares=", defaults.cpu_shares,
                      ",oom-score-adj=", defaults.oom_score_adj, ",nofile=", defaults.nofile);
}

}  // namespace fsb::agent
