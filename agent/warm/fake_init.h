#ifndef FSB_AGENT_WARM_FAKE_INIT_H_
#define FSB_AGENT_WARM_FAKE_INIT_H_

// Test-only: stand-ins for fsb-init on the other end of a socketpair, speaking
// agent/init/protocol.h, so the warm pool and the manager can be tested without
// containers.
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/init/protocol.h"
#include "agent/warm/init_connection.h"

namespace fsb::agent {

// How a fake init answers an order.
enum class FakeInitBehavior {
  kExec,           // executing, then close (execve succeeded)
  kBadExecutable,  // a kExecutable failure
  kBadUser,        // a kUser failure
  kDie,            // close without a word (init crashed)
  kRefuse,         // nobody listens: Connect fails UNAVAILABLE
};

// Every fake init a test made, with the orders they received. Thread-safe.
class FakeInits {
 public:
  ~FakeInits() {
    std::vector<std::thread> threads;
    {
      absl::MutexLock lock(&mu_);
      threads.swap(threads_);
    }
    for (std::thread& t : threads) t.join();
  }

  // A WarmPool::Options::connect that serves each connection with a fake init.
  auto Connector() {
    return
        [this](const std::string& path, absl::Duration timeout) { return Connect(path, timeout); };
  }

  absl::StatusOr<InitConnection> Connect(const std::string& path, absl::Duration timeout) {
    FakeInitBehavior behavior;
    {
      absl::MutexLock lock(&mu_);
      behavior = behavior_;
      connects_.push_back(path);
    }
    if (behavior == FakeInitBehavior::kRefuse) return absl::UnavailableError("connection refused");
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      return absl::InternalError("socketpair");
    }
    {
      absl::MutexLock lock(&mu_);
      threads_.emplace_back([this, fd = fds[1], behavior] { Serve(fd, behavior); });
    }
    return InitConnection::FromFd(fds[0], timeout);
  }

  void set_behavior(FakeInitBehavior b) {
    absl::MutexLock lock(&mu_);
    behavior_ = b;
  }
  // Orders received, decoded back into init::Order's fields that tests look at.
  struct Received {
    std::vector<std::string> argv, env;
    std::string hostname, cwd;
    uint32_t uid = 0, gid = 0;
    std::vector<uint32_t> groups;
    uint64_t bounding = 0;
    std::vector<init::Rlimit> rlimits;
    bool readonly = false;
  };
  std::vector<Received> orders() {
    absl::MutexLock lock(&mu_);
    return orders_;
  }
  int connects() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(connects_.size());
  }

 private:
  static bool ReadAll(int fd, char* p, size_t n) {
    while (n > 0) {
      ssize_t r = read(fd, p, n);
      if (r <= 0) return false;
      p += r;
      n -= static_cast<size_t>(r);
    }
    return true;
  }

  void Serve(int fd, FakeInitBehavior behavior) {
    const std::string hello = init::EncodeHello();
    (void)!write(fd, hello.data(), hello.size());
    char header[4];
    if (ReadAll(fd, header, 4)) {
      uint32_t size = 0;
      for (int i = 0; i < 4; ++i)
        size |= static_cast<uint32_t>(static_cast<unsigned char>(header[i])) << (8 * i);
      std::string payload(size, '\0');
      auto view = std::make_unique<init::OrderView>();
      if (ReadAll(fd, payload.data(), size) &&
          init::DecodeOrder(payload.data(), size, view.get()) == nullptr) {
        Received r;
        for (uint32_t i = 0; i < view->argc; ++i) r.argv.emplace_back(view->argv[i]);
        for (uint32_t i = 0; i < view->envc; ++i) r.env.emplace_back(view->envp[i]);
        r.hostname.assign(view->hostname, view->hostname_len);
        r.cwd = view->cwd;
        r.uid = view->uid;
        r.gid = view->gid;
        r.groups.assign(view->groups, view->groups + view->group_count);
        r.bounding = view->capabilities.bounding;
        r.rlimits.assign(view->rlimits, view->rlimits + view->rlimit_count);
        r.readonly = view->readonly_rootfs;
        {
          absl::MutexLock lock(&mu_);
          orders_.push_back(std::move(r));
        }
        char reply[256];
        size_t n = 0;
        if (behavior == FakeInitBehavior::kExec) {
          n = init::EncodeExecuting(reply, sizeof(reply));
        } else if (behavior == FakeInitBehavior::kBadExecutable) {
          n = init::EncodeFailure(init::FailureReason::kExecutable, 2,
                                  "executable \"nope\": No such file or directory", reply,
                                  sizeof(reply));
        } else if (behavior == FakeInitBehavior::kBadUser) {
          n = init::EncodeFailure(init::FailureReason::kUser, 1, "setuid: not permitted", reply,
                                  sizeof(reply));
        }
        if (n > 0) (void)!write(fd, reply, n);
      }
    }
    close(fd);
  }

  absl::Mutex mu_;
  FakeInitBehavior behavior_ ABSL_GUARDED_BY(mu_) = FakeInitBehavior::kExec;
  std::vector<std::string> connects_ ABSL_GUARDED_BY(mu_);
  std::vector<Received> orders_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_WARM_FAKE_INIT_H_
