// Sandbox networking through the whole stack on a real containerd and the real CNI
// plugins: each sandbox in a network namespace of its own on the agent's bridge (the
// stack's private fsbt<hex> and /24), the node reaching sandboxes but not the reverse,
// sandboxes not reaching each other, per-sandbox /etc/hosts and resolv.conf, no-egress,
// a published port, slots kept across an agent SIGKILL and released with their sandbox,
// and warm instances prepared with slots of their own. Traffic goes only to loopback,
// the stack's bridge and the sandboxes on it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/local_stack.h"

namespace fsb {
namespace {

using fsb::testing::LocalStack;
using fsb::testing::PrivateContainerd;
using fsb::testing::WaitFor;
using ::testing::HasSubstr;
using ::testing::Not;

// Whether a TCP connection to ip:port is accepted within 2 s (from the node).
bool TcpConnects(const std::string& ip, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) == 1;
  if (ok && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ok = errno == EINPROGRESS;
    pollfd p{fd, POLLOUT, 0};
    ok = ok && poll(&p, 1, 2000) == 1;
    int err = 0;
    socklen_t len = sizeof(err);
    ok = ok && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
  }
  close(fd);
  return ok;
}

// The first address of a.b.c.0/24: the bridge's, the sandboxes' gateway.
std::string Gateway(const std::string& subnet) {
  return absl::StrCat(subnet.substr(0, subnet.rfind(".0/")), ".1");
}

// The agent's port (its gRPC API) from its address as the controller lists it.
int AgentPort(LocalStack& stack) {
  fastpath::v1::ListAgentsResponse agents;
  grpc::ClientContext ctx;
  if (!stack.fastpath().ListAgents(&ctx, {}, &agents).ok() || agents.items_size() != 1) return 0;
  const std::string& address = agents.items(0).spec().address();
  return std::stoi(address.substr(address.rfind(':') + 1));
}

class NetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string missing = fsb::testing::MissingPrerequisite(); !missing.empty()) {
      GTEST_SKIP() << "integration test skipped: " << missing;
    }
    if (access("/usr/lib/cni/bridge", X_OK) != 0) {
      GTEST_SKIP() << "needs containernetworking-plugins";
    }
  }
  void Start(std::vector<std::string> agent_flags = {}) {
    auto stack = LocalStack::Start({.agent_flags = std::move(agent_flags)});
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = *std::move(stack);
  }

  // `fsb run` of busybox's httpd on :8080 named `name`, with `flags` (e.g. --network).
  fastpath::v1::SandboxInfo RunServer(const std::string& name,
                                      const std::vector<std::string>& flags = {}) {
    std::vector<std::string> args = {
        "run", "--image", PrivateContainerd::kTestImage, "--name", name, "--port", "8080"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {"--", "httpd", "-f", "-p", "8080", "-h", "/"});
    std::string out, err;
    EXPECT_EQ(stack_->Fsb(args, &out, &err), 0) << err;
    return Get(name);
  }
  fastpath::v1::SandboxInfo Get(const std::string& name) {
    grpc::ClientContext ctx;
    fastpath::v1::GetRequest req;
    req.set_sandbox_name(name);
    fastpath::v1::SandboxInfo info;
    EXPECT_TRUE(stack_->fastpath().GetSandbox(&ctx, req, &info).ok());
    return info;
  }
  // `sh -c script` in sandbox `name`; returns its exit code, its output in `*out`.
  int Exec(const std::string& name, const std::string& script, std::string* out = nullptr) {
    std::string o, err;
    const int rc = stack_->Fsb({"exec", name, "--", "sh", "-c", script}, &o, &err);
    if (out != nullptr) *out = o;
    return rc;
  }
  // Whether sandbox `name` connects to ip:port within 2 s.
  bool SandboxConnects(const std::string& name, const std::string& ip, int port) {
    return Exec(name, absl::StrCat("echo | nc -w 2 ", ip, " ", port)) == 0;
  }
  // The container of sandbox `name` (a warm one's id is its instance's).
  absl::StatusOr<containerd::services::containers::v1::Container> Container(
      const std::string& name) {
    absl::StatusOr<std::vector<containerd::services::containers::v1::Container>> found =
        absl::NotFoundError(name);
    WaitFor(
        [&] {
          found = stack_->containerd().ListContainers(
              absl::StrCat("labels.\"fsb.io/sandbox-name\"==", name));
          return found.ok() && found->size() == 1;
        },
        absl::Seconds(10));
    if (!found.ok()) return found.status();
    if (found->size() != 1) return absl::NotFoundError(absl::StrCat("no container for ", name));
    return found->front();
  }
  // The network namespace (device:inode) of process `pid`.
  static std::string NetnsOf(uint32_t pid) {
    struct stat st;
    if (stat(absl::StrCat("/proc/", pid, "/ns/net").c_str(), &st) != 0) return "";
    return absl::StrCat(st.st_dev, ":", st.st_ino);
  }
  std::string SandboxNetns(const std::string& name) {
    auto c = Container(name);
    if (!c.ok()) return "";
    auto task = stack_->containerd().GetTask(c->id());
    return task.ok() ? NetnsOf(task->pid()) : "";
  }
  std::string SlotDir(const std::string& slot) const {
    return absl::StrCat(stack_->agent_state_dir(), "/network/slots/", slot);
  }
  bool Exists(const std::string& path) const { return access(path.c_str(), F_OK) == 0; }

  std::unique_ptr<LocalStack> stack_;
};

