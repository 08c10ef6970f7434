#ifndef FSB_AGENT_CONTAINERD_RUNTIME_H_
#define FSB_AGENT_CONTAINERD_RUNTIME_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "agent/containerd.h"
#include "agent/runtime.h"

namespace fsb::agent {

// Label every container fsb creates carries; ListManaged() selects on it and nothing
// else is ever touched.
inline constexpr char kManagedLabel[] = "fsb.io/managed";

// Runtime on containerd's gRPC API and the runc v2 shim. Resolved images are cached
// by manifest digest (an image name re-pointed to a new manifest is re-resolved).
// Thread-safe.
class ContainerdRuntime : public Runtime {
 public:
  struct Options {
    std::string runtime_name = "io.containerd.runc.v2";
    absl::Duration kill_timeout = absl::Seconds(10);  // wait after SIGKILL
  };

  ContainerdRuntime(Containerd* containerd, Options options);

  absl::StatusOr<ResolvedImage> ResolveImage(std::string_view name) override;
  absl::StatusOr<uint32_t> CreateAndStart(const ContainerParams& params) override;
  absl::Status Stop(std::string_view id, absl::Duration grace) override;
  absl::Status Remove(std::string_view id) override;
  absl::StatusOr<std::vector<ContainerState>> ListManaged() override;
  absl::StatusOr<std::vector<std::string>> ListImages() override;

 private:
  // Reads the manifest for this platform from an image's target (manifest or index).
  absl::StatusOr<std::string> ManifestDigest(const std::string& image_name,
                                             const containerd::types::Descriptor& target);

  Containerd* const containerd_;
  const Options options_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, ResolvedImage> by_manifest_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_CONTAINERD_RUNTIME_H_
