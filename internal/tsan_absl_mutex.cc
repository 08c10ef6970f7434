// Linked into every program of a ThreadSanitizer tree (FSB_SANITIZE=thread) only.
// internal/tsan_absl_mutex_test.cc checks it.
//
// Debian's Abseil is not built with ThreadSanitizer, so its absl::Mutex, on which all of
// fsb's locking rests, is invisible to it: every access guarded by one would be reported
// as a race. This file interposes the out-of-line absl::Mutex and absl::CondVar members
// (the program's definition takes precedence over the shared library's, for calls from
// libabsl itself too): each one tells ThreadSanitizer what it does with the lock through
// the public __tsan_mutex_* annotations and calls the library's own function, found with
// dlsym(RTLD_NEXT). A wait (Await, CondVar::Wait, the ...When calls) counts as an unlock
// before it blocks and a lock once it returns holding the mutex again; the conditions
// they pass the library are wrapped so that each evaluation is ordered like a critical
// section of that mutex (internal/tsan_absl_condition.h). absl::Notification
// sets its flag in the library: Notify releases on the flag's address, which the inline
// (instrumented) HasBeenNotified and the waits acquire.
//
// Thread-safety: the lookups are function-local statics (initialised once, thread-safe).

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "internal/tsan_absl_condition.h"

namespace {

// absl's mangled names carry its inline namespace, which Debian sets
// (ABSL_OPTION_INLINE_NAMESPACE_NAME): "_ZN[K]4absl" + <len><namespace> + rest, with K for
// a const member function.
std::string Mangled(const char* rest, bool const_member) {
#define FSB_STRINGIFY_INNER(x) #x
#define FSB_STRINGIFY(x) FSB_STRINGIFY_INNER(x)
  const std::string ns = FSB_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME);
#undef FSB_STRINGIFY
#undef FSB_STRINGIFY_INNER
  return std::string(const_member ? "_ZNK4absl" : "_ZN4absl") + std::to_string(ns.size()) + ns +
         rest;
}

template <typename Fn>
Fn Real(const char* rest, bool const_member = false) {
  const std::string name = Mangled(rest, const_member);
  void* fn = dlsym(RTLD_NEXT, name.c_str());
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan_absl_mutex: %s not found in the libraries\n", name.c_str());
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

constexpr unsigned kRead = __tsan_mutex_read_lock;

// The library's functions call each other through the interposed symbols too
// (CondVar::WaitWithTimeout calls WaitWithDeadline, a Notification locks its own mutex):
// only the outermost call annotates; the calls made inside it go straight to the library.
thread_local int t_depth = 0;

template <typename Call>
auto Inside(Call call) {
  ++t_depth;
  auto result = call();
  --t_depth;
  return result;
}

// A call that enters without `mu` and returns holding it (with `flags`).
template <typename Call>
auto Locking(absl::Mutex* mu, unsigned flags, Call call) {
  if (t_depth > 0) return call();
  __tsan_mutex_pre_lock(mu, flags);
  auto result = Inside(call);
  __tsan_mutex_post_lock(mu, flags, 0);
  return result;
}

// A try-lock: returns whether it holds `mu` now.
template <typename Call>
bool TryLocking(absl::Mutex* mu, unsigned flags, Call call) {
  if (t_depth > 0) return call();
  flags |= __tsan_mutex_try_lock;
  __tsan_mutex_pre_lock(mu, flags);
  const bool locked = Inside(call);
  __tsan_mutex_post_lock(mu, locked ? flags : flags | __tsan_mutex_try_lock_failed, 0);
  return locked;
}

template <typename Call>
void Unlocking(absl::Mutex* mu, unsigned flags, Call call) {
  if (t_depth > 0) {
    call();
    return;
  }
  __tsan_mutex_pre_unlock(mu, flags);
  Inside(call);
  __tsan_mutex_post_unlock(mu, flags);
}

// A call that enters holding `mu`, releases it while it blocks and returns holding it.
template <typename Call>
auto Waiting(absl::Mutex* mu, unsigned flags, Call call) {
  if (t_depth > 0) return call();
  __tsan_mutex_pre_unlock(mu, flags);
  __tsan_mutex_post_unlock(mu, flags);
  auto result = Inside(call);
  __tsan_mutex_pre_lock(mu, flags);
  __tsan_mutex_post_lock(mu, flags, 0);
  return result;
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

using Cond = const Condition&;

// A mutex's memory may hold another one later (a stack frame, a reused allocation). The
// destruction is ordered after the last unlock (as if the destroying thread locked it
// once more): a library that destroys a mutex once an atomic reference count, invisible
// here, says nobody uses it is then not reported; destroying one that a thread holds still
// is.
Mutex::~Mutex() {
  static auto real = Real<void (*)(Mutex*)>("5MutexD1Ev");
  if (t_depth == 0) {
    __tsan_acquire(this);
    __tsan_mutex_destroy(this, 0);
  }
  real(this);
}

void Mutex::Lock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex4LockEv");
  Locking(this, 0, [&] { return (real(this), 0); });
}

void Mutex::ReaderLock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex10ReaderLockEv");
  Locking(this, kRead, [&] { return (real(this), 0); });
}

