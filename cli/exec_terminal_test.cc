#include "cli/exec_terminal.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <string>

#include "gtest/gtest.h"

namespace fsb::cli {
namespace {

using Kind = ExecTerminal::Event::Kind;

// Standard input replaced by a pipe for the test's duration.
class PipeAsStdin {
 public:
  PipeAsStdin() {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
    saved_ = dup(STDIN_FILENO);
    dup2(fds[0], STDIN_FILENO);
    close(fds[0]);
    write_ = fds[1];
  }
  ~PipeAsStdin() {
    if (write_ >= 0) close(write_);
    dup2(saved_, STDIN_FILENO);
    close(saved_);
  }
  void Write(const std::string& s) {
    ASSERT_EQ(write(write_, s.data(), s.size()), ssize_t(s.size()));
  }
  void Close() {
    close(write_);
    write_ = -1;
  }

 private:
  int saved_ = -1;
  int write_ = -1;
};

TEST(ProcessTerminalTest, ReadsInputUntilItsEnd) {
  PipeAsStdin in;
  std::unique_ptr<ExecTerminal> terminal = NewProcessTerminal();
  EXPECT_EQ(terminal->EnterRawMode(), nullptr) << "a pipe is no terminal";
  in.Write("hello");
  ExecTerminal::Event event = terminal->Next(/*read_input=*/true);
  EXPECT_EQ(event.kind, Kind::kInput);
  EXPECT_EQ(event.data, "hello");
  in.Close();
  EXPECT_EQ(terminal->Next(true).kind, Kind::kEndOfInput);
  terminal->Interrupt();
  EXPECT_EQ(terminal->Next(true).kind, Kind::kInterrupted) << "input is not read after its end";
}

TEST(ProcessTerminalTest, InputIsLeftAloneUnlessAskedFor) {
  PipeAsStdin in;
  std::unique_ptr<ExecTerminal> terminal = NewProcessTerminal();
  in.Write("unread");
  terminal->Interrupt();
  EXPECT_EQ(terminal->Next(/*read_input=*/false).kind, Kind::kInterrupted);
}

TEST(ProcessTerminalTest, StopSignalsBecomeEventsWhileItLives) {
  struct sigaction before {};
  sigaction(SIGTERM, nullptr, &before);
  {
    std::unique_ptr<ExecTerminal> terminal = NewProcessTerminal();
    ASSERT_EQ(raise(SIGTERM), 0);  // caught: the test goes on
    ExecTerminal::Event event = terminal->Next(false);
    EXPECT_EQ(event.kind, Kind::kSignal);
    EXPECT_EQ(event.signal, SIGTERM);
  }
  struct sigaction after {};
  sigaction(SIGTERM, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler) << "the previous handling is back";
}

}  // namespace
}  // namespace fsb::cli