TEST_F(NetworkTest, SandboxesReachNeitherTheNodeNorEachOtherAndTheNodeReachesThem) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const fastpath::v1::SandboxInfo a = RunServer("net-a");
  const fastpath::v1::SandboxInfo b = RunServer("net-b");  // the same port on one agent
  ASSERT_FALSE(a.ip().empty());
  ASSERT_FALSE(b.ip().empty());
  EXPECT_NE(a.ip(), b.ip());
  const std::string prefix = stack_->agent_subnet().substr(0, stack_->agent_subnet().rfind('.'));
  EXPECT_TRUE(absl::StartsWith(a.ip(), prefix + ".")) << a.ip();
  EXPECT_THAT(a.endpoints(), ::testing::ElementsAre(a.ip() + ":8080"));

  // Namespaces of their own.
  const std::string node_netns = NetnsOf(getpid());
  const std::string netns_a = SandboxNetns("net-a");
  ASSERT_FALSE(netns_a.empty());
  EXPECT_NE(netns_a, node_netns);
  EXPECT_NE(netns_a, SandboxNetns("net-b"));

  // The node reaches each sandbox at its endpoint.
  EXPECT_TRUE(WaitFor([&] { return TcpConnects(a.ip(), 8080); }, absl::Seconds(10)));
  EXPECT_TRUE(TcpConnects(b.ip(), 8080));
  // A sandbox reaches its own server, not its neighbour's.
  EXPECT_TRUE(SandboxConnects("net-a", "127.0.0.1", 8080));
  EXPECT_TRUE(SandboxConnects("net-a", a.ip(), 8080));
  EXPECT_FALSE(SandboxConnects("net-a", b.ip(), 8080));
  // Nor the node: not the agent's API on the node's loopback (its 127.0.0.1 is its own)
  // nor on the bridge's address, nor the agent's metrics there.
  const int agent_port = AgentPort(*stack_);
  ASSERT_GT(agent_port, 0);
  EXPECT_TRUE(TcpConnects("127.0.0.1", agent_port));  // the probe works: the node reaches it
  EXPECT_FALSE(SandboxConnects("net-a", "127.0.0.1", agent_port));
  EXPECT_FALSE(SandboxConnects("net-a", Gateway(stack_->agent_subnet()), agent_port));
  const std::string metrics = stack_->agent_metrics();
  const int metrics_port = std::stoi(metrics.substr(metrics.rfind(':') + 1));
  EXPECT_FALSE(SandboxConnects("net-a", Gateway(stack_->agent_subnet()), metrics_port));

  // Files of its own: its name at its address; no loopback resolver of the node.
  std::string hosts, resolv;
  ASSERT_EQ(Exec("net-a", "cat /etc/hosts", &hosts), 0);
  EXPECT_THAT(hosts, HasSubstr(absl::StrCat(a.ip(), "\tnet-a")));
  ASSERT_EQ(Exec("net-a", "cat /etc/resolv.conf", &resolv), 0);
  EXPECT_THAT(resolv, Not(HasSubstr("nameserver 127.")));

  std::string out, err;
  ASSERT_EQ(stack_->Fsb({"rm", "--now", "net-a", "net-b"}, &out, &err), 0) << err;
}

