#include "agent/warm/init_order.h"

#include <sys/resource.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

TEST(InitOrderTest, CarriesWhatTheColdSpecSays) {
  ProcessSpec p;
  p.args = {"sh", "-c", "id"};
  p.env = {"PATH=/bin", "A=1"};
  p.cwd = "/w";
  p.uid = 1000;
  p.gid = 100;
  p.additional_gids = {10, 11};
  RuntimeSpecOptions o;
  o.hostname = "web";
  o.readonly_rootfs = true;
  o.nofile = 4096;
  const init::Order order = InitOrderFor(p, o);
  EXPECT_EQ(order.argv, p.args);
  EXPECT_EQ(order.env, p.env);
  EXPECT_EQ(order.cwd, "/w");
  EXPECT_EQ(order.uid, 1000u);
  EXPECT_EQ(order.gid, 100u);
  EXPECT_EQ(order.groups, (std::vector<uint32_t>{10, 11}));
  EXPECT_EQ(order.hostname, "web");
  EXPECT_TRUE(order.readonly_rootfs);
  EXPECT_TRUE(order.no_new_privileges);
  // Docker's default set (0xa80425fb in /proc/self/status) less CAP_NET_RAW (bit 13).
  EXPECT_EQ(order.capabilities.bounding, 0xa80405fbu);
  EXPECT_EQ(order.capabilities.effective, 0xa80405fbu);
  EXPECT_EQ(order.capabilities.permitted, 0xa80405fbu);
  EXPECT_EQ(order.capabilities.inheritable, 0u);
  EXPECT_EQ(order.capabilities.ambient, 0u);
  ASSERT_EQ(order.rlimits.size(), 1u);
  EXPECT_EQ(order.rlimits[0].resource, static_cast<uint32_t>(RLIMIT_NOFILE));
  // The spec's NOFILE (the agent's --sandbox-nofile), as runc sets it for a cold create.
  EXPECT_EQ(order.rlimits[0].soft, 4096u);
  EXPECT_EQ(order.rlimits[0].hard, 4096u);
  // The prepared instance's own extra capability never reaches the process.
  RuntimeSpecOptions instance = o;
  instance.extra_capabilities.clear();
  EXPECT_EQ(InitOrderFor(p, instance).capabilities.bounding & (uint64_t{1} << 21), 0u);
}

}  // namespace
}  // namespace fsb::agent
