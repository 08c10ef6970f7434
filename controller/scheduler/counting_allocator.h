#ifndef FSB_CONTROLLER_SCHEDULER_COUNTING_ALLOCATOR_H_
#define FSB_CONTROLLER_SCHEDULER_COUNTING_ALLOCATOR_H_

// Heap accounting for the tests and benchmarks that prove or measure the scheduler's
// allocation-freedom.
//
// Linking the library `fsb_counting_allocator` replaces the global operator new and
// operator delete of the WHOLE binary with versions that count every allocation and its
// requested size before forwarding to malloc/free. Link it into test and benchmark
// binaries only.
//
// Thread-safety: the counts are thread-local. A thread sees exactly its own allocations,
// so other threads (a test framework's, a benchmark's other workers) never disturb its
// measurement, and counting never contends on a shared cache line.

#include <cstdint>

namespace fsb::controller {

struct HeapUse {
  uint64_t allocations = 0;
  uint64_t bytes = 0;  // as requested from operator new

  HeapUse operator-(const HeapUse& o) const {
    return {allocations - o.allocations, bytes - o.bytes};
  }
  HeapUse& operator+=(const HeapUse& o) {
    allocations += o.allocations;
    bytes += o.bytes;
    return *this;
  }
};

// Everything the calling thread has allocated through operator new since it started.
HeapUse ThreadHeapUse();

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_SCHEDULER_COUNTING_ALLOCATOR_H_
