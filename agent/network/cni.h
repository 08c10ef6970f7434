#ifndef FSB_AGENT_NETWORK_CNI_H_
#define FSB_AGENT_NETWORK_CNI_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "internal/sandbox_network.h"
#include "internal/subprocess.h"

namespace fsb::agent {

// The sandbox network of one node, as CNI (spec 1.0.0) plugins make it:
//   lo:   `loopback` (brings lo up);
//   eth0: `bridge` (a veth into the node's bridge, which is the sandboxes' gateway; the
//         host-local IPAM leases an address of `subnet` and routes 0.0.0.0/0 through it)
//         -> `tuning` (IPv6 off inside the sandbox: its only address family is IPv4, which
//         the node's firewall rules cover) -> `firewall` (accepts the sandbox's forwarded
//         traffic on nodes whose FORWARD policy drops).
// Host ports are forwarded by `portmap`, run on its own against the attachment's result.
// The agent runs the plugins as the CNI spec says: the binary <plugin_dir>/<type>,
// CNI_COMMAND/CNI_CONTAINERID/CNI_NETNS/CNI_IFNAME/CNI_PATH in its environment, its
// network configuration (with the chain's previous result) on stdin, its result or
// error as JSON on stdout.
struct CniOptions {
  std::string plugin_dir = "/usr/lib/cni";
  std::string network_name = "fsb";
  std::string bridge = "fsb0";
  std::string subnet = "10.88.0.0/16";
  std::string ipam_dir;                        // host-local's leases
  absl::Duration timeout = absl::Seconds(30);  // per plugin run
};

// A sandbox's attachment: what ADD answered.
struct CniAttachment {
  std::string ip;           // "10.88.0.5"
  int prefix_length = 0;    // 16
  std::string gateway;      // "10.88.0.1"
  std::string result_json;  // the chain's result, which CHECK and DEL are given
};

// Runs a program to completion (RunSubprocess; unit tests fake it).
using ProgramRunner = std::function<absl::StatusOr<SubprocessResult>(const SubprocessCall&)>;

// Thread-safe (no state beyond its options); each call runs plugins in the caller.
class CniNetwork {
 public:
  explicit CniNetwork(CniOptions options, ProgramRunner run = RunSubprocess);

  // Attaches the network namespace `netns` (a path) as container `id`. On failure the
  // plugins that succeeded are undone (DEL in reverse) and the error names the plugin
  // and its message: RESOURCE_EXHAUSTED when the subnet has no free address,
  // UNAVAILABLE otherwise.
  absl::StatusOr<CniAttachment> Add(std::string_view id, std::string_view netns) const;
  // Whether the attachment is still as ADD made it (the plugins' CHECK). An error names
  // the first plugin that disagrees.
  absl::Status Check(std::string_view id, std::string_view netns,
                     std::string_view result_json) const;
  // Detaches: releases the lease, the veth and the firewall rules. Every plugin runs even
  // if one fails (the first error is returned). `netns` may no longer exist ("" is
  // allowed): plugins then release what lives outside it.
  absl::Status Del(std::string_view id, std::string_view netns, std::string_view result_json) const;

  // Forwards host ports to the attachment (`portmap` ADD); Unpublish removes them.
  absl::Status Publish(std::string_view id, std::string_view netns, std::string_view result_json,
                       const std::vector<PublishedPort>& ports) const;
  absl::Status Unpublish(std::string_view id, std::string_view netns, std::string_view result_json,
                         const std::vector<PublishedPort>& ports) const;

  const CniOptions& options() const { return options_; }

  // The stdin configuration of each plugin of the eth0 chain, given the previous result
  // ("" for the first). Exposed for tests.
  std::string PluginConfig(int index, std::string_view prev_result) const;
  static constexpr int kChainLength = 3;

 private:
  struct Invocation {
    std::string_view command;  // ADD, CHECK, DEL
    std::string_view id;
    std::string_view netns;
    std::string_view ifname;
    std::string_view type;
    std::string config;
  };
  absl::StatusOr<std::string> Invoke(const Invocation& call) const;
  std::string LoopbackConfig() const;
  std::string PortmapConfig(std::string_view prev_result,
                            const std::vector<PublishedPort>& ports) const;

  const CniOptions options_;
  const ProgramRunner run_;
};

// Parses a CNI 1.0 result: the first IPv4 address of `ips` with its prefix and gateway.
absl::StatusOr<CniAttachment> ParseCniResult(std::string_view result_json);

}  // namespace fsb::agent

#endif  // FSB_AGENT_NETWORK_CNI_H_
