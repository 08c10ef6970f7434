#ifndef FSB_INTERNAL_ADMIN_HTTP_SERVER_H_
#define FSB_INTERNAL_ADMIN_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

struct mg_connection;
struct mg_context;

namespace fsb::admin {

inline constexpr char kTextPlain[] = "text/plain; charset=utf-8";

// One GET request as a handler sees it (the server answers other methods itself).
struct HttpRequest {
  std::string path;   // URL-decoded and normalized ("/a/../b" is "/b"), without the query
  std::string query;  // the raw query string after '?'; empty when there is none

  // The URL-decoded value of the first `name=` parameter of `query`; nullopt when absent.
  std::optional<std::string> QueryParameter(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = kTextPlain;
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// A small HTTP/1.1 server on civetweb that routes exact paths to handlers: the transport
// of fsb's admin and profiling listeners. It is meant for operators and scrapers, not for
// public traffic: no TLS, no authentication.
//
// Guarantees: a server returned by Create is already listening. Only GET is served
// (other methods get 405 with `Allow: GET`: handlers may have side effects, such as
// taking a profile); a path without a route gets 404. Every response carries
// Content-Type, Content-Length and `Cache-Control: no-store`, and the connection closes
// after it (no keep-alive). civetweb serves no files: only the routes exist.
//
// Slow clients cannot hold it: a connection whose request (line and headers) has not
// fully arrived within Limits::request_timeout is closed, and so is one that does not
// take its response within that long per write; Limits::worker_threads requests are read
// and served at once, more wait in the listen queue meanwhile.
//
// Stop() is graceful: requests already running finish and get their responses; requests
// arriving while it waits for them get 503; then the listener closes.
//
// Thread-safety: handlers run concurrently on up to worker_threads civetweb threads and
// must be thread-safe; the routes are fixed at Create. port() is safe from any thread.
// Stop() is thread-safe and idempotent, but it waits for running handlers to return, so
// it must not be called from a handler, and a handler that can run long must be told to
// return early by its owner before Stop() (see PprofServer).
class HttpServer {
 public:
  struct Limits {
    // Connections read and served at the same time; more wait in the listen queue.
    int worker_threads = 16;
    // The longest a connection may take to send its request, or to take one write of its
    // response; then it is closed. Whole milliseconds, at least one.
    absl::Duration request_timeout = absl::Seconds(10);
  };

  // Starts listening on `bind_address`, "host:port": the host is an IPv4 address, a name
  // that resolves to one ("localhost"), or empty for every interface (":9091"); port 0
  // picks a free port (see port()). Errors: INVALID_ARGUMENT for a malformed address
  // (IPv6 included: Debian builds civetweb without it), UNAVAILABLE naming the address
  // when it cannot be bound (in use, not local, name not found); INVALID_ARGUMENT for
  // limits below one thread or one millisecond.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(
      std::string_view bind_address, std::map<std::string, HttpHandler> routes,
      const Limits& limits);
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(
      std::string_view bind_address, std::map<std::string, HttpHandler> routes) {
    return Create(bind_address, std::move(routes), Limits());
  }

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  ~HttpServer();  // Stop()s.

  // Waits for running requests, closes the listener, and returns once no handler runs.
  void Stop();

  // The bound port: the one asked for, or the one picked for port 0.
  int port() const { return port_; }

 private:
  HttpServer(std::string bind_address, std::map<std::string, HttpHandler> routes)
      : bind_address_(std::move(bind_address)), routes_(std::move(routes)) {}

  static int HandleRequest(mg_connection* conn, void* server);
  static int LogMessage(const mg_connection* conn, const char* message);
  HttpResponse Route(std::string_view method, const HttpRequest& request) const;
  // Connects to the listener until `stopped`: civetweb's listener thread notices a stop
  // only when a connection arrives or its 2-second poll ends.
  void KnockUntil(const std::atomic<bool>& stopped) const;

  const std::string bind_address_;
  const std::map<std::string, HttpHandler> routes_;
  std::string host_;  // the address's host; empty: every interface
  int port_ = 0;

  // Held for the whole of Stop(), so that every caller returns only once stopped.
  absl::Mutex stop_mu_;
  mg_context* context_ ABSL_GUARDED_BY(stop_mu_) = nullptr;

  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // requests being handled or answered
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  // civetweb's first message while starting: the reason of a bind failure.
  std::string startup_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::admin

#endif  // FSB_INTERNAL_ADMIN_HTTP_SERVER_H_
