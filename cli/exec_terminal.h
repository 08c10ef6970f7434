#ifndef FSB_CLI_EXEC_TERMINAL_H_
#define FSB_CLI_EXEC_TERMINAL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace fsb::cli {

struct TerminalSize {
  uint32_t rows = 0;
  uint32_t cols = 0;
};

// The local end of `fsb exec`: standard input, the terminal and the signals that concern
// a running exec. An interface so that commands are tested without a terminal.
class ExecTerminal {
 public:
  // Restores what EnterRawMode() changed when destroyed.
  class RawMode {
   public:
    virtual ~RawMode() = default;
  };

  struct Event {
    enum class Kind {
      kInput,        // `data` was read from standard input
      kEndOfInput,   // standard input is at its end
      kResize,       // the window changed to `size`
      kSignal,       // SIGINT, SIGTERM or SIGHUP (`signal`): the user wants to stop
      kInterrupted,  // Interrupt() was called
    };
    Kind kind = Kind::kInterrupted;
    std::string data;
    TerminalSize size;
    int signal = 0;
  };

  virtual ~ExecTerminal() = default;

  // The window size when standard output or input is a terminal.
  virtual std::optional<TerminalSize> Size() = 0;

  // Puts the terminal of standard input in raw mode (no echo, no line editing, keys like
  // Ctrl-C go to the command as bytes) until the result is destroyed; nullptr when
  // standard input is not a terminal.
  virtual std::unique_ptr<RawMode> EnterRawMode() = 0;

  // Blocks until the next event. Input is read only when `read_input`; after kEndOfInput
  // it is not read again. Called from one thread at a time.
  virtual Event Next(bool read_input) = 0;

  // Makes the current or the next Next() return kInterrupted. Thread-safe.
  virtual void Interrupt() = 0;
};

// The process's own: file descriptor 0, the window size of fds 0/1, and SIGWINCH, SIGINT,
// SIGTERM and SIGHUP, caught (their previous handling comes back on destruction) and
// turned into events. At most one may exist at a time.
std::unique_ptr<ExecTerminal> NewProcessTerminal();

}  // namespace fsb::cli

#endif  // FSB_CLI_EXEC_TERMINAL_H_
