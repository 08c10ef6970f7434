#include "cli/values.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::cli {
namespace {

using ::testing::HasSubstr;

// The message of a failed parse; fails the test when the parse succeeded.
template <typename T>
std::string ErrorOf(const absl::StatusOr<T>& parsed) {
  EXPECT_FALSE(parsed.ok());
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

TEST(ParseDurationTest, SecondsOrGoStyle) {
  EXPECT_EQ(*ParseDuration("--f", "30"), absl::Seconds(30));
  EXPECT_EQ(*ParseDuration("--f", "0"), absl::ZeroDuration());
  EXPECT_EQ(*ParseDuration("--f", "500ms"), absl::Milliseconds(500));
  EXPECT_EQ(*ParseDuration("--f", "1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParseDuration("--f", "-5s"), absl::Seconds(-5));  // callers bound the range
  EXPECT_EQ(ErrorOf(ParseDuration("--grace", "soon")),
            "--grace \"soon\" is not a duration (examples: 500ms, 30s, 2m, 1h30m)");
  EXPECT_THAT(ErrorOf(ParseDuration("--grace", "")), HasSubstr("is not a duration"));
  EXPECT_THAT(ErrorOf(ParseDuration("--grace", "10 m")), HasSubstr("is not a duration"));
}

TEST(ParseSecondsTest, WholeSecondsWithinBounds) {
  EXPECT_EQ(*ParseSeconds("--f", "90", absl::Seconds(1), absl::Hours(24)), 90);
  EXPECT_EQ(*ParseSeconds("--f", "2m", absl::Seconds(1), absl::Hours(24)), 120);
  EXPECT_EQ(*ParseSeconds("--f", "24h", absl::Seconds(1), absl::Hours(24)), 86400);
  EXPECT_EQ(*ParseSeconds("--f", "0", absl::ZeroDuration(), absl::Hours(24)), 0);
  EXPECT_EQ(ErrorOf(ParseSeconds("--recovery-timeout", "25h", absl::Seconds(1), absl::Hours(24))),
            "--recovery-timeout \"25h\" is out of range 1s-24h");
  EXPECT_EQ(ErrorOf(ParseSeconds("--recovery-timeout", "0", absl::Seconds(1), absl::Hours(24))),
            "--recovery-timeout \"0\" is out of range 1s-24h");
  EXPECT_EQ(ErrorOf(ParseSeconds("--grace", "-1s", absl::ZeroDuration(), absl::Hours(24))),
            "--grace \"-1s\" is out of range 0-24h");
  EXPECT_EQ(ErrorOf(ParseSeconds("--grace", "1500ms", absl::ZeroDuration(), absl::Hours(24))),
            "--grace \"1500ms\" is not a whole number of seconds");
  EXPECT_THAT(ErrorOf(ParseSeconds("--grace", "x", absl::ZeroDuration(), absl::Hours(24))),
              HasSubstr("is not a duration"));
}

TEST(ParseTimestampTest, Rfc3339OrUnixSeconds) {
  EXPECT_EQ(*ParseTimestamp("--at", "2030-01-02T15:04:05Z"),
            absl::FromCivil(absl::CivilSecond(2030, 1, 2, 15, 4, 5), absl::UTCTimeZone()));
  EXPECT_EQ(*ParseTimestamp("--at", "2030-01-02T16:04:05.5+01:00"),
            absl::FromCivil(absl::CivilSecond(2030, 1, 2, 15, 4, 5), absl::UTCTimeZone()) +
                absl::Milliseconds(500));
  EXPECT_EQ(*ParseTimestamp("--at", "1893600000"), absl::FromUnixSeconds(1893600000));
  EXPECT_EQ(ErrorOf(ParseTimestamp("--expire-at", "tomorrow")),
            "--expire-at \"tomorrow\" is not a time: use RFC 3339 (2030-01-02T15:04:05Z) or "
            "unix seconds");
  // A zone is required: a local time would depend on the machine.
  EXPECT_THAT(ErrorOf(ParseTimestamp("--expire-at", "2030-01-02T15:04:05")),
              HasSubstr("is not a time"));
  EXPECT_THAT(ErrorOf(ParseTimestamp("--expire-at", "2030-01-02")), HasSubstr("is not a time"));
}

struct QuantityCase {
  std::string value;
  int64_t expected;
};

class CpuQuantityTest : public ::testing::TestWithParam<QuantityCase> {};

TEST_P(CpuQuantityTest, ConvertsToMillicores) {
  absl::StatusOr<int64_t> parsed =
      ParseQuantity("--cpu", GetParam().value, QuantityUnit::kMillicores);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(Values, CpuQuantityTest,
                         ::testing::Values(QuantityCase{"500m", 500}, QuantityCase{"1m", 1},
                                           QuantityCase{"2", 2000}, QuantityCase{"0.5", 500},
                                           QuantityCase{".5", 500}, QuantityCase{"1.", 1000},
                                           QuantityCase{"1.25", 1250}, QuantityCase{"0.001", 1},
                                           QuantityCase{"1500000u", 1500},
                                           QuantityCase{"2000000000n", 2000},
                                           QuantityCase{"1k", 1'000'000}, QuantityCase{"1e-3", 1},
                                           QuantityCase{"5E-1", 500}, QuantityCase{"0002", 2000}));

class MemoryQuantityTest : public ::testing::TestWithParam<QuantityCase> {};

TEST_P(MemoryQuantityTest, ConvertsToBytes) {
  absl::StatusOr<int64_t> parsed =
      ParseQuantity("--memory", GetParam().value, QuantityUnit::kBytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Values, MemoryQuantityTest,
    ::testing::Values(QuantityCase{"256Mi", 256LL << 20}, QuantityCase{"1Gi", 1LL << 30},
                      QuantityCase{"1.5Gi", 3LL << 29}, QuantityCase{"0.5Ki", 512},
                      QuantityCase{"500M", 500'000'000}, QuantityCase{"1k", 1000},
                      QuantityCase{"1048576", 1048576}, QuantityCase{"1e3", 1000},
                      QuantityCase{"1E3", 1000},  // an exponent, not exa
                      QuantityCase{"1E", 1'000'000'000'000'000'000}, QuantityCase{"7Ei", 7LL << 60},
                      QuantityCase{"2Ti", 2LL << 40}, QuantityCase{"3Pi", 3LL << 50},
                      QuantityCase{"4T", 4'000'000'000'000},
                      QuantityCase{"5P", 5'000'000'000'000'000},
                      QuantityCase{"9223372036854775807", INT64_MAX}, QuantityCase{"1000m", 1}));

struct QuantityErrorCase {
  std::string value;
  QuantityUnit unit;
  std::string message;
};

class QuantityErrorTest : public ::testing::TestWithParam<QuantityErrorCase> {};

TEST_P(QuantityErrorTest, IsRejectedWithAReason) {
  EXPECT_EQ(ErrorOf(ParseQuantity("--q", GetParam().value, GetParam().unit)), GetParam().message);
}

constexpr QuantityUnit kCpu = QuantityUnit::kMillicores;
constexpr QuantityUnit kMem = QuantityUnit::kBytes;

INSTANTIATE_TEST_SUITE_P(
    Values, QuantityErrorTest,
    ::testing::Values(
        QuantityErrorCase{"abc", kCpu,
                          "--q \"abc\" is not a CPU quantity (examples: 500m, 2, 0.5)"},
        QuantityErrorCase{"", kCpu, "--q \"\" is not a CPU quantity (examples: 500m, 2, 0.5)"},
        QuantityErrorCase{"m", kCpu, "--q \"m\" is not a CPU quantity (examples: 500m, 2, 0.5)"},
        QuantityErrorCase{"-1", kCpu, "--q \"-1\" is not a CPU quantity (examples: 500m, 2, 0.5)"},
        QuantityErrorCase{"500 m", kCpu,
                          "--q \"500 m\" is not a CPU quantity (examples: 500m, 2, 0.5)"},
        QuantityErrorCase{"1.2.3", kCpu,
                          "--q \"1.2.3\" is not a CPU quantity (examples: 500m, 2, 0.5)"},
        QuantityErrorCase{"1e", kCpu, "--q \"1e\" is not a CPU quantity (examples: 500m, 2, 0.5)"},
        QuantityErrorCase{"1e3m", kCpu,
                          "--q \"1e3m\" is not a CPU quantity (examples: 500m, 2, 0.5)"},
        QuantityErrorCase{"0.1m", kCpu, "--q \"0.1m\" is not a whole number of millicores"},
        QuantityErrorCase{"0", kCpu, "--q \"0\" must be greater than zero"},
        QuantityErrorCase{"0.000m", kCpu, "--q \"0.000m\" must be greater than zero"},
        QuantityErrorCase{"1Zi", kMem,
                          "--q \"1Zi\" is not a memory quantity (examples: 256Mi, 1Gi, 500M, "
                          "1048576)"},
        QuantityErrorCase{"1mi", kMem,
                          "--q \"1mi\" is not a memory quantity (examples: 256Mi, 1Gi, 500M, "
                          "1048576)"},
        QuantityErrorCase{"1.5", kMem, "--q \"1.5\" is not a whole number of bytes"},
        QuantityErrorCase{"100m", kMem, "--q \"100m\" is not a whole number of bytes"},
        QuantityErrorCase{"8Ei", kMem, "--q \"8Ei\" is too large"},
        QuantityErrorCase{"9223372036854775808", kMem, "--q \"9223372036854775808\" is too large"},
        QuantityErrorCase{"1e100", kMem, "--q \"1e100\" is too large"},
        QuantityErrorCase{"1e-100", kMem, "--q \"1e-100\" is not a whole number of bytes"},
        QuantityErrorCase{"12345678901234567891", kMem,
                          "--q \"12345678901234567891\" has too many digits"}));

}  // namespace
}  // namespace fsb::cli
