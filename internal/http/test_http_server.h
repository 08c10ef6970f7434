#ifndef FSB_INTERNAL_HTTP_TEST_HTTP_SERVER_H_
#define FSB_INTERNAL_HTTP_TEST_HTTP_SERVER_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace fsb::http {

// A TCP socket listening on 127.0.0.1 at a port the kernel chose, which it stores in
// `*port`; the caller owns (and closes) the descriptor. Test-only: failures CHECK-fail.
int ListenOnLoopback(int backlog, int* port);

// A minimal HTTP/1.1 server on 127.0.0.1 for unit tests of HTTP clients. One thread
// accepts connections; each carries one request (request line and headers, no body),
// answered by `handler` with Content-Length and then closed. The handler runs on that
// thread only, one request at a time. Test-only: setup failures CHECK-fail.
class TestHttpServer {
 public:
  struct Request {
    std::string method;
    std::string target;                          // path and query, as sent
    std::map<std::string, std::string> headers;  // lowercase names
  };
  struct Response {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    // Non-zero: the body is sent one byte at a time, this far apart (a slow server).
    // Sending stops when the client has gone.
    std::chrono::milliseconds byte_interval{0};
  };
  using Handler = std::function<Response(const Request&)>;

  explicit TestHttpServer(Handler handler);
  ~TestHttpServer();

  // "127.0.0.1:<port>".
  std::string address() const;

 private:
  void Serve();
  void Answer(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace fsb::http

#endif  // FSB_INTERNAL_HTTP_TEST_HTTP_SERVER_H_
