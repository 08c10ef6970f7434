#include "internal/admin/http_server.h"

#include <civetweb.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <mutex>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "internal/strings.h"

namespace fsb::admin {
namespace {

struct BindAddress {
  std::string host;  // empty: every interface
  int port = 0;
};

absl::StatusOr<BindAddress> ParseBindAddress(std::string_view bind_address) {
  auto invalid = [bind_address](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("bind address \"", Sv(bind_address), "\": ", Sv(why)));
  };
  const size_t colon = bind_address.rfind(':');
  if (colon == std::string_view::npos) {
    return invalid("expected host:port, such as 127.0.0.1:6060 or :9091");
  }
  BindAddress parsed{.host = std::string(bind_address.substr(0, colon))};
  const std::string_view port = bind_address.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return invalid("the port must be a number from 0 to 65535");
  }
  std::from_chars(port.data(), port.data() + port.size(), parsed.port);
  if (parsed.port > 65535) return invalid("the port must be a number from 0 to 65535");
  // Anything else would be read by civetweb as its own syntax (lists, IPv6, options).
  if (parsed.host.find_first_of("[]:, \t") != std::string::npos) {
    return invalid("the host must be an IPv4 address or a host name (no IPv6 support)");
  }
  return parsed;
}

void InitCivetwebOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mg_init_library(0); });
}

}  // namespace

std::optional<std::string> HttpRequest::QueryParameter(std::string_view name) const {
  // Decoding never makes a value longer than the query it comes from.
  std::string value(query.size() + 1, '\0');
  const std::string name_z(name);
  const int n = mg_get_var2(query.data(), query.size(), name_z.c_str(), value.data(), value.size(),
                            /*occurrence=*/0);
  if (n < 0) return std::nullopt;
  value.resize(n);
  return value;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(
    std::string_view bind_address, std::map<std::string, HttpHandler> routes,
    const Limits& limits) {
  absl::StatusOr<BindAddress> address = ParseBindAddress(bind_address);
  if (!address.ok()) return address.status();
  if (limits.worker_threads < 1 || limits.request_timeout < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HTTP server limits: ", limits.worker_threads, " worker threads and a ",
        absl::FormatDuration(limits.request_timeout), " request timeout; at least 1 and 1ms"));
  }
  InitCivetwebOnce();

  std::unique_ptr<HttpServer> server(new HttpServer(std::string(bind_address), std::move(routes)));
  server->host_ = address->host;
  const std::string ports = address->host.empty() ? std::to_string(address->port)
                                                  : absl::StrCat(address->host, ":", address->port);
  const std::string threads = std::to_string(limits.worker_threads);
  const std::string timeout_ms = std::to_string(absl::ToInt64Milliseconds(limits.request_timeout));
  // civetweb's request_timeout_ms bounds the whole wait for a request's line and headers
  // (so a client sending them a byte at a time is cut off too) and each response write.
  const char* options[] = {
      "listening_ports",  ports.c_str(),       "num_threads", threads.c_str(), "request_timeout_ms",
      timeout_ms.c_str(), "enable_keep_alive", "no",          nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = &HttpServer::LogMessage;
  mg_init_data init{
      .callbacks = &callbacks, .user_data = server.get(), .configuration_options = options};
  char error_text[256] = "";
  unsigned error_code = 0;
  mg_error_data error{
      .code = &error_code, .text = error_text, .text_buffer_size = sizeof(error_text)};
  mg_context* context = mg_start2(&init, &error);
  {
    absl::MutexLock lock(&server->mu_);
    server->started_ = true;
    if (context == nullptr) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", Sv(bind_address), ": ",
                       server->startup_error_.empty() ? error_text : server->startup_error_));
    }
  }
  mg_server_port port{};
  CHECK_EQ(mg_get_server_ports(context, 1, &port), 1) << "civetweb listens on one port";
  server->port_ = port.port;
  // "/" matches every path: routing is ours (HandleRequest), exact paths only.
  mg_set_request_handler(context, "/", &HttpServer::HandleRequest, server.get());
  absl::MutexLock lock(&server->stop_mu_);
  server->context_ = context;
  return server;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  absl::MutexLock stop_lock(&stop_mu_);
  if (context_ == nullptr) return;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    // Responses must be sent before mg_stop: civetweb writes nothing once stopping.
    mu_.Await(absl::Condition(
        +[](int* in_flight) { return *in_flight == 0; }, &in_flight_));
  }
  std::atomic<bool> stopped{false};
  std::thread knocker([this, &stopped] { KnockUntil(stopped); });
  mg_stop(context_);  // joins civetweb's threads: no handler runs after this
  stopped = true;
  knocker.join();
  context_ = nullptr;
}

void HttpServer::KnockUntil(const std::atomic<bool>& stopped) const {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  // The host resolved when civetweb bound it; if it no longer does, civetweb's poll
  // ends on its own.
  if (getaddrinfo(host_.empty() ? "127.0.0.1" : host_.c_str(), std::to_string(port_).c_str(),
                  &hints, &found) != 0) {
    return;
  }
  while (!stopped) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      connect(fd, found->ai_addr, found->ai_addrlen);
      close(fd);
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  freeaddrinfo(found);
}

HttpResponse HttpServer::Route(std::string_view method, const HttpRequest& request) const {
  if (method != "GET") {
    return {.status = 405, .body = absl::StrCat("method ", Sv(method), " not allowed: use GET\n")};
  }
  auto it = routes_.find(request.path);
  if (it == routes_.end()) {
    return {.status = 404, .body = absl::StrCat("not found: ", request.path, "\n")};
  }
  return it->second(request);
}

int HttpServer::HandleRequest(mg_connection* conn, void* server_ptr) {
  auto* server = static_cast<HttpServer*>(server_ptr);
  bool stopping = false;
  {
    absl::MutexLock lock(&server->mu_);
    ++server->in_flight_;
    stopping = server->stopping_;
  }
  const mg_request_info* info = mg_get_request_info(conn);
  const HttpRequest request{.path = info->local_uri != nullptr ? info->local_uri : "",
                            .query = info->query_string != nullptr ? info->query_string : ""};
  const HttpResponse response =
      stopping ? HttpResponse{.status = 503, .body = "the server is stopping\n"}
               : server->Route(info->request_method, request);
  const std::string length = std::to_string(response.body.size());
  mg_response_header_start(conn, response.status);
  mg_response_header_add(conn, "Content-Type", response.content_type.c_str(), -1);
  mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
  mg_response_header_add(conn, "Cache-Control", "no-store", -1);
  if (response.status == 405) mg_response_header_add(conn, "Allow", "GET", -1);
  mg_response_header_send(conn);
  mg_write(conn, response.body.data(), response.body.size());
  absl::MutexLock lock(&server->mu_);
  --server->in_flight_;
  return response.status;
}

int HttpServer::LogMessage(const mg_connection* conn, const char* message) {
  auto* server = static_cast<HttpServer*>(mg_get_user_data(mg_get_context(conn)));
  {
    absl::MutexLock lock(&server->mu_);
    if (!server->started_) {
      if (server->startup_error_.empty()) server->startup_error_ = message;
      return 1;
    }
  }
  // After the start civetweb reports per-connection trouble (clients going away, slow
  // clients timing out): the client's problem, not the process's.
  VLOG(1) << "http server on " << server->bind_address_ << ": " << message;
  return 1;  // handled: civetweb logs nothing itself
}

}  // namespace fsb::admin
