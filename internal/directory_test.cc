#include "internal/directory.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

class ListDirectoryTest : public ::testing::Test {
 protected:
  ListDirectoryTest()
      : dir_(
            (std::filesystem::path(::testing::TempDir()) / ("list_dir_" + std::to_string(getpid())))
                .string()) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~ListDirectoryTest() override { std::filesystem::remove_all(dir_); }

  const std::string dir_;
};

TEST_F(ListDirectoryTest, NamesFilesAndFoldersButNotDotEntries) {
  std::ofstream(dir_ + "/a.log") << "x";
  std::filesystem::create_directory(dir_ + "/sub");
  std::ofstream(dir_ + "/sub/nested") << "y";  // not listed: one level only
  absl::StatusOr<std::vector<std::string>> names = ListDirectory(dir_);
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, UnorderedElementsAre("a.log", "sub"));
}

TEST_F(ListDirectoryTest, AnEmptyDirectoryHasNoEntries) {
  absl::StatusOr<std::vector<std::string>> names = ListDirectory(dir_);
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, IsEmpty());
}

TEST_F(ListDirectoryTest, AVanishedDirectoryIsNotFound) {
  std::filesystem::remove_all(dir_);
  absl::StatusOr<std::vector<std::string>> names = ListDirectory(dir_);
  EXPECT_TRUE(absl::IsNotFound(names.status())) << names.status();
  EXPECT_THAT(names.status().message(), HasSubstr(dir_));
}

TEST_F(ListDirectoryTest, AFileIsAnInternalErrorNamingIt) {
  const std::string file = dir_ + "/plain";
  std::ofstream(file) << "x";
  absl::StatusOr<std::vector<std::string>> names = ListDirectory(file);
  EXPECT_TRUE(absl::IsInternal(names.status())) << names.status();
  EXPECT_THAT(names.status().message(), HasSubstr("cannot list " + file));
}

TEST_F(ListDirectoryTest, AnUnreadableDirectoryIsAnError) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any directory";
  std::filesystem::permissions(dir_, std::filesystem::perms::none);
  absl::StatusOr<std::vector<std::string>> names = ListDirectory(dir_);
  std::filesystem::permissions(dir_, std::filesystem::perms::owner_all);
  EXPECT_TRUE(absl::IsInternal(names.status())) << names.status();
}

}  // namespace
}  // namespace fsb
