#ifndef FSB_INTERNAL_AUTH_AUTHORIZATION_H_
#define FSB_INTERNAL_AUTH_AUTHORIZATION_H_

#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "internal/auth/principal.h"

namespace fsb::auth {

// Who may call what on the client-facing services (fastpath.v1 FastPathService,
// SandboxIO, Images). Pure functions over constant data; thread-safe.
//
// The rules, by role (principal.h):
//
//   access            admin  user                viewer
//   namespaced read   yes    in its namespaces   in its namespaces
//   namespaced write  yes    in its namespaces   no
//   cluster read      yes    yes                 yes
//   cluster write     yes    no                  no
//
// Cluster-wide resources (agents, sandbox pools) say nothing about any tenant's
// sandboxes, so every role may read them; changing them affects every tenant.

// What an RPC needs.
enum class Access {
  kNamespacedRead,   // get, list, logs: sandboxes of one namespace
  kNamespacedWrite,  // create, apply, update, delete, exec
  kClusterRead,      // list agents and sandbox pools
  kClusterWrite,     // delete agents, apply and delete sandbox pools, import images
};

// "namespaced read", "namespaced write", "cluster read", "cluster write".
std::string_view AccessName(Access access);

// One RPC, named as gRPC names it to servers: "/fastpath.v1.FastPathService/GetSandbox".
struct MethodAccess {
  std::string_view method;
  Access access;
};

// Every RPC of the client-facing services with the access it needs: the one table of
// fsb's authorization. A test proves it covers every method of those services.
absl::Span<const MethodAccess> MethodAccessTable();

// The access `method` needs (MethodAccessTable); nullopt for a method not in it, which
// callers refuse: an RPC added without a rule is denied, not open.
std::optional<Access> AccessOfMethod(std::string_view method);

// OK when `principal` has `access` in `namespace_name`, which is the namespace the
// request resolves to ("default" for an empty one in the fastpath.v1 messages); an
// empty `namespace_name` means every namespace. Cluster access ignores the namespace.
// PERMISSION_DENIED "alice (role user) may not write in namespace team-b" otherwise.
//
// Call it before looking anything up: its answer, and so the caller's, is then the same
// whether the resource exists or not. A list over every namespace is not authorized
// with it: every principal may ask, and the items are filtered with MayRead.
absl::Status Authorize(const Principal& principal, Access access, std::string_view namespace_name);

// Whether `principal` may read in `namespace_name` (Authorize for kNamespacedRead):
// filters the items of a list over every namespace.
bool MayRead(const Principal& principal, std::string_view namespace_name);

}  // namespace fsb::auth

#endif  // FSB_INTERNAL_AUTH_AUTHORIZATION_H_
