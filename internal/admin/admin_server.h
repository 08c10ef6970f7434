#ifndef FSB_INTERNAL_ADMIN_ADMIN_SERVER_H_
#define FSB_INTERNAL_ADMIN_ADMIN_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "internal/admin/http_server.h"
#include "internal/metrics/metrics.h"

namespace fsb::admin {

// The content type of the Prometheus text exposition format 0.0.4.
inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// The admin listener of an fsb binary (controller :9091, agent :5759):
//
//   /metrics  200, the registry in the Prometheus text format (kMetricsContentType)
//   /healthz  200 "ok\n" as long as the process serves HTTP (liveness)
//   /readyz   200 "ready\n" when the readiness check returns OK, else
//             503 "not ready: <its message>\n" (readiness); either followed by
//             "WARNING: <warning>\n" when the options have a warning
//
// Other paths get 404; see HttpServer for methods, headers and connections.
//
// Thread-safety: requests are served concurrently on HttpServer's worker threads; the
// registry and the readiness check are called from them. Stop() and the destructor wait
// for running requests; they must not run on a worker thread.
class AdminServer {
 public:
  struct Options {
    // "host:port", such as ":9091"; port 0 picks a free one (see port()).
    std::string bind_address;
    // Served at /metrics. Required; must outlive the server.
    const metrics::Registry* registry = nullptr;
    // Called on every /readyz, from any worker thread: must be thread-safe and quick.
    // Empty: always ready.
    std::function<absl::Status()> readiness;
    // A condition an operator must not miss, such as an insecure mode; empty: none.
    std::string warning;
    // Worker threads and the cut-off for slow clients (HttpServer).
    HttpServer::Limits limits;
  };

  // Starts listening. Errors as HttpServer::Create: INVALID_ARGUMENT for a malformed
  // address or limits, UNAVAILABLE naming the address when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Create(Options options);

  // Stops listening and waits for running requests; idempotent.
  void Stop() { http_->Stop(); }

  // The bound port.
  int port() const { return http_->port(); }

 private:
  explicit AdminServer(std::unique_ptr<HttpServer> http) : http_(std::move(http)) {}

  const std::unique_ptr<HttpServer> http_;
};

}  // namespace fsb::admin

#endif  // FSB_INTERNAL_ADMIN_ADMIN_SERVER_H_
