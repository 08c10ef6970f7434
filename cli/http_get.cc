#include "cli/http_get.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "internal/http/client.h"

namespace fsb::cli {

absl::StatusOr<std::string> HttpGet(const std::string& url, absl::Duration timeout) {
  const http::Client client({
      .connect_timeout = absl::ZeroDuration(),  // within `timeout`
      .stall_timeout = absl::ZeroDuration(),
      .request_timeout = timeout,
      .max_body = kMaxHttpBody,
      .follow_redirects = false,
  });
  absl::StatusOr<http::Response> response = client.Get(url, {}, /*sink=*/nullptr);
  if (!response.ok()) return response.status();
  if (!response->success()) {
    return absl::UnavailableError(absl::StrCat("GET ", url, ": HTTP status ", response->status));
  }
  return std::move(response->body);
}

}  // namespace fsb::cli
