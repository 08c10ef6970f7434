#include "internal/http/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "internal/strings.h"

namespace fsb::http {
namespace {

// The easy handle, cleaned up on destruction.
struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using CurlHandle = std::unique_ptr<CURL, CurlDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// A handle, after libcurl's one-time global setup (not thread-safe itself, so done once).
CurlHandle NewHandle() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return CurlHandle(curl_easy_init());
}

long Millis(absl::Duration d) { return static_cast<long>(absl::ToInt64Milliseconds(d)); }

// What the callbacks of one transfer share.
struct Transfer {
  CURL* curl = nullptr;
  const BodySink* sink = nullptr;
  int64_t max_body = 0;
  Response response;
  bool too_large = false;
  absl::Status sink_error;  // why the sink stopped the transfer
  // The minimum rate: at least `window_bytes` body bytes in each `window_us`.
  curl_off_t window_us = 0;  // 0: no minimum
  curl_off_t window_bytes = 0;
  curl_off_t window_start_us = 0;  // the current window's start and its byte count then
  curl_off_t window_start_received = 0;
  bool too_slow = false;
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  absl::string_view line(data, size * n);
  line = absl::StripSuffix(line, "\n");
  line = absl::StripSuffix(line, "\r");
  if (absl::StartsWith(line, "HTTP/")) {
    // A new response (after a redirect or a 100 Continue): its headers replace any seen.
    t->response.headers.clear();
    const size_t space = line.find(' ');
    long status = 0;
    if (space != absl::string_view::npos && absl::SimpleAtoi(line.substr(space + 1, 3), &status)) {
      t->response.status = status;
    }
  } else if (size_t colon = line.find(':'); colon != absl::string_view::npos) {
    t->response.headers.emplace_back(
        absl::AsciiStrToLower(line.substr(0, colon)),
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string_view piece(data, size * n);
  if (t->response.success() && t->sink != nullptr) {
    t->sink_error = (*t->sink)(piece);
    return t->sink_error.ok() ? piece.size() : 0;
  }
  if (static_cast<int64_t>(t->response.body.size() + piece.size()) > t->max_body) {
    t->too_large = true;
    return 0;  // stops the transfer
  }
  t->response.body.append(piece);
  return piece.size();
}

// curl's progress callback, called at least once a second: ends a transfer that was
// slower than the minimum rate over its last complete window.
int OnProgress(void* user, curl_off_t /*dltotal*/, curl_off_t received, curl_off_t /*ultotal*/,
               curl_off_t /*uploaded*/) {
  auto* t = static_cast<Transfer*>(user);
  curl_off_t now_us = 0;
  if (curl_easy_getinfo(t->curl, CURLINFO_TOTAL_TIME_T, &now_us) != CURLE_OK) return 0;
  if (now_us - t->window_start_us < t->window_us) return 0;
  if (received - t->window_start_received < t->window_bytes) {
    t->too_slow = true;
    return 1;  // aborts the transfer
  }
  t->window_start_us = now_us;
  t->window_start_received = received;
  return 0;
}

// The parts of an absolute http(s) URL that make its origin.
struct Origin {
  std::string scheme;  // lowercase
  std::string host;    // lowercase; IPv6 in brackets
  std::string port;    // the scheme's default when the URL has none
  bool operator==(const Origin&) const = default;
};

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

std::optional<std::string> UrlPart(CURLU* url, CURLUPart part, unsigned int flags) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, flags) != CURLUE_OK) return std::nullopt;
  std::string out = value;
  curl_free(value);
  return out;
}

// The origin of absolute URL `url`; its host is empty for URLs without one (file:).
absl::StatusOr<Origin> ParseOrigin(std::string_view url) {
  std::unique_ptr<CURLU, UrlDeleter> parsed(curl_url());
  const std::string text(url);
  if (parsed == nullptr) return absl::ResourceExhaustedError("cannot create a curl URL");
  if (curl_url_set(parsed.get(), CURLUPART_URL, text.c_str(), CURLU_NON_SUPPORT_SCHEME) !=
      CURLUE_OK) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a URL"));
  }
  std::optional<std::string> scheme = UrlPart(parsed.get(), CURLUPART_SCHEME, 0);
  if (!scheme.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a URL"));
  }
  return Origin{absl::AsciiStrToLower(*scheme),
                absl::AsciiStrToLower(UrlPart(parsed.get(), CURLUPART_HOST, 0).value_or("")),
                UrlPart(parsed.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT).value_or("")};
}

bool IsRedirectStatus(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// Whether the header line `header` ("Name: value") carries credentials.
bool IsCredentialHeader(std::string_view header) {
  const size_t colon = header.find(':');
  return colon != std::string_view::npos &&
         absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(Sv(header.substr(0, colon))),
                                "authorization");
}

}  // namespace

absl::StatusOr<Redirect> PlanRedirect(std::string_view from, std::string_view to) {
  absl::StatusOr<Origin> source = ParseOrigin(from);
  if (!source.ok()) return source.status();
  absl::StatusOr<Origin> target = ParseOrigin(to);
  if (!target.ok()) return target.status();
  if (target->scheme != "http" && target->scheme != "https") {
    return absl::PermissionDeniedError(
        absl::StrCat("redirect to ", Sv(to), " refused: only http and https are followed"));
  }
  if (source->scheme == "https" && target->scheme == "http") {
    return absl::PermissionDeniedError(
        absl::StrCat("redirect from https to plain http (", Sv(to), ") refused"));
  }
  return Redirect{.url = std::string(to), .same_origin = *source == *target};
}

std::optional<std::string_view> Response::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return std::nullopt;
}

