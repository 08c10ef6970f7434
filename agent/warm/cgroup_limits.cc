#include "agent/warm/cgroup_limits.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/kernel_file.h"
#include "agent/oci_spec.h"
#include "internal/strings.h"

namespace fsb::agent {

absl::StatusOr<CgroupLimits> CgroupLimits::FromMountInfo(std::string_view mountinfo) {
  Roots roots;
  for (absl::string_view line : absl::StrSplit(Sv(mountinfo), '\n', absl::SkipEmpty())) {
    // id parent major:minor root mount-point options [optional...] - fstype source super
    const size_t sep = line.find(" - ");
    if (sep == absl::string_view::npos) continue;
    std::vector<absl::string_view> head = absl::StrSplit(line.substr(0, sep), ' ');
    std::vector<absl::string_view> tail = absl::StrSplit(line.substr(sep + 3), ' ');
    if (head.size() < 5 || tail.size() < 3) continue;
    const std::string mount_point(head[4]);
    if (tail[0] == "cgroup2") {
      if (roots.unified_root.empty()) roots.unified_root = mount_point;
      continue;
    }
    if (tail[0] != "cgroup") continue;
    for (absl::string_view option : absl::StrSplit(tail[2], ',')) {
      if (option == "cpu") roots.cpu = mount_point;
      if (option == "memory") roots.memory = mount_point;
      if (option == "pids") roots.pids = mount_point;
    }
  }
  if (!roots.cpu.empty() || !roots.memory.empty() || !roots.pids.empty()) {
    if (roots.cpu.empty() || roots.memory.empty() || roots.pids.empty()) {
      return absl::FailedPreconditionError(
          "cgroup v1: the cpu, memory and pids controllers are not all mounted");
    }
    roots.unified_root.clear();
    return CgroupLimits(std::move(roots));
  }
  if (roots.unified_root.empty()) {
    return absl::FailedPreconditionError("no cgroup hierarchy is mounted");
  }
  roots.unified = true;
  return CgroupLimits(std::move(roots));
}

absl::StatusOr<CgroupLimits> CgroupLimits::Detect() {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream text;
  text << in.rdbuf();
  return FromMountInfo(text.str());
}

absl::Status CgroupLimits::Apply(std::string_view cgroups_path,
                                 const v1::ResourceLimits& limits) const {
  const std::string rel(cgroups_path);
  if (roots_.unified) {
    const std::string dir = roots_.unified_root + rel;
    if (limits.cpu_millicores() > 0) {
      absl::Status s = WriteKernelFile(
          dir + "/cpu.max",
          absl::StrCat(CpuQuotaMicros(limits.cpu_millicores()), " ", kCfsPeriodMicros));
      if (!s.ok()) return s;
    }
    if (limits.memory_bytes() > 0) {
      if (absl::Status s =
              WriteKernelFile(dir + "/memory.max", absl::StrCat(limits.memory_bytes()));
          !s.ok()) {
        return s;
      }
    }
    if (limits.pids() > 0) {
      if (absl::Status s = WriteKernelFile(dir + "/pids.max", absl::StrCat(limits.pids()));
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }
  if (limits.cpu_millicores() > 0) {
    const std::string dir = roots_.cpu + rel;
    // The period first: the kernel checks the quota against it.
    if (absl::Status s =
            WriteKernelFile(dir + "/cpu.cfs_period_us", absl::StrCat(kCfsPeriodMicros));
        !s.ok()) {
      return s;
    }
    if (absl::Status s = WriteKernelFile(dir + "/cpu.cfs_quota_us",
                                         absl::StrCat(CpuQuotaMicros(limits.cpu_millicores())));
        !s.ok()) {
      return s;
    }
  }
  if (limits.memory_bytes() > 0) {
    if (absl::Status s = WriteKernelFile(roots_.memory + rel + "/memory.limit_in_bytes",
                                         absl::StrCat(limits.memory_bytes()));
        !s.ok()) {
      return s;
    }
  }
  if (limits.pids() > 0) {
    if (absl::Status s =
            WriteKernelFile(roots_.pids + rel + "/pids.max", absl::StrCat(limits.pids()));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace fsb::agent
