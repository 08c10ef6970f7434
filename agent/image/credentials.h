#ifndef FSB_AGENT_IMAGE_CREDENTIALS_H_
#define FSB_AGENT_IMAGE_CREDENTIALS_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"

namespace fsb::agent {

struct RegistryLogin {
  std::string username;
  std::string password;
};

// Per-registry settings from a docker `config.json`-style file (the message
// fsb.oci.v1.RegistryConfig): credentials under `auths` (base64 "user:password" in
// `auth`, or `username` and `password`), and registries to reach over plain HTTP under
// `insecure-registries`. Registry keys are matched by host[:port], whatever scheme or
// path docker wrote around them; Docker Hub is known by all its names (docker.io,
// index.docker.io, registry-1.docker.io). Immutable, so thread-safe.
class RegistryCredentials {
 public:
  // No credentials, no insecure registries.
  RegistryCredentials() = default;

  // INVALID_ARGUMENT naming the problem for malformed JSON or an `auth` that is not
  // base64 of "user:password".
  static absl::StatusOr<RegistryCredentials> Parse(std::string_view json);
  // Reads and parses `path`; NOT_FOUND / PERMISSION_DENIED when it cannot be read.
  static absl::StatusOr<RegistryCredentials> Load(const std::string& path);

  // The login for the registry `domain` (as in a normalized image name), if any.
  std::optional<RegistryLogin> LoginFor(std::string_view domain) const;
  // Whether `domain` is listed as insecure (plain HTTP).
  bool IsInsecure(std::string_view domain) const;

 private:
  absl::flat_hash_map<std::string, RegistryLogin> logins_;  // by canonical host
  absl::flat_hash_set<std::string> insecure_;               // canonical hosts
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_IMAGE_CREDENTIALS_H_
