#include "agent/warm/cgroup_limits.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;

std::string Read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(CgroupLimitsTest, FindsV1ControllersOrTheUnifiedHierarchy) {
  constexpr char kHybrid[] =
      "30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
      "31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
      "33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
      "34 30 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "35 30 0:31 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
  absl::StatusOr<CgroupLimits> v1 = CgroupLimits::FromMountInfo(kHybrid);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_FALSE(v1->roots().unified);
  EXPECT_EQ(v1->roots().cpu, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(v1->roots().memory, "/sys/fs/cgroup/memory");
  EXPECT_EQ(v1->roots().pids, "/sys/fs/cgroup/pids");

  absl::StatusOr<CgroupLimits> v2 = CgroupLimits::FromMountInfo(
      "30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n");
  ASSERT_TRUE(v2.ok());
  EXPECT_TRUE(v2->roots().unified);
  EXPECT_EQ(v2->roots().unified_root, "/sys/fs/cgroup");

  EXPECT_EQ(CgroupLimits::FromMountInfo("").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(CgroupLimits::FromMountInfo(
                  "34 30 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")
                  .status()
                  .message(),
              HasSubstr("not all mounted"));
}

TEST(CgroupLimitsTest, WritesWhatRuncWritesV1) {
  const std::filesystem::path root = std::filesystem::path(::testing::TempDir()) / "cg_v1";
  for (const char* c : {"cpu", "memory", "pids"}) {
    std::filesystem::create_directories(root / c / "fsb" / "x1");
  }
  for (const char* f : {"cpu/fsb/x1/cpu.cfs_period_us", "cpu/fsb/x1/cpu.cfs_quota_us",
                        "memory/fsb/x1/memory.limit_in_bytes", "pids/fsb/x1/pids.max"}) {
    std::ofstream(root / f) << "";
  }
  CgroupLimits limits({.cpu = (root / "cpu").string(),
                       .memory = (root / "memory").string(),
                       .pids = (root / "pids").string()});
  v1::ResourceLimits l;
  l.set_cpu_millicores(250);
  l.set_memory_bytes(64 << 20);
  l.set_pids(32);
  ASSERT_TRUE(limits.Apply("/fsb/x1", l).ok());
  EXPECT_EQ(Read(root / "cpu/fsb/x1/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(Read(root / "cpu/fsb/x1/cpu.cfs_quota_us"), "25000");
  EXPECT_EQ(Read(root / "memory/fsb/x1/memory.limit_in_bytes"), "67108864");
  EXPECT_EQ(Read(root / "pids/fsb/x1/pids.max"), "32");
  // A missing cgroup is a precise error.
  absl::Status missing = limits.Apply("/fsb/nope", l);
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.message(), HasSubstr("/fsb/nope/cpu.cfs_period_us"));
  // No limits: nothing is touched.
  EXPECT_TRUE(limits.Apply("/fsb/nope", v1::ResourceLimits()).ok());
}

TEST(CgroupLimitsTest, WritesV2Files) {
  const std::filesystem::path root = std::filesystem::path(::testing::TempDir()) / "cg_v2";
  std::filesystem::create_directories(root / "fsb" / "x2");
  for (const char* f : {"cpu.max", "memory.max", "pids.max"}) std::ofstream(root / "fsb/x2" / f);
  CgroupLimits limits({.unified = true, .unified_root = root.string()});
  v1::ResourceLimits l;
  l.set_cpu_millicores(1500);
  l.set_pids(7);
  ASSERT_TRUE(limits.Apply("/fsb/x2", l).ok());
  EXPECT_EQ(Read(root / "fsb/x2/cpu.max"), "150000 100000");
  EXPECT_EQ(Read(root / "fsb/x2/pids.max"), "7");
  EXPECT_EQ(Read(root / "fsb/x2/memory.max"), "");
}

}  // namespace
}  // namespace fsb::agent
