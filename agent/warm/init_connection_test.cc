#include "agent/warm/init_connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "agent/warm/fake_init.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;

init::Order SomeOrder() {
  init::Order o;
  o.argv = {"sh"};
  o.cwd = "/";
  return o;
}

TEST(InitConnectionTest, RunSucceedsWhenInitExecs) {
  FakeInits inits;
  absl::StatusOr<InitConnection> conn = inits.Connect("sock", absl::Seconds(5));
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_TRUE(conn->Alive());
  init::Order order = SomeOrder();
  order.hostname = "web";
  order.env = {"A=1"};
  ASSERT_TRUE(conn->Run(order, absl::Seconds(5)).ok());
  ASSERT_EQ(inits.orders().size(), 1u);
  EXPECT_EQ(inits.orders()[0].hostname, "web");
  EXPECT_EQ(inits.orders()[0].env, std::vector<std::string>{"A=1"});
  EXPECT_FALSE(conn->Alive());
  EXPECT_EQ(conn->Run(order, absl::Seconds(1)).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(InitConnectionTest, InitsReportsBecomePreciseErrors) {
  FakeInits inits;
  inits.set_behavior(FakeInitBehavior::kBadExecutable);
  absl::Status s = inits.Connect("a", absl::Seconds(5))->Run(SomeOrder(), absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("executable \"nope\""));
  inits.set_behavior(FakeInitBehavior::kBadUser);
  EXPECT_EQ(inits.Connect("b", absl::Seconds(5))->Run(SomeOrder(), absl::Seconds(5)).code(),
            absl::StatusCode::kFailedPrecondition);
  inits.set_behavior(FakeInitBehavior::kDie);
  s = inits.Connect("c", absl::Seconds(5))->Run(SomeOrder(), absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("exited before starting the process"));
}

TEST(InitConnectionTest, SilenceTimesOutAndGarbageIsRejected) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  // No hello at all.
  EXPECT_EQ(InitConnection::FromFd(fds[0], absl::Milliseconds(50)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  close(fds[1]);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  const char bogus[] = {8, 0, 0, 0, 1, 0, 0, 0, 'x', 'y', 'z', 'w'};
  ASSERT_EQ(write(fds[1], bogus, sizeof(bogus)), static_cast<ssize_t>(sizeof(bogus)));
  EXPECT_EQ(InitConnection::FromFd(fds[0], absl::Seconds(1)).status().code(),
            absl::StatusCode::kDataLoss);
  close(fds[1]);
  // A hello, then nothing after the order: the deadline ends the wait.
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  const std::string hello = init::EncodeHello();
  ASSERT_EQ(write(fds[1], hello.data(), hello.size()), static_cast<ssize_t>(hello.size()));
  absl::StatusOr<InitConnection> conn = InitConnection::FromFd(fds[0], absl::Seconds(1));
  ASSERT_TRUE(conn.ok());
  EXPECT_EQ(conn->Run(SomeOrder(), absl::Milliseconds(50)).code(),
            absl::StatusCode::kDeadlineExceeded);
  close(fds[1]);
}

TEST(InitConnectionTest, ConnectToNobodyIsUnavailable) {
  EXPECT_EQ(InitConnection::Connect(::testing::TempDir() + "/no-such.sock", absl::Seconds(1))
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace fsb::agent
