#ifndef FSB_INTERNAL_ADMIN_ADMIN_TEST_UTIL_H_
#define FSB_INTERNAL_ADMIN_ADMIN_TEST_UTIL_H_

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

// Test helpers of internal/admin: a minimal HTTP client and a shell runner.
namespace fsb::admin::testing {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

// Sends `method target` (e.g. "GET", "/metrics?x=1") to 127.0.0.1:`port` as HTTP/1.1 with
// `Connection: close` and reads the reply to its end. Errors: UNAVAILABLE when the
// connection fails, DATA_LOSS when the reply is not HTTP or its body's size is not its
// Content-Length.
absl::StatusOr<HttpReply> Fetch(int port, std::string_view target, std::string_view method = "GET");

// A client that connects to 127.0.0.1:`port`, sends the start of a GET request and then
// nothing (a slowloris). Not thread-safe.
class SlowClient {
 public:
  explicit SlowClient(int port);
  ~SlowClient();
  SlowClient(const SlowClient&) = delete;
  SlowClient& operator=(const SlowClient&) = delete;

  // Whether the partial request was sent.
  bool connected() const { return connected_; }
  // Whether the server closed the connection within `bound` (whatever it sent first).
  bool ClosedByServerWithin(absl::Duration bound);

 private:
  const int fd_;
  bool connected_ = false;
};

struct CommandResult {
  int exit_code = -1;  // -1 when the command did not exit normally
  std::string output;  // stdout and stderr, interleaved
};

// Runs `command` with /bin/sh -c and waits for it.
CommandResult RunShell(const std::string& command);

// `s` quoted for /bin/sh.
std::string ShellQuote(std::string_view s);

// True when `program` is on $PATH.
bool OnPath(std::string_view program);

// The path of this test binary.
std::string SelfExe();

}  // namespace fsb::admin::testing

#endif  // FSB_INTERNAL_ADMIN_ADMIN_TEST_UTIL_H_
