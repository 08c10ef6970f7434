#include "internal/auth/tokens.h"

#include <openssl/evp.h>

#include <algorithm>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "internal/strings.h"
#include "internal/validation.h"
#include "internal/yaml.h"

namespace fsb::auth {
namespace {

using google::protobuf::Value;

constexpr size_t kMaxSubjectLength = 128;
constexpr std::string_view kEntryKeys[] = {"subject", "sha256", "role", "namespaces", "expires"};

// `s` in double quotes, with anything unprintable escaped: safe in a log line.
std::string Quoted(std::string_view s) { return absl::StrCat("\"", absl::CHexEscape(Sv(s)), "\""); }

std::optional<int> HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return std::nullopt;
}

std::optional<TokenHash> ParseHex(std::string_view hex) {
  TokenHash hash;
  if (hex.size() != 2 * hash.size()) return std::nullopt;
  for (size_t i = 0; i < hash.size(); ++i) {
    std::optional<int> high = HexDigit(hex[2 * i]);
    std::optional<int> low = HexDigit(hex[2 * i + 1]);
    if (!high || !low) return std::nullopt;
    hash[i] = static_cast<uint8_t>(*high << 4 | *low);
  }
  return hash;
}

// Reads the entries of the `tokens` list one by one; remembers the hashes seen so far.
class EntryParser {
 public:
  explicit EntryParser(const TokenHash& empty_token_hash) : empty_token_hash_(empty_token_hash) {}

  absl::StatusOr<TokenEntry> Parse(int index, const Value& value) {
    std::string where = absl::StrCat("tokens[", index, "]");
    if (!value.has_struct_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where,
                       ": expected a mapping with the keys subject, sha256, role, namespaces and "
                       "(optionally) expires"));
    }
    const auto& fields = value.struct_value().fields();
    auto invalid = [&where](absl::string_view problem) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", problem));
    };

    TokenEntry entry;
    // The subject first, so that every later error names it.
    absl::StatusOr<std::string> subject = RequiredString(fields, "subject");
    if (!subject.ok()) return invalid(subject.status().message());
    if (subject->empty() || subject->size() > kMaxSubjectLength ||
        !std::all_of(subject->begin(), subject->end(), [](char c) { return c > ' ' && c < 127; })) {
      return invalid(absl::StrCat("subject ", Quoted(*subject), " must be 1-", kMaxSubjectLength,
                                  " printable ASCII characters without spaces"));
    }
    entry.principal.subject = *std::move(subject);
    absl::StrAppend(&where, " (subject ", Quoted(entry.principal.subject), ")");

    for (const auto& field : fields) {
      if (std::find(std::begin(kEntryKeys), std::end(kEntryKeys), field.first) ==
          std::end(kEntryKeys)) {
        return invalid(absl::StrCat("unknown key ", Quoted(field.first),
                                    " (expected subject, sha256, role, namespaces, expires)"));
      }
    }

    absl::StatusOr<std::string> hex = RequiredString(fields, "sha256");
    if (!hex.ok()) return invalid(hex.status().message());
    std::optional<TokenHash> hash = ParseHex(*hex);
    if (!hash) {
      // Not quoted: a token pasted here by mistake must not reach the logs.
      return invalid(
          "sha256 must be 64 hex digits, the SHA-256 of the token (printf %s TOKEN | sha256sum)");
    }
    if (*hash == empty_token_hash_) {
      return invalid("sha256 is the hash of the empty token (was TOKEN unset?)");
    }
    if (auto [it, inserted] = seen_.try_emplace(*hash, index); !inserted) {
      return invalid(absl::StrCat("sha256 is the same as the one of tokens[", it->second,
                                  "]: every entry needs a token of its own"));
    }
    entry.sha256 = *hash;

    absl::StatusOr<std::string> role_name = RequiredString(fields, "role");
    if (!role_name.ok()) return invalid(role_name.status().message());
    std::optional<Role> role = ParseRole(*role_name);
    if (!role) {
      return invalid(absl::StrCat("role must be admin, user or viewer, got ", Quoted(*role_name)));
    }
    entry.principal.role = *role;

    if (absl::Status s = ParseNamespaces(fields, entry.principal); !s.ok()) {
      return invalid(s.message());
    }

    if (auto it = fields.find("expires"); it != fields.end()) {
      if (!it->second.has_string_value()) {
        return invalid("expires must be an RFC 3339 timestamp, e.g. 2027-01-01T00:00:00Z");
      }
      absl::Time expires;
      std::string error;
      if (!absl::ParseTime(absl::RFC3339_full, it->second.string_value(), &expires, &error)) {
        return invalid(absl::StrCat("expires ", Quoted(it->second.string_value()),
                                    " is not an RFC 3339 timestamp such as "
                                    "2027-01-01T00:00:00Z: ",
                                    error));
      }
      entry.expires = expires;
    }
    return entry;
  }

 private:
  static absl::StatusOr<std::string> RequiredString(
      const google::protobuf::Map<std::string, Value>& fields, const std::string& key) {
    auto it = fields.find(key);
    if (it == fields.end()) return absl::InvalidArgumentError(absl::StrCat(key, " is missing"));
    if (!it->second.has_string_value()) {
      return absl::InvalidArgumentError(absl::StrCat(key, " must be a string"));
    }
    return it->second.string_value();
  }

  // Fills principal.namespaces and all_namespaces for principal.role.
  static absl::Status ParseNamespaces(const google::protobuf::Map<std::string, Value>& fields,
                                      Principal& principal) {
    auto it = fields.find("namespaces");
    if (principal.role == Role::kAdmin) {
      if (it != fields.end()) {
        return absl::InvalidArgumentError(
            "namespaces must be absent for role admin (an admin is cluster-wide)");
      }
      principal.all_namespaces = true;
      return absl::OkStatus();
    }
    const std::string required =
        absl::StrCat("namespaces is required for role ", Sv(RoleName(principal.role)),
                     ": a list of namespaces, or [\"*\"] for all");
    if (it == fields.end()) return absl::InvalidArgumentError(required);
    if (!it->second.has_list_value()) {
      return absl::InvalidArgumentError(absl::StrCat("namespaces must be a list (", required, ")"));
    }
    const auto& values = it->second.list_value().values();
    if (values.empty()) return absl::InvalidArgumentError(required);
    for (int i = 0; i < values.size(); ++i) {
      const std::string field = absl::StrCat("namespaces[", i, "]");
      if (!values[i].has_string_value()) {
        return absl::InvalidArgumentError(absl::StrCat(field, " must be a string"));
      }
      const std::string& name = values[i].string_value();
      if (name == "*") {
        principal.all_namespaces = true;
        continue;
      }
      if (absl::Status s = ValidateDnsLabel(field, name); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(s.message(), " (or \"*\" for all)"));
      }
      principal.namespaces.push_back(name);
    }
    if (principal.all_namespaces) {
      principal.namespaces.clear();
    } else {
      std::sort(principal.namespaces.begin(), principal.namespaces.end());
      principal.namespaces.erase(
          std::unique(principal.namespaces.begin(), principal.namespaces.end()),
          principal.namespaces.end());
    }
    return absl::OkStatus();
  }

  const TokenHash empty_token_hash_;
  absl::flat_hash_map<TokenHash, int> seen_;  // hash -> index of its entry
};

}  // namespace

