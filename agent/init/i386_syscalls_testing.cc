// The kernel's i386 numbers of fsb-init's init-only syscalls, from the uapi header of that
// ABI, for seccomp_filter_test.cc. A file of its own: <asm/unistd_32.h> defines the same
// macro names as the native <asm/unistd_64.h> the filter's header includes.
#if defined(__x86_64__)
#include <asm/unistd_32.h>

#include <cstdint>

namespace fsb::init {

extern const uint32_t kI386MountUmount2Sethostname[3] = {__NR_mount, __NR_umount2,
                                                         __NR_sethostname};

}  // namespace fsb::init
#endif
