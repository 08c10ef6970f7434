#include "internal/http/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

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
  const BodySink* sink = nullptr;
  int64_t max_body = 0;
  Response response;
  bool too_large = false;
  absl::Status sink_error;  // why the sink stopped the transfer
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

}  // namespace

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

absl::StatusOr<Response> Client::Get(const std::string& url,
                                     const std::vector<std::string>& headers,
                                     const BodySink* sink) const {
  CurlHandle curl = NewHandle();
  if (curl == nullptr) return absl::ResourceExhaustedError("cannot create a curl handle");
  std::unique_ptr<curl_slist, SlistDeleter> header_list;
  for (const std::string& h : headers) {
    header_list.reset(curl_slist_append(header_list.release(), h.c_str()));
  }
  Transfer transfer{.sink = sink, .max_body = options_.max_body};
  char error_buffer[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, header_list.get());
  if (!options_.user_agent.empty()) {
    curl_easy_setopt(c, CURLOPT_USERAGENT, options_.user_agent.c_str());
  }
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  if (options_.follow_redirects) {
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  }
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, Millis(options_.connect_timeout));
  // 0 would mean no timeout at all.
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, std::max(1L, Millis(options_.request_timeout)));
  if (options_.stall_timeout > absl::ZeroDuration()) {
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(absl::ToInt64Seconds(options_.stall_timeout)));
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
  if (code != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(
        "GET ", url, ": ", error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code)));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  transfer.response.status = status;
  return std::move(transfer.response);
}

}  // namespace fsb::http
