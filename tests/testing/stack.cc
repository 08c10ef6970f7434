#include "tests/testing/stack.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/base/const_init.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"

extern char** environ;

namespace fsb::testing {
namespace {

std::vector<char*> Argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const std::string& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();  // catches what the read throws (libstdc++ throws on a read error)
  return ss.str();
}

std::string SourcePath(const std::string& relative) {
  return absl::StrCat(FSB_SOURCE_DIR, "/", relative);
}

std::string MissingPrerequisite() {
  if (geteuid() != 0) return "needs root (containerd and runc)";
  for (const char* bin : {"/usr/bin/containerd", "/usr/sbin/runc", "/usr/bin/ctr"}) {
    if (access(bin, X_OK) != 0) return absl::StrCat("needs ", bin, " (scripts/install-deps.sh)");
  }
  return "";
}

namespace {

// Whether a loopback TCP socket can bind `port` now.
bool Bindable(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// The lowest port of the kernel's ephemeral range (what connect() and bind(0) use).
int EphemeralLow() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768;
  range >> low;
  return low;
}

}  // namespace

int FreePort() {
  // Chosen below the ephemeral range, so no outgoing connection takes it before the
  // daemon it is for binds it, and never the same port twice in one process (the kernel
  // may hand out one port to two bind(0) calls in a row).
  static absl::Mutex mu(absl::kConstInit);
  static auto* given = new absl::flat_hash_set<int>();
  static std::mt19937 random(std::random_device{}());
  const int high = std::min(EphemeralLow(), 65536);
  const int low = std::max(1024, high - 20000);
  absl::MutexLock lock(&mu);
  for (int attempt = 0; attempt < 1000 && high - low > 100; ++attempt) {
    const int port = std::uniform_int_distribution<int>(low, high - 1)(random);
    if (given->contains(port) || !Bindable(port)) continue;
    given->insert(port);
    return port;
  }
  return -1;
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& argv, const std::string& log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  std::vector<char*> args = Argv(argv);
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("spawn ", argv[0], ": ", strerror(rc)));
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid));
}

ChildProcess::~ChildProcess() { Stop(); }

void ChildProcess::Stop() { Signal(SIGTERM, absl::Seconds(10)); }

void ChildProcess::Kill() { Signal(SIGKILL, absl::ZeroDuration()); }

void ChildProcess::Signal(int signal, absl::Duration wait) {
  if (pid_ <= 0) return;
  kill(pid_, signal);
  int status = 0;
  bool exited = WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, wait);
  if (!exited) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
}

int RunCommand(const std::vector<std::string>& argv, std::string* out, std::string* err) {
  char out_path[] = "/tmp/fsb-cmd-out-XXXXXX";
  char err_path[] = "/tmp/fsb-cmd-err-XXXXXX";
  int out_fd = mkstemp(out_path);
  int err_fd = mkstemp(err_path);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  std::vector<char*> args = Argv(argv);
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_fd);
  close(err_fd);
  int code = 127;
  if (rc == 0) {
    int status = 0;
    waitpid(pid, &status, 0);
    code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  if (out != nullptr) *out += ReadFile(out_path);
  if (err != nullptr) *err += ReadFile(err_path);
  unlink(out_path);
  unlink(err_path);
  return code;
}

absl::StatusOr<std::unique_ptr<PrivateContainerd>> PrivateContainerd::Start() {
  // Short path: containerd's sockets must fit in sun_path.
  char tmpl[] = "/tmp/fsb-it-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  auto ctrd = std::unique_ptr<PrivateContainerd>(new PrivateContainerd(tmpl));
  std::string out, err;
  if (RunCommand({SourcePath("scripts/containerd.sh"), "start", ctrd->dir_}, &out, &err) != 0) {
    return absl::InternalError(absl::StrCat("scripts/containerd.sh start failed: ", out, err));
  }
  if (absl::Status s = ctrd->ImportTestImage("fsb"); !s.ok()) return s;
  return ctrd;
}

absl::Status PrivateContainerd::KillDaemon() const {
  std::string out;
  if (RunCommand({SourcePath("scripts/containerd.sh"), "kill", dir_}, &out, &out) != 0) {
    return absl::InternalError(absl::StrCat("scripts/containerd.sh kill failed: ", out));
  }
  return absl::OkStatus();
}

absl::Status PrivateContainerd::StartDaemon() const {
  std::string out;
  if (RunCommand({SourcePath("scripts/containerd.sh"), "start", dir_}, &out, &out) != 0) {
    return absl::InternalError(absl::StrCat("scripts/containerd.sh start failed: ", out));
  }
  return absl::OkStatus();
}

absl::Status PrivateContainerd::ImportTestImage(const std::string& ns) const {
  std::string out, err;
  if (RunCommand({SourcePath("scripts/build-test-image.sh"), "--address", socket(), "--namespace",
                  ns, "--name", kTestImage},
                 &out, &err) != 0) {
    return absl::InternalError(absl::StrCat("scripts/build-test-image.sh failed: ", out, err));
  }
  return absl::OkStatus();
}

PrivateContainerd::~PrivateContainerd() {
  RunCommand({SourcePath("scripts/containerd.sh"), "stop", dir_});
  // FSB_KEEP_TEST_DIRS=1 keeps the folder (daemon logs, stores) to debug a failure.
  if (const char* keep = std::getenv("FSB_KEEP_TEST_DIRS"); keep != nullptr && *keep == '1') {
    LOG(INFO) << "kept " << dir_;
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace fsb::testing
