#include "agent/logger/log_format.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace fsb::logger {
namespace {

// 2024-05-01T12:34:56Z
constexpr int64_t kSeconds = 1714566896;
constexpr int64_t kNanos = kSeconds * 1'000'000'000 + 7;

TEST(LogFormatTest, AppendsTheCriLine) {
  std::string out;
  AppendEntry({kNanos, Stream::kStdout, false, "hello world"}, &out);
  AppendEntry({kNanos, Stream::kStderr, true, ""}, &out);
  EXPECT_EQ(out,
            "2024-05-01T12:34:56.000000007Z stdout F hello world\n"
            "2024-05-01T12:34:56.000000007Z stderr P \n");
}

TEST(LogFormatTest, ParsesWhatItWrites) {
  for (bool partial : {false, true}) {
    for (Stream stream : {Stream::kStdout, Stream::kStderr}) {
      std::string line;
      AppendEntry({kNanos, stream, partial, " data with  spaces\r\t\x01"}, &line);
      line.pop_back();  // the newline
      std::optional<LogEntry> entry = ParseEntry(line);
      ASSERT_TRUE(entry.has_value()) << line;
      EXPECT_EQ(entry->time_unix_nanos, kNanos);
      EXPECT_EQ(entry->stream, stream);
      EXPECT_EQ(entry->partial, partial);
      EXPECT_EQ(entry->data, " data with  spaces\r\t\x01");
    }
  }
}

TEST(LogFormatTest, ParsesShorterFractionsAndNone) {
  std::optional<LogEntry> entry = ParseEntry("2024-05-01T12:34:56.5Z stdout F x");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->time_unix_nanos, kSeconds * 1'000'000'000 + 500'000'000);
  entry = ParseEntry("2024-05-01T12:34:56Z stderr F ");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->time_unix_nanos, kSeconds * 1'000'000'000);
  EXPECT_EQ(entry->data, "");
}

TEST(LogFormatTest, FormatsTimesBeforeTheEpoch) {
  std::string out;
  AppendEntry({-1, Stream::kStdout, false, "x"}, &out);
  EXPECT_EQ(out, "1969-12-31T23:59:59.999999999Z stdout F x\n");
  out.pop_back();
  EXPECT_EQ(ParseEntry(out)->time_unix_nanos, -1);
}

// Found by tests/fuzz/log_format_fuzz (the 1677 and 9999 lines overflowed int64
// nanoseconds: undefined behaviour, and a wrong time).
TEST(LogFormatTest, ReadsEveryTimeAnInt64HoldsAndRefusesTheRest) {
  for (int64_t t : {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}) {
    std::string line;
    AppendEntry({t, Stream::kStdout, false, "x"}, &line);
    line.pop_back();
    std::optional<LogEntry> entry = ParseEntry(line);
    ASSERT_TRUE(entry.has_value()) << line;
    EXPECT_EQ(entry->time_unix_nanos, t) << line;
  }
  for (const char* line : {
           "1677-09-21T00:12:43.145224191Z stdout F x",  // a nanosecond before the first
           "2262-04-11T23:47:16.854775808Z stdout F x",  // a nanosecond after the last
           "9999-12-31T23:59:59Z stdout F x",
           "0000-01-01T00:00:00Z stdout F x",
       }) {
    EXPECT_FALSE(ParseEntry(line).has_value()) << line;
  }
}

TEST(LogFormatTest, RejectsMalformedLines) {
  for (const char* line : {
           "",
           "hello",
           "2024-05-01T12:34:56.000000007Z",
           "2024-05-01T12:34:56.000000007Z stdout",
           "2024-05-01T12:34:56.000000007Z stdout F",
           "2024-05-01T12:34:56.000000007Z stdin F x",
           "2024-05-01T12:34:56.000000007Z stdout X x",
           "2024-05-01T12:34:56.000000007Zstdout F x",
           "2024-05-01T12:34:56.000000007+01:00 stdout F x",
           "2024-05-01T12:34:56.0000000071Z stdout F x",
           "2024-05-01T12:34:56.Z stdout F x",
           "2024-13-01T12:34:56Z stdout F x",
           "2024-05-01 12:34:56Z stdout F x",
           "24-05-01T12:34:56Z stdout F x",
       }) {
    EXPECT_FALSE(ParseEntry(line).has_value()) << line;
  }
}

TEST(LogFormatTest, RotatedPathAddsOne) {
  EXPECT_EQ(RotatedLogPath("/var/lib/fsb-agent/logs/abc.log"), "/var/lib/fsb-agent/logs/abc.log.1");
}

}  // namespace
}  // namespace fsb::logger
