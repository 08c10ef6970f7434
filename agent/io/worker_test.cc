#include "agent/io/worker.h"

#include <atomic>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

TEST(WorkerTest, RunsTheBodyAndJoins) {
  std::atomic<int> runs{0};
  absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Start([&runs] { ++runs; });
  ASSERT_TRUE(worker.ok()) << worker.status();
  (*worker)->Join();
  EXPECT_EQ(runs, 1);
  (*worker)->Join();  // idempotent
}

TEST(WorkerTest, AThreadTheSystemCannotGiveIsAnErrorNotATermination) {
  bool ran = false;
  // A stack larger than any address space: pthread_create fails as when threads run out.
  absl::StatusOr<std::unique_ptr<Worker>> worker =
      Worker::Start([&ran] { ran = true; }, size_t{1} << 62);
  ASSERT_TRUE(absl::IsResourceExhausted(worker.status())) << worker.status();
  EXPECT_THAT(worker.status().message(), ::testing::HasSubstr("cannot start a thread"));
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace fsb::agent
