#include "internal/http/client.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

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

TEST(PlanRedirectTest, RefusesDowngradesAndOtherSchemesAndSaysWhetherTheOriginStays) {
  absl::StatusOr<Redirect> same = PlanRedirect("https://r.test/v2/a", "https://R.test:443/b?x=1");
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->url, "https://R.test:443/b?x=1");
  EXPECT_TRUE(same->same_origin);  // host case and the default port do not matter
  EXPECT_FALSE(PlanRedirect("https://r.test/a", "https://blobs.test/b")->same_origin);
  EXPECT_FALSE(PlanRedirect("http://r.test:5000/a", "http://r.test:5001/b")->same_origin);
  EXPECT_FALSE(PlanRedirect("http://r.test/a", "https://r.test/b")->same_origin);

  absl::Status downgrade = PlanRedirect("https://r.test/a", "http://r.test/b").status();
  EXPECT_TRUE(absl::IsPermissionDenied(downgrade)) << downgrade;
  EXPECT_THAT(downgrade.message(), HasSubstr("from https to plain http"));
  EXPECT_TRUE(absl::IsPermissionDenied(PlanRedirect("http://r.test/a", "ftp://r.test/b").status()));
  EXPECT_TRUE(
      absl::IsPermissionDenied(PlanRedirect("http://r.test/a", "file:///etc/passwd").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(PlanRedirect("http://r.test/a", "not a url").status()));
}

// Serves /start as a redirect to `location` and everything else as "done"; records the
// requests it saw.
class Redirector {
 public:
  explicit Redirector(std::string location)
      : location_(std::move(location)), server_([this](const Request& r) {
          {
            absl::MutexLock lock(&mu_);
            seen_.push_back(r);
          }
          if (r.target == "/start") {
            return ServerResponse{.status = 302, .headers = {{"Location", location_}}};
          }
          return ServerResponse{.body = "done"};
        }) {}

  std::string url(std::string_view path) const {
    return absl::StrCat("http://", server_.address(), std::string(path));
  }
  int port() const { return std::stoi(server_.address().substr(server_.address().find(':') + 1)); }
  std::vector<Request> seen() const {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

 private:
  const std::string location_;
  mutable absl::Mutex mu_;
  std::vector<Request> seen_ ABSL_GUARDED_BY(mu_);
  TestHttpServer server_;  // last: its thread uses the members above
};

// A resolver knowing only `names` (name -> address), counting its calls.
Resolver FixedResolver(std::map<std::string, std::string> names, std::atomic<int>* calls) {
  return [names = std::move(names),
          calls](const std::string& host) -> absl::StatusOr<std::vector<IpAddress>> {
    ++*calls;
    auto it = names.find(host);
    if (it == names.end()) return absl::UnavailableError("unknown host " + host);
    return std::vector<IpAddress>{*IpAddress::Parse(it->second)};
  };
}

TEST(ClientTest, RedirectToAnotherOriginDropsAuthorizationAndConnectsToTheAdmittedAddress) {
  Redirector blobs("unused");
  // blobs.test exists only in the test's resolver: reaching it proves curl connected to
  // the address the policy admitted.
  Redirector registry(absl::StrCat("http://blobs.test:", blobs.port(), "/blob?sig=1"));
  std::atomic<int> calls{0};
  const Client client({.address_policy = std::make_shared<AddressPolicy>(
                           "127.0.0.1", FixedResolver({{"blobs.test", "127.0.0.1"}}, &calls))});
  absl::StatusOr<Response> r =
      client.Get(registry.url("/start"), {"Authorization: Bearer secret", "X-Other: 1"}, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "done");
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(registry.seen().size(), 1u);
  EXPECT_EQ(registry.seen()[0].headers.at("authorization"), "Bearer secret");
  ASSERT_EQ(blobs.seen().size(), 1u);
  EXPECT_EQ(blobs.seen()[0].target, "/blob?sig=1");
  EXPECT_EQ(blobs.seen()[0].headers.count("authorization"), 0u);
  EXPECT_EQ(blobs.seen()[0].headers.at("x-other"), "1");
}

TEST(ClientTest, RedirectWithinTheOriginKeepsAuthorization) {
  Redirector registry("/elsewhere");
  absl::StatusOr<Response> r =
      Client({}).Get(registry.url("/start"), {"authorization: Basic YTpi"}, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(registry.seen().size(), 2u);
  EXPECT_EQ(registry.seen()[1].target, "/elsewhere");
  EXPECT_EQ(registry.seen()[1].headers.at("authorization"), "Basic YTpi");
}

TEST(ClientTest, RedirectToARefusedAddressFailsBeforeConnecting) {
  // blobs.test is 10.1.2.3 to this resolver: private, which a loopback origin may not
  // reach. The check happens before curl is given the URL, so nothing connects there.
  Redirector registry("http://blobs.test:5000/blob");
  std::atomic<int> calls{0};
  const Client client({.address_policy = std::make_shared<AddressPolicy>(
                           "127.0.0.1", FixedResolver({{"blobs.test", "10.1.2.3"}}, &calls))});
  absl::StatusOr<Response> r = client.Get(registry.url("/start"), {}, nullptr);
  EXPECT_TRUE(absl::IsPermissionDenied(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("GET http://blobs.test:5000/blob: "));
  EXPECT_THAT(r.status().message(), HasSubstr("blobs.test is 10.1.2.3, a private address"));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(registry.seen().size(), 1u);
}

TEST(ClientTest, RedirectToALinkLocalLiteralIsRefused) {
  Redirector registry("http://169.254.169.254/latest/meta-data/");
  std::atomic<int> calls{0};
  const Client client(
      {.address_policy = std::make_shared<AddressPolicy>("127.0.0.1", FixedResolver({}, &calls))});
  absl::StatusOr<Response> r = client.Get(registry.url("/start"), {}, nullptr);
  EXPECT_TRUE(absl::IsPermissionDenied(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("a link-local address"));
}

TEST(ClientTest, RedirectsAreBounded) {
  // /start -> /start: a loop.
  Redirector registry("/start");
  absl::StatusOr<Response> r =
      Client({.max_redirects = 3}).Get(registry.url("/start"), {}, nullptr);
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("more than 3 redirects"));
  EXPECT_EQ(registry.seen().size(), 4u);
}

TEST(ClientTest, TransferSlowerThanTheMinimumRateIsAbandonedNamingTheRate) {
  // 100 bytes, one per 20 ms: about 50 bytes/s, against a minimum of 1000 bytes/s over
  // windows of 200 ms. Were it not abandoned, it would end after about 2 s.
  TestHttpServer server([](const Request&) {
    return ServerResponse{.body = std::string(100, 'x'),
                          .byte_interval = std::chrono::milliseconds(20)};
  });
  std::string received;
  const BodySink sink = [&received](std::string_view piece) {
    received.append(piece);
    return absl::OkStatus();
  };
  const std::string url = absl::StrCat("http://", server.address(), "/slow");
  absl::StatusOr<Response> r =
      Client({.min_rate = 1000, .stall_timeout = absl::Milliseconds(200)}).Get(url, {}, &sink);
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr(absl::StrCat("GET ", url, ": ")));
  EXPECT_THAT(r.status().message(), HasSubstr("minimum rate of 1000 bytes/s over 200ms"));
  EXPECT_LT(received.size(), 100u);

  // The same server is fast enough for a minimum of 1 byte/s over 1 s windows.
  received.clear();
  absl::StatusOr<Response> ok =
      Client({.min_rate = 1, .stall_timeout = absl::Seconds(1)}).Get(url, {}, &sink);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(received, std::string(100, 'x'));
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
