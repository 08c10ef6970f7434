#ifndef FSB_AGENT_WARM_CGROUP_LIMITS_H_
#define FSB_AGENT_WARM_CGROUP_LIMITS_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "fsb/agent/v1/agent.pb.h"

namespace fsb::agent {

// Writes a sandbox's CPU, memory and pids limits into the cgroup of a running container,
// with the values runc writes when a cold create carries them in the OCI spec
// (oci_spec.h): CFS quota over kCfsPeriodMicros, the memory limit, the pids limit. A
// warm instance starts with the agent's SandboxDefaults and gets the limits its request
// sets over them before its process is released. Stateless after construction; thread-safe.
class CgroupLimits {
 public:
  // Where each controller's hierarchy is mounted: cgroup v1 (cpu, memory and pids each
  // mounted somewhere) or the v2 unified hierarchy.
  struct Roots {
    bool unified = false;
    std::string unified_root;       // v2
    std::string cpu, memory, pids;  // v1
  };

  // Finds the hierarchies in a mountinfo(5) table (the node's /proc/self/mountinfo).
  // FAILED_PRECONDITION naming what is missing.
  static absl::StatusOr<CgroupLimits> FromMountInfo(std::string_view mountinfo);
  static absl::StatusOr<CgroupLimits> Detect();
  explicit CgroupLimits(Roots roots) : roots_(std::move(roots)) {}

  // Applies the non-zero limits to the cgroup `cgroups_path` (as in the OCI spec, e.g.
  // "/fsb/<id>"). FAILED_PRECONDITION when the kernel refuses a value (e.g. a memory
  // limit below what the cgroup already uses), naming the file; limits written before
  // the failure stay written.
  absl::Status Apply(std::string_view cgroups_path, const v1::ResourceLimits& limits) const;

  const Roots& roots() const { return roots_; }

 private:
  Roots roots_;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_WARM_CGROUP_LIMITS_H_
