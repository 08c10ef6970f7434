#ifndef FSB_AGENT_INIT_SECCOMP_FILTER_H_
#define FSB_AGENT_INIT_SECCOMP_FILTER_H_

// The seccomp filter fsb-init adds before it becomes a sandbox's process, and the facts it
// shares with the agent's seccomp profile (agent/seccomp/profile.h).
//
// A prepared instance's container runs under the sandbox profile plus kInitOnlySyscalls,
// which fsb-init needs while it is privileged (hostname, unmounting its own mounts, the
// read-only remount). Right before execve it stacks a second filter that fails exactly
// those with EPERM on every ABI of the profile. The kernel applies the strictest verdict
// of all filters, so the sandbox's process is confined as a cold sandbox's is.
//
// Header-only data and libc calls: fsb-init is a static program on libc alone.

#include <asm/unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

namespace fsb::init {

// An ABI a sandbox's processes can enter the kernel with: the name seccomp profiles give
// it and the architecture the kernel reports in seccomp_data.arch. The x86-64 kernel
// reports x32 calls as AUDIT_ARCH_X86_64, with __X32_SYSCALL_BIT in their number.
struct SeccompAbi {
  std::string_view profile_name;
  uint32_t audit_arch;
};

// A syscall and its number in each of kSeccompAbis, in that order.
template <size_t kAbiCount>
struct AbiSyscall {
  std::string_view name;
  uint32_t numbers[kAbiCount];
};

// This build's ABIs (chosen at compile time) and the syscalls only fsb-init may call.
// Native numbers come from the libc headers; the compat ABI's are the kernel's fixed
// numbers (i386 and ARM EABI share them for these three).
#if defined(__x86_64__)
inline constexpr SeccompAbi kSeccompAbis[] = {
    {"SCMP_ARCH_X86_64", AUDIT_ARCH_X86_64},
    {"SCMP_ARCH_X86", AUDIT_ARCH_I386},
    {"SCMP_ARCH_X32", AUDIT_ARCH_X86_64},
};
inline constexpr AbiSyscall<std::size(kSeccompAbis)> kInitOnlySyscalls[] = {
    {"mount", {SYS_mount, 21, __X32_SYSCALL_BIT | SYS_mount}},
    {"umount2", {SYS_umount2, 52, __X32_SYSCALL_BIT | SYS_umount2}},
    {"sethostname", {SYS_sethostname, 74, __X32_SYSCALL_BIT | SYS_sethostname}},
};
#elif defined(__aarch64__)
inline constexpr SeccompAbi kSeccompAbis[] = {
    {"SCMP_ARCH_AARCH64", AUDIT_ARCH_AARCH64},
    {"SCMP_ARCH_ARM", AUDIT_ARCH_ARM},
};
inline constexpr AbiSyscall<std::size(kSeccompAbis)> kInitOnlySyscalls[] = {
    {"mount", {SYS_mount, 21}},
    {"umount2", {SYS_umount2, 52}},
    {"sethostname", {SYS_sethostname, 74}},
};
#else
#error "fsb's seccomp profile knows the x86-64 and aarch64 ABIs only"
#endif

// The classic BPF program: for each ABI, if the arch matches, EPERM for each of its
// kInitOnlySyscalls numbers; everything else is allowed (left to the profile's filter).
inline constexpr size_t kInitOnlyFilterLength =
    std::size(kSeccompAbis) * (3 + 2 * std::size(kInitOnlySyscalls)) + 1;
struct InitOnlyFilter {
  sock_filter program[kInitOnlyFilterLength];
};
constexpr InitOnlyFilter MakeInitOnlyFilter() {
  constexpr uint8_t kSkipSyscalls = 1 + 2 * std::size(kInitOnlySyscalls);
  InitOnlyFilter f{};
  size_t n = 0;
  for (size_t abi = 0; abi < std::size(kSeccompAbis); ++abi) {
    f.program[n++] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
    f.program[n++] =
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kSeccompAbis[abi].audit_arch, 0, kSkipSyscalls);
    f.program[n++] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
    for (const auto& syscall : kInitOnlySyscalls) {
      f.program[n++] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, syscall.numbers[abi], 0, 1);
      f.program[n++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
    }
  }
  f.program[n++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  return f;
}

// Adds the filter to the calling thread (and what it execs). Needs no_new_privs (or
// CAP_SYS_ADMIN). Returns 0 or the errno; allocates nothing.
int DenyInitOnlySyscalls();

}  // namespace fsb::init

#endif  // FSB_AGENT_INIT_SECCOMP_FILTER_H_
