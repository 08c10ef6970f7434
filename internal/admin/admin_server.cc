#include "internal/admin/admin_server.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace fsb::admin {

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Create(Options options) {
  CHECK(options.registry != nullptr) << "AdminServer needs a metrics registry";
  const metrics::Registry* registry = options.registry;
  std::function<absl::Status()> readiness = std::move(options.readiness);
  std::map<std::string, HttpHandler> routes;
  routes["/metrics"] = [registry](const HttpRequest&) {
    return HttpResponse{.content_type = kMetricsContentType, .body = registry->Serialize()};
  };
  routes["/healthz"] = [](const HttpRequest&) { return HttpResponse{.body = "ok\n"}; };
  std::string warning =
      options.warning.empty() ? "" : absl::StrCat("WARNING: ", options.warning, "\n");
  routes["/readyz"] = [readiness = std::move(readiness),
                       warning = std::move(warning)](const HttpRequest&) {
    absl::Status ready = readiness ? readiness() : absl::OkStatus();
    if (ready.ok()) return HttpResponse{.body = absl::StrCat("ready\n", warning)};
    return HttpResponse{.status = 503,
                        .body = absl::StrCat("not ready: ", ready.message(), "\n", warning)};
  };
  absl::StatusOr<std::unique_ptr<HttpServer>> http =
      HttpServer::Create(options.bind_address, std::move(routes), options.limits);
  if (!http.ok()) return http.status();
  return std::unique_ptr<AdminServer>(new AdminServer(*std::move(http)));
}

}  // namespace fsb::admin
