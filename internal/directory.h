#ifndef FSB_INTERNAL_DIRECTORY_H_
#define FSB_INTERNAL_DIRECTORY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fsb {

// The names of the entries of the directory `dir` (without "." and ".."), in no
// particular order. Never throws (std::filesystem's iteration does, on an error met part
// way through): NOT_FOUND when `dir` does not exist, INTERNAL for any other error, also
// one met after some entries were read (a listing is whole or an error). The message
// names `dir` and the error. Thread-safe.
absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir);

}  // namespace fsb

#endif  // FSB_INTERNAL_DIRECTORY_H_
