#ifndef FSB_AGENT_IMAGE_HTTP_H_
#define FSB_AGENT_IMAGE_HTTP_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fsb::agent {

struct HttpResponse {
  long status = 0;
  // Header names lowercased, in arrival order (of the last response when redirected).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // unless it went to a sink

  // The first value of header `name` (lowercase), if present.
  std::optional<std::string_view> Header(std::string_view name) const;
};

// Receives a successful response's body piece by piece; an error stops the transfer
// and is what Get returns.
using BodySink = std::function<absl::Status(std::string_view data)>;

// HTTP(S) GET on libcurl, one connection per request (registry pulls are a handful of
// large transfers, not many small ones). Certificates are verified against the system's
// CA store. Redirects are followed (registries send blob downloads to storage hosts);
// curl does not carry an Authorization header to another host. Stateless, so
// thread-safe.
class HttpClient {
 public:
  struct Options {
    absl::Duration connect_timeout = absl::Seconds(10);
    // A transfer slower than 1 KiB/s for this long is abandoned.
    absl::Duration stall_timeout = absl::Seconds(60);
    // Upper bound of any one request, however fast it progresses.
    absl::Duration request_timeout = absl::Minutes(30);
    // Largest body held in memory (answers not given to a sink).
    int64_t max_body = 4 << 20;
  };

  explicit HttpClient(Options options);

  // GETs `url` with extra `headers` ("Name: value"). A 2xx body goes to `sink` when one
  // is given; any other body is returned in HttpResponse::body. Non-2xx statuses are
  // not errors here. UNAVAILABLE with curl's reason when the server cannot be reached
  // or the transfer breaks; OUT_OF_RANGE when a body to hold exceeds max_body; the
  // sink's error when it fails.
  absl::StatusOr<HttpResponse> Get(const std::string& url, const std::vector<std::string>& headers,
                                   const BodySink* sink) const;

  // `value` escaped for a URL query.
  static std::string Escape(std::string_view value);

 private:
  const Options options_;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_IMAGE_HTTP_H_
