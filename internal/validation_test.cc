#include "internal/validation.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/request_limits.h"

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

TEST(QuoteForErrorTest, EscapesAndCuts) {
  EXPECT_EQ(QuoteForError("web"), "\"web\"");
  EXPECT_EQ(QuoteForError(std::string("a\0\n\x1b", 4)), "\"a\\000\\n\\033\"");
  EXPECT_EQ(QuoteForError(std::string(65, 'x')), "\"" + std::string(64, 'x') + "...\"");
  EXPECT_EQ(QuoteForError(std::string(64, 'x')), "\"" + std::string(64, 'x') + "\"");
}

TEST(ValidateTextTest, AcceptsUpToTheLimit) {
  EXPECT_TRUE(ValidateText("working_dir", "", 4).ok());
  EXPECT_TRUE(ValidateText("working_dir", "abcd", 4).ok());
}

TEST(ValidateTextTest, RejectsNulOversizeAndEmpty) {
  EXPECT_EQ(ValidateText("args[1]", std::string("a\0b", 3), 10).message(),
            "args[1]: holds a NUL byte at offset 1");
  EXPECT_EQ(ValidateText("working_dir", "abcde", 4).message(),
            "working_dir: 5 bytes, at most 4 are allowed");
  absl::Status empty = ValidateText("command[0]", "", 4, /*allow_empty=*/false);
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(empty.message(), "command[0]: is empty");
}

TEST(ValidateRangeTest, AcceptsBoundsAndNamesTheLimit) {
  EXPECT_TRUE(ValidateRange("resources.memory_bytes", kMinMemoryBytes, kMinMemoryBytes,
                            kMaxMemoryBytes, "bytes")
                  .ok());
  EXPECT_TRUE(ValidateRange("resources.memory_bytes", kMaxMemoryBytes, kMinMemoryBytes,
                            kMaxMemoryBytes, "bytes")
                  .ok());
  EXPECT_EQ(
      ValidateRange("resources.memory_bytes", 1048576, kMinMemoryBytes, kMaxMemoryBytes, "bytes")
          .message(),
      "resources.memory_bytes: 1048576 bytes is below the minimum of 6291456");
  EXPECT_EQ(ValidateRange("tail_lines", 11, 0, 10, "lines").message(),
            "tail_lines: 11 lines is above the maximum of 10");
  EXPECT_EQ(ValidateRange("x", -1, 0, 10, "").message(), "x: -1 is below the minimum of 0");
}

TEST(ValidateUnixTimeTest, Rfc3339Years) {
  EXPECT_TRUE(ValidateUnixTime("expire_time", kMinUnixSeconds).ok());
  EXPECT_TRUE(ValidateUnixTime("expire_time", kMaxUnixSeconds, 999'999'999).ok());
  // The bounds are the first second of 0001 and the last of 9999.
  EXPECT_EQ(absl::ToCivilSecond(absl::FromUnixSeconds(kMinUnixSeconds), absl::UTCTimeZone()),
            absl::CivilSecond(1, 1, 1, 0, 0, 0));
  EXPECT_EQ(absl::ToCivilSecond(absl::FromUnixSeconds(kMaxUnixSeconds), absl::UTCTimeZone()),
            absl::CivilSecond(9999, 12, 31, 23, 59, 59));
  EXPECT_THAT(ValidateUnixTime("expire_time", kMaxUnixSeconds + 1).message(),
              HasSubstr("expire_time: 253402300800 Unix seconds is outside RFC 3339's range"));
  EXPECT_FALSE(ValidateUnixTime("expire_time", kMinUnixSeconds - 1).ok());
  EXPECT_EQ(ValidateUnixTime("expire_time", 0, 1'000'000'000).message(),
            "expire_time.nanos: 1000000000 is above the maximum of 999999999");
  EXPECT_EQ(ValidateUnixTime("expire_time", 0, -1).message(),
            "expire_time.nanos: -1 is below the minimum of 0");
}

TEST(ValidateDnsLabelTest, QuotesControlCharactersEscaped) {
  EXPECT_THAT(ValidateDnsLabel("name", std::string("a\0b", 3)).message(),
              HasSubstr("name \"a\\000b\" is invalid"));
}

}  // namespace
}  // namespace fsb
