#include "cli/exec_terminal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <iterator>

namespace fsb::cli {
namespace {

constexpr int kSignals[] = {SIGWINCH, SIGINT, SIGTERM, SIGHUP};

// Written by the signal handler: the signal number, one byte each. A global because a
// handler has nothing else; only one ProcessTerminal owns it at a time.
int signal_pipe_write = -1;

void OnSignal(int signal) {
  const int saved = errno;
  const unsigned char byte = static_cast<unsigned char>(signal);
  (void)!write(signal_pipe_write, &byte, 1);
  errno = saved;
}

class SavedTermios final : public ExecTerminal::RawMode {
 public:
  explicit SavedTermios(const termios& saved) : saved_(saved) {}
  ~SavedTermios() override { tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_); }

 private:
  const termios saved_;
};

class ProcessTerminal final : public ExecTerminal {
 public:
  ProcessTerminal() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
      signal_read_ = fds[0];
      signal_pipe_write = fds[1];
    }
    interrupt_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct sigaction action {};
    action.sa_handler = OnSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    for (size_t i = 0; i < std::size(kSignals); ++i) {
      sigaction(kSignals[i], &action, &previous_[i]);
    }
  }

  ~ProcessTerminal() override {
    for (size_t i = 0; i < std::size(kSignals); ++i) sigaction(kSignals[i], &previous_[i], nullptr);
    close(signal_read_);
    close(signal_pipe_write);
    signal_pipe_write = -1;
    close(interrupt_);
  }

  std::optional<TerminalSize> Size() override {
    for (int fd : {STDOUT_FILENO, STDIN_FILENO}) {
      winsize ws{};
      if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
        return TerminalSize{ws.ws_row, ws.ws_col};
      }
    }
    return std::nullopt;
  }

  std::unique_ptr<RawMode> EnterRawMode() override {
    termios saved{};
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved) != 0) return nullptr;
    termios raw = saved;
    cfmakeraw(&raw);
    if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) != 0) return nullptr;
    return std::make_unique<SavedTermios>(saved);
  }

  Event Next(bool read_input) override {
    for (;;) {
      pollfd fds[3] = {{signal_read_, POLLIN, 0}, {interrupt_, POLLIN, 0}, {-1, POLLIN, 0}};
      if (read_input && !input_ended_) fds[2].fd = STDIN_FILENO;
      if (poll(fds, 3, -1) < 0) {
        if (errno == EINTR) continue;
        return Event{};  // cannot wait: behave as interrupted
      }
      if (fds[1].revents != 0) return Event{};
      if (fds[0].revents != 0) {
        unsigned char signal = 0;
        if (read(signal_read_, &signal, 1) == 1) {
          Event event;
          if (signal == SIGWINCH) {
            std::optional<TerminalSize> size = Size();
            if (!size) continue;
            event.kind = Event::Kind::kResize;
            event.size = *size;
          } else {
            event.kind = Event::Kind::kSignal;
            event.signal = signal;
          }
          return event;
        }
      }
      if (fds[2].fd >= 0 && fds[2].revents != 0) {
        char buf[32 * 1024];
        const ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        Event event;
        if (n > 0) {
          event.kind = Event::Kind::kInput;
          event.data.assign(buf, n);
        } else {
          input_ended_ = true;
          event.kind = Event::Kind::kEndOfInput;
        }
        return event;
      }
    }
  }

  void Interrupt() override {
    const uint64_t one = 1;
    (void)!write(interrupt_, &one, sizeof(one));
  }

 private:
  int signal_read_ = -1;
  int interrupt_ = -1;
  bool input_ended_ = false;
  struct sigaction previous_[std::size(kSignals)];
};

}  // namespace

std::unique_ptr<ExecTerminal> NewProcessTerminal() { return std::make_unique<ProcessTerminal>(); }

}  // namespace fsb::cli
