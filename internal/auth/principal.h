#ifndef FSB_INTERNAL_AUTH_PRINCIPAL_H_
#define FSB_INTERNAL_AUTH_PRINCIPAL_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fsb::auth {

// What a client may do (see authorization.h for the rules):
//   admin   everything, in every namespace and on cluster-wide resources;
//   user    read and write in its namespaces, read cluster-wide resources;
//   viewer  read in its namespaces, read cluster-wide resources.
enum class Role { kAdmin, kUser, kViewer };

// "admin", "user", "viewer": the names of the tokens file.
std::string_view RoleName(Role role);

// The role of a name RoleName gives; nullopt for any other string.
std::optional<Role> ParseRole(std::string_view name);

// Who a request comes from, as its bearer token says. A plain value.
//
// Invariants (ParseTokenFile establishes them): `subject` is non-empty printable ASCII
// without spaces; an admin has `all_namespaces` and no `namespaces`; a user or viewer
// has `all_namespaces` or at least one namespace, each a DNS label, sorted and unique.
struct Principal {
  std::string subject;  // who, for logs and audit; several tokens may share one
  Role role = Role::kViewer;
  bool all_namespaces = false;          // "*" in the tokens file; every admin
  std::vector<std::string> namespaces;  // empty when all_namespaces
};

}  // namespace fsb::auth

#endif  // FSB_INTERNAL_AUTH_PRINCIPAL_H_
