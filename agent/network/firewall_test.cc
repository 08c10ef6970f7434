#include "agent/network/firewall.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;

TEST(NodeFirewallTest, RulesetWallsOffTheNodeAndSandboxesFromEachOther) {
  NodeFirewall fw("fsbt0", "10.77.0.0/24", "/usr/sbin/nft", nullptr);
  const std::string r = fw.Ruleset();
  EXPECT_EQ(fw.table(), "fsb_fsbt0");
  // Replaced whole: the old table (if any) is deleted in the same transaction.
  EXPECT_THAT(r, HasSubstr("table inet fsb_fsbt0 {}\ndelete table inet fsb_fsbt0\n"));
  EXPECT_THAT(r, HasSubstr("iifname \"fsbt0\" ct state established,related accept\n"
                           "    iifname \"fsbt0\" drop"));
  EXPECT_THAT(r, HasSubstr("iifname \"fsbt0\" ip daddr 169.254.0.0/16 drop"));
  EXPECT_THAT(r, HasSubstr("ip saddr 10.77.0.0/24 oifname != \"fsbt0\" masquerade"));
  EXPECT_THAT(r, HasSubstr("table bridge fsb_fsbt0 {"));
  EXPECT_THAT(r, HasSubstr("ip saddr 10.77.0.0/24 ip daddr 10.77.0.0/24 drop"));
  EXPECT_THAT(r, HasSubstr("arp saddr ip 10.77.0.0/24 arp daddr ip 10.77.0.0/24 drop"));
}

TEST(NodeFirewallTest, ApplyFeedsTheRulesetToNftAndRemoveDeletesOnlyItsTables) {
  std::vector<SubprocessCall> calls;
  NodeFirewall fw("fsbt0", "10.77.0.0/24", "/sbin/nft",
                  [&](const SubprocessCall& c) -> absl::StatusOr<SubprocessResult> {
                    calls.push_back(c);
                    return SubprocessResult{};
                  });
  ASSERT_TRUE(fw.Apply().ok());
  ASSERT_TRUE(fw.Remove().ok());
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].argv, (std::vector<std::string>{"/sbin/nft", "-f", "-"}));
  EXPECT_EQ(calls[0].stdin_data, fw.Ruleset());
  EXPECT_EQ(calls[1].stdin_data,
            "table inet fsb_fsbt0 {}\ndelete table inet fsb_fsbt0\n"
            "table bridge fsb_fsbt0 {}\ndelete table bridge fsb_fsbt0\n");
}

TEST(NodeFirewallTest, NftRefusalIsUnavailableWithItsMessage) {
  NodeFirewall fw("fsbt0", "10.77.0.0/24", "/sbin/nft",
                  [](const SubprocessCall&) -> absl::StatusOr<SubprocessResult> {
                    return SubprocessResult{1, "", "Error: Could not process rule"};
                  });
  absl::Status s = fw.Apply();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("Could not process rule"));
}

}  // namespace
}  // namespace fsb::agent
