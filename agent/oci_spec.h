#ifndef FSB_AGENT_OCI_SPEC_H_
#define FSB_AGENT_OCI_SPEC_H_

#include <cstdint>
#include <map>
#include <string>
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
};

// Merges a sandbox request over its image's config:
//   argv = command + args when command is set; else Entrypoint + (args or Cmd);
//   env  = image Env with request keys replaced in place, new keys appended sorted;
//   cwd  = request working_dir, else image WorkingDir, else "/";
//   user = image User as numeric "uid[:gid]" (or "root"/empty).
// INVALID_ARGUMENT when the result has no argv; UNIMPLEMENTED for a named user (needs
// /etc/passwd resolution in the rootfs).
absl::StatusOr<ProcessSpec> MergeProcess(const fsb::oci::v1::ImageConfig& image,
                                         const fsb::agent::v1::SandboxSpec& request);

struct RuntimeSpecOptions {
  std::string hostname;
  std::string cgroups_path;  // e.g. "/fsb/<id>"
  bool readonly_rootfs = false;
  std::map<std::string, std::string> annotations;
};

// Returns the OCI runtime spec (runtime-spec 1.0) as JSON: root "rootfs", the default
// mounts (proc, dev, devpts, shm, mqueue, sysfs, cgroup, and the host's resolv.conf and
// hosts, read-only), pid/ipc/uts/mount namespaces (the network namespace is the
// agent's, shared by its sandboxes), Docker's default capability set, masked and
// read-only kernel paths, no_new_privileges, and the cgroups path.
std::string BuildRuntimeSpecJson(const ProcessSpec& process, const RuntimeSpecOptions& options);

}  // namespace fsb::agent

#endif  // FSB_AGENT_OCI_SPEC_H_
