#include "agent/network/netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "internal/strings.h"

namespace fsb::agent {
namespace {

absl::Status Errno(std::string_view what, const std::string& path, int err) {
  return absl::InternalError(absl::StrCat(Sv(what), " ", path, ": ", strerror(err)));
}

// Runs `body` on a new thread and returns its result: the thread may change its own
// network namespace, and ends with it.
absl::Status OnOwnThread(const std::function<absl::Status()>& body) {
  absl::Status result;
  std::thread t([&] { result = body(); });
  t.join();
  return result;
}

}  // namespace

absl::Status CreateNetns(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) return Errno("cannot create", path, errno);
  close(fd);
  absl::Status made = OnOwnThread([&]() -> absl::Status {
    if (unshare(CLONE_NEWNET) != 0) return Errno("unshare(CLONE_NEWNET) for", path, errno);
    if (mount("/proc/thread-self/ns/net", path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      return Errno("cannot bind-mount the network namespace onto", path, errno);
    }
    return absl::OkStatus();
  });
  if (!made.ok()) unlink(path.c_str());
  return made;
}

absl::Status RemoveNetns(const std::string& path) {
  if (umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    return Errno("cannot unmount", path, errno);
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("cannot remove", path, errno);
  return absl::OkStatus();
}

bool IsNetns(const std::string& path) {
  struct statfs fs;
  return statfs(path.c_str(), &fs) == 0 && fs.f_type == NSFS_MAGIC;
}

absl::Status RemoveDefaultRoute(const std::string& path) {
  const int ns = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns < 0) return Errno("cannot open", path, errno);
  absl::Status removed = OnOwnThread([&]() -> absl::Status {
    if (setns(ns, CLONE_NEWNET) != 0) return Errno("cannot enter", path, errno);
    const int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (sock < 0) return Errno("netlink socket in", path, errno);
    struct {
      nlmsghdr header;
      rtmsg route;
    } request{};
    request.header.nlmsg_len = sizeof(request);
    request.header.nlmsg_type = RTM_DELROUTE;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    request.header.nlmsg_seq = 1;
    request.route.rtm_family = AF_INET;
    request.route.rtm_dst_len = 0;  // 0.0.0.0/0
    request.route.rtm_table = RT_TABLE_MAIN;
    request.route.rtm_scope = RT_SCOPE_NOWHERE;  // any scope matches
    absl::Status s;
    if (send(sock, &request, sizeof(request), 0) < 0) {
      s = Errno("netlink send in", path, errno);
    } else {
      char reply[4096];
      const ssize_t n = recv(sock, reply, sizeof(reply), 0);
      const auto* h = reinterpret_cast<const nlmsghdr*>(reply);
      if (n < 0) {
        s = Errno("netlink receive in", path, errno);
      } else if (n >= static_cast<ssize_t>(sizeof(nlmsghdr) + sizeof(nlmsgerr)) &&
                 h->nlmsg_type == NLMSG_ERROR) {
        const int err = -reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
        if (err != 0 && err != ESRCH) s = Errno("cannot delete the default route in", path, err);
      }
    }
    close(sock);
    return s;
  });
  close(ns);
  return removed;
}

}  // namespace fsb::agent
