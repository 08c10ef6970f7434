#include "agent/image/credentials.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "agent/image/oci.h"
#include "fsb/oci/v1/distribution.pb.h"
#include "internal/strings.h"

namespace fsb::agent {
namespace {

// host[:port], lowercase, without scheme or path; Docker Hub's names become docker.io.
std::string CanonicalHost(std::string_view key) {
  if (size_t scheme = key.find("://"); scheme != std::string_view::npos) {
    key.remove_prefix(scheme + 3);
  }
  key = key.substr(0, key.find('/'));
  std::string host = absl::AsciiStrToLower(Sv(key));
  if (host == "index.docker.io" || host == "registry-1.docker.io" ||
      host == "registry.hub.docker.com") {
    return "docker.io";
  }
  return host;
}

}  // namespace

absl::StatusOr<RegistryCredentials> RegistryCredentials::Parse(std::string_view json) {
  fsb::oci::v1::RegistryConfig config;
  if (absl::Status s = ParseJsonDocument(json, "registry config", &config); !s.ok()) return s;
  RegistryCredentials out;
  for (const auto& [key, entry] : config.auths()) {
    RegistryLogin login{entry.username(), entry.password()};
    if (!entry.auth().empty()) {
      std::string decoded;
      const size_t colon =
          absl::Base64Unescape(entry.auth(), &decoded) ? decoded.find(':') : std::string::npos;
      if (colon == std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("registry config: the auth of \"", key,
                                                       "\" is not base64 of \"user:password\""));
      }
      login = {decoded.substr(0, colon), decoded.substr(colon + 1)};
    }
    if (login.username.empty()) continue;  // e.g. entries handled by credential helpers
    out.logins_[CanonicalHost(key)] = std::move(login);
  }
  for (const std::string& registry : config.insecure_registries()) {
    out.insecure_.insert(CanonicalHost(registry));
  }
  return out;
}

absl::StatusOr<RegistryCredentials> RegistryCredentials::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const std::string message =
        absl::StrCat("cannot read registry config ", path, ": ", strerror(err));
    if (err == EACCES) return absl::PermissionDeniedError(message);
    return absl::NotFoundError(message);
  }
  std::ostringstream text;
  text << in.rdbuf();
  absl::StatusOr<RegistryCredentials> parsed = Parse(text.str());
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", parsed.status().message()));
  }
  return parsed;
}

std::optional<RegistryLogin> RegistryCredentials::LoginFor(std::string_view domain) const {
  auto it = logins_.find(CanonicalHost(domain));
  if (it == logins_.end()) return std::nullopt;
  return it->second;
}

bool RegistryCredentials::IsInsecure(std::string_view domain) const {
  return insecure_.contains(CanonicalHost(domain));
}

}  // namespace fsb::agent
