#include "agent/warm/init_connection.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace fsb::agent {
namespace {

using init::FailureReason;
using init::MessageKind;

// Waits until `fd` is readable (or hung up) or `deadline` passes.
absl::Status WaitReadable(int fd, const Deadline& deadline) {
  while (true) {
    const absl::Duration left = deadline.Left();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("fsb-init did not answer in time");
    }
    pollfd p{fd, POLLIN, 0};
    const int ms = static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
    const int n = poll(&p, 1, ms);
    if (n > 0) return absl::OkStatus();
    if (n < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("poll on fsb-init's socket: ", strerror(errno)));
    }
  }
}

absl::Status FromFailure(const init::Failure& f) {
  const std::string message = absl::StrCat("cannot start the sandbox's process: ", f.message);
  switch (f.reason) {
    case FailureReason::kExecutable:
    case FailureReason::kCwd:
      return absl::InvalidArgumentError(message);
    case FailureReason::kUser:
      return absl::FailedPreconditionError(message);
    case FailureReason::kBadOrder:
    case FailureReason::kSetup:
    default:
      return absl::InternalError(message);
  }
}

}  // namespace

absl::StatusOr<InitConnection> InitConnection::Connect(const std::string& path,
                                                       absl::Duration timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("socket path too long: ", path));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect to ", path, ": ", strerror(err)));
  }
  return FromFd(fd, timeout);
}

absl::StatusOr<InitConnection> InitConnection::FromFd(int fd, absl::Duration timeout) {
  InitConnection conn(fd);
  std::string payload;
  bool eof = false;
  if (absl::Status s = conn.ReadFrame(Deadline::In(timeout), &payload, &eof); !s.ok()) return s;
  if (eof) return absl::UnavailableError("fsb-init closed the connection before its hello");
  uint32_t version = 0;
  if (!init::DecodeHello(payload, &version)) {
    return absl::DataLossError("malformed hello from fsb-init");
  }
  if (version != init::kVersion) {
    return absl::DataLossError(
        absl::StrCat("fsb-init speaks protocol version ", version, ", the agent ", init::kVersion));
  }
  return conn;
}

InitConnection::InitConnection(InitConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)) {}

InitConnection& InitConnection::operator=(InitConnection&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

InitConnection::~InitConnection() {
  if (fd_ >= 0) close(fd_);
}

bool InitConnection::Alive() const {
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLIN, 0};
  // Init sends nothing while it waits: readable means EOF (or a protocol error).
  return poll(&p, 1, 0) == 0;
}

absl::Status InitConnection::ReadFrame(const Deadline& deadline, std::string* payload,
                                       bool* eof) const {
  payload->clear();
  *eof = false;
  char header[4];
  size_t have = 0;
  std::string* into = nullptr;
  size_t want = sizeof(header);
  while (true) {
    if (absl::Status s = WaitReadable(fd_, deadline); !s.ok()) return s;
    char* dst = into == nullptr ? header + have : into->data() + have;
    const ssize_t n = read(fd_, dst, want - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(absl::StrCat("read from fsb-init: ", strerror(errno)));
    if (n == 0) {
      if (have == 0 && into == nullptr) {
        *eof = true;
        return absl::OkStatus();
      }
      return absl::InternalError("fsb-init closed the connection mid-message");
    }
    have += static_cast<size_t>(n);
    if (have < want) continue;
    if (into != nullptr) return absl::OkStatus();
    uint32_t size = 0;
    for (int i = 0; i < 4; ++i) {
      size |= static_cast<uint32_t>(static_cast<unsigned char>(header[i])) << (8 * i);
    }
    if (size == 0 || size > init::kMaxPayload) {
      return absl::DataLossError(absl::StrCat("fsb-init sent a frame of ", size, " bytes"));
    }
    payload->resize(size);
    into = payload;
    have = 0;
    want = size;
  }
}

absl::Status InitConnection::Run(const init::Order& order, absl::Duration timeout) {
  if (fd_ < 0) return absl::FailedPreconditionError("the init connection is used up");
  const Deadline deadline = Deadline::In(timeout);
  const std::string frame = init::EncodeOrder(order);
  if (frame.size() - 4 > init::kMaxPayload) {
    return absl::InvalidArgumentError(absl::StrCat("the process description is ", frame.size(),
                                                   " bytes; at most ", init::kMaxPayload));
  }
  for (size_t off = 0; off < frame.size();) {
    const ssize_t n = send(fd_, frame.data() + off, frame.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::InternalError(absl::StrCat("sending the order to fsb-init: ", strerror(errno)));
    }
    off += static_cast<size_t>(n);
  }
  bool executing = false;
  while (true) {
    std::string payload;
    bool eof = false;
    if (absl::Status s = ReadFrame(deadline, &payload, &eof); !s.ok()) return s;
    if (eof) {
      close(std::exchange(fd_, -1));
      if (executing) return absl::OkStatus();  // the socket closed at a successful execve
      return absl::InternalError("fsb-init exited before starting the process");
    }
    MessageKind kind{};
    if (!init::PayloadKind(payload, &kind)) return absl::DataLossError("empty frame from fsb-init");
    if (kind == MessageKind::kExecuting) {
      executing = true;
      continue;
    }
    init::Failure failure;
    if (kind != MessageKind::kFailure || !init::DecodeFailure(payload, &failure)) {
      return absl::DataLossError("unexpected message from fsb-init");
    }
    close(std::exchange(fd_, -1));
    return FromFailure(failure);
  }
}

}  // namespace fsb::agent
