#ifndef FSB_INTERNAL_VALIDATION_H_
#define FSB_INTERNAL_VALIDATION_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fsb {

// Input checks shared by the CLI (to fail before any RPC) and the servers (the
// authority). Each returns INVALID_ARGUMENT whose message names `field`; a value quoted
// in a message is C-escaped and cut to its first 64 bytes, so that no message carries
// control characters or megabytes of a client's input. The limits are
// internal/request_limits.h's.

// A value as error messages quote it: C-escaped, in double quotes, at most its first 64
// bytes (then "...").
std::string QuoteForError(std::string_view value);

// A string that a C API will receive: no NUL byte (it would cut the string short), at
// most `max_bytes`, and not empty unless `allow_empty`.
absl::Status ValidateText(std::string_view field, std::string_view value, size_t max_bytes,
                          bool allow_empty = true);

// `min` <= `value` <= `max`; `unit` ("bytes", "seconds", ...) follows the numbers in the
// message, e.g. "resources.memory_bytes: 1048576 bytes is below the minimum of 6291456".
absl::Status ValidateRange(std::string_view field, int64_t value, int64_t min, int64_t max,
                           std::string_view unit);

// Unix seconds within RFC 3339's years 0001-9999 (kMinUnixSeconds..kMaxUnixSeconds) and,
// for timestamps that carry them, nanos in 0..999999999.
absl::Status ValidateUnixTime(std::string_view field, int64_t seconds, int64_t nanos = 0);

// An RFC 1123 DNS label: 1-63 chars of [a-z0-9-], starting and ending alphanumeric.
absl::Status ValidateDnsLabel(std::string_view field, std::string_view value);

// An RFC 1123 DNS subdomain, as Kubernetes names nodes: at most 253 chars, DNS labels
// joined by '.'.
absl::Status ValidateDnsSubdomain(std::string_view field, std::string_view value);

// An environment variable name: [A-Za-z_][A-Za-z0-9_]*, at most 256 chars.
absl::Status ValidateEnvName(std::string_view field, std::string_view name);

// A label key: optional DNS-subdomain prefix and '/', then a name of at most 63 chars of
// [A-Za-z0-9._-] starting and ending alphanumeric. Values: at most 63 chars of the same
// set, possibly empty.
absl::Status ValidateLabel(std::string_view field, std::string_view key, std::string_view value);

// A TCP port: 1-65535.
absl::Status ValidatePort(std::string_view field, int port);

// Splits "KEY=VALUE" at the first '='. INVALID_ARGUMENT when there is no '=' or the key
// is empty.
absl::StatusOr<std::pair<std::string, std::string>> ParseKeyValue(std::string_view field,
                                                                  std::string_view kv);

}  // namespace fsb

#endif  // FSB_INTERNAL_VALIDATION_H_
