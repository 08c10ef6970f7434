#include "controller/client_auth.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "controller/sandbox_spec.h"
#include "internal/strings.h"

namespace fsb::controller {
namespace {

metrics::Family<metrics::Counter>& Decisions(metrics::Registry* registry) {
  return registry->AddCounter("fsb_controller_client_auth_total",
                              "Client calls authenticated and authorized, by result (ok, "
                              "unauthenticated, denied).");
}

}  // namespace

ClientAuth::ClientAuth(const auth::TokenStore* tokens, metrics::Registry* registry)
    : ClientAuth(tokens, Decisions(registry), /*allow_all=*/false) {}

ClientAuth ClientAuth::AllowAll(metrics::Registry* registry) {
  return ClientAuth(nullptr, Decisions(registry), /*allow_all=*/true);
}

ClientAuth::ClientAuth(const auth::TokenStore* tokens, metrics::Family<metrics::Counter>& decisions,
                       bool allow_all)
    : tokens_(tokens),
      allow_all_(allow_all),
      ok_(decisions.Add({{"result", "ok"}})),
      unauthenticated_(decisions.Add({{"result", "unauthenticated"}})),
      denied_(decisions.Add({{"result", "denied"}})) {}

absl::StatusOr<auth::Principal> ClientAuth::Authenticate(const grpc::ServerContextBase& ctx) const {
  if (allow_all_) {
    return auth::Principal{
        .subject = "anonymous (insecure mode)", .role = auth::Role::kAdmin, .all_namespaces = true};
  }
  std::optional<std::string_view> authorization;
  const auto& metadata = ctx.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    authorization = std::string_view(it->second.data(), it->second.size());
  }
  absl::StatusOr<std::string_view> token = auth::BearerToken(authorization);
  if (!token.ok()) return token.status();
  return tokens_->Authenticate(*token);
}

absl::StatusOr<auth::Principal> ClientAuth::Caller(const grpc::ServerContextBase& ctx) const {
  absl::StatusOr<auth::Principal> principal = Authenticate(ctx);
  (principal.ok() ? ok_ : unauthenticated_).Increment();
  return principal;
}

absl::StatusOr<auth::Principal> ClientAuth::Authorize(const grpc::ServerContextBase& ctx,
                                                      std::string_view method,
                                                      std::string_view ns) const {
  absl::StatusOr<auth::Principal> principal = Authenticate(ctx);
  if (!principal.ok()) {
    unauthenticated_.Increment();
    return principal;
  }
  std::optional<auth::Access> access = auth::AccessOfMethod(method);
  absl::Status allowed =
      access.has_value() ? auth::Authorize(*principal, *access, ns.empty() ? kDefaultNamespace : ns)
                         : absl::PermissionDeniedError(absl::StrCat(
                               Sv(method), " has no authorization rule: denied to everyone"));
  if (!allowed.ok()) {
    denied_.Increment();
    return allowed;
  }
  ok_.Increment();
  return principal;
}

}  // namespace fsb::controller
