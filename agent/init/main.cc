// fsb-init: the first process of a prepared (warm) instance. It waits on a unix socket in
// its control folder for the agent's order (agent/init/protocol.h), then becomes the
// sandbox's process exactly as runc would have started it: hostname, working directory
// (created if missing), read-only root, rlimits, bounding set, groups, gid, uid,
// capabilities, no_new_privs, then execve. What it needed while waiting and the process
// must not have — CAP_SYS_ADMIN and the syscalls its seccomp profile allows only for it
// (hostname, unmounting its own mounts, the read-only remount; denied again by a filter
// of its own, agent/init/seccomp_filter.h), its bind mounts, the listening socket — is
// gone before execve.
//
// Usage: fsb-init [CONTROL_DIR]   (default /dev/.fsb-control; its own path is argv[0])
//
// It never writes to stdout or stderr (they are the sandbox's log) and allocates nothing:
// every buffer is static. Runs as PID 1 of the container with no children while waiting.
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "agent/init/protocol.h"
#include "agent/init/seccomp_filter.h"

namespace {

using fsb::init::FailureReason;
using fsb::init::OrderView;

char g_payload[fsb::init::kMaxPayload];
OrderView g_order;
char g_passwd[1 << 20];
char g_home[4096 + 8];
char g_path[4096 + 1];
char g_message[8192];
char g_reply[8192 + 64];

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool ReadAll(int fd, char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Appends `s` to g_message at `*len`, truncating at the buffer's end.
void Append(size_t* len, std::string_view s) {
  const size_t n = std::min(s.size(), sizeof(g_message) - 1 - *len);
  std::memcpy(g_message + *len, s.data(), n);
  *len += n;
  g_message[*len] = '\0';
}

// Reports the failure of `what` (with errno `err` when non-zero) and exits: the instance
// may be half-changed, so it is never reused.
[[noreturn]] void Fail(int conn, FailureReason reason, int err, std::string_view what,
                       std::string_view subject = {}) {
  size_t len = 0;
  Append(&len, what);
  if (!subject.empty()) {
    Append(&len, " \"");
    Append(&len, subject);
    Append(&len, "\"");
  }
  if (err != 0) {
    // strerrordesc_np never allocates (strerror may, for an unknown errno).
    const char* description = strerrordesc_np(err);
    Append(&len, ": ");
    Append(&len, description != nullptr ? description : "unknown error");
  }
  const size_t n =
      fsb::init::EncodeFailure(reason, err, {g_message, len}, g_reply, sizeof(g_reply));
  WriteAll(conn, g_reply, n);
  _exit(127);
}

// mkdir -p with mode 0755, as runc creates a missing working directory.
int MakeDirs(const char* path) {
  const size_t len = strlen(path);
  if (len >= sizeof(g_path)) return ENAMETOOLONG;
  std::memcpy(g_path, path, len + 1);
  for (size_t i = 1; i <= len; ++i) {
    if (g_path[i] != '/' && g_path[i] != '\0') continue;
    const char saved = g_path[i];
    g_path[i] = '\0';
    if (mkdir(g_path, 0755) != 0 && errno != EEXIST) return errno;
    g_path[i] = saved;
  }
  struct stat st;
  if (stat(path, &st) != 0) return errno;
  return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

// Remounts / read-only keeping its other flags, as runc does for a read-only rootfs.
int RemountRootReadOnly() {
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY;
  if (mount("", "/", "", flags, "") == 0) return 0;
  struct statvfs s;
  if (statvfs("/", &s) != 0) return errno;
  if (s.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (s.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (s.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (s.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (s.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (s.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return mount("", "/", "", flags, "") == 0 ? 0 : errno;
}

// The index in envp of "NAME=...", or -1.
int FindEnv(std::string_view name) {
  for (uint32_t i = 0; i < g_order.envc; ++i) {
    const std::string_view kv = g_order.envp[i];
    if (kv.size() > name.size() && kv.substr(0, name.size()) == name && kv[name.size()] == '=') {
      return static_cast<int>(i);
    }
  }
  return -1;
}

// Adds HOME when the env has none (or an empty one): the home directory of the uid in
// the image's /etc/passwd, else "/", as runc does.
void SetHome() {
  const int existing = FindEnv("HOME");
  if (existing >= 0 && g_order.envp[existing][5] != '\0') return;
  std::string_view home = "/";
  const int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
  size_t size = 0;
  if (fd >= 0) {
    ssize_t n;
    while (size < sizeof(g_passwd) &&
           (n = read(fd, g_passwd + size, sizeof(g_passwd) - size)) > 0) {
      size += static_cast<size_t>(n);
    }
    close(fd);
  }
  std::string_view text(g_passwd, size);
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    // name:password:uid:gid:gecos:home:shell
    std::string_view f[7];
    int fields = 0;
    while (fields < 7) {
      const size_t colon = line.find(':');
      f[fields++] = line.substr(0, colon);
      if (colon == std::string_view::npos) break;
      line = line.substr(colon + 1);
    }
    if (fields < 6 || f[2].empty()) continue;
    uint64_t uid = 0;
    bool numeric = true;
    for (char c : f[2]) {
      if (c < '0' || c > '9' || uid > 0xFFFFFFFFull) numeric = false;
      uid = uid * 10 + static_cast<uint64_t>(c - '0');
    }
    if (numeric && uid == g_order.uid) {
      home = f[5];
      break;
    }
  }
  const size_t n = std::min(home.size(), sizeof(g_home) - 6);
  std::memcpy(g_home, "HOME=", 5);
  std::memcpy(g_home + 5, home.data(), n);
  g_home[5 + n] = '\0';
  if (existing >= 0) {
    g_order.envp[existing] = g_home;
  } else {
    g_order.envp[g_order.envc++] = g_home;
    g_order.envp[g_order.envc] = nullptr;
  }
}

// 0 if `path` is a regular file with an execute bit (Go's exec.LookPath rule, which runc
// applies), else the errno runc would report.
int CheckExecutable(const char* path) {
  struct stat st;
  if (stat(path, &st) != 0) return errno;
  if (S_ISDIR(st.st_mode)) return EISDIR;
  return (st.st_mode & 0111) != 0 ? 0 : EACCES;
}

// Resolves argv[0] like runc: a name with a '/' as it is, else the first executable in the
// env's PATH (an empty entry is the working directory). Returns the path or nullptr with
// `*err` set.
const char* LookPath(int* err) {
  const char* name = g_order.argv[0];
  if (strchr(name, '/') != nullptr) {
    *err = CheckExecutable(name);
    return *err == 0 ? name : nullptr;
  }
  const int path_index = FindEnv("PATH");
  std::string_view dirs = path_index >= 0 ? std::string_view(g_order.envp[path_index] + 5) : "";
  *err = ENOENT;
  while (true) {
    const size_t colon = dirs.find(':');
    std::string_view dir = dirs.substr(0, colon);
    if (dir.empty()) dir = ".";
    const size_t name_len = strlen(name);
    if (dir.size() + 1 + name_len < sizeof(g_path)) {
      std::memcpy(g_path, dir.data(), dir.size());
      g_path[dir.size()] = '/';
      std::memcpy(g_path + dir.size() + 1, name, name_len + 1);
      if (CheckExecutable(g_path) == 0) {
        *err = 0;
        return g_path;
      }
    }
    if (colon == std::string_view::npos) return nullptr;
    dirs = dirs.substr(colon + 1);
  }
}

int LastCapability() {
  const int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  char buf[16] = {};
  if (fd >= 0) {
    (void)!read(fd, buf, sizeof(buf) - 1);
    close(fd);
  }
  const int last = atoi(buf);
  return last > 0 && last < 64 ? last : CAP_LAST_CAP;
}

int SetCapabilities(const fsb::init::Capabilities& caps) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  for (int i = 0; i < 2; ++i) {
    data[i].effective = static_cast<uint32_t>(caps.effective >> (32 * i));
    data[i].permitted = static_cast<uint32_t>(caps.permitted >> (32 * i));
    data[i].inheritable = static_cast<uint32_t>(caps.inheritable >> (32 * i));
  }
  if (syscall(SYS_capset, &header, data) != 0) return errno;
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) return errno;
  for (int cap = 0; cap < 64; ++cap) {
    if ((caps.ambient >> cap & 1) == 0) continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) return errno;
  }
  return 0;
}

// Applies the order and execs; returns only through Fail().
[[noreturn]] void Become(int conn, int listener, const char* self, const char* control_dir) {
  const OrderView& o = g_order;
  close(listener);
  if (sethostname(o.hostname, o.hostname_len) != 0) {
    Fail(conn, FailureReason::kSetup, errno, "sethostname");
  }
  if (const int err = MakeDirs(o.cwd); err != 0) {
    Fail(conn, FailureReason::kCwd, err, "working directory", o.cwd);
  }
  // Nothing of fsb-init stays visible: its socket folder and binary are unmounted and
  // their mount points (on the container's /dev tmpfs) removed.
  if (umount2(control_dir, MNT_DETACH) != 0 || umount2(self, MNT_DETACH) != 0) {
    Fail(conn, FailureReason::kSetup, errno, "unmounting fsb-init's mounts");
  }
  if (rmdir(control_dir) != 0 || unlink(self) != 0) {
    Fail(conn, FailureReason::kSetup, errno, "removing fsb-init's mount points");
  }
  if (o.readonly_rootfs) {
    if (const int err = RemountRootReadOnly(); err != 0) {
      Fail(conn, FailureReason::kSetup, err, "read-only root filesystem");
    }
  }
  for (uint32_t i = 0; i < o.rlimit_count; ++i) {
    const rlimit limit{o.rlimits[i].soft, o.rlimits[i].hard};
    if (setrlimit(static_cast<__rlimit_resource>(o.rlimits[i].resource), &limit) != 0) {
      Fail(conn, FailureReason::kSetup, errno, "setrlimit");
    }
  }
  SetHome();
  const int last_cap = LastCapability();
  for (int cap = 0; cap <= last_cap; ++cap) {
    if ((o.capabilities.bounding >> cap & 1) != 0) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
      Fail(conn, FailureReason::kSetup, errno, "dropping a capability from the bounding set");
    }
  }
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) Fail(conn, FailureReason::kSetup, errno, "keepcaps");
  if (setgroups(o.group_count, o.groups) != 0) {
    Fail(conn, FailureReason::kUser, errno, "setgroups");
  }
  if (setresgid(o.gid, o.gid, o.gid) != 0) Fail(conn, FailureReason::kUser, errno, "setgid");
  if (setresuid(o.uid, o.uid, o.uid) != 0) Fail(conn, FailureReason::kUser, errno, "setuid");
  if (chdir(o.cwd) != 0) Fail(conn, FailureReason::kCwd, errno, "working directory", o.cwd);
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) Fail(conn, FailureReason::kSetup, errno, "keepcaps");
  if (const int err = SetCapabilities(o.capabilities); err != 0) {
    Fail(conn, FailureReason::kSetup, err, "capabilities");
  }
  if (o.no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    Fail(conn, FailureReason::kSetup, errno, "no_new_privs");
  }
  // The instance's seccomp profile let init mount, unmount and set the hostname; the
  // sandbox's process may not, as in a cold sandbox. (Installing needs no_new_privs.)
  if (const int err = fsb::init::DenyInitOnlySyscalls(); err != 0) {
    Fail(conn, FailureReason::kSetup, err, "seccomp filter");
  }
  int err = 0;
  const char* path = LookPath(&err);
  if (path == nullptr) {
    Fail(conn, FailureReason::kExecutable, err,
         strchr(o.argv[0], '/') != nullptr ? "executable" : "executable not found in $PATH:",
         o.argv[0]);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  const size_t n = fsb::init::EncodeExecuting(g_reply, sizeof(g_reply));
  WriteAll(conn, g_reply, n);
  execve(path, o.argv, o.envp);
  Fail(conn, FailureReason::kExecutable, errno, "exec", path);
}

}  // namespace

int main(int argc, char** argv) {
  const char* self = argv[0];
  const char* control_dir = argc > 1 ? argv[1] : fsb::init::kControlDir;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const size_t dir_len = strlen(control_dir);
  const size_t name_len = sizeof(fsb::init::kSocketName) - 1;
  if (dir_len + 1 + name_len >= sizeof(addr.sun_path)) return 2;
  std::memcpy(addr.sun_path, control_dir, dir_len);
  addr.sun_path[dir_len] = '/';
  std::memcpy(addr.sun_path + dir_len + 1, fsb::init::kSocketName, name_len + 1);
  unlink(addr.sun_path);
  const int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listener, 4) != 0) {
    return 3;
  }
  const std::string hello = fsb::init::EncodeHello();
  while (true) {
    const int conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return 4;
    }
    uint32_t size = 0;
    char header[4];
    if (!WriteAll(conn, hello.data(), hello.size()) || !ReadAll(conn, header, sizeof(header))) {
      close(conn);  // the agent went away before ordering: wait for the next one
      continue;
    }
    for (int i = 0; i < 4; ++i)
      size |= static_cast<uint32_t>(static_cast<unsigned char>(header[i])) << (8 * i);
    if (size > sizeof(g_payload)) {
      const size_t n = fsb::init::EncodeFailure(FailureReason::kBadOrder, 0, "order too large",
                                                g_reply, sizeof(g_reply));
      WriteAll(conn, g_reply, n);
      close(conn);
      continue;
    }
    if (!ReadAll(conn, g_payload, size)) {
      close(conn);
      continue;
    }
    if (const char* error = fsb::init::DecodeOrder(g_payload, size, &g_order); error != nullptr) {
      const size_t n =
          fsb::init::EncodeFailure(FailureReason::kBadOrder, 0, error, g_reply, sizeof(g_reply));
      WriteAll(conn, g_reply, n);
      close(conn);
      continue;
    }
    Become(conn, listener, self, control_dir);
  }
}
