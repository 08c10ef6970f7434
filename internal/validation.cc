#include "internal/validation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "internal/strings.h"

namespace fsb {
namespace {

absl::Status Invalid(std::string_view field, std::string_view value, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(Sv(field), " \"", Sv(value), "\" is invalid: ", Sv(why)));
}

bool IsLabelNameChars(std::string_view s) {
  for (char c : s) {
    if (!(absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

}  // namespace

absl::Status ValidateDnsLabel(std::string_view field, std::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(Sv(field), " is empty"));
  if (value.size() > 63) return Invalid(field, value, "longer than 63 characters");
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
  if (value.size() > 253) return Invalid(field, value, "longer than 253 characters");
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
  if (name.size() > 256) return Invalid(field, name, "name longer than 256 characters");
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
    if (prefix.empty() || prefix.size() > 253) {
      return Invalid(field, key, "key prefix must be 1-253 characters");
    }
    for (char c : prefix) {
      if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '.')) {
        return Invalid(field, key, "key prefix must be a DNS subdomain");
      }
    }
  }
  if (name.empty() || name.size() > 63 || !IsLabelNameChars(name) ||
      !absl::ascii_isalnum(name.front()) || !absl::ascii_isalnum(name.back())) {
    return Invalid(field, key,
                   "key name must be 1-63 characters of letters, digits, '-', '_', '.', "
                   "starting and ending with a letter or digit");
  }
  if (value.size() > 63 || !IsLabelNameChars(value) ||
      (!value.empty() &&
       (!absl::ascii_isalnum(value.front()) || !absl::ascii_isalnum(value.back())))) {
    return Invalid(field, value,
                   "value must be at most 63 characters of letters, digits, '-', '_', '.', "
                   "starting and ending with a letter or digit");
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
