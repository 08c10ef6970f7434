#include "cli/values.h"

#include <charconv>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "internal/strings.h"

namespace fsb::cli {
namespace {

absl::Status Invalid(std::string_view flag, std::string_view value, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(Sv(flag), " \"", Sv(value), "\" ", Sv(why)));
}

// A quantity suffix: the value is multiplied by 10^pow10 * 1024^pow1024.
struct QuantitySuffix {
  std::string_view text;
  int pow10;
  int pow1024;
};

constexpr QuantitySuffix kQuantitySuffixes[] = {
    {"", 0, 0},   {"Ki", 0, 1}, {"Mi", 0, 2}, {"Gi", 0, 3}, {"Ti", 0, 4}, {"Pi", 0, 5},
    {"Ei", 0, 6}, {"n", -9, 0}, {"u", -6, 0}, {"m", -3, 0}, {"k", 3, 0},  {"M", 6, 0},
    {"G", 9, 0},  {"T", 12, 0}, {"P", 15, 0}, {"E", 18, 0},
};

// Reads a suffix (table entry or exponent) into `pow10`/`pow1024`; false if `suffix` is
// neither.
bool ParseQuantitySuffix(std::string_view suffix, int64_t& pow10, int& pow1024) {
  for (const QuantitySuffix& s : kQuantitySuffixes) {
    if (s.text == suffix) {
      pow10 = s.pow10;
      pow1024 = s.pow1024;
      return true;
    }
  }
  if (suffix.size() < 2 || (suffix[0] != 'e' && suffix[0] != 'E')) return false;
  std::string_view exponent = suffix.substr(1);
  if (exponent.front() == '+') exponent.remove_prefix(1);
  int value = 0;
  const char* end = exponent.data() + exponent.size();
  auto [ptr, ec] = std::from_chars(exponent.data(), end, value);
  if (ec != std::errc() || ptr != end) return false;
  pow10 = value;
  pow1024 = 0;
  return true;
}

}  // namespace

absl::StatusOr<absl::Duration> ParseDuration(std::string_view flag, std::string_view value) {
  int64_t seconds = 0;
  if (absl::SimpleAtoi(Sv(value), &seconds)) return absl::Seconds(seconds);
  absl::Duration d;
  if (absl::ParseDuration(Sv(value), &d)) return d;
  return Invalid(flag, value, "is not a duration (examples: 500ms, 30s, 2m, 1h30m)");
}

absl::StatusOr<int64_t> ParseSeconds(std::string_view flag, std::string_view value,
                                     absl::Duration min, absl::Duration max) {
  absl::StatusOr<absl::Duration> d = ParseDuration(flag, value);
  if (!d.ok()) return d.status();
  if (*d < min || *d > max) {
    return Invalid(flag, value,
                   absl::StrCat("is out of range ", absl::FormatDuration(min), "-",
                                absl::FormatDuration(max)));
  }
  if (absl::Trunc(*d, absl::Seconds(1)) != *d) {
    return Invalid(flag, value, "is not a whole number of seconds");
  }
  return absl::ToInt64Seconds(*d);
}

absl::StatusOr<absl::Time> ParseTimestamp(std::string_view flag, std::string_view value) {
  int64_t seconds = 0;
  if (absl::SimpleAtoi(Sv(value), &seconds)) return absl::FromUnixSeconds(seconds);
  absl::Time t;
  if (absl::ParseTime(absl::RFC3339_full, Sv(value), &t, nullptr)) return t;
  return Invalid(flag, value, "is not a time: use RFC 3339 (2030-01-02T15:04:05Z) or unix seconds");
}

absl::StatusOr<int64_t> ParseQuantity(std::string_view flag, std::string_view value,
                                      QuantityUnit unit) {
  const std::string_view unit_name = unit == QuantityUnit::kMillicores ? "millicores" : "bytes";
  const absl::Status not_a_quantity =
      Invalid(flag, value,
              unit == QuantityUnit::kMillicores
                  ? "is not a CPU quantity (examples: 500m, 2, 0.5)"
                  : "is not a memory quantity (examples: 256Mi, 1Gi, 500M, 1048576)");

  // The number: significant digits D and a power of ten, value = D * 10^pow10.
  std::string digits;
  int64_t pow10 = 0;
  bool seen_dot = false;
  bool seen_digit = false;
  size_t i = 0;
  for (; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '.' && !seen_dot) {
      seen_dot = true;
    } else if (absl::ascii_isdigit(c)) {
      seen_digit = true;
      if (seen_dot) --pow10;
      if (!(digits.empty() && c == '0')) digits.push_back(c);
    } else {
      break;
    }
  }
  int64_t suffix_pow10 = 0;
  int pow1024 = 0;
  if (!seen_digit || !ParseQuantitySuffix(value.substr(i), suffix_pow10, pow1024)) {
    return not_a_quantity;
  }
  if (digits.empty()) return Invalid(flag, value, "must be greater than zero");
  while (digits.back() == '0') {
    digits.pop_back();
    ++pow10;
  }
  if (digits.size() > 19) return Invalid(flag, value, "has too many digits");
  pow10 += suffix_pow10 + (unit == QuantityUnit::kMillicores ? 3 : 0);

  // D < 10^19 < 2^64 and 1024^6 = 2^60, so the product fits in 124 bits.
  constexpr __int128 kMax = std::numeric_limits<int64_t>::max();
  __int128 result = 0;
  for (char c : digits) result = result * 10 + (c - '0');
  for (int k = 0; k < pow1024; ++k) result *= 1024;
  for (; pow10 > 0 && result <= kMax; --pow10) result *= 10;
  for (; pow10 < 0; ++pow10) {
    if (result % 10 != 0) {
      return Invalid(flag, value, absl::StrCat("is not a whole number of ", Sv(unit_name)));
    }
    result /= 10;
  }
  if (result > kMax) return Invalid(flag, value, "is too large");
  return static_cast<int64_t>(result);
}

absl::StatusOr<HostPort> ParseHostPort(std::string_view flag, std::string_view value) {
  const size_t colon = value.rfind(':');
  if (colon == std::string_view::npos) return Invalid(flag, value, "is not HOST:PORT");
  HostPort address{std::string(value.substr(0, colon)), 0};
  const bool bracketed =
      address.host.size() > 2 && address.host.front() == '[' && address.host.back() == ']';
  if (address.host.empty() || (!bracketed && address.host.find(':') != std::string::npos)) {
    return Invalid(flag, value, "is not HOST:PORT (write an IPv6 host in brackets)");
  }
  if (!absl::SimpleAtoi(Sv(value.substr(colon + 1)), &address.port) || address.port < 1 ||
      address.port > 65535) {
    return Invalid(flag, value, "needs a port 1-65535 after the last ':'");
  }
  return address;
}

}  // namespace fsb::cli
