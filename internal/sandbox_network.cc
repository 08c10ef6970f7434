#include "internal/sandbox_network.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "internal/strings.h"

namespace fsb {
namespace {

absl::Status Invalid(std::string_view field, std::string_view entry, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(Sv(field), " \"", Sv(entry), "\" is invalid: ", Sv(why)));
}

// The port `digits` names (decimal digits only: no sign, no spaces), or why it names
// none; the range is checked by ValidateOne.
absl::StatusOr<int> PortNumber(std::string_view which, std::string_view digits) {
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(which), " port \"", Sv(digits), "\" is not a number"));
  }
  if (digits.size() > 5) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(which), " port ", Sv(digits), " is out of range 1-65535"));
  }
  int n = 0;
  for (char c : digits) n = n * 10 + (c - '0');
  return n;
}

// The reason `port` (named `which`) is out of range, or empty when it is in range.
std::string RangeProblem(std::string_view which, int port) {
  if (port >= 1 && port <= 65535) return "";
  return absl::StrCat(Sv(which), " port ", port, " is out of range 1-65535");
}

std::string_view ProtocolOf(const PublishedPort& port) {
  return port.protocol.empty() ? kProtocolTcp : std::string_view(port.protocol);
}

absl::Status ValidateOne(std::string_view field, std::string_view entry,
                         const PublishedPort& port) {
  for (const std::string& problem :
       {RangeProblem("host", port.host_port), RangeProblem("container", port.container_port)}) {
    if (!problem.empty()) return Invalid(field, entry, problem);
  }
  if (!port.protocol.empty() && port.protocol != kProtocolTcp && port.protocol != kProtocolUdp) {
    return Invalid(field, entry,
                   absl::StrCat("protocol \"", port.protocol, "\" is not tcp or udp"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateNetworkMode(std::string_view field, std::string_view mode, bool allow_empty) {
  if (mode == kNetworkEgress || mode == kNetworkNoEgress || (allow_empty && mode.empty())) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(Sv(field), " \"", Sv(mode),
                                                 "\" is not a network mode: use ",
                                                 Sv(kNetworkEgress), " or ", Sv(kNetworkNoEgress)));
}

absl::StatusOr<PublishedPort> ParsePublishedPort(std::string_view field, std::string_view text) {
  std::string_view rest = text;
  PublishedPort port;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    port.protocol = std::string(rest.substr(slash + 1));
    if (port.protocol.empty()) return Invalid(field, text, "the protocol after '/' is empty");
    rest = rest.substr(0, slash);
  } else {
    port.protocol = std::string(kProtocolTcp);
  }
  const size_t colon = rest.find(':');
  if (colon == std::string_view::npos) {
    return Invalid(field, text, "use HOST_PORT:CONTAINER_PORT[/tcp|udp]");
  }
  absl::StatusOr<int> host = PortNumber("host", rest.substr(0, colon));
  if (!host.ok()) return Invalid(field, text, std::string(host.status().message()));
  absl::StatusOr<int> container = PortNumber("container", rest.substr(colon + 1));
  if (!container.ok()) return Invalid(field, text, std::string(container.status().message()));
  port.host_port = *host;
  port.container_port = *container;
  if (absl::Status s = ValidateOne(field, text, port); !s.ok()) return s;
  return port;
}

absl::Status ValidatePublishedPorts(std::string_view field, std::span<const PublishedPort> ports) {
  for (size_t i = 0; i < ports.size(); ++i) {
    const std::string entry = FormatPublishedPort(ports[i]);
    if (absl::Status s = ValidateOne(field, entry, ports[i]); !s.ok()) return s;
    for (size_t j = 0; j < i; ++j) {
      if (ports[j].host_port == ports[i].host_port &&
          ProtocolOf(ports[j]) == ProtocolOf(ports[i])) {
        return Invalid(
            field, entry,
            absl::StrCat("host port ", ports[i].host_port, "/", Sv(ProtocolOf(ports[i])),
                         " is already published by \"", FormatPublishedPort(ports[j]), "\""));
      }
    }
  }
  return absl::OkStatus();
}

std::string FormatPublishedPort(const PublishedPort& port) {
  return absl::StrCat(port.host_port, ":", port.container_port, "/", Sv(ProtocolOf(port)));
}

}  // namespace fsb
