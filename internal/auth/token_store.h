#ifndef FSB_INTERNAL_AUTH_TOKEN_STORE_H_
#define FSB_INTERNAL_AUTH_TOKEN_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "internal/auth/principal.h"
#include "internal/auth/tokens.h"
#include "internal/clock.h"

namespace fsb::auth {

// The bearer tokens of a tokens file (tokens.h), who each one is, and until when.
//
// Holds only the tokens' SHA-256 hashes, never a token. The loaded tokens are an
// immutable snapshot; Reload swaps in a new one at once, so every Authenticate sees
// either the old file or the new one, never a mix.
//
// Thread-safe. Authenticate never waits for a Reload: a mutex is held only to copy or
// replace the snapshot's shared_ptr; reading and parsing the file happen outside it.
class TokenStore {
 public:
  // Reads and parses the tokens file at `path`; `clock` (not owned, outlives the store)
  // tells when a token has expired. NOT_FOUND or PERMISSION_DENIED when the file cannot
  // be read, INVALID_ARGUMENT when it is not a valid tokens file (ParseTokenFile's
  // message); every message names the path.
  static absl::StatusOr<std::unique_ptr<TokenStore>> Load(std::string path, const Clock* clock);

  TokenStore(const TokenStore&) = delete;
  TokenStore& operator=(const TokenStore&) = delete;

  // Reads the file again and, when it is valid, replaces the tokens with its own (a
  // token removed from the file stops working). On an error (as Load's) the tokens
  // stay those of the last good file.
  absl::Status Reload() ABSL_LOCKS_EXCLUDED(reload_mu_, mu_);

  // Reload when the file is not the one last read (another inode, size or modification
  // time, as an edit or a rename over it makes), else nothing: a watcher calls it every
  // second. True when it reloaded; Reload's error when that failed, once per version of
  // the file (a bad file is not read again until it changes).
  absl::StatusOr<bool> ReloadIfChanged() ABSL_LOCKS_EXCLUDED(reload_mu_, mu_);

  // The principal of `bearer_token`. UNAUTHENTICATED "unknown token" when no entry has
  // its hash, "token of SUBJECT expired at TIME" once the clock reaches its expiry.
  // Compares the token's hash with every entry's in constant time, whichever matches.
  absl::StatusOr<Principal> Authenticate(std::string_view bearer_token) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // The number of entries loaded (for logs).
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& path() const { return path_; }

 private:
  using Entries = std::vector<TokenEntry>;

  // What tells one version of the file from another; all zero when it cannot be stat'ed.
  struct FileVersion {
    uint64_t device = 0;
    uint64_t inode = 0;
    int64_t size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const FileVersion&) const = default;
  };
  static FileVersion VersionOf(const std::string& path);

  TokenStore(std::string path, const Clock* clock, FileVersion version,
             std::shared_ptr<const Entries> entries)
      : path_(std::move(path)), clock_(clock), version_(version), entries_(std::move(entries)) {}

  absl::Status ReloadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_) ABSL_LOCKS_EXCLUDED(mu_);

  std::shared_ptr<const Entries> Snapshot() const ABSL_LOCKS_EXCLUDED(mu_);

  const std::string path_;
  const Clock* const clock_;
  absl::Mutex reload_mu_;  // serializes Reload calls (held while reading the file)
  FileVersion version_ ABSL_GUARDED_BY(reload_mu_);  // of the last file read, good or bad
  mutable absl::Mutex mu_;
  std::shared_ptr<const Entries> entries_ ABSL_GUARDED_BY(mu_);  // never null
};

// The token of an `authorization` metadata value (nullopt when the request has none),
// which must be "Bearer <token>" (RFC 6750: the scheme in any case, then one or more
// spaces, then the token, without spaces). UNAUTHENTICATED naming what is wrong: a
// missing value, another scheme, an empty token. Never quotes the value.
absl::StatusOr<std::string_view> BearerToken(std::optional<std::string_view> authorization);

}  // namespace fsb::auth

#endif  // FSB_INTERNAL_AUTH_TOKEN_STORE_H_
