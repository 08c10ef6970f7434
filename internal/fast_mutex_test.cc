#include "internal/fast_mutex.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace fsb {
namespace {

// Threads increment a plain counter under the lock; a lost update (two holders at once)
// breaks the total.
TEST(FastMutexTest, SerializesContendedHolders) {
  constexpr int kThreads = 4;
  constexpr int kIncrements = 200000;
  FastMutex mu;
  long counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        FastMutexLock lock(&mu);
        // A read, a yield point and a write: without mutual exclusion this loses updates.
        const long seen = counter;
        if (i % 1024 == 0) std::this_thread::yield();
        counter = seen + 1;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(counter, static_cast<long>(kThreads) * kIncrements);
}

}  // namespace
}  // namespace fsb
