#include "agent/containerd/layer_file.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Two layers of an image (upper over lower) in a fresh folder, next to a file that is
// not in the image (as the host's /etc/shadow is not).
class LayerFileTest : public ::testing::Test {
 protected:
  LayerFileTest()
      : base_(fs::path(::testing::TempDir()) /
              (std::string("layer_file_") +
               ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    fs::remove_all(base_);
    fs::create_directories(upper() / "etc");
    fs::create_directories(lower() / "etc");
    Write(base_ / "secret", "host secret\n");
  }
  ~LayerFileTest() override { fs::remove_all(base_); }

  fs::path upper() const { return base_ / "upper"; }
  fs::path lower() const { return base_ / "lower"; }
  std::vector<std::string> Layers() const { return {upper().string(), lower().string()}; }
  static void Write(const fs::path& file, const std::string& content) {
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << content;
  }
  absl::StatusOr<std::string> Read(std::string_view path, LayerFileLimits limits = {}) const {
    return ReadLayerFile(Layers(), path, limits);
  }

  fs::path base_;
};

TEST_F(LayerFileTest, ReadsARegularFileFromTheTopmostLayerThatHasIt) {
  Write(lower() / "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
  Write(lower() / "etc/group", "root:x:0:\n");
  Write(upper() / "etc/group", "root:x:0:\napp:x:1000:\n");
  EXPECT_EQ(*Read("/etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
  EXPECT_EQ(*Read("/etc/group"), "root:x:0:\napp:x:1000:\n");
  EXPECT_EQ(*Read("//etc/./passwd"), "root:x:0:0::/root:/bin/sh\n");
  Write(upper() / "empty", "");
  EXPECT_EQ(*Read("/empty"), "");
}

TEST_F(LayerFileTest, MissingFilesAreNotFound) {
  EXPECT_EQ(Read("/etc/passwd").status().code(), absl::StatusCode::kNotFound);
  Write(lower() / "etc/passwd", "x");
  // A component that is not a directory.
  EXPECT_EQ(Read("/etc/passwd/x").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Read("/etc/passwd/").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadLayerFile({}, "/etc/passwd", {}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Read("etc/passwd").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(LayerFileTest, AnAbsoluteSymlinkResolvesInTheImageNotOnTheHost) {
  // The host's file by its absolute host path: the image has no such path.
  fs::create_symlink(base_ / "secret", upper() / "etc/passwd");
  absl::StatusOr<std::string> read = Read("/etc/passwd");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound) << read.value_or("");
  // /etc/shadow is the image's own, whichever layer has it.
  fs::remove(upper() / "etc/passwd");
  fs::create_symlink("/etc/shadow", upper() / "etc/passwd");
  EXPECT_EQ(Read("/etc/passwd").status().code(), absl::StatusCode::kNotFound);
  Write(lower() / "etc/shadow", "image shadow\n");
  EXPECT_EQ(*Read("/etc/passwd"), "image shadow\n");
}

TEST_F(LayerFileTest, DotDotNeverLeavesTheImagesRoot) {
  // Enough ".." to reach the host's "/" from the layer, then the host file's path.
  std::string up;
  for (const auto& part : upper() / "etc") {
    if (part != "/") up += "../";
  }
  fs::create_symlink(up + (base_ / "secret").relative_path().string(), upper() / "etc/passwd");
  EXPECT_EQ(Read("/etc/passwd").status().code(), absl::StatusCode::kNotFound);
  fs::remove(upper() / "etc/passwd");
  fs::create_symlink("../../../../../../secret", upper() / "etc/passwd");
  EXPECT_EQ(Read("/etc/passwd").status().code(), absl::StatusCode::kNotFound);
  Write(lower() / "secret", "image secret\n");  // "/.." is "/" in the image
  EXPECT_EQ(*Read("/etc/passwd"), "image secret\n");
  EXPECT_EQ(*Read("/../../etc/passwd"), "image secret\n");
}

TEST_F(LayerFileTest, ASymlinkedDirectoryResolvesInTheImage) {
  fs::remove(upper() / "etc");
  fs::remove(lower() / "etc");
  fs::create_symlink(base_, upper() / "etc");  // /etc -> the host folder holding "secret"
  EXPECT_EQ(Read("/etc/secret").status().code(), absl::StatusCode::kNotFound);
  fs::remove(upper() / "etc");
  fs::create_symlink("usr/etc", upper() / "etc");
  Write(lower() / "usr/etc/passwd", "from usr/etc\n");
  EXPECT_EQ(*Read("/etc/passwd"), "from usr/etc\n");
}

TEST_F(LayerFileTest, AnUpperLayersSymlinkMayNameALowerLayersFile) {
  fs::create_symlink("../usr/lib/passwd", upper() / "etc/passwd");
  Write(lower() / "usr/lib/passwd", "lower passwd\n");
  // A stale file under the link in the lower layer is hidden by the link.
  Write(lower() / "etc/passwd", "stale\n");
  EXPECT_EQ(*Read("/etc/passwd"), "lower passwd\n");
}

TEST_F(LayerFileTest, SymlinkLoopsEnd) {
  fs::create_symlink("b", upper() / "etc/a");
  fs::create_symlink("a", upper() / "etc/b");
  absl::Status loop = Read("/etc/a").status();
  EXPECT_EQ(loop.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(loop.message(), HasSubstr("image file /etc/a: too many levels of symbolic links"));
}

TEST_F(LayerFileTest, AFifoIsRefusedWithoutBlocking) {
  ASSERT_EQ(mkfifo((upper() / "etc/passwd").c_str(), 0644), 0);
  absl::Status fifo = Read("/etc/passwd").status();
  EXPECT_EQ(fifo.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(fifo.message(),
              HasSubstr("image file /etc/passwd: it is a FIFO, not a regular file"));
  // Also behind a link.
  fs::create_symlink("passwd", upper() / "etc/group");
  EXPECT_THAT(Read("/etc/group").status().message(), HasSubstr("it is a FIFO"));
}

TEST_F(LayerFileTest, DevicesAndDirectoriesAreRefused) {
  fs::create_directories(upper() / "etc/passwd");
  absl::Status dir = Read("/etc/passwd").status();
  EXPECT_EQ(dir.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(dir.message(), HasSubstr("image file /etc/passwd: it is a directory"));
  EXPECT_EQ(Read("/").status().code(), absl::StatusCode::kFailedPrecondition);
  if (mknod((upper() / "etc/group").c_str(), S_IFCHR | 0644, makedev(1, 3)) != 0) {
    GTEST_SKIP() << "mknod needs CAP_MKNOD";
  }
  absl::Status device = Read("/etc/group").status();
  EXPECT_EQ(device.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(device.message(), HasSubstr("it is a character device"));
}

TEST_F(LayerFileTest, TheSizeIsCapped) {
  Write(upper() / "etc/passwd", std::string(1024, 'x'));
  EXPECT_EQ(Read("/etc/passwd", {.max_bytes = 1024})->size(), 1024u);
  absl::Status big = Read("/etc/passwd", {.max_bytes = 1023}).status();
  EXPECT_EQ(big.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(big.message(),
              HasSubstr("image file /etc/passwd: it is 1024 bytes, more than the 1023"));
}

TEST_F(LayerFileTest, TheTimeoutBoundsTheWholeRead) {
  Write(upper() / "etc/passwd", "x\n");
  absl::Status late = Read("/etc/passwd", {.timeout = absl::ZeroDuration()}).status();
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(late.message(), HasSubstr("image file /etc/passwd: resolving it took longer than"));
}

TEST_F(LayerFileTest, WhiteoutsAndOpaqueDirectoriesHideLowerLayers) {
  Write(lower() / "etc/passwd", "deleted above\n");
  Write(lower() / "etc/group", "hidden by an opaque /etc\n");
  if (mknod((upper() / "etc/passwd").c_str(), S_IFCHR | 0600, makedev(0, 0)) != 0) {
    GTEST_SKIP() << "overlay whiteouts need CAP_MKNOD";
  }
  EXPECT_EQ(Read("/etc/passwd").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*Read("/etc/group"), "hidden by an opaque /etc\n");  // /etc merges
  if (setxattr((upper() / "etc").c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0) {
    GTEST_SKIP() << "trusted.* attributes need CAP_SYS_ADMIN";
  }
  EXPECT_EQ(Read("/etc/group").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace fsb::agent
