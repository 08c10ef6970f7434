#include "internal/http/client.h"

#include <unistd.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/http/test_http_server.h"

namespace fsb::http {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using Request = TestHttpServer::Request;
using ServerResponse = TestHttpServer::Response;

// The requests a server saw, for the test thread to read.
class Recorder {
 public:
  void Add(const Request& request) {
    absl::MutexLock lock(&mu_);
    last_ = request;
  }
  Request last() const {
    absl::MutexLock lock(&mu_);
    return last_;
  }

 private:
  mutable absl::Mutex mu_;
  Request last_;
};

TEST(ClientTest, GetsStatusHeadersAndBodyAndSendsHeaders) {
  Recorder seen;
  TestHttpServer server([&seen](const Request& request) {
    seen.Add(request);
    return ServerResponse{.status = 200, .headers = {{"X-Answer", " 42 "}}, .body = "hello"};
  });
  const Client client({.user_agent = "fsb-test"});
  const std::string url = absl::StrCat("http://", server.address(), "/a?b=c");
  absl::StatusOr<Response> response = client.Get(url, {"X-Asked: yes"}, nullptr);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(response->success());
  EXPECT_EQ(response->body, "hello");
  EXPECT_EQ(response->Header("x-answer"), "42");
  EXPECT_EQ(response->Header("x-missing"), std::nullopt);
  const Request request = seen.last();
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.target, "/a?b=c");
  EXPECT_EQ(request.headers.at("x-asked"), "yes");
  EXPECT_EQ(request.headers.at("user-agent"), "fsb-test");
}

TEST(ClientTest, NoUserAgentUnlessSet) {
  Recorder seen;
  TestHttpServer server([&seen](const Request& request) {
    seen.Add(request);
    return ServerResponse{};
  });
  ASSERT_TRUE(Client({}).Get(absl::StrCat("http://", server.address(), "/"), {}, nullptr).ok());
  EXPECT_EQ(seen.last().headers.count("user-agent"), 0);
}

TEST(ClientTest, SuccessfulBodyGoesToTheSinkOtherBodiesAreReturned) {
  TestHttpServer server([](const Request& request) {
    if (request.target == "/missing") return ServerResponse{.status = 404, .body = "no such"};
    return ServerResponse{.body = std::string(10000, 'x')};
  });
  std::string received;
  const BodySink sink = [&received](std::string_view piece) {
    received.append(piece);
    return absl::OkStatus();
  };
  const Client client({.max_body = 100});  // the sink's body is not held, so not limited
  absl::StatusOr<Response> ok =
      client.Get(absl::StrCat("http://", server.address(), "/"), {}, &sink);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(received, std::string(10000, 'x'));
  EXPECT_EQ(ok->body, "");

  received.clear();
  absl::StatusOr<Response> missing =
      client.Get(absl::StrCat("http://", server.address(), "/missing"), {}, &sink);
  ASSERT_TRUE(missing.ok()) << missing.status();  // a non-2xx status is not an error here
  EXPECT_EQ(missing->status, 404);
  EXPECT_FALSE(missing->success());
  EXPECT_EQ(missing->body, "no such");
  EXPECT_EQ(received, "");
}

TEST(ClientTest, SinkErrorStopsTheTransferAndIsReturned) {
  TestHttpServer server([](const Request&) { return ServerResponse{.body = "data"}; });
  const BodySink sink = [](std::string_view) { return absl::DataLossError("bad piece"); };
  absl::StatusOr<Response> response =
      Client({}).Get(absl::StrCat("http://", server.address(), "/"), {}, &sink);
  EXPECT_EQ(response.status(), absl::DataLossError("bad piece"));
}

