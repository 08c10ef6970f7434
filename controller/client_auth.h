#ifndef FSB_CONTROLLER_CLIENT_AUTH_H_
#define FSB_CONTROLLER_CLIENT_AUTH_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "internal/auth/authorization.h"
#include "internal/auth/principal.h"
#include "internal/auth/token_store.h"
#include "internal/metrics/metrics.h"

namespace fsb::controller {

// Who calls the client-facing services (fastpath.v1 FastPathService, SandboxIO, Images)
// and whether they may: every handler asks it first, before it looks anything up, so
// that its answer is the same whether the sandbox named exists or not.
//
// The caller is who the bearer token of the call's own `authorization` metadata says
// (auth::TokenStore). Each call is authenticated from its metadata: gRPC 1.51 shares
// one AuthContext among the calls of a connection, so nothing per call is kept there.
//
// Counts decisions in fsb_controller_client_auth_total{result="ok|unauthenticated|
// denied"}. Thread-safe.
class ClientAuth {
 public:
  // Callers are authenticated with `tokens`; `tokens` and `registry` must outlive it.
  ClientAuth(const auth::TokenStore* tokens, metrics::Registry* registry);
  // INSECURE (--insecure): every caller, with or without a token, is the admin
  // "anonymous (insecure mode)".
  static ClientAuth AllowAll(metrics::Registry* registry);

  // The caller of `ctx`: UNAUTHENTICATED without a bearer token, with a malformed, an
  // unknown or an expired one (auth::TokenStore::Authenticate's message).
  absl::StatusOr<auth::Principal> Caller(const grpc::ServerContextBase& ctx) const;

  // The caller of `ctx` when it may call `method` ("/fastpath.v1.FastPathService/
  // GetSandbox", a method of auth::MethodAccessTable) in namespace `ns` (as the request
  // names it: empty is "default"). UNAUTHENTICATED as Caller; PERMISSION_DENIED as
  // auth::Authorize, or for a method without a rule.
  absl::StatusOr<auth::Principal> Authorize(const grpc::ServerContextBase& ctx,
                                            std::string_view method, std::string_view ns) const;

 private:
  ClientAuth(const auth::TokenStore* tokens, metrics::Family<metrics::Counter>& decisions,
             bool allow_all);
  // Caller without counting.
  absl::StatusOr<auth::Principal> Authenticate(const grpc::ServerContextBase& ctx) const;

  const auth::TokenStore* const tokens_;  // null when allow_all_
  const bool allow_all_;
  metrics::Counter& ok_;
  metrics::Counter& unauthenticated_;
  metrics::Counter& denied_;
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_CLIENT_AUTH_H_
