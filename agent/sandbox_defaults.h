#ifndef FSB_AGENT_SANDBOX_DEFAULTS_H_
#define FSB_AGENT_SANDBOX_DEFAULTS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "agent/oci_spec.h"
#include "fsb/agent/v1/agent.pb.h"

namespace fsb::agent {

// What every sandbox of an agent gets where its request says nothing (the agent's
// flags): limits that keep one sandbox from taking the node, an OOM score adjustment
// that makes the kernel pick a sandbox over the agent, and the open-file limit. Both
// create paths use them through ApplySandboxDefaults: a cold create's spec, and the spec
// a prepared (warm) instance is made from, so that a claim only writes the request's
// own limits over them and ends up where a cold create would.
struct SandboxDefaults {
  int64_t pids = 1024;                      // 0: no limit
  int64_t memory_bytes = int64_t{1} << 30;  // 0: no limit
  uint64_t cpu_shares = 1024;               // 0: the runtime's default (nothing written)
  int oom_score_adj = 500;
  uint64_t nofile = 1024;  // RLIMIT_NOFILE, soft and hard
};

// INVALID_ARGUMENT naming the field: a negative limit, cpu_shares outside the kernel's
// 2..262144 (unless 0), oom_score_adj outside -1000..1000, or nofile 0.
absl::Status ValidateSandboxDefaults(const SandboxDefaults& defaults);

// Sets the limits of `options` — each limit `request` sets (non-zero), else the
// default — and the defaults' cpu shares, oom_score_adj and NOFILE.
void ApplySandboxDefaults(const SandboxDefaults& defaults, const v1::ResourceLimits& request,
                          RuntimeSpecOptions* options);

// A short text that differs between different defaults, e.g.
// "pids=1024,memory=1073741824,cpu-shares=1024,oom-score-adj=500,nofile=1024". Prepared
// instances carry it as a label: one made with other defaults is not re-adopted.
std::string SandboxDefaultsKey(const SandboxDefaults& defaults);

}  // namespace fsb::agent

#endif  // FSB_AGENT_SANDBOX_DEFAULTS_H_
