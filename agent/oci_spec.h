#ifndef FSB_AGENT_OCI_SPEC_H_
#define FSB_AGENT_OCI_SPEC_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "fsb/agent/v1/agent.pb.h"
#include "fsb/oci/v1/image.pb.h"

namespace fsb::agent {

// The process a sandbox runs: the request merged over the image config.
struct ProcessSpec {
  std::vector<std::string> args;
  std::vector<std::string> env;  // "KEY=VALUE", image order, request overrides in place
  std::string cwd;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;  // from the image's /etc/group membership
};

// The image's /etc/passwd and /etc/group, as far as user resolution needs them.
struct UserDatabase {
  struct User {
    uint32_t uid = 0;
    uint32_t gid = 0;
  };
  std::map<std::string, User> users;                       // by name
  std::map<std::string, uint32_t> groups;                  // gid by name
  std::map<std::string, std::vector<uint32_t>> member_of;  // user name -> gids listing it
};

// Parses passwd(5) and group(5) text; malformed lines are skipped.
UserDatabase ParseUserDatabase(std::string_view passwd, std::string_view group);

// Whether an image User needs the image's user database to resolve (it names a user or
// group instead of numeric "uid[:gid]").
bool NeedsUserDatabase(std::string_view user);

// Merges a sandbox request over its image's config:
//   argv = command + args when command is set; else Entrypoint + (args or Cmd);
//   env  = image Env with request keys replaced in place, new keys appended sorted;
//   cwd  = request working_dir, else image WorkingDir, else "/";
//   user = image User "user[:group]", each numeric or a name resolved in `users` (the
//          image's /etc/passwd and /etc/group); a named user also gets the groups that
//          list it. A numeric uid without a group uses the uid's passwd gid, else uid.
// INVALID_ARGUMENT when the result has no argv; FAILED_PRECONDITION naming the user or
// group when a name is not in `users` (or `users` is null).
absl::StatusOr<ProcessSpec> MergeProcess(const fsb::oci::v1::ImageConfig& image,
                                         const fsb::agent::v1::SandboxSpec& request,
                                         const UserDatabase* users = nullptr);

// `base` ("KEY=VALUE", in order) with each key of `overrides` replaced in place, and the
// keys it lacks appended in key order. The one merge of env lists: a create's request
// over its image, an exec's over its sandbox.
std::vector<std::string> MergeEnv(const std::vector<std::string>& base,
                                  const std::map<std::string, std::string>& overrides);

// Docker's default capability set less CAP_NET_RAW: the bounding, effective and
// permitted sets of every sandbox process (inheritable and ambient are empty). Raw and
// packet sockets would let untrusted code forge and sniff packets on the network it is
// attached to; ping works without them through ICMP datagram sockets where the node's
// net.ipv4.ping_group_range allows.
const std::vector<std::string>& DefaultCapabilities();
// The bit mask (bit n = capability n) of capability names such as "CAP_CHOWN".
uint64_t CapabilityMask(const std::vector<std::string>& names);

// The CFS period a CPU limit is expressed over (100 ms, as Docker and Kubernetes use),
// and the quota for `millicores` over it.
inline constexpr uint32_t kCfsPeriodMicros = 100000;
inline int64_t CpuQuotaMicros(int64_t millicores) { return millicores * kCfsPeriodMicros / 1000; }

struct BindMount {
  std::string source;  // host path
  std::string destination;
  bool readonly = true;
};

struct RuntimeSpecOptions {
  std::string hostname;
  std::string cgroups_path;  // e.g. "/fsb/<id>"
  bool readonly_rootfs = false;
  // Limits; 0 means none. CPU becomes a CFS quota over a 100 ms period; cpu_shares is
  // the cgroup's relative CPU weight (cgroup v1 cpu.shares; runc maps it to cpu.weight
  // on v2).
  int64_t cpu_millicores = 0;
  uint64_t cpu_shares = 0;
  int64_t memory_bytes = 0;
  int64_t pids = 0;
  // The process's oom_score_adj; unset: inherited from the runtime.
  std::optional<int> oom_score_adj;
  // RLIMIT_NOFILE, soft and hard.
  uint64_t nofile = 1024;
  // The sandbox's network namespace (a path: a network slot's), and the files mounted
  // read-only at /etc/hosts and /etc/resolv.conf. An empty `netns` joins the runtime's
  // own network namespace (the agent's: --sandbox-network=host), whose files are the
  // node's.
  std::string netns;
  std::string hosts_file = "/etc/hosts";
  std::string resolv_conf_file = "/etc/resolv.conf";
  std::map<std::string, std::string> annotations;
  // Added to the default capabilities and to the seccomp profile's allowed syscalls (a
  // prepared instance's init holds CAP_SYS_ADMIN and may mount until it becomes the
  // sandbox's process), and mounts after the default ones.
  std::vector<std::string> extra_capabilities;
  std::vector<std::string> extra_syscalls;
  std::vector<BindMount> extra_mounts;
};

// A process resource limit of the runtime spec.
struct ProcessRlimit {
  std::string_view type;  // "RLIMIT_NOFILE"
  int resource;           // RLIMIT_NOFILE
  uint64_t soft;
  uint64_t hard;
};
// The rlimits of a sandbox process with `options`: the one list both the runtime spec
// (a cold create, runc) and a prepared instance's init order (a warm one) apply.
std::vector<ProcessRlimit> ProcessRlimits(const RuntimeSpecOptions& options);

// Returns the OCI runtime spec (runtime-spec 1.0) as JSON: root "rootfs", the default
// mounts (proc, dev, devpts, shm, mqueue, sysfs, cgroup, and `hosts_file` and
// `resolv_conf_file`, read-only), pid/ipc/uts/mount namespaces and the network namespace
// `netns` when set, Docker's default capability set, the rlimits and
// OOM score adjustment, masked and read-only kernel paths (Docker's, and the powercap
// energy counters), no_new_privileges, fsb's seccomp profile (agent/seccomp/profile.h),
// the cgroups path and the resource limits.
std::string BuildRuntimeSpecJson(const ProcessSpec& process, const RuntimeSpecOptions& options);

}  // namespace fsb::agent

#endif  // FSB_AGENT_OCI_SPEC_H_
