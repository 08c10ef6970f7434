#ifndef FSB_CONTROLLER_CLIENT_AUTH_TESTING_H_
#define FSB_CONTROLLER_CLIENT_AUTH_TESTING_H_

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/server_context.h"
#include "grpcpp/test/server_context_test_spouse.h"
#include "gtest/gtest.h"
#include "internal/auth/token_store.h"
#include "internal/auth/tokens.h"
#include "internal/clock.h"
#include "internal/strings.h"

namespace fsb::controller {

// For tests of ClientAuth and the servers it guards: a tokens file in a temp folder with
// an admin ("ops-token"), a user of team-a ("alice-token"), a viewer of team-a
// ("val-token") and a user of team-b ("bob-token"), loaded into a TokenStore; and server
// contexts carrying a bearer token.
class TestTokens {
 public:
  TestTokens() {
    std::string pattern = (std::filesystem::path(::testing::TempDir()) / "tokens_XXXXXX").string();
    EXPECT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    const std::string path = (dir_ / "tokens.yaml").string();
    std::ofstream(path) << "tokens:\n"
                        << Entry("ops", "ops-token", "    role: admin\n")
                        << Entry("alice", "alice-token",
                                 "    role: user\n    namespaces: [team-a]\n")
                        << Entry("val", "val-token", "    role: viewer\n    namespaces: [team-a]\n")
                        << Entry("bob", "bob-token", "    role: user\n    namespaces: [team-b]\n");
    absl::StatusOr<std::unique_ptr<auth::TokenStore>> store =
        auth::TokenStore::Load(path, Clock::Real());
    EXPECT_TRUE(store.ok()) << store.status();
    if (store.ok()) store_ = *std::move(store);
  }
  ~TestTokens() { std::filesystem::remove_all(dir_); }

  const auth::TokenStore* store() const { return store_.get(); }

 private:
  static std::string Entry(std::string_view subject, std::string_view token,
                           std::string_view rest) {
    absl::StatusOr<auth::TokenHash> hash = auth::HashToken(token);
    EXPECT_TRUE(hash.ok());
    return absl::StrCat("  - subject: ", Sv(subject), "\n    sha256: ",
                        absl::BytesToHexString(absl::string_view(
                            reinterpret_cast<const char*>(hash->data()), hash->size())),
                        "\n", Sv(rest));
  }

  std::filesystem::path dir_;
  std::unique_ptr<auth::TokenStore> store_;
};

// A server context whose client metadata has `authorization` (none when empty).
class ContextWith {
 public:
  explicit ContextWith(std::string_view authorization) : spouse_(&ctx_) {
    if (!authorization.empty()) {
      spouse_.AddClientMetadata("authorization", std::string(authorization));
    }
  }
  grpc::ServerContext* get() { return &ctx_; }

 private:
  grpc::ServerContext ctx_;
  grpc::testing::ServerContextTestSpouse spouse_;
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_CLIENT_AUTH_TESTING_H_
