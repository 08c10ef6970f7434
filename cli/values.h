#ifndef FSB_CLI_VALUES_H_
#define FSB_CLI_VALUES_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fsb::cli {

// Parsers of flag values. Each is a pure function of its arguments and returns
// INVALID_ARGUMENT whose message starts with `flag` and quotes `value`, so that the
// user sees which argument is wrong.

// A duration: a whole number of seconds ("30") or a Go-style duration ("500ms", "1m30s",
// "2h"). Negative and infinite durations parse; callers bound them.
absl::StatusOr<absl::Duration> ParseDuration(std::string_view flag, std::string_view value);

// A duration (as ParseDuration) that is a whole number of seconds within [min, max],
// returned in seconds.
absl::StatusOr<int64_t> ParseSeconds(std::string_view flag, std::string_view value,
                                     absl::Duration min, absl::Duration max);

// A point in time: RFC 3339 with a zone ("2030-01-02T15:04:05Z",
// "2030-01-02T16:04:05.5+01:00") or unix seconds ("1893600000").
absl::StatusOr<absl::Time> ParseTimestamp(std::string_view flag, std::string_view value);

// What a Kubernetes quantity is converted to.
enum class QuantityUnit {
  kMillicores,  // CPU: "500m" -> 500, "2" -> 2000, "0.5" -> 500
  kBytes,       // memory: "256Mi" -> 268435456, "500M" -> 500000000, "1024" -> 1024
};

// A Kubernetes resource quantity: a decimal number without sign ("2", "0.5", ".5") and
// at most one suffix — binary Ki Mi Gi Ti Pi Ei (powers of 1024), decimal n u m k M G T P
// E (powers of 1000) or an exponent ("1e3", "5E-1"). Returns the quantity in `unit`,
// which must be a whole number greater than zero that fits an int64 (at most 19
// significant digits are read).
absl::StatusOr<int64_t> ParseQuantity(std::string_view flag, std::string_view value,
                                      QuantityUnit unit);

// A network address "HOST:PORT".
struct HostPort {
  std::string host;  // a name, an IPv4 address or a bracketed IPv6 address ("[::1]")
  int port = 0;      // 1-65535
};

// "HOST:PORT" as above; the host is not empty and, unless bracketed, has no ':'.
absl::StatusOr<HostPort> ParseHostPort(std::string_view flag, std::string_view value);

}  // namespace fsb::cli

#endif  // FSB_CLI_VALUES_H_
