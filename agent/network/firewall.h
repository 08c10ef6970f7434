#ifndef FSB_AGENT_NETWORK_FIREWALL_H_
#define FSB_AGENT_NETWORK_FIREWALL_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "agent/network/cni.h"

namespace fsb::agent {

// The node's wall around its sandboxes, as nftables tables the agent owns (named after
// its bridge: `inet fsb_<bridge>` and `bridge fsb_<bridge>`), replaced whole on every
// Apply and deleted by Remove; the agent touches no other table.
//   * input (the node itself): from the bridge only replies to the node's own
//     connections are accepted — a sandbox reaches no address of the node (the bridge's
//     gateway address, its other interfaces, its loopback services), IPv4 or IPv6.
//   * forward (routed through the node): from the bridge, link-local 169.254.0.0/16
//     (cloud metadata) is dropped; everything else is egress.
//   * postrouting: egress from the subnet is masqueraded behind the node's address.
//   * bridge forward: frames between two sandboxes of the subnet (IPv4 and ARP) are
//     dropped; sandboxes have IPv6 off (see CniNetwork), so nothing else passes.
// Thread-safe (no state).
class NodeFirewall {
 public:
  NodeFirewall(std::string bridge, std::string subnet, std::string nft = "/usr/sbin/nft",
               ProgramRunner run = RunSubprocess);

  // Installs (or replaces) the rules atomically. UNAVAILABLE naming nft's complaint.
  absl::Status Apply() const;
  // Deletes the agent's tables. OK when they do not exist.
  absl::Status Remove() const;

  // The nft script Apply runs (exposed for tests).
  std::string Ruleset() const;
  std::string table() const { return "fsb_" + bridge_; }

 private:
  absl::Status Nft(std::string_view script) const;

  const std::string bridge_;
  const std::string subnet_;
  const std::string nft_;
  const ProgramRunner run_;
};

// Turns on net.ipv4.ip_forward, which sandbox egress needs (a node-wide setting).
absl::Status EnableIpv4Forwarding();

}  // namespace fsb::agent

#endif  // FSB_AGENT_NETWORK_FIREWALL_H_
