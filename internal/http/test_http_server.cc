#include "internal/http/test_http_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string_view>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "glog/logging.h"

namespace fsb::http {
namespace {

// Whether all of `data` was sent (MSG_NOSIGNAL: a client that has gone is no SIGPIPE).
bool SendAll(int fd, std::string_view data) {
  for (size_t sent = 0; sent < data.size();) {
    const ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

int ListenOnLoopback(int backlog, int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  CHECK_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  CHECK_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  CHECK_EQ(listen(fd, backlog), 0);
  *port = ntohs(addr.sin_port);
  return fd;
}

TestHttpServer::TestHttpServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ListenOnLoopback(16, &port_);
  thread_ = std::thread([this] { Serve(); });
}

TestHttpServer::~TestHttpServer() {
  stopping_ = true;
  shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  thread_.join();
  close(listen_fd_);
}

std::string TestHttpServer::address() const { return absl::StrCat("127.0.0.1:", port_); }

void TestHttpServer::Serve() {
  while (!stopping_) {
    const int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    Answer(fd);
    close(fd);
  }
}

void TestHttpServer::Answer(int fd) {
  std::string raw;
  char buf[4096];
  while (raw.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return;
    raw.append(buf, static_cast<size_t>(n));
  }
  Request req;
  std::vector<std::string> lines = absl::StrSplit(raw.substr(0, raw.find("\r\n\r\n")), "\r\n");
  std::vector<std::string> request_line = absl::StrSplit(lines[0], ' ');
  if (request_line.size() < 2) return;
  req.method = request_line[0];
  req.target = request_line[1];
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    req.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  const Response resp = handler_(req);
  std::string out =
      absl::StrCat("HTTP/1.1 ", resp.status, " X\r\nContent-Length: ", resp.body.size(),
                   "\r\nConnection: close\r\n");
  for (const auto& [name, value] : resp.headers) absl::StrAppend(&out, name, ": ", value, "\r\n");
  absl::StrAppend(&out, "\r\n");
  if (resp.byte_interval.count() == 0) {
    absl::StrAppend(&out, resp.body);
    SendAll(fd, out);
    return;
  }
  if (!SendAll(fd, out)) return;
  for (const char byte : resp.body) {
    std::this_thread::sleep_for(resp.byte_interval);
    if (!SendAll(fd, std::string_view(&byte, 1))) return;
  }
}

}  // namespace fsb::http
