#ifndef FSB_INTERNAL_IMAGE_REF_H_
#define FSB_INTERNAL_IMAGE_REF_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fsb {

// Returns the fully qualified form of an image reference, as containerd names images:
// "busybox" -> "docker.io/library/busybox:latest", "ghcr.io/a/b" -> "ghcr.io/a/b:latest";
// a reference with a tag or digest keeps it. INVALID_ARGUMENT for a malformed reference,
// with a message naming what is wrong, and for one whose full form is longer than
// kMaxImageReferenceBytes. Normalizing a result gives it back unchanged.
absl::StatusOr<std::string> NormalizeImageReference(std::string_view ref);

}  // namespace fsb

#endif  // FSB_INTERNAL_IMAGE_REF_H_
