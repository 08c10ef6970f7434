#ifndef FSB_INTERNAL_HTTP_CLIENT_H_
#define FSB_INTERNAL_HTTP_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "internal/http/address.h"

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

// Where a redirect leads, when it may be followed.
struct Redirect {
  std::string url;
  // Whether `url` has the scheme, host and port of the URL redirected from. Headers
  // carrying credentials (Authorization) follow a redirect only to the same origin.
  bool same_origin = false;
};

// The redirect from absolute URL `from` to absolute URL `to`. PERMISSION_DENIED for a
// scheme other than http and https, and from https to http; INVALID_ARGUMENT when `to`
// is not a URL.
absl::StatusOr<Redirect> PlanRedirect(std::string_view from, std::string_view to);

// HTTP(S) GET on libcurl, one connection (one curl handle) per request and redirect.
// Certificates are verified against the system's CA store. Redirects, when followed, are
// followed here, not by curl: each one is checked by PlanRedirect, Authorization headers
// are dropped on a change of origin, and with an AddressPolicy each host is admitted (and
// connected to at the addresses admitted) before anything is sent to it. Thread-safe (the
// policy is).
class Client {
 public:
  struct Options {
    // 0: curl's default (300 s), within request_timeout.
    absl::Duration connect_timeout = absl::Seconds(10);
    // Each request and redirect that receives fewer than min_rate * stall_timeout body
    // bytes in a window of stall_timeout (consecutive windows from its start, waiting for
    // the answer included) is abandoned: UNAVAILABLE naming the rate. min_rate 0 or
    // stall_timeout 0: never.
    int64_t min_rate = 1024;  // bytes per second
    absl::Duration stall_timeout = absl::Seconds(60);
    // Upper bound of any one request, redirects included, however fast it progresses
    // (at least 1 ms).
    absl::Duration request_timeout = absl::Minutes(30);
    // Largest body held in memory (bodies not given to a sink).
    int64_t max_body = 4 << 20;
    bool follow_redirects = true;
    // More redirects than this in one request are UNAVAILABLE.
    int max_redirects = 5;
    std::string user_agent;  // empty: no User-Agent header
    // Which addresses requests may connect to; null: any, resolved by curl. Through a
    // proxy (curl honours http_proxy/https_proxy) the proxy connects: the policy then
    // checks what the names resolve to here, not where the proxy goes.
    std::shared_ptr<AddressPolicy> address_policy;
  };

  explicit Client(Options options);

  // GETs `url` (http:// or https://) with extra `headers` ("Name: value"). A 2xx body
  // goes to `sink` when one is given; any other body is returned in Response::body.
  // Non-2xx statuses are not errors here (a redirect not followed is returned as it is).
  // Errors name the URL ("GET <url>: ..."): UNAVAILABLE with curl's reason when the
  // server cannot be reached or the transfer breaks or times out, when it is slower than
  // the minimum rate, or redirects too often; PERMISSION_DENIED for a redirect or an
  // address refused; OUT_OF_RANGE when a body to hold exceeds max_body. The sink's own
  // error is returned as it is.
  absl::StatusOr<Response> Get(const std::string& url, const std::vector<std::string>& headers,
                               const BodySink* sink) const;

  // `value` escaped for a URL query.
  static std::string Escape(std::string_view value);

 private:
  struct Hop;
  // One request to `url`, no redirect followed, within `timeout`.
  absl::StatusOr<Hop> Perform(const std::string& url, const std::vector<std::string>& headers,
                              const BodySink* sink, absl::Duration timeout) const;

  const Options options_;
};

}  // namespace fsb::http

#endif  // FSB_INTERNAL_HTTP_CLIENT_H_
