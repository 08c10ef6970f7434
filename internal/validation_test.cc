#include "internal/validation.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb {
namespace {

using ::testing::HasSubstr;

TEST(ValidateDnsSubdomainTest, AcceptsDottedLabelsAndRejectsTheRest) {
  EXPECT_TRUE(ValidateDnsSubdomain("agent", "node-1").ok());
  EXPECT_TRUE(ValidateDnsSubdomain("agent", "ip-10-0-0-1.ec2.internal").ok());
  EXPECT_TRUE(
      ValidateDnsSubdomain("agent", std::string(63, 'a') + "." + std::string(63, 'b')).ok());
  for (const std::string& bad :
       std::vector<std::string>{"", "Node", "a..b", ".a", "a.", "a_b", "-a.b",
                                std::string(254, 'a'), std::string(64, 'a')}) {
    absl::Status s = ValidateDnsSubdomain("agent", bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(s.message()), ::testing::StartsWith("agent ")) << bad;
  }
}

TEST(ValidateDnsLabelTest, AcceptsLabels) {
  EXPECT_TRUE(ValidateDnsLabel("name", "a").ok());
  EXPECT_TRUE(ValidateDnsLabel("name", "sb-1").ok());
  EXPECT_TRUE(ValidateDnsLabel("name", std::string(63, 'x')).ok());
}

TEST(ValidateDnsLabelTest, RejectsAndNamesTheField) {
  EXPECT_THAT(ValidateDnsLabel("metadata.name", "").message(), HasSubstr("metadata.name"));
  EXPECT_THAT(ValidateDnsLabel("name", "Upper").message(), HasSubstr("lowercase"));
  EXPECT_THAT(ValidateDnsLabel("name", "-a").message(), HasSubstr("start and end"));
  EXPECT_THAT(ValidateDnsLabel("name", "a_b").message(), HasSubstr("name \"a_b\""));
  EXPECT_THAT(ValidateDnsLabel("name", std::string(64, 'x')).message(), HasSubstr("63"));
}

TEST(ValidateEnvNameTest, AcceptsAndRejects) {
  EXPECT_TRUE(ValidateEnvName("env", "PATH").ok());
  EXPECT_TRUE(ValidateEnvName("env", "_x1").ok());
  EXPECT_FALSE(ValidateEnvName("env", "").ok());
  EXPECT_FALSE(ValidateEnvName("env", "1A").ok());
  EXPECT_THAT(ValidateEnvName("env", "A-B").message(), HasSubstr("A-B"));
}

TEST(ValidateLabelTest, AcceptsAndRejects) {
  EXPECT_TRUE(ValidateLabel("labels", "app", "web").ok());
  EXPECT_TRUE(ValidateLabel("labels", "fsb.io/team", "").ok());
  EXPECT_FALSE(ValidateLabel("labels", "", "x").ok());
  EXPECT_FALSE(ValidateLabel("labels", "a b", "x").ok());
  EXPECT_FALSE(ValidateLabel("labels", "app", "-x").ok());
  EXPECT_FALSE(ValidateLabel("labels", "Bad_Prefix/app", "x").ok());
  EXPECT_FALSE(ValidateLabel("labels", "app", std::string(64, 'v')).ok());
}

TEST(ValidatePortTest, Range) {
  EXPECT_TRUE(ValidatePort("exposed_ports", 1).ok());
  EXPECT_TRUE(ValidatePort("exposed_ports", 65535).ok());
  EXPECT_THAT(ValidatePort("exposed_ports", 0).message(), HasSubstr("exposed_ports 0"));
  EXPECT_FALSE(ValidatePort("exposed_ports", 65536).ok());
}

TEST(ParseKeyValueTest, SplitsAtFirstEquals) {
  auto kv = ParseKeyValue("env", "A=b=c");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->first, "A");
  EXPECT_EQ(kv->second, "b=c");
  EXPECT_EQ(ParseKeyValue("env", "A=")->second, "");
  EXPECT_THAT(ParseKeyValue("--env", "NOVALUE").status().message(), HasSubstr("KEY=VALUE"));
  EXPECT_FALSE(ParseKeyValue("env", "=x").ok());
}

}  // namespace
}  // namespace fsb
