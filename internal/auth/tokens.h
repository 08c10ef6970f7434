#ifndef FSB_INTERNAL_AUTH_TOKENS_H_
#define FSB_INTERNAL_AUTH_TOKENS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "internal/auth/principal.h"

namespace fsb::auth {

// The SHA-256 of a bearer token: what the tokens file holds instead of the token, which
// fsb never stores. An operator computes it with `printf %s TOKEN | sha256sum`.
using TokenHash = std::array<uint8_t, 32>;

// The SHA-256 of `token` (OpenSSL). INTERNAL when OpenSSL fails (it could not allocate).
absl::StatusOr<TokenHash> HashToken(std::string_view token);

// One entry of the tokens file.
struct TokenEntry {
  TokenHash sha256{};
  Principal principal;
  std::optional<absl::Time> expires;  // nullopt: never expires
};

// Parses a tokens file (YAML, read with fsb::ParseYamlStream):
//
//   tokens:
//     - subject: alice            # who, for logs and audit
//       sha256: 9f86d081...       # 64 hex digits: printf %s TOKEN | sha256sum
//       role: user                # admin | user | viewer
//       namespaces: [team-a]      # DNS labels, or ["*"] for all; user and viewer only
//       expires: 2027-01-01T00:00:00Z   # optional, RFC 3339 with an offset
//
// The file is one document, a mapping whose only key is `tokens`, a list (possibly
// empty: nobody is let in). Each entry has the keys above and no other: `namespaces`
// is required for user and viewer and absent for admin, `expires` is optional. Each
// yields a Principal meeting its invariants. Several entries may share a subject
// (a token being rotated); two entries may not share a hash.
//
// INVALID_ARGUMENT naming the entry and the field, e.g.
//   tokens[1] (subject "bob"): role must be admin, user or viewer, got "root"
// An error never quotes a `sha256` value: an operator may have pasted a token there.
// INTERNAL when OpenSSL fails (see HashToken).
absl::StatusOr<std::vector<TokenEntry>> ParseTokenFile(std::string_view text);

}  // namespace fsb::auth

#endif  // FSB_INTERNAL_AUTH_TOKENS_H_
