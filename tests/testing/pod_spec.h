#ifndef FSB_TESTS_TESTING_POD_SPEC_H_
#define FSB_TESTS_TESTING_POD_SPEC_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace fsb::testing {

// How Kubernetes would run one container of a workload (Deployment, DaemonSet, ...):
// the fields of its pod template that decide the container's process, identity, mounts
// and network, as rendered manifests spell them. Plain data.
struct PodContainer {
  struct Env {
    std::string name;
    std::string value;       // when set literally
    std::string field_path;  // valueFrom.fieldRef.fieldPath ("spec.nodeName", ...)
  };
  struct Volume {
    enum class Kind { kHostPath, kSecret, kEmptyDir, kPersistentVolumeClaim };
    std::string name;
    Kind kind = Kind::kEmptyDir;
    std::string host_path;    // kHostPath
    std::string secret_name;  // kSecret
    // kSecret: the keys projected, key -> file path (empty: every key, as its own name).
    std::map<std::string, std::string> items;
    std::optional<uint32_t> default_mode;  // kSecret
  };
  struct Mount {
    Volume volume;  // the pod's volume it mounts
    std::string path;
    bool read_only = false;
    std::string propagation;  // mountPropagation: "", None, HostToContainer, Bidirectional
  };

  std::string image;
  std::vector<std::string> command;  // empty: the image's entrypoint
  std::vector<std::string> args;     // empty with no command: the image's cmd
  std::vector<Env> env;
  std::vector<Mount> mounts;
  std::vector<int> ports;  // containerPort, in order
  bool privileged = false;
  bool read_only_root = false;
  bool host_network = false;
  // The container's securityContext over the pod's.
  std::optional<int64_t> run_as_user;
  std::optional<int64_t> run_as_group;
  std::optional<int64_t> fs_group;  // the pod's
};

// Reads container `container` of the object of `kind` named `name` in the multi-document
// manifest `manifests`. NOT_FOUND naming what is missing (the object, the container);
// INVALID_ARGUMENT for a manifest that cannot be run as written: YAML errors, a field of
// the wrong type, a mount of a volume the pod lacks, a volume kind or an env source this
// reader does not know (each named), a port outside 1-65535.
absl::StatusOr<PodContainer> ReadPodContainer(std::string_view manifests, std::string_view kind,
                                              std::string_view name, std::string_view container);

// Kubernetes' expansion of command and args: $(NAME) becomes the value of `vars[NAME]`
// when defined and stays as written when not; $$ is a literal $.
std::string ExpandVars(std::string_view s, const std::map<std::string, std::string>& vars);

}  // namespace fsb::testing

#endif  // FSB_TESTS_TESTING_POD_SPEC_H_
