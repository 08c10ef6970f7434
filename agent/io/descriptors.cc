#include "agent/io/descriptors.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "internal/strings.h"

namespace fsb::agent {

absl::Status DescriptorError(std::string_view what, int error) {
  if (error == EMFILE || error == ENFILE) {
    return absl::ResourceExhaustedError(
        absl::StrCat("no file descriptor left for ", Sv(what), ": ", std::strerror(error)));
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("cannot create ", Sv(what), ": ", std::strerror(error)));
}

absl::Status EventFdStatus(const logger::EventFd& event) {
  if (event.ok()) return absl::OkStatus();
  return DescriptorError("an eventfd", event.error());
}

}  // namespace fsb::agent