TEST_F(NetworkTest, NoEgressRemovesTheRouteOutAndPublishedPortsReachTheSandbox) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const int host_port = fsb::testing::FreePort();
  RunServer("out-yes");
  const fastpath::v1::SandboxInfo closed =
      RunServer("out-no", {"--network", "no-egress", "-p", absl::StrCat(host_port, ":8080")});
  EXPECT_EQ(closed.network(), "no-egress");
  // /proc/net/route: a default route (destination 00000000) only where egress is on.
  std::string with, without;
  ASSERT_EQ(Exec("out-yes", "cat /proc/net/route", &with), 0);
  ASSERT_EQ(Exec("out-no", "cat /proc/net/route", &without), 0);
  EXPECT_THAT(with, HasSubstr("eth0\t00000000\t"));
  EXPECT_THAT(without, Not(HasSubstr("eth0\t00000000\t"))) << without;
  EXPECT_THAT(without, HasSubstr("eth0"));  // still on the bridge: the node reaches it
  EXPECT_TRUE(WaitFor([&] { return TcpConnects(closed.ip(), 8080); }, absl::Seconds(10)));

  // "Outside": a namespace of the test's own behind a veth pair on 198.18.N.0/30, with
  // a listener; it has no route to the sandboxes, so only the node's NAT lets a sandbox
  // in.
  const std::string tag = stack_->agent_bridge().substr(4);
  const std::string outside = "fsbo" + tag;
  const std::string third = stack_->agent_subnet().substr(
      stack_->agent_subnet().find('.', 3) + 1,
      stack_->agent_subnet().rfind('.') - stack_->agent_subnet().find('.', 3) - 1);
  const std::string near = absl::StrCat("198.18.", third, ".1"),
                    far = absl::StrCat("198.18.", third, ".2");
  absl::Cleanup remove_outside = [&] {
    fsb::testing::RunCommand(
        {"sh", "-c",
         absl::StrCat("kill $(cat ", stack_->dir(), "/outside.pid) 2>/dev/null; ip link del ",
                      outside, " 2>/dev/null; ip netns del ", outside, " 2>/dev/null")});
  };
  ASSERT_EQ(fsb::testing::RunCommand(
                {"sh", "-c",
                 absl::StrCat("ip netns add ", outside, " && ip link add ", outside,
                              " type veth peer name out0 netns ", outside, " && ip addr add ", near,
                              "/30 dev ", outside, " && ip link set ", outside, " up && ip -n ",
                              outside, " addr add ", far, "/30 dev out0 && ip -n ", outside,
                              " link set out0 up && ip netns exec ", outside,
                              " /bin/busybox nc -ll -p 9000 -e /bin/true & echo $! > ",
                              stack_->dir(), "/outside.pid")}),
            0);
  EXPECT_TRUE(WaitFor([&] { return SandboxConnects("out-yes", far, 9000); }, absl::Seconds(10)));
  EXPECT_FALSE(SandboxConnects("out-no", far, 9000));
  // Link-local metadata addresses are dropped even with egress.
  EXPECT_FALSE(SandboxConnects("out-yes", "169.254.169.254", 80));
  std::move(remove_outside).Invoke();

  // The published port forwards to it.
  EXPECT_TRUE(WaitFor([&] { return TcpConnects("127.0.0.1", host_port); }, absl::Seconds(10)));

  auto slot = Container("out-no");
  ASSERT_TRUE(slot.ok()) << slot.status();
  const std::string dir = SlotDir(slot->labels().at("fsb.io/network-slot"));
  EXPECT_TRUE(Exists(dir + "/ports"));
  std::string out, err;
  ASSERT_EQ(stack_->Fsb({"rm", "--now", "out-yes", "out-no"}, &out, &err), 0) << err;
  EXPECT_TRUE(WaitFor([&] { return !Exists(dir); }, absl::Seconds(20)));
  EXPECT_FALSE(TcpConnects("127.0.0.1", host_port));  // the forwarding went with it
}

