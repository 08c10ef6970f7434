// fsb-logger as the runc shim runs it: pipes on fds 3 and 4, the readiness pipe on fd 5,
// the URI's query as key/value arguments.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "agent/logger/fd.h"
#include "agent/logger/log_format.h"
#include "agent/logger/log_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

extern char** environ;

namespace fsb::logger {
namespace {

using ::testing::ElementsAre;

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Pipe MakePipe() {
  int fds[2];
  EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// A running fsb-logger with the shim's end of its pipes.
class LoggerProcess {
 public:
  explicit LoggerProcess(const std::vector<std::string>& args) {
    Pipe out = MakePipe(), err = MakePipe(), ready = MakePipe();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out.read.get(), 3);
    posix_spawn_file_actions_adddup2(&actions, err.read.get(), 4);
    posix_spawn_file_actions_adddup2(&actions, ready.write.get(), 5);
    std::vector<std::string> argv_storage = {FSB_LOGGER_BIN};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, FSB_LOGGER_BIN, &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    stdout_ = std::move(out.write);
    stderr_ = std::move(err.write);
    ready_ = std::move(ready.read);
  }

  // Blocks until the logger closed the readiness pipe (or exited).
  void WaitReady() {
    char c;
    EXPECT_EQ(read(ready_.get(), &c, 1), 0);
  }
  void Out(const std::string& s) { ASSERT_TRUE(WriteAll(stdout_.get(), s.data(), s.size())); }
  void Err(const std::string& s) { ASSERT_TRUE(WriteAll(stderr_.get(), s.data(), s.size())); }
  void CloseStreams() {
    stdout_.Reset();
    stderr_.Reset();
  }
  // The exit status.
  int Wait() {
    int status = 0;
    EXPECT_EQ(waitpid(pid_, &status, 0), pid_);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  UniqueFd stdout_, stderr_, ready_;
};

class LoggerMainTest : public ::testing::Test {
 protected:
  TempDir dir_;
  const std::string path_ = dir_.path() + "/s.log";
};

TEST_F(LoggerMainTest, WritesBothStreamsAndExitsWhenThePipesClose) {
  // Go's url.Values come in any order: the size before the path here.
  LoggerProcess logger({"max-size", "1000000", "path", path_});
  logger.WaitReady();
  EXPECT_TRUE(std::filesystem::exists(path_)) << "the log is open before readiness";
  logger.Out("hello\nwor");
  logger.Err("oops\n");
  logger.Out("ld\n");
  logger.Err("no newline");
  logger.CloseStreams();
  EXPECT_EQ(logger.Wait(), 0);
  std::vector<std::string> entries = DescribeLog(path_);
  // The streams interleave in any order; within a stream the order is kept.
  std::vector<std::string> out, err;
  for (const std::string& e : entries) (e.rfind("stdout", 0) == 0 ? out : err).push_back(e);
  EXPECT_THAT(out, ElementsAre("stdout F hello", "stdout F world"));
  EXPECT_THAT(err, ElementsAre("stderr F oops", "stderr P no newline"));
}

TEST_F(LoggerMainTest, SigtermDrainsWhatWasWrittenThenExits) {
  LoggerProcess logger({"path", path_});
  logger.WaitReady();
  logger.Out("before term\n");
  logger.Err("partial");
  ASSERT_EQ(kill(logger.pid(), SIGTERM), 0);
  EXPECT_EQ(logger.Wait(), 0);
  std::vector<std::string> entries = DescribeLog(path_);
  EXPECT_THAT(entries, ::testing::UnorderedElementsAre("stdout F before term", "stderr P partial"));
}

TEST_F(LoggerMainTest, RotatesAtMaxSize) {
  LoggerProcess logger({"path", path_, "max-size", "100"});
  logger.WaitReady();
  logger.Out("aa\nbb\ncc\n");
  logger.CloseStreams();
  EXPECT_EQ(logger.Wait(), 0);
  EXPECT_THAT(DescribeLog(RotatedLogPath(path_)), ElementsAre("stdout F aa", "stdout F bb"));
  EXPECT_THAT(DescribeLog(path_), ElementsAre("stdout F cc"));
}

TEST_F(LoggerMainTest, RejectsBadArguments) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"path"},
           {"path", "relative.log"},
           {"path", "/tmp/x.log", "max-size", "-1"},
           {"path", "/tmp/x.log", "max-size", "10k"},
           {"path", "/tmp/x.log", "colour", "blue"},
       }) {
    LoggerProcess logger(args);
    EXPECT_EQ(logger.Wait(), 2) << ::testing::PrintToString(args);
  }
}

}  // namespace
}  // namespace fsb::logger
