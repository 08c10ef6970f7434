#include "agent/sandbox_defaults.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;

TEST(SandboxDefaultsTest, RequestLimitsOverrideTheDefaultsFieldByField) {
  const SandboxDefaults defaults{.pids = 100,
                                 .memory_bytes = 256 << 20,
                                 .cpu_shares = 512,
                                 .oom_score_adj = 300,
                                 .nofile = 4096};
  RuntimeSpecOptions none;
  ApplySandboxDefaults(defaults, v1::ResourceLimits(), &none);
  EXPECT_EQ(none.pids, 100);
  EXPECT_EQ(none.memory_bytes, 256 << 20);
  EXPECT_EQ(none.cpu_millicores, 0);  // no default quota: shares weigh CPU time
  EXPECT_EQ(none.cpu_shares, 512u);
  EXPECT_EQ(none.oom_score_adj, 300);
  EXPECT_EQ(none.nofile, 4096u);

  v1::ResourceLimits memory_only;
  memory_only.set_memory_bytes(32 << 20);
  RuntimeSpecOptions some;
  ApplySandboxDefaults(defaults, memory_only, &some);
  EXPECT_EQ(some.memory_bytes, 32 << 20);
  EXPECT_EQ(some.pids, 100);

  v1::ResourceLimits all;
  all.set_cpu_millicores(250);
  all.set_memory_bytes(2LL << 30);  // above the default is allowed too
  all.set_pids(7);
  RuntimeSpecOptions each;
  ApplySandboxDefaults(defaults, all, &each);
  EXPECT_EQ(each.cpu_millicores, 250);
  EXPECT_EQ(each.memory_bytes, 2LL << 30);
  EXPECT_EQ(each.pids, 7);
  EXPECT_EQ(each.cpu_shares, 512u);
}

TEST(SandboxDefaultsTest, ZeroDefaultsLeaveARequestWithoutLimitsUnlimited) {
  RuntimeSpecOptions o;
  ApplySandboxDefaults({.pids = 0, .memory_bytes = 0, .cpu_shares = 0}, v1::ResourceLimits(), &o);
  EXPECT_EQ(o.pids, 0);
  EXPECT_EQ(o.memory_bytes, 0);
  EXPECT_EQ(o.cpu_shares, 0u);
}

TEST(SandboxDefaultsTest, ValidationNamesTheBadField) {
  EXPECT_TRUE(ValidateSandboxDefaults({}).ok());
  EXPECT_TRUE(ValidateSandboxDefaults({.pids = 0, .memory_bytes = 0, .cpu_shares = 0}).ok());
  EXPECT_TRUE(ValidateSandboxDefaults({.oom_score_adj = -1000}).ok());
  struct Case {
    SandboxDefaults defaults;
    const char* message;
  };
  for (const Case& c : {
           Case{{.pids = -1}, "pids limit -1 is negative"},
           Case{{.memory_bytes = -5}, "memory limit -5 is negative"},
           Case{{.cpu_shares = 1}, "cpu shares 1 are outside 2..262144"},
           Case{{.cpu_shares = 262145}, "cpu shares 262145 are outside"},
           Case{{.oom_score_adj = 1001}, "oom_score_adj 1001 is outside -1000..1000"},
           Case{{.nofile = 0}, "NOFILE limit must be positive"},
       }) {
    absl::Status s = ValidateSandboxDefaults(c.defaults);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(s.message(), HasSubstr(c.message));
  }
}

TEST(SandboxDefaultsTest, TheKeyTellsDefaultsApart) {
  const SandboxDefaults a;
  EXPECT_EQ(SandboxDefaultsKey(a),
            "pids=1024,memory=1073741824,cpu-shares=1024,oom-score-adj=500,nofile=1024");
  for (SandboxDefaults b : {SandboxDefaults{.pids = 1}, SandboxDefaults{.memory_bytes = 1},
                            SandboxDefaults{.cpu_shares = 2}, SandboxDefaults{.oom_score_adj = 1},
                            SandboxDefaults{.nofile = 1}}) {
    EXPECT_NE(SandboxDefaultsKey(a), SandboxDefaultsKey(b));
  }
}

}  // namespace
}  // namespace fsb::agent
