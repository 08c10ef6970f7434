#ifndef FSB_CLI_HTTP_GET_H_
#define FSB_CLI_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fsb::cli {

// The largest body HttpGet accepts.
inline constexpr size_t kMaxHttpBody = 64 << 20;

// GETs `url` (http:// or https://, no redirects) with libcurl, the whole transfer within
// `timeout`, and returns the body of a 2xx answer. UNAVAILABLE naming the URL for a
// transfer error or another HTTP status; OUT_OF_RANGE for a body over kMaxHttpBody.
// Thread-safe (each call has its own handle).
absl::StatusOr<std::string> HttpGet(const std::string& url, absl::Duration timeout);

}  // namespace fsb::cli

#endif  // FSB_CLI_HTTP_GET_H_