Client::Client(Options options) : options_(std::move(options)) {}

std::string Client::Escape(std::string_view value) {
  CurlHandle curl = NewHandle();
  char* escaped = curl_easy_escape(curl.get(), value.data(), static_cast<int>(value.size()));
  std::string out = escaped != nullptr ? escaped : "";
  curl_free(escaped);
  return out;
}

// The outcome of one request, no redirect followed.
struct Client::Hop {
  Response response;
  std::string location;  // the absolute URL a redirect points at; empty: none
  absl::Duration elapsed;
};

absl::StatusOr<Response> Client::Get(const std::string& url,
                                     const std::vector<std::string>& headers,
                                     const BodySink* sink) const {
  const absl::Duration timeout = std::max(absl::Milliseconds(1), options_.request_timeout);
  std::string current = url;
  std::vector<std::string> hop_headers = headers;
  absl::Duration elapsed;
  for (int redirects = 0;; ++redirects) {
    absl::StatusOr<Hop> hop = Perform(current, hop_headers, sink, timeout - elapsed);
    if (!hop.ok()) return hop.status();
    elapsed += hop->elapsed;
    if (!options_.follow_redirects || !IsRedirectStatus(hop->response.status) ||
        hop->location.empty()) {
      return std::move(hop->response);
    }
    if (redirects == options_.max_redirects) {
      return absl::UnavailableError(
          absl::StrCat("GET ", url, ": more than ", options_.max_redirects, " redirects"));
    }
    if (elapsed >= timeout) {
      return absl::UnavailableError(
          absl::StrCat("GET ", url, ": the request and its redirects took longer than ",
                       absl::FormatDuration(timeout)));
    }
    absl::StatusOr<Redirect> next = PlanRedirect(current, hop->location);
    if (!next.ok()) {
      return absl::Status(next.status().code(),
                          absl::StrCat("GET ", url, ": ", next.status().message()));
    }
    if (!next->same_origin) std::erase_if(hop_headers, IsCredentialHeader);
    current = std::move(next->url);
  }
}

absl::StatusOr<Client::Hop> Client::Perform(const std::string& url,
                                            const std::vector<std::string>& headers,
                                            const BodySink* sink, absl::Duration timeout) const {
  CurlHandle curl = NewHandle();
  if (curl == nullptr) return absl::ResourceExhaustedError("cannot create a curl handle");
  std::unique_ptr<curl_slist, SlistDeleter> header_list;
  for (const std::string& h : headers) {
    header_list.reset(curl_slist_append(header_list.release(), h.c_str()));
  }
  // With a policy, the host is admitted first and curl connects to the addresses admitted.
  std::unique_ptr<curl_slist, SlistDeleter> pinned;
  if (options_.address_policy != nullptr) {
    absl::StatusOr<Origin> origin = ParseOrigin(url);
    if (!origin.ok()) return origin.status();
    absl::StatusOr<std::vector<IpAddress>> admitted = options_.address_policy->Admit(origin->host);
    if (!admitted.ok()) {
      return absl::Status(admitted.status().code(),
                          absl::StrCat("GET ", url, ": ", admitted.status().message()));
    }
    if (!IpAddress::Parse(origin->host).has_value()) {  // names only; curl does not resolve IPs
      std::vector<std::string> addresses;
      for (const IpAddress& a : *admitted) {
        addresses.push_back(a.is_v4() ? a.ToString() : absl::StrCat("[", a.ToString(), "]"));
      }
      const std::string entry =
          absl::StrCat(origin->host, ":", origin->port, ":", absl::StrJoin(addresses, ","));
      pinned.reset(curl_slist_append(nullptr, entry.c_str()));
    }
  }
  Transfer transfer{.sink = sink, .max_body = options_.max_body};
  char error_buffer[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  transfer.curl = c;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, header_list.get());
  if (pinned != nullptr) curl_easy_setopt(c, CURLOPT_RESOLVE, pinned.get());
  if (!options_.user_agent.empty()) {
    curl_easy_setopt(c, CURLOPT_USERAGENT, options_.user_agent.c_str());
  }
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // Get follows, after its checks
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, Millis(options_.connect_timeout));
  // 0 would mean no timeout at all.
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, std::max(1L, Millis(timeout)));
  if (options_.min_rate > 0 && options_.stall_timeout > absl::ZeroDuration()) {
    transfer.window_us = absl::ToInt64Microseconds(options_.stall_timeout);
    transfer.window_bytes = static_cast<curl_off_t>(static_cast<double>(options_.min_rate) *
                                                    absl::ToDoubleSeconds(options_.stall_timeout));
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &transfer);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  }
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
  const CURLcode code = curl_easy_perform(c);
  if (!transfer.sink_error.ok()) return transfer.sink_error;
  if (transfer.too_large) {
    return absl::OutOfRangeError(
        absl::StrCat("GET ", url, ": the body is larger than ", options_.max_body, " bytes"));
  }
  if (transfer.too_slow) {
    return absl::UnavailableError(absl::StrCat(
        "GET ", url, ": slower than the minimum rate of ", options_.min_rate, " bytes/s over ",
        absl::FormatDuration(options_.stall_timeout), "; abandoned"));
  }
  if (code != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(
        "GET ", url, ": ", error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code)));
  }
  Hop hop;
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  transfer.response.status = status;
  hop.response = std::move(transfer.response);
  if (const char* location = nullptr;
      curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &location) == CURLE_OK && location != nullptr) {
    hop.location = location;
  }
  curl_off_t total_us = 0;
  curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &total_us);
  hop.elapsed = absl::Microseconds(total_us);
  return hop;
}

}  // namespace fsb::http