absl::StatusOr<TokenHash> HashToken(std::string_view token) {
  TokenHash hash;
  unsigned int length = 0;
  if (EVP_Digest(token.data(), token.size(), hash.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length != hash.size()) {
    return absl::InternalError("OpenSSL cannot compute a SHA-256");
  }
  return hash;
}

absl::StatusOr<std::vector<TokenEntry>> ParseTokenFile(std::string_view text) {
  absl::StatusOr<std::vector<YamlDocument>> documents = ParseYamlStream(text);
  if (!documents.ok()) return documents.status();
  if (documents->empty()) {
    return absl::InvalidArgumentError(
        "no tokens list: the file is empty (write tokens: [] to "
        "let nobody in)");
  }
  if (documents->size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("document ", (*documents)[1].number, " (line ",
                                                   (*documents)[1].line,
                                                   "): a tokens file has a single document"));
  }
  const Value& root = documents->front().value;
  if (!root.has_struct_value() || !root.struct_value().fields().contains("tokens")) {
    return absl::InvalidArgumentError("expected a mapping with the key tokens");
  }
  for (const auto& field : root.struct_value().fields()) {
    if (field.first != "tokens") {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown key ", Quoted(field.first), " (expected only tokens)"));
    }
  }
  const Value& tokens = root.struct_value().fields().at("tokens");
  if (!tokens.has_list_value()) return absl::InvalidArgumentError("tokens must be a list");
  absl::StatusOr<TokenHash> empty_token_hash = HashToken("");
  if (!empty_token_hash.ok()) return empty_token_hash.status();
  std::vector<TokenEntry> entries;
  EntryParser parser(*empty_token_hash);
  for (int i = 0; i < tokens.list_value().values_size(); ++i) {
    absl::StatusOr<TokenEntry> entry = parser.Parse(i, tokens.list_value().values(i));
    if (!entry.ok()) return entry.status();
    entries.push_back(*std::move(entry));
  }
  return entries;
}

}  // namespace fsb::auth
