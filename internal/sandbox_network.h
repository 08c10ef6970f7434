#ifndef FSB_INTERNAL_SANDBOX_NETWORK_H_
#define FSB_INTERNAL_SANDBOX_NETWORK_H_

#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fsb {

// A sandbox's network settings as the APIs spell them, checked alike by the CLI (to fail
// before any RPC) and the controller (the authority). Errors are INVALID_ARGUMENT naming
// `field` and the offending value. Pure; thread-safe.

// Network modes: traffic beyond the node allowed (the default) or not.
inline constexpr std::string_view kNetworkEgress = "egress";
inline constexpr std::string_view kNetworkNoEgress = "no-egress";

// kNetworkEgress or kNetworkNoEgress; with `allow_empty`, also "" (the default, egress).
absl::Status ValidateNetworkMode(std::string_view field, std::string_view mode, bool allow_empty);

inline constexpr std::string_view kProtocolTcp = "tcp";
inline constexpr std::string_view kProtocolUdp = "udp";

// A port of the node forwarded to a port of the sandbox.
struct PublishedPort {
  int host_port = 0;       // 1-65535
  int container_port = 0;  // 1-65535
  std::string protocol;    // kProtocolTcp or kProtocolUdp ("" reads as tcp)

  friend bool operator==(const PublishedPort&, const PublishedPort&) = default;
};

// Parses "HOST_PORT:CONTAINER_PORT[/PROTOCOL]" (protocol tcp or udp, default tcp) and
// validates it as ValidatePublishedPorts does one entry.
absl::StatusOr<PublishedPort> ParsePublishedPort(std::string_view field, std::string_view text);

// Every entry has both ports in 1-65535 and a protocol "", tcp or udp, and no two entries
// publish the same host port with the same protocol (tcp and udp are distinct).
absl::Status ValidatePublishedPorts(std::string_view field, std::span<const PublishedPort> ports);

// The canonical text form "HOST_PORT:CONTAINER_PORT/PROTOCOL" ("" printed as tcp), which
// ParsePublishedPort reads back.
std::string FormatPublishedPort(const PublishedPort& port);

}  // namespace fsb

#endif  // FSB_INTERNAL_SANDBOX_NETWORK_H_
