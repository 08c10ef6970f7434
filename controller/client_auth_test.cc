#include "controller/client_auth.h"

#include <string_view>

#include "controller/client_auth_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::controller {
namespace {

using ::testing::HasSubstr;

constexpr char kGet[] = "/fastpath.v1.FastPathService/GetSandbox";
constexpr char kCreate[] = "/fastpath.v1.FastPathService/CreateSandbox";
constexpr char kApplyPool[] = "/fastpath.v1.FastPathService/ApplySandboxPool";

// Calls made with a ServerContext whose metadata the test sets, against TestTokens.
class ClientAuthTest : public ::testing::Test {
 protected:
  absl::StatusOr<auth::Principal> Call(const ClientAuth& auth, std::string_view authorization,
                                       std::string_view method, std::string_view ns) {
    ContextWith ctx(authorization);
    return auth.Authorize(*ctx.get(), method, ns);
  }

  TestTokens tokens_;
  metrics::Registry registry_;
};

TEST_F(ClientAuthTest, CallsWithoutAGoodTokenAreUnauthenticated) {
  ClientAuth auth(tokens_.store(), &registry_);
  for (std::string_view authorization :
       {"", "Basic b3BzOm9wcw==", "Bearer ", "Bearer nobody-token"}) {
    absl::StatusOr<auth::Principal> caller = Call(auth, authorization, kGet, "team-a");
    EXPECT_EQ(caller.status().code(), absl::StatusCode::kUnauthenticated) << authorization;
  }
  EXPECT_EQ(Call(auth, "Bearer nobody-token", kGet, "team-a").status().message(), "unknown token");
  EXPECT_THAT(registry_.Serialize(),
              HasSubstr("fsb_controller_client_auth_total{result=\"unauthenticated\"} 5"));
}

TEST_F(ClientAuthTest, EachRoleGetsWhatTheTableGrants) {
  ClientAuth auth(tokens_.store(), &registry_);
  absl::StatusOr<auth::Principal> alice = Call(auth, "Bearer alice-token", kCreate, "team-a");
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(alice->subject, "alice");
  // Another namespace, and the empty one, which is "default".
  for (std::string_view ns : {"team-b", ""}) {
    absl::StatusOr<auth::Principal> denied = Call(auth, "bearer alice-token", kGet, ns);
    EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied) << ns;
  }
  EXPECT_THAT(Call(auth, "Bearer alice-token", kGet, "").status().message(),
              HasSubstr("may not read in namespace default"));
  EXPECT_EQ(Call(auth, "Bearer alice-token", kApplyPool, "").status().code(),
            absl::StatusCode::kPermissionDenied);

  EXPECT_TRUE(Call(auth, "Bearer val-token", kGet, "team-a").ok());
  EXPECT_EQ(Call(auth, "Bearer val-token", kCreate, "team-a").status().code(),
            absl::StatusCode::kPermissionDenied);

  for (std::string_view method : {kGet, kCreate, kApplyPool}) {
    EXPECT_TRUE(Call(auth, "Bearer ops-token", method, "team-b").ok()) << method;
  }
  EXPECT_THAT(registry_.Serialize(),
              HasSubstr("fsb_controller_client_auth_total{result=\"denied\"} 5"));
  EXPECT_THAT(registry_.Serialize(),
              HasSubstr("fsb_controller_client_auth_total{result=\"ok\"} 5"));
}

TEST_F(ClientAuthTest, AMethodWithoutARuleIsDeniedEvenToAdmins) {
  ClientAuth auth(tokens_.store(), &registry_);
  absl::StatusOr<auth::Principal> caller =
      Call(auth, "Bearer ops-token", "/fastpath.v1.FastPathService/DropEverything", "");
  EXPECT_EQ(caller.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(caller.status().message(), HasSubstr("has no authorization rule"));
}

TEST_F(ClientAuthTest, CallerAuthenticatesWithoutAuthorizing) {
  ClientAuth auth(tokens_.store(), &registry_);
  ContextWith ctx("Bearer val-token");
  absl::StatusOr<auth::Principal> val = auth.Caller(*ctx.get());
  ASSERT_TRUE(val.ok()) << val.status();
  EXPECT_EQ(val->role, auth::Role::kViewer);
  EXPECT_THAT(val->namespaces, ::testing::ElementsAre("team-a"));
}

TEST_F(ClientAuthTest, TheInsecureModeMakesEveryCallerAnAdmin) {
  const ClientAuth auth = ClientAuth::AllowAll(&registry_);
  absl::StatusOr<auth::Principal> anyone = Call(auth, "", kApplyPool, "");
  ASSERT_TRUE(anyone.ok()) << anyone.status();
  EXPECT_EQ(anyone->role, auth::Role::kAdmin);
  EXPECT_TRUE(Call(auth, "Bearer whatever", kCreate, "team-b").ok());
}

}  // namespace
}  // namespace fsb::controller
