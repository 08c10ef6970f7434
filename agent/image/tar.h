#ifndef FSB_AGENT_IMAGE_TAR_H_
#define FSB_AGENT_IMAGE_TAR_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fsb::agent {

// Supplies a byte stream in order, one chunk at a time: fills `chunk` and returns true,
// or returns false at the end of the stream. Chunks may have any size, including zero.
using ChunkSource = std::function<bool(std::string* chunk)>;

struct TarEntry {
  enum class Type { kFile, kDirectory, kSymlink, kHardLink, kOther };
  // The member's path with long-name extensions (GNU 'L', PAX `path`, the ustar prefix)
  // applied and leading "./" and "/" removed; directories keep no trailing '/'.
  std::string path;
  Type type = Type::kOther;
  int64_t size = 0;  // bytes of data that follow the header
};

// Reads a tar archive (POSIX ustar, PAX and GNU formats) from a ChunkSource, streaming:
// it holds one chunk and one header at a time, never a member's whole data, so memory
// stays bounded by the source's chunk size (plus up to 1 MiB of PAX / long-name
// metadata). Malformed input (bad header checksum, a stream that ends inside a member,
// oversized metadata) is INVALID_ARGUMENT with the offset where it was found.
// Not thread-safe.
class TarReader {
 public:
  explicit TarReader(ChunkSource source) : source_(std::move(source)) {}

  // Advances to the next member, skipping what is left of the current one's data.
  // Returns nullopt at the end of the archive (an all-zero block, or the end of the
  // stream right at a member boundary).
  absl::StatusOr<std::optional<TarEntry>> Next();

  // The next piece of the current member's data, at most `max` bytes; empty once the
  // member's data is exhausted. The view is valid until the next call on this reader.
  absl::StatusOr<std::string_view> Read(size_t max);

  // Reads the rest of the current member into a string; INVALID_ARGUMENT naming `what`
  // when it is larger than `limit` bytes.
  absl::StatusOr<std::string> ReadAll(size_t limit, std::string_view what);

 private:
  // Makes unread bytes available in `buffer_`; false at the end of the stream.
  bool Fill();
  // Copies exactly `n` bytes into `out`; INVALID_ARGUMENT if the stream ends first.
  absl::Status ReadExact(char* out, size_t n);
  // Discards `n` bytes of the stream.
  absl::Status Discard(int64_t n);
  absl::Status Malformed(std::string_view what) const;

  ChunkSource source_;
  std::string buffer_;
  size_t pos_ = 0;         // next unread byte in buffer_
  int64_t offset_ = 0;     // bytes of the stream consumed so far
  int64_t remaining_ = 0;  // data bytes of the current member not yet read
  int64_t padding_ = 0;    // padding after the current member's data
  bool ended_ = false;     // Next() returned nullopt
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_IMAGE_TAR_H_
