// The sandbox network with the real CNI plugins (containernetworking-plugins), nft and
// network namespaces: a private bridge, subnet and firewall table made for the test and
// removed after it. Traffic goes only to the test's own namespaces and the bridge.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/network/cni.h"
#include "agent/network/firewall.h"
#include "agent/network/netns.h"
#include "agent/network/slots.h"
#include "gtest/gtest.h"
#include "internal/clock.h"
#include "internal/ids.h"
#include "internal/metrics/metrics.h"

namespace fsb::agent {
namespace {

// Runs `script` with /bin/sh in the network namespace `netns` ("" = the host's);
// returns its exit code.
int InNetns(const std::string& netns, const std::string& script) {
  const std::string cmd =
      netns.empty() ? script : absl::StrCat("nsenter --net=", netns, " sh -c '", script, "'");
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// A TCP connect with a 2 s timeout; 0 when it connects.
std::string Connect(const std::string& ip, int port) {
  return absl::StrCat(
      "python3 -c \"import socket,sys; s=socket.socket(); s.settimeout(2); "
      "sys.exit(s.connect_ex((\\\"",
      ip, "\\\",", port, ")))\"");
}

// A TCP listener in the background that accepts forever (until killed).
std::string Listen(const std::string& ip, int port, const std::string& pidfile) {
  return absl::StrCat(
      "python3 -c \"import socket; s=socket.socket(); "
      "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\\\"",
      ip, "\\\",", port, ")); s.listen(16); [s.accept() for _ in iter(int, 1)]\" & echo $! > ",
      pidfile);
}

class NetworkIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    if (access("/usr/lib/cni/bridge", X_OK) != 0 || access("/usr/sbin/nft", X_OK) != 0) {
      GTEST_SKIP() << "needs containernetworking-plugins and nftables";
    }
    char tmpl[] = "/tmp/fsb-net-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    const std::string tag = RandomHex(3);
    bridge_ = "fsbt" + tag;
    // 10.200-249.x.0/24: a test subnet of its own.
    const int second =
        200 + static_cast<int>(std::strtol(tag.substr(0, 2).c_str(), nullptr, 16)) % 50;
    const int third = static_cast<int>(std::strtol(tag.substr(2, 2).c_str(), nullptr, 16));
    subnet_ = absl::StrCat("10.", second, ".", third, ".0/24");
    gateway_ = absl::StrCat("10.", second, ".", third, ".1");
    CniOptions o;
    o.network_name = "fsb-test-" + tag;
    o.bridge = bridge_;
    o.subnet = subnet_;
    o.ipam_dir = dir_ + "/ipam";
    cni_ = std::make_unique<CniNetwork>(o);
    firewall_ = std::make_unique<NodeFirewall>(bridge_, subnet_);
    ASSERT_TRUE(firewall_->Apply().ok());
    ASSERT_TRUE(EnableIpv4Forwarding().ok());
    slots_ = std::make_unique<NetworkSlots>(
        NetworkSlots::Options{.dir = dir_ + "/slots", .free_target = 0}, cni_.get(), &clock_,
        &metrics_);
    ASSERT_TRUE(slots_->Recover({}).ok());
  }
  void TearDown() override {
    if (dir_.empty()) return;
    for (const std::string& pidfile : pidfiles_) {
      InNetns("", absl::StrCat("kill $(cat ", pidfile, ") 2>/dev/null"));
    }
    slots_.reset();
    NetworkSlots cleanup({.dir = dir_ + "/slots", .free_target = 0}, cni_.get(), &clock_,
                         &metrics_);
    (void)cleanup.Recover({});  // tears every slot down
    cleanup.Stop();
    (void)firewall_->Remove();
    InNetns("", absl::StrCat("ip link del ", bridge_, " 2>/dev/null"));
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string Listener(const std::string& netns, const std::string& ip, int port) {
    const std::string pidfile = absl::StrCat(dir_, "/listener-", pidfiles_.size());
    pidfiles_.push_back(pidfile);
    EXPECT_EQ(InNetns(netns, Listen(ip, port, pidfile)), 0);
    usleep(500000);  // python's start
    return pidfile;
  }

  std::string dir_, bridge_, subnet_, gateway_;
  std::vector<std::string> pidfiles_;
  Clock& clock_ = *Clock::Real();
  metrics::Registry registry_;
  AgentMetrics metrics_{&registry_};
  std::unique_ptr<CniNetwork> cni_;
  std::unique_ptr<NodeFirewall> firewall_;
  std::unique_ptr<NetworkSlots> slots_;
};

TEST_F(NetworkIntegrationTest, SandboxesReachNeitherTheNodeNorEachOtherButTheNodeReachesThem) {
  absl::StatusOr<NetworkSlot> a = slots_->Acquire();
  absl::StatusOr<NetworkSlot> b = slots_->Acquire();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE(a->attachment.ip, b->attachment.ip);
  EXPECT_EQ(a->attachment.gateway, gateway_);
  // Its own namespace: lo is up and eth0 holds the address, IPv6 is off.
  EXPECT_EQ(InNetns(a->netns, "ip -4 addr show eth0 | grep -q " + a->attachment.ip), 0);
  EXPECT_EQ(InNetns(a->netns, "ip link show lo | grep -q UP"), 0);
  EXPECT_EQ(InNetns(a->netns, "test $(cat /proc/sys/net/ipv6/conf/all/disable_ipv6) = 1"), 0);

  // Both listen on the same port, each at its own address; the node reaches both.
  Listener(a->netns, "0.0.0.0", 8080);
  Listener(b->netns, "0.0.0.0", 8080);
  EXPECT_EQ(InNetns("", Connect(a->attachment.ip, 8080)), 0);
  EXPECT_EQ(InNetns("", Connect(b->attachment.ip, 8080)), 0);
  // A sandbox cannot reach another.
  EXPECT_NE(InNetns(a->netns, Connect(b->attachment.ip, 8080)), 0);
  // Nor the node: a listener on the node's bridge address and one on all its addresses.
  Listener("", gateway_, 18081);
  EXPECT_EQ(InNetns("", Connect(gateway_, 18081)), 0);  // it does listen
  EXPECT_NE(InNetns(a->netns, Connect(gateway_, 18081)), 0);
}

TEST_F(NetworkIntegrationTest, EgressLeavesThroughNatUnlessTurnedOff) {
  // "Outside": a namespace of the test's own behind a veth pair, 198.18.x.0/30.
  const std::string outside = dir_ + "/outside";
  ASSERT_TRUE(CreateNetns(outside).ok());
  const std::string host_end = "fsbo" + bridge_.substr(4);
  ASSERT_EQ(InNetns("", absl::StrCat("ip link add ", host_end,
                                     " type veth peer name out0 && "
                                     "ip link set out0 netns ",
                                     outside,
                                     " && ip addr add "
                                     "198.18.7.1/30 dev ",
                                     host_end, " && ip link set ", host_end, " up")),
            0);
  ASSERT_EQ(InNetns(outside,
                    "ip addr add 198.18.7.2/30 dev out0 && ip link set out0 up && "
                    "ip link set lo up"),
            0);
  Listener(outside, "198.18.7.2", 9000);

  absl::StatusOr<NetworkSlot> egress = slots_->Acquire();
  absl::StatusOr<NetworkSlot> closed = slots_->Acquire();
  ASSERT_TRUE(egress.ok() && closed.ok());
  ASSERT_TRUE(slots_->Configure(*egress, "out", v1::SANDBOX_NETWORK_EGRESS).ok());
  ASSERT_TRUE(slots_->Configure(*closed, "in", v1::SANDBOX_NETWORK_NO_EGRESS).ok());
  // "Outside" has no route to the sandbox subnet: the connection works only because
  // the node masquerades it behind 198.18.7.1.
  EXPECT_NE(InNetns(outside, "ip route show | grep -q " + subnet_.substr(0, subnet_.find('/'))), 0);
  EXPECT_EQ(InNetns(egress->netns, Connect("198.18.7.2", 9000)), 0);
  EXPECT_NE(InNetns(closed->netns, Connect("198.18.7.2", 9000)), 0);
  // Link-local metadata addresses are dropped even with egress.
  EXPECT_NE(InNetns(egress->netns, Connect("169.254.169.254", 80)), 0);

  InNetns("", "ip link del " + host_end);
  (void)RemoveNetns(outside);
}

TEST_F(NetworkIntegrationTest, ReleaseRemovesTheVethTheLeaseAndTheNamespace) {
  absl::StatusOr<NetworkSlot> a = slots_->Acquire();
  ASSERT_TRUE(a.ok()) << a.status();
  const std::string lease =
      absl::StrCat(dir_, "/ipam/", cni_->options().network_name, "/", a->attachment.ip);
  EXPECT_TRUE(std::filesystem::exists(lease));
  EXPECT_EQ(InNetns("", absl::StrCat("ip link show master ", bridge_, " | grep -q veth")), 0);
  slots_->Release(a->id);
  for (int i = 0; i < 300 && std::filesystem::exists(a->netns); ++i) usleep(10000);
  EXPECT_FALSE(std::filesystem::exists(a->netns));
  EXPECT_FALSE(std::filesystem::exists(lease));
  EXPECT_NE(InNetns("", absl::StrCat("ip link show master ", bridge_, " | grep -q veth")), 0);
}

}  // namespace
}  // namespace fsb::agent
