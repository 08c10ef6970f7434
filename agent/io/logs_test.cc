#include "agent/io/logs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "agent/logger/fd_testing.h"
#include "agent/logger/log_format.h"
#include "agent/logger/log_testing.h"
#include "agent/logger/log_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using logger::EventFd;
using logger::Stream;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kT0 = 1'700'000'000 * kSecond;

// Appends one entry at `time` to the file at `path` the way fsb-logger does.
void Append(const std::string& path, int64_t time, Stream stream, std::string_view data,
            bool partial = false) {
  std::string line;
  logger::AppendEntry({time, stream, partial, data}, &line);
  std::ofstream(path, std::ios::app | std::ios::binary) << line;
}

// "<stream>:<data>" per entry, with a trailing "+" for partial ones.
std::string Describe(const v1::LogEntry& e) {
  return e.stream() + ":" + e.data() + (e.partial() ? "+" : "");
}

// Collects what StreamLog sends; thread-safe so that a follow can run on another thread.
class Collector {
 public:
  LogSink Sink() {
    return [this](v1::LogChunk chunk) {
      absl::MutexLock lock(&mu_);
      EXPECT_GT(chunk.entries_size(), 0) << "empty chunks are never sent";
      for (const auto& e : chunk.entries()) entries_.push_back(Describe(e));
      return accept_;
    };
  }
  std::vector<std::string> entries() const {
    absl::MutexLock lock(&mu_);
    return entries_;
  }
  // Blocks until `n` entries arrived (a generous bound keeps a broken follow from hanging
  // the test; it is not a timing assertion).
  bool WaitFor(size_t n) {
    struct Wanted {
      const std::vector<std::string>* entries;
      size_t n;
    } wanted{&entries_, n};
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(
                                    +[](Wanted* w) { return w->entries->size() >= w->n; }, &wanted),
                                absl::Seconds(30));
  }
  void Refuse() {
    absl::MutexLock lock(&mu_);
    accept_ = false;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> entries_ ABSL_GUARDED_BY(mu_);
  bool accept_ ABSL_GUARDED_BY(mu_) = true;
};

class StreamLogTest : public ::testing::Test {
 protected:
  // Runs a non-following StreamLog and returns what it sent.
  std::vector<std::string> Read(LogQuery query) {
    Collector collector;
    EventFd exited, cancelled;
    EXPECT_TRUE(
        StreamLog(path_, query, /*watcher=*/nullptr, exited, cancelled, collector.Sink()).ok());
    return collector.entries();
  }

  logger::TempDir dir_;
  // The follows' shared inotify instance.
  std::unique_ptr<LogWatcher> watcher_ = *LogWatcher::Create();
  const std::string path_ = dir_.path() + "/s.log";
  const std::string rotated_ = logger::RotatedLogPath(path_);
};

TEST_F(StreamLogTest, ReadsBothGenerationsInOrderWithStreams) {
  Append(rotated_, kT0, Stream::kStdout, "one");
  Append(rotated_, kT0 + 1, Stream::kStderr, "two");
  Append(path_, kT0 + 2, Stream::kStdout, "thr", /*partial=*/true);
  Append(path_, kT0 + 3, Stream::kStdout, "ee");
  EXPECT_THAT(Read({}), ElementsAre("stdout:one", "stderr:two", "stdout:thr+", "stdout:ee"));
}

TEST_F(StreamLogTest, TailCountsAcrossTheRotation) {
  for (int i = 0; i < 3; ++i) Append(rotated_, kT0 + i, Stream::kStdout, std::to_string(i));
  for (int i = 3; i < 5; ++i) Append(path_, kT0 + i, Stream::kStdout, std::to_string(i));
  EXPECT_THAT(Read({.tail_lines = 3}), ElementsAre("stdout:2", "stdout:3", "stdout:4"));
  EXPECT_THAT(Read({.tail_lines = 1}), ElementsAre("stdout:4"));
  EXPECT_THAT(Read({.tail_lines = 0}), IsEmpty());
  EXPECT_EQ(Read({.tail_lines = 100}).size(), 5u);
  EXPECT_EQ(Read({.tail_lines = -1}).size(), 5u);
}

