#include "agent/network/firewall.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "internal/strings.h"

namespace fsb::agent {

NodeFirewall::NodeFirewall(std::string bridge, std::string subnet, std::string nft,
                           ProgramRunner run)
    : bridge_(std::move(bridge)),
      subnet_(std::move(subnet)),
      nft_(std::move(nft)),
      run_(std::move(run)) {}

std::string NodeFirewall::Ruleset() const {
  // Adding an empty table first makes the delete valid when it did not exist; the
  // whole script is one nft transaction.
  constexpr char kTemplate[] = R"(table inet $T {}
delete table inet $T
table inet $T {
  chain input {
    type filter hook input priority filter - 10; policy accept;
    iifname "$B" ct state established,related accept
    iifname "$B" drop
  }
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    iifname "$B" ip daddr 169.254.0.0/16 drop
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr $S oifname != "$B" masquerade
  }
}
table bridge $T {}
delete table bridge $T
table bridge $T {
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    ip saddr $S ip daddr $S drop
    arp saddr ip $S arp daddr ip $S drop
  }
}
)";
  return absl::StrReplaceAll(kTemplate, {{"$T", table()}, {"$B", bridge_}, {"$S", subnet_}});
}

absl::Status NodeFirewall::Nft(std::string_view script) const {
  absl::StatusOr<SubprocessResult> r =
      run_({.argv = {nft_, "-f", "-"}, .stdin_data = std::string(script)});
  if (!r.ok()) return absl::UnavailableError(absl::StrCat("nft: ", r.status().message()));
  if (r->exit_code != 0) {
    return absl::UnavailableError(
        absl::StrCat("nft refused the sandbox firewall of ", bridge_, ": ", Sv(r->stderr_data)));
  }
  return absl::OkStatus();
}

absl::Status NodeFirewall::Apply() const { return Nft(Ruleset()); }

absl::Status EnableIpv4Forwarding() {
  const int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, "1", 1) != 1) {
    const int err = errno;
    if (fd >= 0) close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot turn on net.ipv4.ip_forward: ", strerror(err)));
  }
  close(fd);
  return absl::OkStatus();
}

absl::Status NodeFirewall::Remove() const {
  const std::string t = table();
  return Nft(absl::StrCat("table inet ", t, " {}\ndelete table inet ", t, "\ntable bridge ", t,
                          " {}\ndelete table bridge ", t, "\n"));
}

}  // namespace fsb::agent
