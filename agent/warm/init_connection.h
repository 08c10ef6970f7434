#ifndef FSB_AGENT_WARM_INIT_CONNECTION_H_
#define FSB_AGENT_WARM_INIT_CONNECTION_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/init/protocol.h"
#include "internal/deadline.h"

namespace fsb::agent {

// The agent's end of one prepared instance's control socket (agent/init/protocol.h): a
// connection on which fsb-init has said hello and waits for its order. Move-only; closes
// the socket when destroyed (init then waits for the next connection). Not thread-safe:
// one owner at a time.
class InitConnection {
 public:
  // Connects to the socket at `path` and reads init's hello within `timeout`.
  // UNAVAILABLE when nobody listens there (init not started yet, gone, or already the
  // sandbox's process: its listener closes at execve); DEADLINE_EXCEEDED when the hello
  // does not come; DATA_LOSS for a malformed or other-version hello.
  static absl::StatusOr<InitConnection> Connect(const std::string& path, absl::Duration timeout);
  // Takes over a connected socket (tests: one end of a socketpair) and reads the hello.
  static absl::StatusOr<InitConnection> FromFd(int fd, absl::Duration timeout);

  // No connection: Alive() is false, Run() fails.
  InitConnection() = default;
  InitConnection(InitConnection&& other) noexcept;
  InitConnection& operator=(InitConnection&& other) noexcept;
  InitConnection(const InitConnection&) = delete;
  InitConnection& operator=(const InitConnection&) = delete;
  ~InitConnection();

  // Sends the order and waits, at most `timeout`, until init has become the process:
  // OK once execve succeeded. Errors name what init reported:
  //   INVALID_ARGUMENT  the executable or working directory is not usable;
  //   FAILED_PRECONDITION  the user or groups cannot be set;
  //   INTERNAL  init could not apply its own setup, or died without saying why;
  //   DEADLINE_EXCEEDED  no outcome in time.
  // Whatever the outcome the instance is used up: call it once.
  absl::Status Run(const init::Order& order, absl::Duration timeout);

  // Whether init still waits on this connection (it has not closed its end).
  bool Alive() const;

 private:
  explicit InitConnection(int fd) : fd_(fd) {}
  // Reads one frame's payload within `deadline`; OK with an empty payload at EOF.
  absl::Status ReadFrame(const Deadline& deadline, std::string* payload, bool* eof) const;

  int fd_ = -1;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_WARM_INIT_CONNECTION_H_
