#ifndef FSB_AGENT_SECCOMP_PROFILE_H_
#define FSB_AGENT_SECCOMP_PROFILE_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "internal/json_writer.h"

namespace fsb::agent {

// fsb's default seccomp profile, the runtime spec's linux.seccomp of every sandbox, cold
// and warm. An allow list: any syscall it does not name fails with EPERM. Equivalent in
// effect to Docker's default profile for a container with fsb's default capabilities (no
// CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_SYS_TIME, ...):
//   * no new namespaces: unshare, setns and clone with a CLONE_NEW* flag fail, clone3
//     fails with ENOSYS (its flags are in memory a filter cannot read) so that libc falls
//     back to clone;
//   * none of mount, umount, umount2, pivot_root, the new mount API, keyctl, add_key,
//     request_key, bpf, perf_event_open, kexec_*, module loading, reboot, swapon/swapoff,
//     syslog, acct, settimeofday/clock_settime, userfaultfd, open_by_handle_at,
//     name_to_handle_at, io_uring, quotactl, sethostname/setdomainname, iopl/ioperm;
//   * personality only to query or for the standard Linux and 32-bit personalities;
//   * no AF_VSOCK sockets (the hypervisor's channel on a VM node), as Docker.
// ptrace and process_vm_readv/writev stay allowed, as Docker does on kernels >= 4.8
// (where a tracer can no longer change a syscall after the filter has seen it): without
// CAP_SYS_PTRACE they reach only the sandbox's own processes of the same user.
// Architectures: this build's ABIs, fsb::init::kSeccompAbis.
//
// Thread-safe: immutable data.

// The syscalls the profile allows whatever their arguments (on every ABI that has them).
std::span<const std::string_view> SeccompAllowedSyscalls();

// Writes the profile as the JSON value of linux.seccomp, with `extra` allowed too (a
// prepared instance's fsb::init::kInitOnlySyscalls; init denies them again itself).
void WriteSeccompProfile(JsonWriter& w, const std::vector<std::string>& extra);

}  // namespace fsb::agent

#endif  // FSB_AGENT_SECCOMP_PROFILE_H_
