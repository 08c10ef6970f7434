#include "agent/image/registry_puller.h"

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;

TEST(RegistryPullerOptionsTest, FromFlags) {
  absl::StatusOr<RegistryPuller::Options> o = RegistryPuller::Options::FromFlags(4096, "20s", "5m");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->http.min_rate, 4096);
  EXPECT_EQ(o->http.stall_timeout, absl::Seconds(20));
  EXPECT_EQ(o->http.request_timeout, absl::Minutes(5));
  EXPECT_TRUE(RegistryPuller::Options::FromFlags(0, "1s", "1s").ok());  // no minimum rate
}

TEST(RegistryPullerOptionsTest, RejectionsNameTheFlag) {
  absl::Status s = RegistryPuller::Options::FromFlags(-1, "20s", "5m").status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("--registry-min-rate -1 is negative"));
  s = RegistryPuller::Options::FromFlags(1, "soon", "5m").status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("--registry-min-rate-window \"soon\""));
  s = RegistryPuller::Options::FromFlags(1, "500ms", "5m").status();
  EXPECT_THAT(s.message(), HasSubstr("--registry-min-rate-window \"500ms\""));
  s = RegistryPuller::Options::FromFlags(1, "20s", "0s").status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("--registry-request-timeout \"0s\": not a duration"));
}

}  // namespace
}  // namespace fsb::agent
