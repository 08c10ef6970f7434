#include "agent/init/seccomp_filter.h"

#include <sys/prctl.h>

namespace fsb::init {

int DenyInitOnlySyscalls() {
  // Built at compile time; not const only because sock_fprog points to it as mutable.
  constinit static InitOnlyFilter filter = MakeInitOnlyFilter();
  sock_fprog program{kInitOnlyFilterLength, filter.program};
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0 ? 0 : errno;
}

}  // namespace fsb::init
