#ifndef FSB_AGENT_NETWORK_NODE_H_
#define FSB_AGENT_NETWORK_NODE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "agent/agent_metrics.h"
#include "agent/network/cni.h"
#include "agent/network/firewall.h"
#include "agent/network/slots.h"
#include "internal/clock.h"

namespace fsb::agent {

// The node's sandbox network as the agent's flags describe it: the CNI network, the
// node's firewall and the pool of network slots, with their state under
// <state_dir>/network/ (slots/, and ipam/ for host-local's leases).
class NodeNetwork {
 public:
  struct Options {
    std::string state_dir;
    std::string bridge = "fsb0";
    std::string subnet = "10.88.0.0/16";
    std::string plugin_dir = "/usr/lib/cni";
    int free_slots = 4;
  };

  // INVALID_ARGUMENT naming the flag: a bridge name that is not a Linux interface name,
  // a subnet that is not an IPv4 CIDR with a prefix of 8 to 28.
  static absl::Status Validate(const Options& options);

  // `clock` and `metrics` must outlive it.
  NodeNetwork(Options options, Clock* clock, AgentMetrics* metrics);

  // Readies the node: IPv4 forwarding on, the firewall tables installed (replacing an
  // earlier run's). UNAVAILABLE or INTERNAL naming what failed. Slots are recovered
  // with the sandboxes (SandboxManager::Recover).
  absl::Status SetUp();
  NetworkSlots* slots() { return &slots_; }

  // Removes everything the agent made on the node for its sandboxes: every slot under
  // the state folder (its veth, address lease, forwarded ports, namespace), the firewall
  // tables and the bridge. For uninstalling (fsb-agent --remove-sandbox-network) and
  // tests; sandboxes still running lose their network. Every step runs; the first error
  // is returned.
  absl::Status Remove();

 private:
  NetworkSlots::Options SlotOptions(int free_target) const;

  const Options options_;
  Clock* const clock_;
  AgentMetrics* const metrics_;
  const CniNetwork cni_;
  const NodeFirewall firewall_;
  NetworkSlots slots_;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_NETWORK_NODE_H_
