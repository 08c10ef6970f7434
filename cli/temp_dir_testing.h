#ifndef FSB_CLI_TEMP_DIR_TESTING_H_
#define FSB_CLI_TEMP_DIR_TESTING_H_

// A temporary folder for tests that read and write files (the config file, CAs, tokens).
// Header-only, for tests.

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace fsb::cli::testing {

// A fresh folder under the test's temporary directory, removed with everything in it
// when the object goes.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string pattern = ::testing::TempDir() + "/fsb-cli-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << pattern << " failed";
      return;
    }
    path_ = pattern;
  }
  ~ScopedTempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }

  // The absolute path of `name` in the folder.
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }

  // Writes `content` to `name`; returns its absolute path.
  std::string Write(std::string_view name, std::string_view content) const {
    const std::string file = File(name);
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << content;
    EXPECT_TRUE(out.good()) << "cannot write " << file;
    return file;
  }

 private:
  std::string path_;
};

// The content of the file at `path`; empty when it cannot be read.
inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The permission bits of `path`; -1 when it does not exist.
inline int ModeOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

}  // namespace fsb::cli::testing

#endif  // FSB_CLI_TEMP_DIR_TESTING_H_
