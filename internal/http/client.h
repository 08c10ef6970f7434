#ifndef FSB_INTERNAL_HTTP_CLIENT_H_
#define FSB_INTERNAL_HTTP_CLIENT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fsb::http {

struct Response {
  long status = 0;
  // Header names lowercased, in arrival order (of the last response when redirected).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // unless it went to a sink

  // Whether the status is 2xx.
  bool success() const { return status >= 200 && status < 300; }
  // The first value of header `name` (lowercase), if present.
  std::optional<std::string_view> Header(std::string_view name) const;
};

// Receives a successful (2xx) response's body piece by piece; an error stops the
// transfer and is what Client::Get returns.
using BodySink = std::function<absl::Status(std::string_view data)>;

// HTTP(S) GET on libcurl, one connection (one curl handle) per request. Certificates are
// verified against the system's CA store. Redirects, when followed, stay on http and
// https, at most 5; curl does not carry an Authorization header to another host.
// Stateless, so thread-safe.
class Client {
 public:
  struct Options {
    // 0: curl's default (300 s), within request_timeout.
    absl::Duration connect_timeout = absl::Seconds(10);
    // A transfer slower than 1 KiB/s for this long (whole seconds) is abandoned; 0: never.
    absl::Duration stall_timeout = absl::Seconds(60);
    // Upper bound of any one request, however fast it progresses (at least 1 ms).
    absl::Duration request_timeout = absl::Minutes(30);
    // Largest body held in memory (bodies not given to a sink).
    int64_t max_body = 4 << 20;
    bool follow_redirects = true;
    std::string user_agent;  // empty: no User-Agent header
  };

  explicit Client(Options options);

  // GETs `url` (http:// or https://) with extra `headers` ("Name: value"). A 2xx body
  // goes to `sink` when one is given; any other body is returned in Response::body.
  // Non-2xx statuses are not errors here. Errors name the URL ("GET <url>: ..."):
  // UNAVAILABLE with curl's reason when the server cannot be reached or the transfer
  // breaks or times out; OUT_OF_RANGE when a body to hold exceeds max_body. The sink's
  // own error is returned as it is.
  absl::StatusOr<Response> Get(const std::string& url, const std::vector<std::string>& headers,
                               const BodySink* sink) const;

  // `value` escaped for a URL query.
  static std::string Escape(std::string_view value);

 private:
  const Options options_;
};

}  // namespace fsb::http

#endif  // FSB_INTERNAL_HTTP_CLIENT_H_
