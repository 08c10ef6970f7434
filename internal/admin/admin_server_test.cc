#include "internal/admin/admin_server.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/admin/admin_test_util.h"
#include "internal/metrics/metrics.h"

namespace fsb::admin {
namespace {

using ::fsb::admin::testing::Fetch;
using ::fsb::admin::testing::HttpReply;
using ::fsb::admin::testing::SlowClient;
using ::testing::HasSubstr;

// A readiness the test sets, as a binary's recovery or registration would.
class Readiness {
 public:
  void Set(absl::Status status) {
    absl::MutexLock lock(&mu_);
    status_ = std::move(status);
  }
  absl::Status Get() const {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Status status_ ABSL_GUARDED_BY(mu_) = absl::UnavailableError("recovering");
};

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.AddCounter("fsb_test_creates_total", "Creates.").Add({{"result", "ok"}}).Increment(3);
    absl::StatusOr<std::unique_ptr<AdminServer>> server = AdminServer::Create(
        {.bind_address = "127.0.0.1:0", .registry = &registry_, .readiness = [this] {
           return readiness_.Get();
         }});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  HttpReply Get(std::string_view target) {
    absl::StatusOr<HttpReply> reply = Fetch(server_->port(), target);
    EXPECT_TRUE(reply.ok()) << target << ": " << reply.status();
    return reply.ok() ? *std::move(reply) : HttpReply{};
  }

  metrics::Registry registry_;
  Readiness readiness_;
  std::unique_ptr<AdminServer> server_;
};

TEST_F(AdminServerTest, MetricsServesTheRegistry) {
  HttpReply reply = Get("/metrics");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(reply.body, registry_.Serialize());
  EXPECT_THAT(reply.body, HasSubstr("fsb_test_creates_total{result=\"ok\"} 3\n"));

  // Every scrape serializes anew.
  registry_.AddGauge("fsb_test_agents", "Agents.").Add({}).Set(2);
  EXPECT_THAT(Get("/metrics").body, HasSubstr("fsb_test_agents 2\n"));
}

TEST_F(AdminServerTest, HealthzIsOkEvenWhenNotReady) {
  HttpReply reply = Get("/healthz");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.headers["content-type"], "text/plain; charset=utf-8");
  EXPECT_EQ(reply.body, "ok\n");
}

TEST_F(AdminServerTest, ReadyzFollowsTheReadinessCheck) {
  HttpReply reply = Get("/readyz");
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(reply.body, "not ready: recovering\n");

  readiness_.Set(absl::OkStatus());
  reply = Get("/readyz");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "ready\n");

  readiness_.Set(absl::UnavailableError("controller unreachable"));
  reply = Get("/readyz");
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(reply.body, "not ready: controller unreachable\n");
}

TEST_F(AdminServerTest, UnknownPathsAreNotFound) {
  for (const char* path : {"/", "/metric", "/metrics/x", "/debug/pprof/"}) {
    EXPECT_EQ(Get(path).status, 404) << path;
  }
}

TEST(AdminServerWarningTest, ReadyzCarriesTheWarningReadyOrNot) {
  metrics::Registry registry;
  for (const absl::Status& ready : {absl::OkStatus(), absl::UnavailableError("recovering")}) {
    absl::StatusOr<std::unique_ptr<AdminServer>> server =
        AdminServer::Create({.bind_address = "127.0.0.1:0",
                             .registry = &registry,
                             .readiness = [ready] { return ready; },
                             .warning = "INSECURE: no TLS"});
    ASSERT_TRUE(server.ok()) << server.status();
    absl::StatusOr<HttpReply> reply = Fetch((*server)->port(), "/readyz");
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->status, ready.ok() ? 200 : 503);
    EXPECT_EQ(reply->body, ready.ok() ? "ready\nWARNING: INSECURE: no TLS\n"
                                      : "not ready: recovering\nWARNING: INSECURE: no TLS\n");
  }
}

TEST(AdminServerNoReadinessTest, AlwaysReadyWithoutACheck) {
  metrics::Registry registry;
  absl::StatusOr<std::unique_ptr<AdminServer>> server =
      AdminServer::Create({.bind_address = "127.0.0.1:0", .registry = &registry});
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<HttpReply> reply = Fetch((*server)->port(), "/readyz");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->body, "ready\n");
  // An empty registry is an empty exposition.
  reply = Fetch((*server)->port(), "/metrics");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->body, "");
}

TEST(AdminServerSlowClientsTest, SlowClientsAreCutOffAndHealthzStillAnswers) {
  metrics::Registry registry;
  const HttpServer::Limits limits{.worker_threads = 2, .request_timeout = absl::Milliseconds(300)};
  absl::StatusOr<std::unique_ptr<AdminServer>> server =
      AdminServer::Create({.bind_address = "127.0.0.1:0", .registry = &registry, .limits = limits});
  ASSERT_TRUE(server.ok()) << server.status();
  // More slow connections than workers: every worker is reading one of them.
  std::vector<std::unique_ptr<SlowClient>> slow;
  for (int i = 0; i < 3 * limits.worker_threads; ++i) {
    slow.push_back(std::make_unique<SlowClient>((*server)->port()));
    ASSERT_TRUE(slow.back()->connected());
  }
  // Answered once the timeout frees a worker (the request waits in the listen queue
  // meanwhile, so a few tries are plenty).
  bool answered = false;
  for (int attempt = 0; attempt < 20 && !answered; ++attempt) {
    absl::StatusOr<HttpReply> reply = Fetch((*server)->port(), "/healthz");
    answered = reply.ok() && reply->status == 200 && reply->body == "ok\n";
  }
  EXPECT_TRUE(answered);
  // Far longer than the timeout, and far shorter than civetweb's default of 30 s.
  for (auto& client : slow) EXPECT_TRUE(client->ClosedByServerWithin(absl::Seconds(10)));
}

TEST(AdminServerSlowClientsTest, LimitsBelowOneAreInvalidArguments) {
  metrics::Registry registry;
  EXPECT_TRUE(absl::IsInvalidArgument(
      AdminServer::Create(
          {.bind_address = "127.0.0.1:0", .registry = &registry, .limits = {.worker_threads = 0}})
          .status()));
}

}  // namespace
}  // namespace fsb::admin
