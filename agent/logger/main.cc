// fsb-logger: writes a task's stdout and stderr to its sandbox's log file.
//
// containerd's runc shim starts it for a task whose stdio is a `binary://` URI
// (fsb-agent builds it: binary:///path/to/fsb-logger?path=LOG&max-size=BYTES) and owns it:
// it keeps running, and the log keeps growing, while fsb-agent is down. The shim passes
//   fd 3  the read end of the task's stdout pipe
//   fd 4  the read end of the task's stderr pipe
//   fd 5  a pipe the shim reads until EOF before it starts the task: closed once the log
//         file is open, so no output is written before there is somewhere to put it
// and the URI's query parameters as arguments, each key followed by its value, in no
// particular order; CONTAINER_ID and CONTAINER_NAMESPACE are in the environment. Its
// own stdout and stderr go nowhere.
//
// It exits once both pipes are closed (the shim closes them when the task is deleted) or
// on SIGTERM (the shim's request to stop after closing them), having written everything
// it could read.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include "agent/logger/fd.h"
#include "agent/logger/log_format.h"
#include "agent/logger/log_writer.h"

namespace {

using fsb::logger::LogWriter;
using fsb::logger::Stream;

constexpr int kStdoutFd = 3;
constexpr int kStderrFd = 4;
constexpr int kReadyFd = 5;

struct Args {
  std::string path;
  int64_t max_bytes = 0;
};

bool ParseArgs(int argc, char** argv, Args* args) {
  if (argc % 2 != 1) {
    std::fprintf(stderr, "fsb-logger: arguments must be key value pairs\n");
    return false;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view key = argv[i];
    const char* value = argv[i + 1];
    if (key == "path") {
      args->path = value;
    } else if (key == "max-size") {
      char* end = nullptr;
      errno = 0;
      const long long n = std::strtoll(value, &end, 10);
      if (errno != 0 || end == value || *end != '\0' || n < 0) {
        std::fprintf(stderr, "fsb-logger: max-size \"%s\" is not a byte count\n", value);
        return false;
      }
      args->max_bytes = n;
    } else {
      std::fprintf(stderr, "fsb-logger: unknown argument \"%s\"\n", argv[i]);
      return false;
    }
  }
  if (args->path.empty() || args->path.front() != '/') {
    std::fprintf(stderr, "fsb-logger: path must be an absolute file name\n");
    return false;
  }
  return true;
}

int64_t NowUnixNanos() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Reads what `fd` has into the log. Returns false at EOF or on a read error (the
// stream is over either way).
bool Pump(int fd, Stream stream, LogWriter& writer) {
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      if (int error = writer.Write(stream, std::string_view(buf, n), NowUnixNanos()); error != 0) {
        std::fprintf(stderr, "fsb-logger: write: %s\n", std::strerror(error));
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, &args)) return 2;

  // SIGTERM arrives through a descriptor, so it can never interrupt a write half-way.
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, nullptr);
  fsb::logger::UniqueFd signals(signalfd(-1, &term, SFD_CLOEXEC));
  if (!signals.valid()) {
    std::perror("fsb-logger: signalfd");
    return 1;
  }

  int error = 0;
  std::unique_ptr<LogWriter> writer = LogWriter::Open(args.path, args.max_bytes, &error);
  if (writer == nullptr) {
    std::fprintf(stderr, "fsb-logger: open %s: %s\n", args.path.c_str(), std::strerror(error));
    return 1;
  }
  close(kReadyFd);  // the shim may start the task now

  pollfd fds[3] = {{kStdoutFd, POLLIN, 0}, {kStderrFd, POLLIN, 0}, {signals.get(), POLLIN, 0}};
  const Stream streams[2] = {Stream::kStdout, Stream::kStderr};
  for (int fd : {kStdoutFd, kStderrFd}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  int open_streams = 2;
  bool terminating = false;
  while (open_streams > 0 && !terminating) {
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      std::perror("fsb-logger: poll");
      return 1;
    }
    terminating = fds[2].revents != 0;
    for (int i = 0; i < 2; ++i) {
      // On SIGTERM every open stream is read once more: what the task wrote is kept.
      if (fds[i].fd < 0 || (fds[i].revents == 0 && !terminating)) continue;
      if (!Pump(fds[i].fd, streams[i], *writer)) {
        writer->Close(streams[i], NowUnixNanos());
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_streams;
      }
    }
  }
  for (int i = 0; i < 2; ++i) {
    if (fds[i].fd >= 0) writer->Close(streams[i], NowUnixNanos());
  }
  return 0;
}