TEST(ClientTest, BodyOverTheLimitIsOutOfRangeNamingTheUrl) {
  TestHttpServer server(
      [](const Request&) { return ServerResponse{.body = std::string(101, 'x')}; });
  const std::string url = absl::StrCat("http://", server.address(), "/big");
  absl::StatusOr<Response> response = Client({.max_body = 100}).Get(url, {}, nullptr);
  EXPECT_TRUE(absl::IsOutOfRange(response.status())) << response.status();
  EXPECT_THAT(response.status().message(), HasSubstr(absl::StrCat("GET ", url, ": ")));
  EXPECT_THAT(response.status().message(), HasSubstr("larger than 100 bytes"));
}

TEST(ClientTest, UnreachableServerIsUnavailableNamingTheUrl) {
  std::string address;
  {
    TestHttpServer gone([](const Request&) { return ServerResponse{}; });
    address = gone.address();  // nobody listens there any more
  }
  const std::string url = absl::StrCat("http://", address, "/");
  absl::StatusOr<Response> response = Client({}).Get(url, {}, nullptr);
  EXPECT_TRUE(absl::IsUnavailable(response.status())) << response.status();
  EXPECT_THAT(response.status().message(), HasSubstr(absl::StrCat("GET ", url, ": ")));
}

TEST(ClientTest, SlowServerTimesOutAsUnavailable) {
  // A listening socket that never accepts: the connection is made, the answer never comes.
  int port = 0;
  const int fd = ListenOnLoopback(4, &port);
  const std::string url = absl::StrCat("http://127.0.0.1:", port, "/");
  absl::StatusOr<Response> response =
      Client({.request_timeout = absl::Milliseconds(200)}).Get(url, {}, nullptr);
  close(fd);
  EXPECT_TRUE(absl::IsUnavailable(response.status())) << response.status();
  EXPECT_THAT(response.status().message(), HasSubstr(absl::StrCat("GET ", url, ": ")));
}

TEST(ClientTest, RedirectsAreFollowedOnlyWhenAsked) {
  TestHttpServer server([](const Request& request) {
    if (request.target == "/old") {
      return ServerResponse{.status = 302, .headers = {{"Location", "/new"}, {"X-Hop", "1"}}};
    }
    return ServerResponse{.headers = {{"X-Hop", "2"}}, .body = "moved here"};
  });
  const std::string url = absl::StrCat("http://", server.address(), "/old");

  absl::StatusOr<Response> followed = Client({}).Get(url, {}, nullptr);
  ASSERT_TRUE(followed.ok()) << followed.status();
  EXPECT_EQ(followed->status, 200);
  EXPECT_EQ(followed->body, "moved here");
  // Only the last response's headers.
  EXPECT_EQ(followed->Header("x-hop"), "2");
  EXPECT_EQ(followed->Header("location"), std::nullopt);

  absl::StatusOr<Response> not_followed = Client({.follow_redirects = false}).Get(url, {}, nullptr);
  ASSERT_TRUE(not_followed.ok()) << not_followed.status();
  EXPECT_EQ(not_followed->status, 302);
  EXPECT_EQ(not_followed->Header("location"), "/new");
}

TEST(ClientTest, HeadersKeepArrivalOrder) {
  TestHttpServer server([](const Request&) {
    return ServerResponse{.headers = {{"X-A", "1"}, {"X-A", "2"}}};
  });
  absl::StatusOr<Response> response =
      Client({}).Get(absl::StrCat("http://", server.address(), "/"), {}, nullptr);
  ASSERT_TRUE(response.ok()) << response.status();
  std::vector<std::pair<std::string, std::string>> xa;
  for (const auto& header : response->headers) {
    if (header.first == "x-a") xa.push_back(header);
  }
  EXPECT_THAT(xa, ElementsAre(Pair("x-a", "1"), Pair("x-a", "2")));
  EXPECT_EQ(response->Header("x-a"), "1");
}

TEST(ClientTest, EscapesForAQuery) {
  EXPECT_EQ(Client::Escape("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
  EXPECT_EQ(Client::Escape("plain-._~"), "plain-._~");
}

}  // namespace
}  // namespace fsb::http
