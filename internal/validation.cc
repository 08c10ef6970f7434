#include "internal/validation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "internal/request_limits.h"
#include "internal/strings.h"

namespace fsb {
namespace {

constexpr size_t kMaxQuotedBytes = 64;

absl::Status Invalid(std::string_view field, std::string_view value, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(Sv(field), " ", QuoteForError(value), " is invalid: ", Sv(why)));
}

bool IsLabelNameChars(std::string_view s) {
  for (char c : s) {
    if (!(absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

}  // namespace

std::string QuoteForError(std::string_view value) {
  const bool cut = value.size() > kMaxQuotedBytes;
  return absl::StrCat("\"", absl::CEscape(Sv(value.substr(0, kMaxQuotedBytes))), cut ? "..." : "",
                      "\"");
}

absl::Status ValidateText(std::string_view field, std::string_view value, size_t max_bytes,
                          bool allow_empty) {
  if (value.empty() && !allow_empty) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(field), ": is empty"));
  }
  if (value.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(field), ": ", value.size(), " bytes, at most ", max_bytes, " are allowed"));
  }
  if (size_t nul = value.find('\0'); nul != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(field), ": holds a NUL byte at offset ", nul));
  }
  return absl::OkStatus();
}

absl::Status ValidateRange(std::string_view field, int64_t value, int64_t min, int64_t max,
                           std::string_view unit) {
  const std::string units = unit.empty() ? "" : absl::StrCat(" ", Sv(unit));
  if (value < min) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(field), ": ", value, units, " is below the minimum of ", min));
  }
  if (value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(field), ": ", value, units, " is above the maximum of ", max));
  }
  return absl::OkStatus();
}

absl::Status ValidateUnixTime(std::string_view field, int64_t seconds, int64_t nanos) {
  if (seconds < kMinUnixSeconds || seconds > kMaxUnixSeconds) {
    return absl::InvalidArgumentError(absl::StrCat(
        Sv(field), ": ", seconds, " Unix seconds is outside RFC 3339's range ", kMinUnixSeconds,
        " (0001-01-01T00:00:00Z) to ", kMaxUnixSeconds, " (9999-12-31T23:59:59Z)"));
  }
  return ValidateRange(absl::StrCat(Sv(field), ".nanos"), nanos, 0, 999'999'999, "");
}

absl::Status ValidateDnsLabel(std::string_view field, std::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(Sv(field), " is empty"));
  if (value.size() > kMaxDnsLabelBytes) {
    return Invalid(field, value, absl::StrCat("longer than ", kMaxDnsLabelBytes, " characters"));
  }
  for (char c : value) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')) {
      return Invalid(field, value, "only lowercase letters, digits and '-' are allowed");
    }
  }
  if (value.front() == '-' || value.back() == '-') {
    return Invalid(field, value, "must start and end with a letter or digit");
  }
  return absl::OkStatus();
}

absl::Status ValidateDnsSubdomain(std::string_view field, std::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(Sv(field), " is empty"));
  if (value.size() > kMaxDnsSubdomainBytes) {
    return Invalid(field, value,
                   absl::StrCat("longer than ", kMaxDnsSubdomainBytes, " characters"));
  }
  for (size_t start = 0; start <= value.size();) {
    size_t dot = value.find('.', start);
    if (dot == std::string_view::npos) dot = value.size();
    if (!ValidateDnsLabel(field, value.substr(start, dot - start)).ok()) {
      return Invalid(field, value,
                     "must be DNS labels (lowercase letters, digits and '-', starting and "
                     "ending with a letter or digit) joined by '.'");
    }
    start = dot + 1;
  }
  return absl::OkStatus();
}

absl::Status ValidateEnvName(std::string_view field, std::string_view name) {
  if (name.empty())
    return absl::InvalidArgumentError(absl::StrCat(Sv(field), " has an empty name"));
  if (name.size() > kMaxEnvNameBytes) {
    return Invalid(field, name, absl::StrCat("name longer than ", kMaxEnvNameBytes, " characters"));
  }
  if (absl::ascii_isdigit(name.front())) return Invalid(field, name, "name starts with a digit");
  for (char c : name) {
    if (!(absl::ascii_isalnum(c) || c == '_')) {
      return Invalid(field, name, "name may hold only letters, digits and '_'");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateLabel(std::string_view field, std::string_view key, std::string_view value) {
  std::string_view name = key;
  if (size_t slash = key.find('/'); slash != std::string_view::npos) {
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (prefix.empty() || prefix.size() > kMaxDnsSubdomainBytes) {
      return Invalid(field, key,
                     absl::StrCat("key prefix must be 1-", kMaxDnsSubdomainBytes, " characters"));
    }
    for (char c : prefix) {
      if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '.')) {
        return Invalid(field, key, "key prefix must be a DNS subdomain");
      }
    }
  }
  if (name.empty() || name.size() > kMaxLabelValueBytes || !IsLabelNameChars(name) ||
      !absl::ascii_isalnum(name.front()) || !absl::ascii_isalnum(name.back())) {
    return Invalid(field, key,
                   absl::StrCat("key name must be 1-", kMaxLabelValueBytes,
                                " characters of letters, digits, '-', '_', '.', starting and "
                                "ending with a letter or digit"));
  }
  if (value.size() > kMaxLabelValueBytes || !IsLabelNameChars(value) ||
      (!value.empty() &&
       (!absl::ascii_isalnum(value.front()) || !absl::ascii_isalnum(value.back())))) {
    return Invalid(field, value,
                   absl::StrCat("value must be at most ", kMaxLabelValueBytes,
                                " characters of letters, digits, '-', '_', '.', starting and "
                                "ending with a letter or digit"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePort(std::string_view field, int port) {
  if (port < 1 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(field), " ", port, " is out of range 1-65535"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<std::string, std::string>> ParseKeyValue(std::string_view field,
                                                                  std::string_view kv) {
  size_t eq = kv.find('=');
  if (eq == std::string_view::npos) {
    return Invalid(field, kv, "expected KEY=VALUE");
  }
  if (eq == 0) return Invalid(field, kv, "empty key");
  return std::make_pair(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
}

}  // namespace fsb
