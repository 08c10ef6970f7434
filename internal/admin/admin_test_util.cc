#include "internal/admin/admin_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "internal/strings.h"

namespace fsb::admin::testing {
namespace {

absl::Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::UnavailableError(absl::StrCat("write: ", std::strerror(errno)));
    data.remove_prefix(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<HttpReply> Parse(std::string_view raw) {
  const size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return absl::DataLossError("no end of headers");
  std::vector<absl::string_view> lines = absl::StrSplit(Sv(raw.substr(0, head_end)), "\r\n");
  // "HTTP/1.1 200 OK"
  std::vector<absl::string_view> status_line = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  HttpReply reply;
  if (status_line.size() < 2 || !absl::StartsWith(status_line[0], "HTTP/") ||
      !absl::SimpleAtoi(status_line[1], &reply.status)) {
    return absl::DataLossError(absl::StrCat("bad status line: ", lines[0]));
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    std::pair<absl::string_view, absl::string_view> header =
        absl::StrSplit(lines[i], absl::MaxSplits(':', 1));
    reply.headers[absl::AsciiStrToLower(header.first)] =
        std::string(absl::StripAsciiWhitespace(header.second));
  }
  reply.body = std::string(raw.substr(head_end + 4));
  size_t length = 0;
  if (auto it = reply.headers.find("content-length");
      it != reply.headers.end() &&
      (!absl::SimpleAtoi(it->second, &length) || length != reply.body.size())) {
    return absl::DataLossError(
        absl::StrCat("Content-Length ", it->second, ", body of ", reply.body.size(), " bytes"));
  }
  return reply;
}

// Connects `fd` to 127.0.0.1:`port`.
absl::Status ConnectLoopback(int fd, int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::UnavailableError(
        absl::StrCat("connect 127.0.0.1:", port, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<HttpReply> Fetch(int port, std::string_view target, std::string_view method) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("socket: ", std::strerror(errno)));
  struct CloseFd {
    ~CloseFd() { close(fd); }
    int fd;
  } close_fd{fd};
  if (absl::Status s = ConnectLoopback(fd, port); !s.ok()) return s;
  absl::Status sent =
      WriteAll(fd, absl::StrCat(Sv(method), " ", Sv(target),
                                " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
  if (!sent.ok()) return sent;
  std::string raw;
  char buf[64 << 10];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::UnavailableError(absl::StrCat("read: ", std::strerror(errno)));
    if (n == 0) break;
    raw.append(buf, n);
  }
  return Parse(raw);
}

CommandResult RunShell(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen(absl::StrCat("(", command, ") 2>&1").c_str(), "r");
  if (pipe == nullptr) {
    result.output = absl::StrCat("popen: ", std::strerror(errno));
    return result;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  const int status = pclose(pipe);
  if (status != -1 && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

std::string ShellQuote(std::string_view s) {
  std::string quoted = "'";
  for (char c : s) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted.push_back(c);
    }
  }
  quoted.push_back('\'');
  return quoted;
}

bool OnPath(std::string_view program) {
  return RunShell(absl::StrCat("command -v ", ShellQuote(program), " >/dev/null")).exit_code == 0;
}

std::string SelfExe() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

SlowClient::SlowClient(int port) : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  connected_ = fd_ >= 0 && ConnectLoopback(fd_, port).ok() &&
               WriteAll(fd_, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").ok();
}

SlowClient::~SlowClient() {
  if (fd_ >= 0) close(fd_);
}

bool SlowClient::ClosedByServerWithin(absl::Duration bound) {
  const timeval tv = absl::ToTimeval(bound);
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char buf[1024];
  for (int i = 0; i < 100; ++i) {  // a server sends a few bytes (an error page) at most
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
    if (n < 0 && errno != EINTR) return false;  // the bound passed: still open
  }
  return false;
}

}  // namespace fsb::admin::testing