TEST_F(StreamLogTest, SinceFiltersByTheLoggersTime) {
  for (int i = 0; i < 5; ++i) Append(path_, kT0 + i * kSecond, Stream::kStdout, std::to_string(i));
  EXPECT_THAT(Read({.since_unix_nanos = kT0 + 3 * kSecond}), ElementsAre("stdout:3", "stdout:4"));
  EXPECT_THAT(Read({.tail_lines = 1, .since_unix_nanos = kT0 + 3 * kSecond}),
              ElementsAre("stdout:4"));
  EXPECT_THAT(Read({.since_unix_nanos = kT0 + 9 * kSecond}), IsEmpty());
}

TEST_F(StreamLogTest, SkipsMalformedLinesAndHoldsAnUnfinishedOne) {
  Append(path_, kT0, Stream::kStdout, "good");
  std::ofstream(path_, std::ios::app) << "garbage line\n";
  Append(path_, kT0 + 1, Stream::kStderr, "also good");
  std::string unfinished;
  logger::AppendEntry({kT0 + 2, Stream::kStdout, false, "half"}, &unfinished);
  unfinished.pop_back();
  std::ofstream(path_, std::ios::app) << unfinished;
  EXPECT_THAT(Read({}), ElementsAre("stdout:good", "stderr:also good"));
}

TEST_F(StreamLogTest, MissingLogIsEmpty) { EXPECT_THAT(Read({}), IsEmpty()); }

TEST_F(StreamLogTest, LargeLogsComeInSeveralChunks) {
  for (int i = 0; i < 1000; ++i) Append(path_, kT0 + i, Stream::kStdout, std::to_string(i));
  int chunks = 0;
  EventFd exited, cancelled;
  ASSERT_TRUE(StreamLog(path_, {}, /*watcher=*/nullptr, exited, cancelled, [&](v1::LogChunk chunk) {
                ++chunks;
                EXPECT_LE(chunk.entries_size(), 256);
                return true;
              }).ok());
  EXPECT_GE(chunks, 4);
}

TEST_F(StreamLogTest, ARefusingSinkCancels) {
  Append(path_, kT0, Stream::kStdout, "x");
  EventFd exited, cancelled;
  absl::Status s = StreamLog(path_, {}, /*watcher=*/nullptr, exited, cancelled,
                             [](v1::LogChunk) { return false; });
  EXPECT_TRUE(absl::IsCancelled(s)) << s;
}

// A follow on its own thread.
class Follow {
 public:
  Follow(const std::string& path, LogQuery query, LogWatcher* watcher) {
    query.follow = true;
    thread_ = std::thread([this, path, query, watcher] {
      absl::Status s = StreamLog(path, query, watcher, exited_, cancelled_, collector_.Sink());
      absl::MutexLock lock(&mu_);
      status_ = s;
      done_ = true;
    });
  }
  ~Follow() {
    cancelled_.Notify();
    if (thread_.joinable()) thread_.join();
  }
  Collector& collector() { return collector_; }
  void Exit() { exited_.Notify(); }
  void Cancel() { cancelled_.Notify(); }
  // Waits for the follow to end and returns its status.
  absl::Status Result() {
    thread_.join();
    absl::MutexLock lock(&mu_);
    EXPECT_TRUE(done_);
    return status_;
  }

