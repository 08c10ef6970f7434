#ifndef FSB_AGENT_IMAGE_REGISTRY_PULLER_H_
#define FSB_AGENT_IMAGE_REGISTRY_PULLER_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "agent/image/credentials.h"
#include "agent/image/store.h"
#include "agent/image_puller.h"
#include "internal/http/client.h"

namespace fsb::agent {

// ImagePuller from OCI distribution registries: the manifest (an index resolves to its
// linux/<arch> manifest), the config and the layers stream into containerd's content
// store (blobs already there are not downloaded again), then ImageStore::Install
// unpacks them and records the image. Registries on loopback and those the config lists
// as insecure are spoken to over HTTP, the others over HTTPS; credentials come from the
// config and go over HTTP only to registries it lists as insecure (see RegistryClient
// for redirects and addresses). Error messages are sanitized (SanitizeRemoteText) and
// bounded: they quote registries. Concurrent pulls of one image share a single transfer.
// Thread-safe.
class RegistryPuller final : public ImagePuller {
 public:
  struct Options {
    http::Client::Options http;

    // Options from the agent's flags --registry-min-rate (bytes/s, 0: no minimum),
    // --registry-min-rate-window and --registry-request-timeout (durations as
    // absl::ParseDuration reads them, at least 1s). INVALID_ARGUMENT naming the flag.
    static absl::StatusOr<Options> FromFlags(int64_t min_rate, std::string_view min_rate_window,
                                             std::string_view request_timeout);
  };

  // `store` must outlive the puller.
  RegistryPuller(ImageStore* store, RegistryCredentials credentials, Options options);

  absl::Status Pull(std::string_view name) override;

  // Makes sure the image `name` (any spelling) is on the node; returns its normalized
  // name and whether it had to be pulled. INVALID_ARGUMENT for a malformed reference.
  absl::StatusOr<std::pair<std::string, bool>> Ensure(std::string_view name);

 private:
  struct Flight {
    absl::Notification done;
    absl::Status status;  // written once, before `done` is notified
  };

  // One transfer of `name`, not deduplicated.
  absl::Status Transfer(const std::string& name);

  ImageStore* const store_;
  const RegistryCredentials credentials_;
  const Options options_;
  absl::Mutex mu_;
  // Pulls in progress by image name; removed when they end.
  absl::flat_hash_map<std::string, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_IMAGE_REGISTRY_PULLER_H_
