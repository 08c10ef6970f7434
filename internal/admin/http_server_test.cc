#include "internal/admin/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/admin/admin_test_util.h"

namespace fsb::admin {
namespace {

using ::fsb::admin::testing::Fetch;
using ::fsb::admin::testing::HttpReply;
using ::fsb::admin::testing::SlowClient;
using ::testing::HasSubstr;

// /echo answers its `v` query parameter, or "(none)".
std::map<std::string, HttpHandler> EchoRoutes() {
  return {{"/echo", [](const HttpRequest& request) {
             return HttpResponse{.body = request.QueryParameter("v").value_or("(none)")};
           }}};
}

std::unique_ptr<HttpServer> StartEcho() {
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Create("127.0.0.1:0", EchoRoutes());
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

TEST(HttpServerTest, PortZeroPicksAFreePortAndRoutesExactPaths) {
  std::unique_ptr<HttpServer> server = StartEcho();
  ASSERT_NE(server, nullptr);
  EXPECT_GT(server->port(), 0);

  absl::StatusOr<HttpReply> reply = Fetch(server->port(), "/echo?v=a%20b%26c&w=1");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->headers["content-type"], kTextPlain);
  EXPECT_EQ(reply->headers["cache-control"], "no-store");
  EXPECT_EQ(reply->body, "a b&c");

  reply = Fetch(server->port(), "/echo");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->body, "(none)");

  // Paths are normalized before routing, and only exact paths match.
  reply = Fetch(server->port(), "/x/../echo?v=1");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->body, "1");
  for (const char* unknown : {"/", "/echo/", "/echoes", "/nope"}) {
    reply = Fetch(server->port(), unknown);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->status, 404) << unknown;
    EXPECT_EQ(reply->body, absl::StrCat("not found: ", unknown, "\n"));
  }
}

TEST(HttpServerTest, OnlyGet) {
  std::unique_ptr<HttpServer> server = StartEcho();
  ASSERT_NE(server, nullptr);
  for (const char* method : {"HEAD", "POST", "PUT", "DELETE"}) {
    absl::StatusOr<HttpReply> reply = Fetch(server->port(), "/echo", method);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->status, 405) << method;
    EXPECT_EQ(reply->headers["allow"], "GET");
    if (std::string_view(method) != "HEAD") {
      EXPECT_EQ(reply->body, absl::StrCat("method ", method, " not allowed: use GET\n"));
    }
  }
}

TEST(HttpServerTest, MalformedAddressesAreInvalidArguments) {
  for (const char* address :
       {"", "9091", "127.0.0.1", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:65536", "127.0.0.1:-1",
        "127.0.0.1:+80", "[::1]:0", "::1:0", "a,b:0", "127.0.0.1:80s"}) {
    absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(address, {});
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument) << address;
    EXPECT_THAT(server.status().message(), HasSubstr(absl::StrCat("\"", address, "\"")));
  }
}

TEST(HttpServerTest, PortInUseIsUnavailableNamingTheAddress) {
  std::unique_ptr<HttpServer> first = StartEcho();
  ASSERT_NE(first, nullptr);
  const std::string address = absl::StrCat("127.0.0.1:", first->port());
  absl::StatusOr<std::unique_ptr<HttpServer>> second = HttpServer::Create(address, {});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr(absl::StrCat("cannot listen on ", address)));
  EXPECT_THAT(second.status().message(), HasSubstr("in use"));
}

TEST(HttpServerTest, AddressNotOnThisHostIsUnavailable) {
  // 192.0.2.0/24 is TEST-NET-1: never a local address.
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create("192.0.2.1:0", {});
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(server.status().message(), HasSubstr("192.0.2.1:0"));
}

TEST(HttpServerTest, EmptyHostListensOnEveryInterface) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(":0", EchoRoutes());
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<HttpReply> reply = Fetch((*server)->port(), "/echo?v=any");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->body, "any");
}

TEST(HttpServerTest, StopLetsRunningRequestsFinishAndTurnsNewOnesAway) {
  absl::Notification entered;
  absl::Notification release;
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Create(
      "127.0.0.1:0",
      {{"/slow",
        [&](const HttpRequest&) {
          entered.Notify();
          release.WaitForNotification();
          return HttpResponse{.body = "done\n"};
        }},
       {"/fast", [](const HttpRequest&) { return HttpResponse{.body = "fast\n"}; }}});
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  absl::StatusOr<HttpReply> slow;
  std::thread client([&] { slow = Fetch(port, "/slow"); });
  entered.WaitForNotification();
  std::thread stopper([&] { (*server)->Stop(); });

  // Once Stop() waits for /slow, new requests are turned away.
  absl::StatusOr<HttpReply> fast;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  do {
    fast = Fetch(port, "/fast");
    ASSERT_TRUE(fast.ok()) << fast.status();
  } while (fast->status == 200 && absl::Now() < deadline);
  EXPECT_EQ(fast->status, 503);
  EXPECT_EQ(fast->body, "the server is stopping\n");

  release.Notify();
  client.join();
  stopper.join();
  ASSERT_TRUE(slow.ok()) << slow.status();
  EXPECT_EQ(slow->status, 200);
  EXPECT_EQ(slow->body, "done\n");
  EXPECT_EQ(Fetch(port, "/fast").status().code(), absl::StatusCode::kUnavailable);
}

TEST(HttpServerTest, StopClosesTheListenerAndIsIdempotent) {
  std::unique_ptr<HttpServer> server = StartEcho();
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  server->Stop();
  server->Stop();
  EXPECT_EQ(Fetch(port, "/echo").status().code(), absl::StatusCode::kUnavailable);
}

TEST(HttpServerTest, FewerSlowClientsThanWorkersLeaveTheOthersServing) {
  // A timeout no test waits for: the free workers answer meanwhile.
  const HttpServer::Limits limits{.worker_threads = 4, .request_timeout = absl::Seconds(60)};
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Create("127.0.0.1:0", EchoRoutes(), limits);
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<std::unique_ptr<SlowClient>> slow;
  for (int i = 0; i < limits.worker_threads - 1; ++i) {
    slow.push_back(std::make_unique<SlowClient>((*server)->port()));
    ASSERT_TRUE(slow.back()->connected());
  }
  absl::StatusOr<HttpReply> reply = Fetch((*server)->port(), "/echo?v=ok");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->body, "ok");
}

TEST(HttpServerTest, LimitsBelowOneAreInvalid) {
  EXPECT_TRUE(absl::IsInvalidArgument(
      HttpServer::Create("127.0.0.1:0", EchoRoutes(), {.worker_threads = 0}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      HttpServer::Create("127.0.0.1:0", EchoRoutes(), {.request_timeout = absl::ZeroDuration()})
          .status()));
}

}  // namespace
}  // namespace fsb::admin