void Mutex::Unlock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex6UnlockEv");
  Unlocking(this, 0, [&] { return (real(this), 0); });
}

void Mutex::ReaderUnlock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex12ReaderUnlockEv");
  Unlocking(this, kRead, [&] { return (real(this), 0); });
}

bool Mutex::TryLock() {
  static auto real = Real<bool (*)(Mutex*)>("5Mutex7TryLockEv");
  return TryLocking(this, 0, [&] { return real(this); });
}

bool Mutex::ReaderTryLock() {
  static auto real = Real<bool (*)(Mutex*)>("5Mutex13ReaderTryLockEv");
  return TryLocking(this, kRead, [&] { return real(this); });
}

void Mutex::LockWhen(Cond cond) {
  static auto real = Real<void (*)(Mutex*, Cond)>("5Mutex8LockWhenERKNS0_9ConditionE");
  Locking(this, 0, [&] { return (real(this, fsb::AnnotatedCondition(cond, this).get()), 0); });
}

void Mutex::ReaderLockWhen(Cond cond) {
  static auto real = Real<void (*)(Mutex*, Cond)>("5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  Locking(this, kRead, [&] { return (real(this, fsb::AnnotatedCondition(cond, this).get()), 0); });
}

// The ...WithTimeout/...WithDeadline forms return holding the mutex whatever they return.
bool Mutex::LockWhenWithTimeout(Cond cond, Duration timeout) {
  static auto real = Real<bool (*)(Mutex*, Cond, Duration)>(
      "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return Locking(this, 0,
                 [&] { return real(this, fsb::AnnotatedCondition(cond, this).get(), timeout); });
}

bool Mutex::LockWhenWithDeadline(Cond cond, Time deadline) {
  static auto real = Real<bool (*)(Mutex*, Cond, Time)>(
      "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return Locking(this, 0,
                 [&] { return real(this, fsb::AnnotatedCondition(cond, this).get(), deadline); });
}

bool Mutex::ReaderLockWhenWithTimeout(Cond cond, Duration timeout) {
  static auto real = Real<bool (*)(Mutex*, Cond, Duration)>(
      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return Locking(this, kRead,
                 [&] { return real(this, fsb::AnnotatedCondition(cond, this).get(), timeout); });
}

bool Mutex::ReaderLockWhenWithDeadline(Cond cond, Time deadline) {
  static auto real = Real<bool (*)(Mutex*, Cond, Time)>(
      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return Locking(this, kRead,
                 [&] { return real(this, fsb::AnnotatedCondition(cond, this).get(), deadline); });
}

void Mutex::Await(Cond cond) {
  static auto real = Real<void (*)(Mutex*, Cond)>("5Mutex5AwaitERKNS0_9ConditionE");
  Waiting(this, 0, [&] { return (real(this, fsb::AnnotatedCondition(cond, this).get()), 0); });
}

bool Mutex::AwaitWithTimeout(Cond cond, Duration timeout) {
  static auto real = Real<bool (*)(Mutex*, Cond, Duration)>(
      "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return Waiting(this, 0,
                 [&] { return real(this, fsb::AnnotatedCondition(cond, this).get(), timeout); });
}

bool Mutex::AwaitWithDeadline(Cond cond, Time deadline) {
  static auto real =
      Real<bool (*)(Mutex*, Cond, Time)>("5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return Waiting(this, 0,
                 [&] { return real(this, fsb::AnnotatedCondition(cond, this).get(), deadline); });
}

void CondVar::Wait(Mutex* mu) {
  static auto real = Real<void (*)(CondVar*, Mutex*)>("7CondVar4WaitEPNS0_5MutexE");
  Waiting(mu, 0, [&] { return (real(this, mu), 0); });
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static auto real = Real<bool (*)(CondVar*, Mutex*, Duration)>(
      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  return Waiting(mu, 0, [&] { return real(this, mu, timeout); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static auto real =
      Real<bool (*)(CondVar*, Mutex*, Time)>("7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  return Waiting(mu, 0, [&] { return real(this, mu, deadline); });
}

void Notification::Notify() {
  static auto real = Real<void (*)(Notification*)>("12Notification6NotifyEv");
  if (t_depth == 0) __tsan_release(&notified_yet_);
  Inside([&] { return (real(this), 0); });
}

void Notification::WaitForNotification() const {
  static auto real = Real<void (*)(const Notification*)>("12Notification19WaitForNotificationEv",
                                                         /*const_member=*/true);
  Inside([&] { return (real(this), 0); });
  if (t_depth == 0) __tsan_acquire(const_cast<std::atomic<bool>*>(&notified_yet_));
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  static auto real = Real<bool (*)(const Notification*, Duration)>(
      "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE", /*const_member=*/true);
  const bool notified = Inside([&] { return real(this, timeout); });
  if (notified && t_depth == 0) __tsan_acquire(const_cast<std::atomic<bool>*>(&notified_yet_));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  static auto real = Real<bool (*)(const Notification*, Time)>(
      "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE", /*const_member=*/true);
  const bool notified = Inside([&] { return real(this, deadline); });
  if (notified && t_depth == 0) __tsan_acquire(const_cast<std::atomic<bool>*>(&notified_yet_));
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl
