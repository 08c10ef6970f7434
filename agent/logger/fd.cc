#include "agent/logger/fd.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace fsb::logger {

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

EventFd::EventFd() : fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!fd_.valid()) error_ = errno;
}

void EventFd::Notify() {
  if (!ok()) return;
  const uint64_t one = 1;
  // Only fails when the counter would overflow, which leaves it readable anyway.
  (void)!write(fd_.get(), &one, sizeof(one));
}

bool EventFd::Notified() const {
  if (!ok()) return false;
  pollfd p{fd_.get(), POLLIN, 0};
  return poll(&p, 1, 0) == 1;
}

void EventFd::Consume() {
  if (!ok()) return;
  uint64_t count = 0;
  (void)!read(fd_.get(), &count, sizeof(count));
}

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace fsb::logger
