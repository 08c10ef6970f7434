#include "agent/init/seccomp_filter.h"

#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::init {

#if defined(__x86_64__)
extern const uint32_t kI386MountUmount2Sethostname[3];
#endif

namespace {

// Whether this test can enter the kernel through ABI `abi` (an index into kSeccompAbis):
// the native one, and on x86-64 also i386 (int 0x80) and x32 (the number carries
// __X32_SYSCALL_BIT); a 64-bit ARM process has no way into the 32-bit ABI.
bool Callable(size_t abi) { return kSeccompAbis[abi].profile_name != "SCMP_ARCH_ARM"; }

// The syscall `nr` of ABI `abi` with arguments (0, 1, 0, 0, 0): its result, or -errno.
long Call(size_t abi, uint32_t nr) {
#if defined(__x86_64__)
  if (kSeccompAbis[abi].profile_name == "SCMP_ARCH_X86") {
    // The i386 entry point works from 64-bit code too; its registers are 32-bit.
    long result;
    asm volatile("int $0x80"
                 : "=a"(result)
                 : "a"(static_cast<long>(nr)), "b"(0L), "c"(1L), "d"(0L), "S"(0L), "D"(0L)
                 : "r8", "r9", "r10", "r11", "memory", "cc");
    return result;
  }
#endif
  const long result = syscall(nr, 0L, 1L, 0L, 0L, 0L, 0L);
  return result == -1 ? -errno : result;
}

// What the init-only syscalls and getpid return through one ABI before and after the
// filter, in a child process with private mount and UTS namespaces.
struct Results {
  long before[std::size(kInitOnlySyscalls)];
  long after[std::size(kInitOnlySyscalls)];
  long getpid_after;
  int install_error;
};

uint32_t GetpidNumber(size_t abi) {
  const std::string_view name = kSeccompAbis[abi].profile_name;
  if (name == "SCMP_ARCH_X86" || name == "SCMP_ARCH_ARM") return 20;
  if (name == "SCMP_ARCH_X32") return __X32_SYSCALL_BIT | SYS_getpid;
  return SYS_getpid;
}

// Runs the calls in a child; false (with the signal that killed it, if one did) if the
// child could not report.
bool RunInChild(size_t abi, Results* out, int* signal) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Results r{};
    // Whatever the calls might do stays in the child's own namespaces.
    if (unshare(CLONE_NEWNS | CLONE_NEWUTS) != 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      _exit(3);
    }
    for (size_t i = 0; i < std::size(kInitOnlySyscalls); ++i) {
      r.before[i] = Call(abi, kInitOnlySyscalls[i].numbers[abi]);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(4);
    r.install_error = DenyInitOnlySyscalls();
    for (size_t i = 0; i < std::size(kInitOnlySyscalls); ++i) {
      r.after[i] = Call(abi, kInitOnlySyscalls[i].numbers[abi]);
    }
    r.getpid_after = Call(abi, GetpidNumber(abi));
    _exit(write(fds[1], &r, sizeof(r)) == sizeof(r) ? 0 : 5);
  }
  close(fds[1]);
  const bool got = pid > 0 && read(fds[0], out, sizeof(*out)) == sizeof(*out);
  close(fds[0]);
  int status = 0;
  if (pid > 0) waitpid(pid, &status, 0);
  *signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return got;
}

TEST(SeccompFilterTest, TheProgramChecksEachAbiAndEndsInAllow) {
  constexpr InitOnlyFilter f = MakeInitOnlyFilter();
  const sock_filter& last = f.program[kInitOnlyFilterLength - 1];
  EXPECT_EQ(last.code, BPF_RET | BPF_K);
  EXPECT_EQ(last.k, static_cast<uint32_t>(SECCOMP_RET_ALLOW));
  size_t denies = 0;
  std::vector<uint32_t> arches;
  for (const sock_filter& insn : f.program) {
    if (insn.code == (BPF_RET | BPF_K) && insn.k == (SECCOMP_RET_ERRNO | EPERM)) ++denies;
    if (insn.code == (BPF_JMP | BPF_JEQ | BPF_K) && insn.jf > 1) arches.push_back(insn.k);
  }
  EXPECT_EQ(denies, std::size(kSeccompAbis) * std::size(kInitOnlySyscalls));
  ASSERT_EQ(arches.size(), std::size(kSeccompAbis));
  for (size_t abi = 0; abi < std::size(kSeccompAbis); ++abi) {
    EXPECT_EQ(arches[abi], kSeccompAbis[abi].audit_arch);
  }
}

TEST(SeccompFilterTest, NumbersAreTheKernelHeaders) {
  ASSERT_EQ(std::size(kInitOnlySyscalls), 3u);
  const long native[] = {SYS_mount, SYS_umount2, SYS_sethostname};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(kInitOnlySyscalls[i].numbers[0], native[i]) << kInitOnlySyscalls[i].name;
#if defined(__x86_64__)
    EXPECT_EQ(kInitOnlySyscalls[i].numbers[1], kI386MountUmount2Sethostname[i]);
    // mount, umount2 and sethostname are "common" in the x86-64 table: x32 shares them.
    EXPECT_EQ(kInitOnlySyscalls[i].numbers[2], __X32_SYSCALL_BIT | native[i]);
#endif
  }
}

// On the running kernel: each init-only syscall, through every ABI this machine can enter
// the kernel with, fails as the kernel makes it fail (bad pointers) before the filter and
// with EPERM after; other syscalls still pass.
TEST(SeccompFilterTest, DeniesTheInitOnlySyscallsOnEveryAbiNeedsRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (CAP_SYS_ADMIN) for the unfiltered calls";
  for (size_t abi = 0; abi < std::size(kSeccompAbis); ++abi) {
    SCOPED_TRACE(kSeccompAbis[abi].profile_name);
    if (!Callable(abi)) continue;
    Results r;
    int signal = 0;
    if (!RunInChild(abi, &r, &signal)) {
      // int 0x80 faults on a kernel without IA32 emulation; nothing else can kill it.
      if (signal == SIGSEGV && kSeccompAbis[abi].profile_name == "SCMP_ARCH_X86") {
        std::cout << "this kernel has no i386 entry point; not tested\n";
        continue;
      }
      ADD_FAILURE() << "the child did not report (signal " << signal << ")";
      continue;
    }
    EXPECT_EQ(r.install_error, 0);
    for (size_t i = 0; i < std::size(kInitOnlySyscalls); ++i) {
      SCOPED_TRACE(kInitOnlySyscalls[i].name);
      EXPECT_NE(r.before[i], -EPERM);
      EXPECT_EQ(r.after[i], -EPERM);
    }
    EXPECT_NE(r.getpid_after, -EPERM);
  }
}

}  // namespace
}  // namespace fsb::init
