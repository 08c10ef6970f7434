#ifndef FSB_AGENT_IMAGE_IMPORTER_H_
#define FSB_AGENT_IMAGE_IMPORTER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/image/store.h"
#include "agent/image/tar.h"

namespace fsb::agent {

// Imports OCI image archives (an image layout in a tar: `oci-layout`, `index.json`,
// `blobs/sha256/<hex>`, as `scripts/build-test-image.sh`, `skopeo copy oci-archive:` and
// `ctr images export` write them) into containerd. Blobs stream from the archive into
// the content store as they come (in whatever order the tar holds them), so memory
// stays bounded by the chunk size whatever the image's size; then every image
// index.json names is unpacked and recorded. Thread-safe as the store is.
class ImageImporter {
 public:
  // `store` must outlive the importer.
  explicit ImageImporter(ImageStore* store) : store_(store) {}

  // Imports the archive `source` yields; returns the normalized names of the images it
  // recorded, in index.json order. Importing the same archive again succeeds.
  // INVALID_ARGUMENT for input that is not an OCI image archive, names no image, lacks
  // a blob an image needs or holds a blob that does not match its digest; containerd's
  // own errors otherwise (UNAVAILABLE when it cannot be reached).
  absl::StatusOr<std::vector<std::string>> Import(const ChunkSource& source);

 private:
  ImageStore* const store_;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_IMAGE_IMPORTER_H_
