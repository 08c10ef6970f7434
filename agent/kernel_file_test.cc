#include "agent/kernel_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;

TEST(WriteKernelFileTest, WritesIntoAnExistingFileOnly) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "kernel_file";
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "oom_score_adj").string();
  std::ofstream(file) << "0";
  ASSERT_TRUE(WriteKernelFile(file, "-900").ok());
  std::stringstream text;
  text << std::ifstream(file).rdbuf();
  EXPECT_EQ(text.str(), "-900");

  const std::string missing = (dir / "nope").string();
  absl::Status s = WriteKernelFile(missing, "1");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("cannot open " + missing));
  EXPECT_FALSE(std::filesystem::exists(missing));
}

TEST(WriteKernelFileTest, AValueTheKernelRefusesIsNamed) {
  // The kernel takes -1000..1000 only.
  absl::Status s = WriteKernelFile("/proc/self/oom_score_adj", "5000");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("cannot write 5000 to /proc/self/oom_score_adj"));
}

}  // namespace
}  // namespace fsb::agent
