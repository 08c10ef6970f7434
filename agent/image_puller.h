#ifndef FSB_AGENT_IMAGE_PULLER_H_
#define FSB_AGENT_IMAGE_PULLER_H_

#include <string_view>

#include "absl/status/status.h"

namespace fsb::agent {

// Brings images the node lacks onto it: the seam through which the runtime pulls on a
// miss. Implementations are thread-safe.
class ImagePuller {
 public:
  virtual ~ImagePuller() = default;

  // Fetches the image `name` (normalized, e.g. "127.0.0.1:5000/fsb/app:1") into
  // containerd and unpacks it. NOT_FOUND naming the image and the registry when the
  // registry does not have it; UNAVAILABLE naming the registry when it cannot be
  // reached; UNAUTHENTICATED / PERMISSION_DENIED when it refuses the credentials.
  virtual absl::Status Pull(std::string_view name) = 0;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_IMAGE_PULLER_H_
