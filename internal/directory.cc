#include "internal/directory.h"

#include <filesystem>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace fsb {

absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> names;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  if (!ec) return names;
  const std::string message = absl::StrCat("cannot list ", dir, ": ", ec.message());
  if (ec == std::errc::no_such_file_or_directory) return absl::NotFoundError(message);
  return absl::InternalError(message);
}

}  // namespace fsb