TEST_F(NetworkTest, ASlotOutlivesAnAgentKillAndGoesWithItsSandbox) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const fastpath::v1::SandboxInfo s = RunServer("keep");
  ASSERT_FALSE(s.ip().empty());
  auto c = Container("keep");
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string slot = c->labels().at("fsb.io/network-slot");
  const std::string netns = SandboxNetns("keep");
  ASSERT_TRUE(Exists(SlotDir(slot) + "/netns"));

  stack_->KillAgent();
  ASSERT_TRUE(stack_->StartAgent().ok());
  ASSERT_TRUE(stack_->WaitForAgent(absl::Seconds(30)).ok());
  EXPECT_EQ(Get("keep").ip(), s.ip());
  EXPECT_EQ(SandboxNetns("keep"), netns);
  EXPECT_TRUE(Exists(SlotDir(slot) + "/netns"));
  EXPECT_TRUE(WaitFor([&] { return TcpConnects(s.ip(), 8080); }, absl::Seconds(10)));
  // The restarted agent ran the plugins' CHECK on the slot it kept, which passed.
  EXPECT_TRUE(WaitFor(
      [&] {
        std::string metrics;
        fsb::testing::RunCommand({"curl", "-sf", "http://" + stack_->agent_metrics() + "/metrics"},
                                 &metrics);
        return absl::StrContains(metrics, "fsb_agent_network_slot_checks_total{result=\"ok\"} 1");
      },
      absl::Seconds(20)));

  // The controller may not have reconnected to the new agent yet: then the delete is
  // retried by its reconciler, which the wait covers.
  std::string out, err;
  stack_->Fsb({"rm", "--now", "keep"}, &out, &err);
  EXPECT_TRUE(WaitFor(
      [&] {
        return stack_->containerd().GetContainer(c->id()).status().code() ==
               absl::StatusCode::kNotFound;
      },
      absl::Seconds(30)));
  EXPECT_TRUE(WaitFor([&] { return !Exists(SlotDir(slot)); }, absl::Seconds(20)));
  EXPECT_FALSE(TcpConnects(s.ip(), 8080));
}

TEST_F(NetworkTest, WarmSandboxesEachHaveANetworkOfTheirOwn) {
  ASSERT_NO_FATAL_FAILURE(Start({absl::StrCat("--warm=", PrivateContainerd::kTestImage, "=2")}));
  ASSERT_TRUE(WaitFor(
      [&] {
        fastpath::v1::ListAgentsResponse agents;
        grpc::ClientContext ctx;
        if (!stack_->fastpath().ListAgents(&ctx, {}, &agents).ok() || agents.items_size() != 1) {
          return false;
        }
        for (const auto& w : agents.items(0).status().warm()) {
          if (w.image() == PrivateContainerd::kTestImage) return w.ready() == 2;
        }
        return false;
      },
      absl::Seconds(60)));
  const fastpath::v1::SandboxInfo a = RunServer("warm-a");
  const fastpath::v1::SandboxInfo b = RunServer("warm-b", {"--network", "no-egress"});
  ASSERT_FALSE(a.ip().empty());
  ASSERT_FALSE(b.ip().empty());
  EXPECT_NE(a.ip(), b.ip());
  auto ca = Container("warm-a");
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_TRUE(ca->labels().contains("fsb.io/warm-image")) << "not served warm";
  EXPECT_NE(SandboxNetns("warm-a"), SandboxNetns("warm-b"));
  EXPECT_NE(SandboxNetns("warm-a"), NetnsOf(getpid()));
  std::string hosts, route;
  ASSERT_EQ(Exec("warm-a", "cat /etc/hosts", &hosts), 0);
  EXPECT_THAT(hosts, HasSubstr(absl::StrCat(a.ip(), "\twarm-a")));
  ASSERT_EQ(Exec("warm-b", "cat /proc/net/route", &route), 0);
  EXPECT_THAT(route, Not(HasSubstr("eth0\t00000000\t")));
  EXPECT_TRUE(WaitFor([&] { return TcpConnects(a.ip(), 8080); }, absl::Seconds(10)));
  EXPECT_FALSE(SandboxConnects("warm-a", b.ip(), 8080));
  std::string out, err;
  ASSERT_EQ(stack_->Fsb({"rm", "--now", "warm-a", "warm-b"}, &out, &err), 0) << err;
}

// The insecure opt-out, which also shows that the probes above can see a reachable agent.
TEST_F(NetworkTest, HostNetworkIsTheInsecureOptOut) {
  ASSERT_NO_FATAL_FAILURE(Start({"--sandbox-network=host"}));
  const fastpath::v1::SandboxInfo s = RunServer("on-host");
  EXPECT_TRUE(s.ip().empty());
  EXPECT_EQ(SandboxNetns("on-host"), NetnsOf(getpid()));
  EXPECT_TRUE(SandboxConnects("on-host", "127.0.0.1", AgentPort(*stack_)));
  std::string out, err;
  EXPECT_EQ(stack_->Fsb({"run", "--image", PrivateContainerd::kTestImage, "--name", "pub", "-p",
                         "18080:80", "--", "sleep", "60"},
                        &out, &err),
            1);
  EXPECT_THAT(err, HasSubstr("--sandbox-network=host"));
  ASSERT_EQ(stack_->Fsb({"rm", "--now", "on-host"}, &out, &err), 0) << err;
}

}  // namespace
}  // namespace fsb
