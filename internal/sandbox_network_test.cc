#include "internal/sandbox_network.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb {
namespace {

using ::testing::HasSubstr;

TEST(ValidateNetworkModeTest, AcceptsTheModesAndNamesTheRest) {
  EXPECT_TRUE(ValidateNetworkMode("network", "egress", false).ok());
  EXPECT_TRUE(ValidateNetworkMode("network", "no-egress", false).ok());
  EXPECT_TRUE(ValidateNetworkMode("network", "", true).ok());
  EXPECT_FALSE(ValidateNetworkMode("--network", "", false).ok());
  const absl::Status s = ValidateNetworkMode("--network", "none", true);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--network \"none\" is not a network mode"));
  EXPECT_THAT(s.message(), HasSubstr("use egress or no-egress"));
  EXPECT_FALSE(ValidateNetworkMode("network", "Egress", true).ok());
}

TEST(ParsePublishedPortTest, ReadsPortsAndProtocolWithTcpByDefault) {
  absl::StatusOr<PublishedPort> p = ParsePublishedPort("publish", "8080:80");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, (PublishedPort{8080, 80, "tcp"}));
  p = ParsePublishedPort("publish", "53:5353/udp");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, (PublishedPort{53, 5353, "udp"}));
  p = ParsePublishedPort("publish", "65535:1/tcp");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, (PublishedPort{65535, 1, "tcp"}));
}

TEST(ParsePublishedPortTest, RejectsMalformedEntriesNamingThem) {
  struct Case {
    std::string text;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"8080", "use HOST_PORT:CONTAINER_PORT[/tcp|udp]"},
      {"", "use HOST_PORT:CONTAINER_PORT"},
      {":80", "host port \"\" is not a number"},
      {"8080:", "container port \"\" is not a number"},
      {"x:80", "host port \"x\" is not a number"},
      {"+80:80", "host port \"+80\" is not a number"},
      {" 80:80", "is not a number"},
      {"80:80:90", "container port \"80:90\" is not a number"},
      {"0:80", "host port 0 is out of range 1-65535"},
      {"65536:80", "host port 65536 is out of range"},
      {"80:70000", "container port 70000 is out of range"},
      {"80:1234567", "container port 1234567 is out of range"},
      {"80:80/sctp", "protocol \"sctp\" is not tcp or udp"},
      {"80:80/TCP", "protocol \"TCP\" is not tcp or udp"},
      {"80:80/", "the protocol after '/' is empty"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<PublishedPort> p = ParsePublishedPort("--publish", c.text);
    ASSERT_FALSE(p.ok()) << c.text;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(p.status().message(), HasSubstr("--publish \"" + c.text + "\" is invalid"));
    EXPECT_THAT(p.status().message(), HasSubstr(c.why)) << c.text;
  }
}

TEST(FormatPublishedPortTest, IsCanonicalAndReadsBack) {
  EXPECT_EQ(FormatPublishedPort({8080, 80, ""}), "8080:80/tcp");
  EXPECT_EQ(FormatPublishedPort({53, 53, "udp"}), "53:53/udp");
  absl::StatusOr<PublishedPort> back = ParsePublishedPort("p", FormatPublishedPort({1, 2, "udp"}));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, (PublishedPort{1, 2, "udp"}));
}

TEST(ValidatePublishedPortsTest, RejectsBadEntriesAndRepeatedHostPortsPerProtocol) {
  const std::vector<PublishedPort> fine = {{8080, 80, "tcp"}, {8080, 80, "udp"}, {9090, 80, ""}};
  EXPECT_TRUE(ValidatePublishedPorts("publish", fine).ok());

  const std::vector<PublishedPort> twice = {{8080, 80, "tcp"}, {8080, 81, ""}};
  absl::Status s = ValidatePublishedPorts("publish", twice);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("publish \"8080:81/tcp\" is invalid: host port 8080/tcp is "
                                     "already published by \"8080:80/tcp\""));

  const std::vector<PublishedPort> range = {{8080, 0, "tcp"}};
  EXPECT_THAT(
      ValidatePublishedPorts("spec.publish", range).message(),
      HasSubstr("spec.publish \"8080:0/tcp\" is invalid: container port 0 is out of range"));
  const std::vector<PublishedPort> protocol = {{1, 1, "icmp"}};
  EXPECT_THAT(ValidatePublishedPorts("publish", protocol).message(),
              HasSubstr("protocol \"icmp\" is not tcp or udp"));
}

}  // namespace
}  // namespace fsb
