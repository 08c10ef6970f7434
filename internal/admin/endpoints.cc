#include "internal/admin/endpoints.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace fsb::admin {

absl::StatusOr<Endpoints> StartEndpoints(const std::string& metrics_bind_address,
                                         const std::string& pprof_bind_address,
                                         const metrics::Registry* registry,
                                         std::function<absl::Status()> readiness,
                                         std::string warning) {
  Endpoints endpoints;
  absl::StatusOr<std::unique_ptr<AdminServer>> admin =
      AdminServer::Create({.bind_address = metrics_bind_address,
                           .registry = registry,
                           .readiness = std::move(readiness),
                           .warning = std::move(warning)});
  if (!admin.ok()) {
    return absl::Status(admin.status().code(),
                        absl::StrCat("metrics listener: ", admin.status().message()));
  }
  endpoints.admin = *std::move(admin);
  if (!pprof_bind_address.empty()) {
    absl::StatusOr<std::unique_ptr<PprofServer>> pprof =
        PprofServer::Create({.bind_address = pprof_bind_address});
    if (!pprof.ok()) {
      return absl::Status(pprof.status().code(),
                          absl::StrCat("pprof listener: ", pprof.status().message()));
    }
    endpoints.pprof = *std::move(pprof);
  }
  return endpoints;
}

}  // namespace fsb::admin
