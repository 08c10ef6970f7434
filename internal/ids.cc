#include "internal/ids.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/base/internal/raw_logging.h"

namespace fsb {

std::string RandomHex(int bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::vector<uint8_t> buf(bytes);
  size_t filled = 0;
  while (filled < buf.size()) {
    ssize_t n = getrandom(buf.data() + filled, buf.size() - filled, 0);
    if (n <= 0 && errno != EINTR) ABSL_RAW_LOG(FATAL, "getrandom: %s", std::strerror(errno));
    if (n > 0) filled += n;
  }
  std::string out;
  out.reserve(2 * bytes);
  for (uint8_t b : buf) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

}  // namespace fsb
