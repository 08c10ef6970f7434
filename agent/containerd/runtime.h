#ifndef FSB_AGENT_CONTAINERD_RUNTIME_H_
#define FSB_AGENT_CONTAINERD_RUNTIME_H_

#include <functional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "agent/containerd/client.h"
#include "agent/image_puller.h"
#include "agent/runtime.h"

namespace fsb::agent {

// Labels every container and snapshot fsb creates carries: managed = "true", and the
// agent that owns it. ListManaged() and ListManagedSnapshots() select on both, so an
// agent never touches what is not fsb's, nor another agent's sandboxes in a shared
// containerd namespace.
inline constexpr char kManagedLabel[] = "fsb.io/managed";
inline constexpr char kOwnerLabel[] = "fsb.io/agent";

// The error a create reports when Tasks.Create failed with `status`: runc's refusals of
// the process itself (argv[0] missing or not executable, a working directory that cannot
// be made) become INVALID_ARGUMENT, as a warm create reports them; anything else is
// returned as it is.
absl::Status TaskCreateError(const absl::Status& status);

// Runtime on containerd's gRPC API and the runc v2 shim. Resolved images are cached
// by manifest digest (an image name re-pointed to a new manifest is re-resolved); files
// read from image root filesystems are cached by chain id and path. Thread-safe.
class ContainerdRuntime : public Runtime {
 public:
  struct Options {
    std::string runtime_name = "io.containerd.runc.v2";
    absl::Duration kill_timeout = absl::Seconds(10);  // wait after SIGKILL
    std::string owner = "fsb-agent";                  // this agent's id, for kOwnerLabel
    // The task stdio URI for a sandbox's log file (stdout and stderr both); default:
    // file://<log path>, written raw by the shim. fsb-agent uses its logger
    // (LoggerStdioUri). Must be thread-safe.
    std::function<std::string(std::string_view log_path)> stdio_uri;
    // Pulls images the node lacks (ResolveImage pulls on a miss); null: never pulls.
    ImagePuller* puller = nullptr;
  };

  ContainerdRuntime(Containerd* containerd, Options options);

  absl::StatusOr<ResolvedImage> ResolveImage(std::string_view name) override;
  absl::StatusOr<uint32_t> CreateAndStart(const ContainerParams& params,
                                          AgentTimings& timings) override;
  absl::Status Stop(std::string_view id, absl::Duration grace) override;
  absl::Status UpdateContainer(std::string_view id,
                               const std::map<std::string, std::string>& labels,
                               std::string_view extension, std::string_view spec_json) override;
  absl::Status Remove(std::string_view id) override;
  absl::StatusOr<std::vector<ContainerState>> ListManaged() override;
  absl::StatusOr<std::vector<std::string>> ListManagedSnapshots() override;
  absl::StatusOr<std::vector<std::string>> ListImages() override;
  absl::StatusOr<std::string> ReadImageFile(std::string_view chain_id,
                                            std::string_view path) override;

  // Removes this agent's snapshot views (kSnapshotViewLabel) that no read uses, with their
  // leases: those a crash mid-read left. Returns how many it removed; containerd's error
  // when it cannot list them. The janitor calls it at start and in every sweep.
  absl::StatusOr<int> RemoveLeftoverViews();

 private:
  // The containerd filter selecting this agent's objects.
  std::string OwnedFilter() const;
  // Reads `path` from the directories of a read-only view of the snapshot `chain_id`,
  // safely (ReadLayerFile).
  // Each view lives under a lease of the same id, created just before it.
  absl::StatusOr<std::string> ReadFromView(std::string_view chain_id, std::string_view path);
  // Removes a view and its lease: OK, NOT_FOUND when the view was gone already, or
  // containerd's error (logged; the janitor tries again).
  absl::Status RemoveView(const std::string& view);

  // Reads the manifest for this platform from an image's target (manifest or index).
  absl::StatusOr<std::string> ManifestDigest(const std::string& image_name,
                                             const containerd::types::Descriptor& target);

  Containerd* const containerd_;
  const Options options_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, ResolvedImage> by_manifest_ ABSL_GUARDED_BY(mu_);
  // (chain id, path) -> file content or its NOT_FOUND.
  absl::flat_hash_map<std::pair<std::string, std::string>, absl::StatusOr<std::string>> files_
      ABSL_GUARDED_BY(mu_);
  // The views of reads in progress: from before Snapshots.View until after their removal.
  absl::flat_hash_set<std::string> views_in_use_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_CONTAINERD_RUNTIME_H_
