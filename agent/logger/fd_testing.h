#ifndef FSB_AGENT_LOGGER_FD_TESTING_H_
#define FSB_AGENT_LOGGER_FD_TESTING_H_

// A test helper for code that must survive running out of file descriptors. For tests
// only.

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace fsb::logger {

// While it lives, the process can open only `spare` more file descriptors: the soft
// RLIMIT_NOFILE is lowered to the (spare+1)-th lowest free descriptor number (the kernel
// hands out the lowest free one, and every number at or above the limit is refused), so
// further open(2), eventfd(2), pipe(2)... fail with EMFILE. The limit is restored on
// destruction. It binds every thread of the process: keep its scope to the calls under
// test.
class DescriptorLimit {
 public:
  explicit DescriptorLimit(int spare = 0) {
    if (getrlimit(RLIMIT_NOFILE, &saved_) != 0) {
      ADD_FAILURE() << "getrlimit: " << std::strerror(errno);
      return;
    }
    // The lowest spare+1 free numbers, taken in increasing order, then freed again.
    std::vector<int> free_fds;
    for (int i = 0; i <= spare; ++i) {
      const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        ADD_FAILURE() << "open /dev/null: " << std::strerror(errno);
        break;
      }
      free_fds.push_back(fd);
    }
    for (int fd : free_fds) close(fd);
    if (static_cast<int>(free_fds.size()) != spare + 1) return;
    rlimit lowered = saved_;
    lowered.rlim_cur = static_cast<rlim_t>(free_fds.back());
    if (setrlimit(RLIMIT_NOFILE, &lowered) != 0) {
      ADD_FAILURE() << "setrlimit: " << std::strerror(errno);
      return;
    }
    lowered_ = true;
  }
  ~DescriptorLimit() {
    if (lowered_ && setrlimit(RLIMIT_NOFILE, &saved_) != 0) {
      ADD_FAILURE() << "setrlimit (restoring): " << std::strerror(errno);
    }
  }
  DescriptorLimit(const DescriptorLimit&) = delete;
  DescriptorLimit& operator=(const DescriptorLimit&) = delete;

 private:
  rlimit saved_{};
  bool lowered_ = false;
};

}  // namespace fsb::logger

#endif  // FSB_AGENT_LOGGER_FD_TESTING_H_
