#include "internal/auth/token_store.h"

#include <openssl/crypto.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "internal/strings.h"

namespace fsb::auth {
namespace {

// A tokens file holds a few lines per client; anything larger is not one.
constexpr size_t kMaxFileSize = 4 << 20;

absl::StatusOr<std::vector<TokenEntry>> ReadTokenFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const std::string message = absl::StrCat("cannot read tokens file ", path, ": ", strerror(err));
    if (err == EACCES) return absl::PermissionDeniedError(message);
    return absl::NotFoundError(message);
  }
  std::string text(kMaxFileSize + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    return absl::NotFoundError(absl::StrCat("cannot read tokens file ", path, ": read error"));
  }
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxFileSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokens file ", path, ": larger than ", kMaxFileSize >> 20, " MiB"));
  }
  absl::StatusOr<std::vector<TokenEntry>> entries = ParseTokenFile(text);
  if (!entries.ok()) {
    return absl::Status(entries.status().code(),
                        absl::StrCat("tokens file ", path, ": ", entries.status().message()));
  }
  return entries;
}

std::string FormatExpiry(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

}  // namespace

TokenStore::FileVersion TokenStore::VersionOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return {};
  return {.device = st.st_dev,
          .inode = st.st_ino,
          .size = st.st_size,
          .mtime_ns = st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec};
}

absl::StatusOr<std::unique_ptr<TokenStore>> TokenStore::Load(std::string path, const Clock* clock) {
  // The version is taken before the file is read: a change while reading is seen later.
  const FileVersion version = VersionOf(path);
  absl::StatusOr<std::vector<TokenEntry>> entries = ReadTokenFile(path);
  if (!entries.ok()) return entries.status();
  return std::unique_ptr<TokenStore>(new TokenStore(
      std::move(path), clock, version, std::make_shared<const Entries>(*std::move(entries))));
}

absl::Status TokenStore::Reload() {
  absl::MutexLock reload_lock(&reload_mu_);
  return ReloadLocked();
}

absl::StatusOr<bool> TokenStore::ReloadIfChanged() {
  absl::MutexLock reload_lock(&reload_mu_);
  if (VersionOf(path_) == version_) return false;
  absl::Status reloaded = ReloadLocked();
  if (!reloaded.ok()) return reloaded;
  return true;
}

absl::Status TokenStore::ReloadLocked() {
  version_ = VersionOf(path_);
  absl::StatusOr<std::vector<TokenEntry>> entries = ReadTokenFile(path_);
  if (!entries.ok()) return entries.status();
  auto snapshot = std::make_shared<const Entries>(*std::move(entries));
  {
    absl::MutexLock lock(&mu_);
    entries_.swap(snapshot);
  }
  // The old snapshot is freed here, outside mu_ (or later, by its last reader).
  return absl::OkStatus();
}

std::shared_ptr<const TokenStore::Entries> TokenStore::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return entries_;
}

size_t TokenStore::size() const { return Snapshot()->size(); }

absl::StatusOr<Principal> TokenStore::Authenticate(std::string_view bearer_token) const {
  absl::StatusOr<TokenHash> hash = HashToken(bearer_token);
  if (!hash.ok()) return hash.status();
  const std::shared_ptr<const Entries> entries = Snapshot();
  // Every entry is compared, in constant time, and no loop exit depends on a match:
  // the time taken tells nothing about the hashes. Hashes are unique, so at most one
  // entry matches.
  const TokenEntry* match = nullptr;
  for (const TokenEntry& entry : *entries) {
    const bool equal = CRYPTO_memcmp(entry.sha256.data(), hash->data(), hash->size()) == 0;
    match = equal ? &entry : match;
  }
  if (match == nullptr) return absl::UnauthenticatedError("unknown token");
  if (match->expires.has_value() && clock_->Now() >= *match->expires) {
    return absl::UnauthenticatedError(absl::StrCat("token of ", match->principal.subject,
                                                   " expired at ", FormatExpiry(*match->expires)));
  }
  return match->principal;
}

absl::StatusOr<std::string_view> BearerToken(std::optional<std::string_view> authorization) {
  constexpr std::string_view kExpected = "expected \"authorization: Bearer <token>\"";
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(
        absl::StrCat("missing authorization metadata: ", Sv(kExpected)));
  }
  std::string_view value = *authorization;
  constexpr std::string_view kScheme = "bearer";
  if (value.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(Sv(value.substr(0, kScheme.size())), Sv(kScheme)) ||
      (value.size() > kScheme.size() && value[kScheme.size()] != ' ')) {
    return absl::UnauthenticatedError(
        absl::StrCat("authorization metadata is not a Bearer token: ", Sv(kExpected)));
  }
  value.remove_prefix(kScheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (value.empty()) {
    return absl::UnauthenticatedError(absl::StrCat("empty bearer token: ", Sv(kExpected)));
  }
  for (char c : value) {
    if (absl::ascii_isspace(c) || absl::ascii_iscntrl(c)) {
      return absl::UnauthenticatedError(absl::StrCat(
          "the bearer token contains a space or a control character: ", Sv(kExpected)));
    }
  }
  return value;
}

}  // namespace fsb::auth