 private:
  EventFd exited_, cancelled_;
  Collector collector_;
  absl::Mutex mu_;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

TEST_F(StreamLogTest, FollowSendsNewEntriesAndEndsAfterTheExitWithEverythingWritten) {
  Append(path_, kT0, Stream::kStdout, "old");
  Follow follow(path_, {}, watcher_.get());
  ASSERT_TRUE(follow.collector().WaitFor(1));
  Append(path_, kT0 + 1, Stream::kStderr, "new");
  ASSERT_TRUE(follow.collector().WaitFor(2));
  // Written before the exit is announced: must be sent before the follow ends.
  Append(path_, kT0 + 2, Stream::kStdout, "last");
  follow.Exit();
  EXPECT_TRUE(follow.Result().ok());
  EXPECT_THAT(follow.collector().entries(), ElementsAre("stdout:old", "stderr:new", "stdout:last"));
}

TEST_F(StreamLogTest, FollowStartsWithTheTail) {
  Append(path_, kT0, Stream::kStdout, "old1");
  Append(path_, kT0 + 1, Stream::kStdout, "old2");
  Follow follow(path_, {.tail_lines = 1}, watcher_.get());
  ASSERT_TRUE(follow.collector().WaitFor(1));
  Append(path_, kT0 + 2, Stream::kStdout, "new");
  ASSERT_TRUE(follow.collector().WaitFor(2));
  follow.Exit();
  EXPECT_TRUE(follow.Result().ok());
  EXPECT_THAT(follow.collector().entries(), ElementsAre("stdout:old2", "stdout:new"));
}

TEST_F(StreamLogTest, FollowCrossesRotations) {
  int error = 0;
  // Two entries per generation.
  std::unique_ptr<logger::LogWriter> writer = logger::LogWriter::Open(path_, 100, &error);
  ASSERT_NE(writer, nullptr);
  Follow follow(path_, {}, watcher_.get());
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(writer->Write(Stream::kStdout, std::to_string(i) + "\n", kT0 + i), 0);
    // One rotation at a time: a reader slower than two rotations may lose entries.
    ASSERT_TRUE(follow.collector().WaitFor(i + 1));
  }
  follow.Exit();
  EXPECT_TRUE(follow.Result().ok());
  std::vector<std::string> expected;
  for (int i = 0; i < 10; ++i) expected.push_back("stdout:" + std::to_string(i));
  EXPECT_EQ(follow.collector().entries(), expected);
}

TEST_F(StreamLogTest, FollowWaitsForALogThatDoesNotExistYet) {
  Follow follow(path_, {}, watcher_.get());
  Append(path_, kT0, Stream::kStdout, "first");
  ASSERT_TRUE(follow.collector().WaitFor(1));
  follow.Exit();
  EXPECT_TRUE(follow.Result().ok());
  EXPECT_THAT(follow.collector().entries(), ElementsAre("stdout:first"));
}

TEST_F(StreamLogTest, FollowEndsWhenTheLogIsDeleted) {
  Append(path_, kT0, Stream::kStdout, "x");
  Follow follow(path_, {}, watcher_.get());
  ASSERT_TRUE(follow.collector().WaitFor(1));
  ASSERT_EQ(unlink(path_.c_str()), 0);
  EXPECT_TRUE(follow.Result().ok());
}

TEST_F(StreamLogTest, FollowEndsCancelledWhenTheReaderGoesAway) {
  Append(path_, kT0, Stream::kStdout, "x");
  Follow follow(path_, {}, watcher_.get());
  ASSERT_TRUE(follow.collector().WaitFor(1));
  follow.Cancel();
  EXPECT_TRUE(absl::IsCancelled(follow.Result()));
}

TEST_F(StreamLogTest, FollowEndsCancelledWhenTheSinkRefuses) {
  Append(path_, kT0, Stream::kStdout, "x");
  Follow follow(path_, {}, watcher_.get());
  ASSERT_TRUE(follow.collector().WaitFor(1));
  follow.collector().Refuse();
  Append(path_, kT0 + 1, Stream::kStdout, "y");
  EXPECT_TRUE(absl::IsCancelled(follow.Result()));
}

