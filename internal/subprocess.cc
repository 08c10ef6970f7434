#include "internal/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "internal/deadline.h"

namespace fsb {
namespace {

constexpr size_t kMaxOutput = 4 << 20;

// Closes the descriptors it holds on destruction.
struct Pipes {
  int fd[6] = {-1, -1, -1, -1, -1, -1};  // stdin child/ours, stdout r/w, stderr r/w
  ~Pipes() {
    for (int f : fd) {
      if (f >= 0) close(f);
    }
  }
  void Close(int i) {
    if (fd[i] >= 0) close(fd[i]);
    fd[i] = -1;
  }
};

std::vector<char*> CStrings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const std::string& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

absl::StatusOr<SubprocessResult> RunSubprocess(const SubprocessCall& call) {
  if (call.argv.empty()) return absl::InvalidArgumentError("no program to run");
  Pipes p;
  // stdin is a socket pair so that writing to a child that closed it is EPIPE, never
  // SIGPIPE (send with MSG_NOSIGNAL).
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, &p.fd[0]) != 0) {
    return absl::InternalError(absl::StrCat("socketpair: ", strerror(errno)));
  }
  for (int i = 1; i < 3; ++i) {
    if (pipe2(&p.fd[2 * i], O_CLOEXEC) != 0) {
      return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
    }
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, p.fd[0], 0);
  posix_spawn_file_actions_adddup2(&actions, p.fd[3], 1);
  posix_spawn_file_actions_adddup2(&actions, p.fd[5], 2);
  // The child starts with default signal dispositions and an empty mask whatever the
  // calling thread has blocked.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv = CStrings(call.argv);
  std::vector<char*> env = CStrings(call.env);
  pid_t pid = -1;
  const int err = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) {
    return absl::InternalError(absl::StrCat("cannot run ", call.argv[0], ": ", strerror(err)));
  }
  p.Close(0);
  p.Close(3);
  p.Close(5);

  SubprocessResult result;
  size_t written = 0;
  if (call.stdin_data.empty()) p.Close(1);
  const Deadline deadline = Deadline::In(call.timeout);
  bool timed_out = false;
  char buf[16384];
  while (p.fd[1] >= 0 || p.fd[2] >= 0 || p.fd[4] >= 0) {
    pollfd fds[3];
    int n = 0;
    if (p.fd[1] >= 0) fds[n++] = {p.fd[1], POLLOUT, 0};
    if (p.fd[2] >= 0) fds[n++] = {p.fd[2], POLLIN, 0};
    if (p.fd[4] >= 0) fds[n++] = {p.fd[4], POLLIN, 0};
    const absl::Duration left = deadline.Left();
    if (left <= absl::ZeroDuration()) {
      timed_out = true;
      break;
    }
    const int ready = poll(fds, n, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < n && ready > 0; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == p.fd[1]) {
        const ssize_t w = send(p.fd[1], call.stdin_data.data() + written,
                               call.stdin_data.size() - written, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) written = call.stdin_data.size();
        if (written == call.stdin_data.size()) p.Close(1);
        continue;
      }
      const bool is_out = fds[i].fd == p.fd[2];
      std::string& sink = is_out ? result.stdout_data : result.stderr_data;
      const ssize_t r = read(fds[i].fd, buf, sizeof(buf));
      if (r > 0) {
        const size_t room = kMaxOutput - std::min(kMaxOutput, sink.size());
        sink.append(buf, std::min(static_cast<size_t>(r), room));
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        p.Close(is_out ? 2 : 4);
      }
    }
  }
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat(call.argv[0], " did not finish within ", absl::FormatDuration(call.timeout)));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace fsb
