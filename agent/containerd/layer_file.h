#ifndef FSB_AGENT_CONTAINERD_LAYER_FILE_H_
#define FSB_AGENT_CONTAINERD_LAYER_FILE_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fsb::agent {

struct LayerFileLimits {
  size_t max_bytes = 1 << 20;
  absl::Duration timeout = absl::Seconds(2);  // the whole lookup and read
};

// Reads the file at the absolute `path` of an image's root filesystem from the
// directories of its snapshot (`layers`, topmost first: an overlay's lowerdirs, or the
// one directory of a bind view), as the merged root filesystem shows it, without
// reaching anything outside the layers — the agent runs this as root on the host, over
// content the image's author chose (an /etc/passwd that is a symlink to the host's
// /etc/shadow, a FIFO, a huge file).
//
// Resolution follows overlayfs, one component at a time: the topmost layer that has
// the name wins; a whiteout (a 0:0 character device) hides the layers below; a
// directory merges with the same directory of the layers below unless it is opaque
// (trusted.overlay.opaque=y) or a lower layer has a non-directory there. Symbolic links
// are read and resolved against the merged root filesystem — an absolute target from the
// image's root, ".." never above it, at most 40 links — so a link in one layer may name
// a file of another, as it does inside the sandbox. The kernel itself never follows a
// link nor leaves a layer: every open is an openat2(2) below the layer's directory with
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV. Only a regular file is opened
// for reading (O_NONBLOCK | O_NOCTTY, re-checked on the open descriptor); its size is
// capped by `limits.max_bytes`, and `limits.timeout` bounds the whole call (checked
// between steps and reads).
//
// NOT_FOUND when the path does not exist in the merged view (or a component of it is
// not a directory); FAILED_PRECONDITION naming the path and why when it is not a regular
// file (a directory, FIFO, device or socket), is larger than the cap, loops through
// symbolic links, crosses a mount, or the timeout passes; INVALID_ARGUMENT for a
// relative path. Thread-safe (no shared state).
absl::StatusOr<std::string> ReadLayerFile(const std::vector<std::string>& layers,
                                          std::string_view path, const LayerFileLimits& limits);

}  // namespace fsb::agent

#endif  // FSB_AGENT_CONTAINERD_LAYER_FILE_H_
