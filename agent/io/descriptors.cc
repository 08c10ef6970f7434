#include "agent/io/descriptors.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "internal/strings.h"

namespace fsb::agent {
namespace {

bool NoDescriptorLeft(int error) { return error == EMFILE || error == ENFILE; }

}  // namespace

absl::Status DescriptorError(std::string_view what, int error) {
  if (NoDescriptorLeft(error)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("no file descriptor left for ", Sv(what), ": ", std::strerror(error)));
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("cannot create ", Sv(what), ": ", std::strerror(error)));
}

absl::Status ErrnoStatus(std::string_view what, std::string_view path) {
  const int error = errno;
  return absl::Status(
      NoDescriptorLeft(error) ? absl::StatusCode::kResourceExhausted : absl::StatusCode::kInternal,
      absl::StrCat(Sv(what), " ", Sv(path), ": ", std::strerror(error)));
}

absl::Status EventFdStatus(const logger::EventFd& event) {
  if (event.ok()) return absl::OkStatus();
  return DescriptorError("an eventfd", event.error());
}

}  // namespace fsb::agent
