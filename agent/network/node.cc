#include "agent/network/node.h"

#include <arpa/inet.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "internal/strings.h"
#include "internal/subprocess.h"

namespace fsb::agent {
namespace {

bool IsInterfaceName(std::string_view name) {
  if (name.empty() || name.size() > 15) return false;  // IFNAMSIZ - 1
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

bool IsIpv4Cidr(std::string_view cidr) {
  const size_t slash = cidr.find('/');
  if (slash == std::string_view::npos) return false;
  const std::string address(cidr.substr(0, slash));
  in_addr parsed;
  int prefix = 0;
  return inet_pton(AF_INET, address.c_str(), &parsed) == 1 &&
         absl::SimpleAtoi(Sv(cidr.substr(slash + 1)), &prefix) && prefix >= 8 && prefix <= 28;
}

CniOptions CniOptionsFor(const NodeNetwork::Options& o) {
  CniOptions cni;
  cni.plugin_dir = o.plugin_dir;
  cni.bridge = o.bridge;
  cni.subnet = o.subnet;
  cni.ipam_dir = o.state_dir + "/network/ipam";
  return cni;
}

}  // namespace

absl::Status NodeNetwork::Validate(const Options& options) {
  if (!IsInterfaceName(options.bridge)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--sandbox-bridge \"", options.bridge,
                     "\": an interface name is 1 to 15 letters, digits, '-', '_' or '.'"));
  }
  if (!IsIpv4Cidr(options.subnet)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--sandbox-cidr \"", options.subnet,
        "\": not an IPv4 range ADDRESS/PREFIX with a prefix of 8 to 28 (e.g. 10.88.0.0/16)"));
  }
  return absl::OkStatus();
}

NodeNetwork::NodeNetwork(Options options, Clock* clock, AgentMetrics* metrics)
    : options_(std::move(options)),
      clock_(clock),
      metrics_(metrics),
      cni_(CniOptionsFor(options_)),
      firewall_(options_.bridge, options_.subnet),
      slots_(SlotOptions(options_.free_slots), &cni_, clock, metrics) {}

NetworkSlots::Options NodeNetwork::SlotOptions(int free_target) const {
  return {.dir = options_.state_dir + "/network/slots", .free_target = free_target};
}

absl::Status NodeNetwork::SetUp() {
  if (absl::Status s = EnableIpv4Forwarding(); !s.ok()) return s;
  return firewall_.Apply();
}

absl::Status NodeNetwork::Remove() {
  slots_.Stop();
  NetworkSlots all(SlotOptions(/*free_target=*/0), &cni_, clock_, metrics_);
  absl::Status first = all.Recover({});  // owned by nothing: every slot is torn down
  all.Stop();
  if (absl::Status s = firewall_.Remove(); first.ok()) first = s;
  absl::StatusOr<SubprocessResult> del =
      RunSubprocess({.argv = {"/usr/bin/ip", "link", "del", options_.bridge}});
  // Exit code 1 with "Cannot find device": there was no bridge (no slot was ever made).
  if (del.ok() && del->exit_code != 0 &&
      del->stderr_data.find("Cannot find device") == std::string::npos) {
    del = absl::UnavailableError(
        absl::StrCat("ip link del ", options_.bridge, ": ", del->stderr_data));
  }
  if (!del.ok()) {
    LOG(WARNING) << del.status();
    if (first.ok()) first = del.status();
  }
  return first;
}

}  // namespace fsb::agent
