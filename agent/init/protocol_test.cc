#include "agent/init/protocol.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::init {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Order SampleOrder() {
  Order o;
  o.uid = 1000;
  o.gid = 100;
  o.groups = {10, 20};
  o.hostname = "web-1";
  o.cwd = "/srv/app";
  o.argv = {"sh", "-c", "echo hi"};
  o.env = {"PATH=/bin", "A=b=c"};
  o.rlimits = {{7, 1024, 2048}};
  o.capabilities = {0x1F, 0x3, 0x7, 0x1, 0x0};
  o.readonly_rootfs = true;
  o.no_new_privileges = true;
  return o;
}

// The payload of a frame (its length prefix checked and removed).
std::string Payload(const std::string& frame) {
  EXPECT_GE(frame.size(), 4u);
  uint32_t len = 0;
  for (int i = 0; i < 4; ++i)
    len |= static_cast<uint32_t>(static_cast<unsigned char>(frame[i])) << (8 * i);
  EXPECT_EQ(len, frame.size() - 4);
  return frame.substr(4);
}

TEST(ProtocolTest, OrderRoundTrips) {
  std::string payload = Payload(EncodeOrder(SampleOrder()));
  auto view = std::make_unique<OrderView>();
  ASSERT_EQ(DecodeOrder(payload.data(), payload.size(), view.get()), nullptr);
  EXPECT_EQ(view->uid, 1000u);
  EXPECT_EQ(view->gid, 100u);
  ASSERT_EQ(view->group_count, 2u);
  EXPECT_EQ(view->groups[0], 10u);
  EXPECT_EQ(view->groups[1], 20u);
  EXPECT_EQ(std::string(view->hostname, view->hostname_len), "web-1");
  EXPECT_STREQ(view->cwd, "/srv/app");
  ASSERT_EQ(view->argc, 3u);
  EXPECT_STREQ(view->argv[0], "sh");
  EXPECT_STREQ(view->argv[2], "echo hi");
  EXPECT_EQ(view->argv[3], nullptr);
  ASSERT_EQ(view->envc, 2u);
  EXPECT_STREQ(view->envp[1], "A=b=c");
  EXPECT_EQ(view->envp[2], nullptr);
  ASSERT_EQ(view->rlimit_count, 1u);
  EXPECT_EQ(view->rlimits[0].resource, 7u);
  EXPECT_EQ(view->rlimits[0].soft, 1024u);
  EXPECT_EQ(view->rlimits[0].hard, 2048u);
  EXPECT_EQ(view->capabilities.bounding, 0x1Fu);
  EXPECT_EQ(view->capabilities.effective, 0x3u);
  EXPECT_EQ(view->capabilities.permitted, 0x7u);
  EXPECT_EQ(view->capabilities.inheritable, 0x1u);
  EXPECT_EQ(view->capabilities.ambient, 0x0u);
  EXPECT_TRUE(view->readonly_rootfs);
  EXPECT_TRUE(view->no_new_privileges);
}

TEST(ProtocolTest, EveryTruncationIsRejected) {
  const std::string payload = Payload(EncodeOrder(SampleOrder()));
  auto view = std::make_unique<OrderView>();
  for (size_t n = 0; n < payload.size(); ++n) {
    std::string cut = payload.substr(0, n);
    EXPECT_NE(DecodeOrder(cut.data(), cut.size(), view.get()), nullptr) << "length " << n;
  }
}

TEST(ProtocolTest, RejectsMalformedOrders) {
  auto view = std::make_unique<OrderView>();
  auto decode = [&](const Order& o) {
    std::string payload = Payload(EncodeOrder(o));
    const char* err = DecodeOrder(payload.data(), payload.size(), view.get());
    return std::string(err == nullptr ? "" : err);
  };
  Order nul = SampleOrder();
  nul.argv[1] = std::string("a\0b", 3);
  EXPECT_THAT(decode(nul), HasSubstr("NUL"));
  Order empty = SampleOrder();
  empty.argv.clear();
  EXPECT_EQ(decode(empty), "empty argv");
  Order relative = SampleOrder();
  relative.cwd = "srv";
  EXPECT_EQ(decode(relative), "working directory is not absolute");
  Order many = SampleOrder();
  many.env.assign(kMaxStrings + 1, "A=1");
  EXPECT_EQ(decode(many), "too many environment variables");
  Order groups = SampleOrder();
  groups.groups.assign(kMaxGroups + 1, 1);
  EXPECT_EQ(decode(groups), "too many supplementary groups");

  std::string trailing = Payload(EncodeOrder(SampleOrder())) + "x";
  EXPECT_STREQ(DecodeOrder(trailing.data(), trailing.size(), view.get()),
               "trailing bytes after the order");
  std::string hello = Payload(EncodeHello());
  EXPECT_STREQ(DecodeOrder(hello.data(), hello.size(), view.get()), "not an order");
}

TEST(ProtocolTest, HelloAndReplies) {
  const std::string hello = Payload(EncodeHello());
  MessageKind kind{};
  ASSERT_TRUE(PayloadKind(hello, &kind));
  EXPECT_EQ(kind, MessageKind::kHello);
  uint32_t version = 0;
  ASSERT_TRUE(DecodeHello(hello, &version));
  EXPECT_EQ(version, kVersion);

  char buf[64];
  const size_t n = EncodeExecuting(buf, sizeof(buf));
  ASSERT_TRUE(PayloadKind(Payload(std::string(buf, n)), &kind));
  EXPECT_EQ(kind, MessageKind::kExecuting);

  char reply[40];
  const size_t m = EncodeFailure(FailureReason::kCwd, 2, "working directory \"/x\" is gone", reply,
                                 sizeof(reply));
  ASSERT_GT(m, 0u);
  Failure failure;
  ASSERT_TRUE(DecodeFailure(Payload(std::string(reply, m)), &failure));
  EXPECT_EQ(failure.reason, FailureReason::kCwd);
  EXPECT_EQ(failure.err, 2);
  // Truncated to the buffer, still well-formed.
  EXPECT_EQ(failure.message, "working directory \"");
  EXPECT_FALSE(DecodeFailure(hello, &failure));
  EXPECT_FALSE(DecodeHello(Payload(std::string(reply, m)), &version));
}

}  // namespace
}  // namespace fsb::init
