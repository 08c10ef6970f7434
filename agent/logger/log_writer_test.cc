#include "agent/logger/log_writer.h"

#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "agent/logger/log_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::logger {
namespace {

using ::testing::ElementsAre;

constexpr int64_t kT = 1'700'000'000'000'000'000;

class LogWriterTest : public ::testing::Test {
 protected:
  std::unique_ptr<LogWriter> Open(int64_t max_bytes) {
    int error = 0;
    std::unique_ptr<LogWriter> writer = LogWriter::Open(path_, max_bytes, &error);
    EXPECT_NE(writer, nullptr) << error;
    return writer;
  }

  TempDir dir_;
  const std::string path_ = dir_.path() + "/s.log";
};

TEST_F(LogWriterTest, CutsLinesAndKeepsStreamsApart) {
  auto writer = Open(0);
  ASSERT_EQ(writer->Write(Stream::kStdout, "one\ntw", kT), 0);
  ASSERT_EQ(writer->Write(Stream::kStderr, "err1\n\n", kT), 0);
  ASSERT_EQ(writer->Write(Stream::kStdout, "o\nthree", kT), 0);
  EXPECT_THAT(DescribeLog(path_),
              ElementsAre("stdout F one", "stderr F err1", "stderr F ", "stdout F two"));
  ASSERT_EQ(writer->Close(Stream::kStdout, kT), 0);
  ASSERT_EQ(writer->Close(Stream::kStderr, kT), 0);
  EXPECT_THAT(DescribeLog(path_), ElementsAre("stdout F one", "stderr F err1", "stderr F ",
                                              "stdout F two", "stdout P three"));
}

TEST_F(LogWriterTest, SplitsLongLinesIntoPartialEntries) {
  auto writer = Open(0);
  const std::string long_line(kMaxEntryBytes * 2 + 10, 'x');
  ASSERT_EQ(writer->Write(Stream::kStdout, long_line.substr(0, 100), kT), 0);
  ASSERT_EQ(writer->Write(Stream::kStdout, long_line.substr(100) + "\nend\n", kT), 0);
  const std::string part(kMaxEntryBytes, 'x');
  EXPECT_THAT(DescribeLog(path_), ElementsAre("stdout P " + part, "stdout P " + part,
                                              "stdout F xxxxxxxxxx", "stdout F end"));
}

TEST_F(LogWriterTest, LineOfExactlyTheEntrySizeIsOneEntry) {
  auto writer = Open(0);
  const std::string line(kMaxEntryBytes, 'y');
  ASSERT_EQ(writer->Write(Stream::kStderr, line + "\n", kT), 0);
  EXPECT_THAT(DescribeLog(path_), ElementsAre("stderr F " + line));
}

TEST_F(LogWriterTest, AppendsToAnExistingLog) {
  Open(0)->Write(Stream::kStdout, "first\n", kT);
  Open(0)->Write(Stream::kStdout, "second\n", kT);
  EXPECT_THAT(DescribeLog(path_), ElementsAre("stdout F first", "stdout F second"));
}

TEST_F(LogWriterTest, RotatesAtTheCapKeepingOneGeneration) {
  // Each entry is 30 (time) + 10 (" stdout F ") + 2 + 1 = 43 bytes; three fit in 130.
  constexpr int64_t kCap = 130;
  auto writer = Open(kCap);
  for (int i = 10; i < 20; ++i) {
    ASSERT_EQ(writer->Write(Stream::kStdout, std::to_string(i) + "\n", kT), 0);
  }
  const std::string rotated = RotatedLogPath(path_);
  EXPECT_THAT(DescribeLog(rotated), ElementsAre("stdout F 16", "stdout F 17", "stdout F 18"));
  EXPECT_THAT(DescribeLog(path_), ElementsAre("stdout F 19"));
  struct stat st {};
  ASSERT_EQ(stat(rotated.c_str(), &st), 0);
  EXPECT_LE(st.st_size, kCap);
  EXPECT_FALSE(std::filesystem::exists(path_ + ".2"));
}

TEST_F(LogWriterTest, RotatesWithinOneWrite) {
  auto writer = Open(100);
  ASSERT_EQ(writer->Write(Stream::kStdout, "aa\nbb\ncc\n", kT), 0);
  EXPECT_THAT(DescribeLog(RotatedLogPath(path_)), ElementsAre("stdout F aa", "stdout F bb"));
  EXPECT_THAT(DescribeLog(path_), ElementsAre("stdout F cc"));
}

TEST_F(LogWriterTest, OpenFailsWithErrno) {
  int error = 0;
  EXPECT_EQ(LogWriter::Open(dir_.path() + "/missing/s.log", 0, &error), nullptr);
  EXPECT_EQ(error, ENOENT);
}

}  // namespace
}  // namespace fsb::logger
