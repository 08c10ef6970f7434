#include "internal/auth/authorization.h"

#include <algorithm>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "internal/strings.h"

namespace fsb::auth {
namespace {

constexpr MethodAccess kMethodAccess[] = {
    {"/fastpath.v1.FastPathService/CreateSandbox", Access::kNamespacedWrite},
    {"/fastpath.v1.FastPathService/DeleteSandbox", Access::kNamespacedWrite},
    {"/fastpath.v1.FastPathService/UpdateSandbox", Access::kNamespacedWrite},
    {"/fastpath.v1.FastPathService/ListSandboxes", Access::kNamespacedRead},
    {"/fastpath.v1.FastPathService/GetSandbox", Access::kNamespacedRead},
    {"/fastpath.v1.FastPathService/GetSandboxResource", Access::kNamespacedRead},
    {"/fastpath.v1.FastPathService/ApplySandbox", Access::kNamespacedWrite},
    {"/fastpath.v1.FastPathService/ListAgents", Access::kClusterRead},
    {"/fastpath.v1.FastPathService/DeleteAgent", Access::kClusterWrite},
    {"/fastpath.v1.FastPathService/ApplySandboxPool", Access::kClusterWrite},
    {"/fastpath.v1.FastPathService/ListSandboxPools", Access::kClusterRead},
    {"/fastpath.v1.FastPathService/DeleteSandboxPool", Access::kClusterWrite},
    {"/fastpath.v1.SandboxIO/Logs", Access::kNamespacedRead},
    // Exec runs a command in the sandbox: a write.
    {"/fastpath.v1.SandboxIO/Exec", Access::kNamespacedWrite},
    // Every agent's images, every tenant's sandboxes use them: cluster-wide.
    {"/fastpath.v1.Images/ImportImage", Access::kClusterWrite},
};

bool InNamespace(const Principal& principal, std::string_view namespace_name) {
  if (principal.all_namespaces) return true;
  if (namespace_name.empty()) return false;  // every namespace
  return std::find(principal.namespaces.begin(), principal.namespaces.end(), namespace_name) !=
         principal.namespaces.end();
}

bool Allowed(const Principal& principal, Access access, std::string_view namespace_name) {
  if (principal.role == Role::kAdmin) return true;
  switch (access) {
    case Access::kNamespacedRead:
      return InNamespace(principal, namespace_name);
    case Access::kNamespacedWrite:
      return principal.role == Role::kUser && InNamespace(principal, namespace_name);
    case Access::kClusterRead:
      return true;
    case Access::kClusterWrite:
      return false;
  }
  return false;
}

}  // namespace

std::string_view AccessName(Access access) {
  switch (access) {
    case Access::kNamespacedRead:
      return "namespaced read";
    case Access::kNamespacedWrite:
      return "namespaced write";
    case Access::kClusterRead:
      return "cluster read";
    case Access::kClusterWrite:
      return "cluster write";
  }
  return "unknown access";
}

absl::Span<const MethodAccess> MethodAccessTable() { return kMethodAccess; }

std::optional<Access> AccessOfMethod(std::string_view method) {
  for (const MethodAccess& entry : kMethodAccess) {
    if (entry.method == method) return entry.access;
  }
  return std::nullopt;
}

absl::Status Authorize(const Principal& principal, Access access, std::string_view namespace_name) {
  if (Allowed(principal, access, namespace_name)) return absl::OkStatus();
  const bool read = access == Access::kNamespacedRead || access == Access::kClusterRead;
  std::string where;
  if (access == Access::kClusterRead || access == Access::kClusterWrite) {
    where = "cluster-wide resources (agents, sandbox pools, images)";
  } else if (namespace_name.empty()) {
    where = "in every namespace";
  } else {
    where = absl::StrCat("in namespace ", absl::CHexEscape(Sv(namespace_name)));
  }
  return absl::PermissionDeniedError(absl::StrCat(principal.subject, " (role ",
                                                  Sv(RoleName(principal.role)), ") may not ",
                                                  read ? "read " : "write ", where));
}

bool MayRead(const Principal& principal, std::string_view namespace_name) {
  return Allowed(principal, Access::kNamespacedRead, namespace_name);
}

}  // namespace fsb::auth
