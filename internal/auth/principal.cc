#include "internal/auth/principal.h"

namespace fsb::auth {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kUser:
      return "user";
    case Role::kViewer:
      return "viewer";
  }
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role role : {Role::kAdmin, Role::kUser, Role::kViewer}) {
    if (RoleName(role) == name) return role;
  }
  return std::nullopt;
}

}  // namespace fsb::auth
