#ifndef FSB_AGENT_IMAGE_IMPORTER_H_
#define FSB_AGENT_IMAGE_IMPORTER_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
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
//
// Re-pointing an image name that exists with another digest is an explicit choice
// (`force`): without it the import is refused with ALREADY_EXISTS, the code fsb uses for
// a name taken by something different (as a create under a known request id with
// another spec), before any image of the archive is unpacked or named, so no image
// record changes. The blobs already streamed belong only to the import's lease, which
// is deleted when Import returns; containerd's garbage collector then drops those no
// image references. The check and the naming are not atomic: of two concurrent
// imports of one new name, both pass and the later one names it.
class ImageImporter {
 public:
  // `store` must outlive the importer.
  explicit ImageImporter(ImageStore* store) : store_(store) {}

  // Imports the archive `source` yields; returns the normalized names of the images it
  // recorded, in index.json order. Importing the same archive again succeeds.
  // INVALID_ARGUMENT for input that is not an OCI image archive, names no image, lacks
  // a blob an image needs or holds a blob that does not match its digest;
  // ALREADY_EXISTS when it would re-point a name and `force` is false; containerd's own
  // errors otherwise (UNAVAILABLE when it cannot be reached).
  absl::StatusOr<std::vector<std::string>> Import(const ChunkSource& source, bool force);

 private:
  ImageStore* const store_;
};

// Whether the image name `name`, now pointing at `current` (nullopt: no such image),
// may be pointed at `digest`: OK when it is new, already points there, or `force`;
// otherwise ALREADY_EXISTS naming the image and both digests.
absl::Status CheckRepoint(std::string_view name, const std::optional<std::string>& current,
                          std::string_view digest, bool force);

}  // namespace fsb::agent

#endif  // FSB_AGENT_IMAGE_IMPORTER_H_
