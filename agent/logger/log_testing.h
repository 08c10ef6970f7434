#ifndef FSB_AGENT_LOGGER_LOG_TESTING_H_
#define FSB_AGENT_LOGGER_LOG_TESTING_H_

// Test helpers for code that writes or reads sandbox logs. For tests only.

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "agent/logger/log_format.h"
#include "gtest/gtest.h"

namespace fsb::logger {

// A fresh folder under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/fsb-log-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Each entry of the log file at `path` as "<stream> <F|P> <data>", the time left out; a
// malformed line fails the test.
inline std::vector<std::string> DescribeLog(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<std::string> out;
  for (std::string line; std::getline(f, line);) {
    std::optional<LogEntry> entry = ParseEntry(line);
    EXPECT_TRUE(entry.has_value()) << line;
    if (!entry) continue;
    out.push_back(std::string(StreamName(entry->stream)) + (entry->partial ? " P " : " F ") +
                  std::string(entry->data));
  }
  return out;
}

}  // namespace fsb::logger

#endif  // FSB_AGENT_LOGGER_LOG_TESTING_H_
