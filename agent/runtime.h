#ifndef FSB_AGENT_RUNTIME_H_
#define FSB_AGENT_RUNTIME_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/agent_metrics.h"
#include "fsb/oci/v1/image.pb.h"

namespace fsb::agent {

// An image present on the node, ready to back a container.
struct ResolvedImage {
  std::string name;      // as containerd names it, e.g. docker.io/library/busybox:latest
  std::string chain_id;  // snapshot parent of the unpacked image
  fsb::oci::v1::ImageConfig config;
};

struct ContainerParams {
  std::string id;  // container id == snapshot key == task id
  std::string image;
  std::string chain_id;
  std::string spec_json;  // OCI runtime spec
  std::map<std::string, std::string> labels;
  std::string log_path;  // stdout and stderr are appended here by the shim
  // Opaque bytes kept with the container and returned by ListManaged (the agent's own
  // description of the sandbox, for re-adopting it after an agent restart).
  std::string extension;
};

enum class TaskState { kNoTask, kCreated, kRunning, kStopped, kPaused, kUnknown };

struct ContainerState {
  std::string id;
  std::map<std::string, std::string> labels;
  std::string extension;  // as given in ContainerParams; empty if none was stored
  std::string spec_json;  // the OCI runtime spec it records
  absl::Time created_at;
  TaskState task = TaskState::kNoTask;
  uint32_t pid = 0;
  uint32_t exit_status = 0;
};

// The container runtime as the sandbox manager needs it: the seam between fsb's
// sandbox logic and containerd. Implementations are thread-safe.
class Runtime {
 public:
  virtual ~Runtime() = default;

  // NOT_FOUND naming the image when the node does not have it.
  virtual absl::StatusOr<ResolvedImage> ResolveImage(std::string_view name) = 0;
  // Creates the container, its snapshot and task, and starts it; returns the pid and
  // sets the container_create, snapshot_prepare, task_create and task_start durations
  // in `timings`. On failure nothing it created is left behind.
  virtual absl::StatusOr<uint32_t> CreateAndStart(const ContainerParams& params,
                                                  AgentTimings& timings) = 0;
  // SIGTERM, up to `grace` for the task to exit, then SIGKILL to all its processes (a
  // zero grace: SIGKILL at once). OK when there is no task or it already exited.
  virtual absl::Status Stop(std::string_view id, absl::Duration grace) = 0;
  // Rewrites a container's record — labels merged over its own, extension and OCI spec
  // replaced — without touching its task (a claimed warm instance becomes its sandbox's
  // record). NOT_FOUND for an unknown container.
  virtual absl::Status UpdateContainer(std::string_view id,
                                       const std::map<std::string, std::string>& labels,
                                       std::string_view extension, std::string_view spec_json) = 0;
  // Deletes task (killing it first if it still runs), container and snapshot, whichever
  // exist. NOT_FOUND if none did.
  virtual absl::Status Remove(std::string_view id) = 0;
  // The containers this agent manages, with their task state.
  virtual absl::StatusOr<std::vector<ContainerState>> ListManaged() = 0;
  // Keys of the snapshots this agent prepared for containers (some may have lost their
  // container in a crash).
  virtual absl::StatusOr<std::vector<std::string>> ListManagedSnapshots() = 0;
  // Names of the images on the node.
  virtual absl::StatusOr<std::vector<std::string>> ListImages() = 0;
  // The content of `path` (absolute) in an image's root filesystem, given the chain id of
  // its unpacked snapshot. NOT_FOUND when the image has no such file.
  virtual absl::StatusOr<std::string> ReadImageFile(std::string_view chain_id,
                                                    std::string_view path) = 0;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_RUNTIME_H_