TEST_F(StreamLogTest, FollowsShareOneWatchAndOneEndingLeavesTheOthersWatching) {
  Append(path_, kT0, Stream::kStdout, "x");
  auto first = std::make_unique<Follow>(path_, LogQuery{}, watcher_.get());
  Follow second(path_, {}, watcher_.get());
  ASSERT_TRUE(first->collector().WaitFor(1));
  ASSERT_TRUE(second.collector().WaitFor(1));
  // The folder and the file, each watched once for both follows.
  EXPECT_EQ(watcher_->watches(), 2);
  first->Cancel();
  EXPECT_TRUE(absl::IsCancelled(first->Result()));
  first.reset();
  Append(path_, kT0 + 1, Stream::kStdout, "y");
  ASSERT_TRUE(second.collector().WaitFor(2));
  second.Exit();
  EXPECT_TRUE(second.Result().ok());
  EXPECT_THAT(second.collector().entries(), ElementsAre("stdout:x", "stdout:y"));
  EXPECT_EQ(watcher_->watches(), 0);
}

TEST_F(StreamLogTest, FollowsOfDifferentLogsAreWokenByTheirOwnAppends) {
  const std::string other = dir_.path() + "/t.log";
  Follow a(path_, {}, watcher_.get());
  Follow b(other, {}, watcher_.get());
  for (int i = 0; i < 20; ++i) {
    Append(i % 2 == 0 ? path_ : other, kT0 + i, Stream::kStdout, std::to_string(i));
  }
  ASSERT_TRUE(a.collector().WaitFor(10));
  ASSERT_TRUE(b.collector().WaitFor(10));
  a.Exit();
  b.Exit();
  EXPECT_TRUE(a.Result().ok());
  EXPECT_TRUE(b.Result().ok());
  EXPECT_EQ(a.collector().entries().size(), 10u);
  EXPECT_EQ(b.collector().entries().size(), 10u);
}

TEST_F(StreamLogTest, AFollowWithoutADescriptorForItsDoorbellIsRefused) {
  Append(path_, kT0, Stream::kStdout, "x");
  EventFd exited, cancelled;
  Collector collector;
  absl::Status s;
  {
    logger::DescriptorLimit limit;
    s = StreamLog(path_, {.follow = true}, watcher_.get(), exited, cancelled, collector.Sink());
  }
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("no file descriptor left for an eventfd"));
  EXPECT_EQ(watcher_->watches(), 0);
}

TEST_F(StreamLogTest, AReadWithoutADescriptorToOpenTheLogIsResourceExhausted) {
  Append(path_, kT0, Stream::kStdout, "x");
  EventFd exited, cancelled;
  Collector collector;
  absl::Status s;
  {
    logger::DescriptorLimit limit;
    s = StreamLog(path_, {}, /*watcher=*/nullptr, exited, cancelled, collector.Sink());
  }
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_EQ(s.message(), "cannot open " + path_ + ": Too many open files");
}

TEST(LoggerUriTest, EncodesTheLogPathAndSize) {
  EXPECT_EQ(LoggerStdioUri({.binary = "/opt/fsb bin/fsb-logger", .max_bytes = 1048576},
                           "/var/lib/fsb agent/logs/a&b+c.log"),
            "binary:///opt/fsb%20bin/fsb-logger"
            "?path=%2Fvar%2Flib%2Ffsb%20agent%2Flogs%2Fa%26b%2Bc.log&max-size=1048576");
}

TEST(InstallBinaryTest, CopiesAnExecutableIntoTheFolder) {
  logger::TempDir temp;
  const std::string& dir = temp.path();
  const std::string source = dir + "/fsb-logger";
  std::ofstream(source) << "#!/bin/sh\n";
  absl::StatusOr<std::string> installed = InstallBinary(source, dir + "/bin");
  ASSERT_TRUE(installed.ok()) << installed.status();
  EXPECT_EQ(*installed, dir + "/bin/fsb-logger");
  struct stat st {};
  ASSERT_EQ(stat(installed->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  // Again, over the first copy.
  EXPECT_TRUE(InstallBinary(source, dir + "/bin").ok());
  EXPECT_FALSE(InstallBinary(dir + "/missing", dir + "/bin").ok());
}

}  // namespace
}  // namespace fsb::agent
