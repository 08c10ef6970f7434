#ifndef FSB_AGENT_LOGGER_FD_H_
#define FSB_AGENT_LOGGER_FD_H_

#include <cstddef>
#include <utility>

namespace fsb::logger {

// Owns a file descriptor and closes it on destruction. -1 means "none". Movable, not
// copyable. Not thread-safe.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Closes the owned descriptor (if any) and takes `fd`.
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// An eventfd that wakes threads blocked in poll(2) on fd(): Notify() makes it readable
// until Consume() reads the count back. Used as a one-shot latch (never consumed: stop,
// cancel, exit) or as a doorbell (consumed by the one thread that waits on it).
// Notify() and Notified() are thread-safe and async-signal-safe; Consume() belongs to
// the waiting thread.
//
// Creation fails when the process or the system has no descriptor left (EMFILE, ENFILE)
// or the kernel no memory: then ok() is false, error() is eventfd(2)'s errno, fd() is -1
// (which poll(2) ignores: it never wakes anyone), Notify() and Consume() do nothing and
// Notified() is false. Whoever creates one checks ok() before relying on it.
class EventFd {
 public:
  EventFd();
  EventFd(const EventFd&) = delete;
  EventFd& operator=(const EventFd&) = delete;

  bool ok() const { return fd_.valid(); }
  // The errno of the failed creation; 0 when ok().
  int error() const { return error_; }
  int fd() const { return fd_.get(); }
  void Notify();
  // Whether Notify() was called since the last Consume(); never blocks.
  bool Notified() const;
  void Consume();

 private:
  UniqueFd fd_;
  int error_ = 0;
};

// Writes all of `size` bytes at `data` to `fd`, retrying short writes and EINTR.
// Returns false with errno set on failure.
bool WriteAll(int fd, const char* data, size_t size);

}  // namespace fsb::logger

#endif  // FSB_AGENT_LOGGER_FD_H_
