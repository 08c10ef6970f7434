#ifndef FSB_INTERNAL_ADMIN_ENDPOINTS_H_
#define FSB_INTERNAL_ADMIN_ENDPOINTS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "internal/admin/admin_server.h"
#include "internal/admin/pprof_server.h"
#include "internal/metrics/metrics.h"

namespace fsb::admin {

// A binary's two administrative listeners: /metrics, /healthz and /readyz on
// `metrics_bind_address`, and /debug/pprof on `pprof_bind_address` (loopback by
// convention: profiles expose internals; empty: none). Stop() stops both; so does
// destruction.
struct Endpoints {
  std::unique_ptr<AdminServer> admin;
  std::unique_ptr<PprofServer> pprof;  // null when not asked for

  void Stop() {
    if (pprof != nullptr) pprof->Stop();
    if (admin != nullptr) admin->Stop();
  }
};

// Starts both. `registry` must outlive them; `readiness` and `warning` are as
// AdminServer's. Errors
// name the flag-like role of the address that failed ("metrics", "pprof").
absl::StatusOr<Endpoints> StartEndpoints(const std::string& metrics_bind_address,
                                         const std::string& pprof_bind_address,
                                         const metrics::Registry* registry,
                                         std::function<absl::Status()> readiness,
                                         std::string warning = "");

}  // namespace fsb::admin

#endif  // FSB_INTERNAL_ADMIN_ENDPOINTS_H_
