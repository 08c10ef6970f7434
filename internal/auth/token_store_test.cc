#include "internal/auth/token_store.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::auth {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string HexHash(std::string_view token) {
  absl::StatusOr<TokenHash> hash = HashToken(token);
  EXPECT_TRUE(hash.ok()) << hash.status();
  if (!hash.ok()) return "";
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(hash->data()), hash->size()));
}

const absl::Time kExpiry =
    absl::FromCivil(absl::CivilSecond(2027, 1, 1, 0, 0, 0), absl::UTCTimeZone());

// alice (user of team-a, token "alice-token", expires kExpiry) and ops (admin, token
// "ops-token", never expires).
std::string AliceAndOps() {
  return absl::StrCat("tokens:\n  - subject: alice\n    sha256: ", HexHash("alice-token"),
                      "\n    role: user\n    namespaces: [team-a]\n"
                      "    expires: 2027-01-01T00:00:00Z\n"
                      "  - subject: ops\n    sha256: ",
                      HexHash("ops-token"), "\n    role: admin\n");
}

// bob (viewer of team-b, token "bob-token").
std::string Bob() {
  return absl::StrCat("tokens:\n  - subject: bob\n    sha256: ", HexHash("bob-token"),
                      "\n    role: viewer\n    namespaces: [team-b]\n");
}

// A tokens file in a folder of its own, removed with the fixture.
class TokenStoreTest : public ::testing::Test {
 protected:
  TokenStoreTest() {
    std::string pattern = (fs::path(::testing::TempDir()) / "token_store_XXXXXX").string();
    EXPECT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = (dir_ / "tokens.yaml").string();
  }
  ~TokenStoreTest() override { fs::remove_all(dir_); }

  void Write(const std::string& content) const {
    // Replaced atomically, as an operator's editor or a Kubernetes Secret update does.
    const std::string tmp = path_ + ".tmp";
    std::ofstream(tmp, std::ios::binary) << content;
    fs::rename(tmp, path_);
  }

  std::unique_ptr<TokenStore> LoadOk() {
    absl::StatusOr<std::unique_ptr<TokenStore>> store = TokenStore::Load(path_, &clock_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  ManualClock clock_{kExpiry - absl::Hours(1)};
  fs::path dir_;
  std::string path_;
};

TEST_F(TokenStoreTest, AuthenticatesTheTokensOfTheFile) {
  Write(AliceAndOps());
  std::unique_ptr<TokenStore> store = LoadOk();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->size(), 2);
  EXPECT_EQ(store->path(), path_);

  absl::StatusOr<Principal> alice = store->Authenticate("alice-token");
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(alice->subject, "alice");
  EXPECT_EQ(alice->role, Role::kUser);
  EXPECT_THAT(alice->namespaces, ElementsAre("team-a"));

  absl::StatusOr<Principal> ops = store->Authenticate("ops-token");
  ASSERT_TRUE(ops.ok()) << ops.status();
  EXPECT_EQ(ops->subject, "ops");
  EXPECT_EQ(ops->role, Role::kAdmin);
}

TEST_F(TokenStoreTest, UnknownTokensAreUnauthenticated) {
  Write(AliceAndOps());
  std::unique_ptr<TokenStore> store = LoadOk();
  ASSERT_NE(store, nullptr);
  for (std::string_view token : {"alice-token ", "ALICE-TOKEN", "", "bob-token"}) {
    absl::StatusOr<Principal> principal = store->Authenticate(token);
    EXPECT_EQ(principal.status(), absl::UnauthenticatedError("unknown token")) << token;
  }
}

TEST_F(TokenStoreTest, ExpiredTokensAreUnauthenticatedFromTheirExpiry) {
  Write(AliceAndOps());
  std::unique_ptr<TokenStore> store = LoadOk();
  ASSERT_NE(store, nullptr);
  clock_.Set(kExpiry - absl::Nanoseconds(1));
  EXPECT_TRUE(store->Authenticate("alice-token").ok());
  clock_.Set(kExpiry);
  EXPECT_EQ(store->Authenticate("alice-token").status(),
            absl::UnauthenticatedError("token of alice expired at 2027-01-01T00:00:00Z"));
  clock_.Advance(absl::Hours(24 * 365));
  EXPECT_EQ(store->Authenticate("alice-token").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(store->Authenticate("ops-token").ok());  // no expiry
}

TEST_F(TokenStoreTest, ReloadReplacesTheTokens) {
  Write(AliceAndOps());
  std::unique_ptr<TokenStore> store = LoadOk();
  ASSERT_NE(store, nullptr);
  Write(Bob());
  ASSERT_TRUE(store->Reload().ok());
  EXPECT_EQ(store->size(), 1);
  EXPECT_EQ(store->Authenticate("alice-token").status(),
            absl::UnauthenticatedError("unknown token"));  // revoked
  absl::StatusOr<Principal> bob = store->Authenticate("bob-token");
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_EQ(bob->subject, "bob");
  EXPECT_EQ(bob->role, Role::kViewer);
}

TEST_F(TokenStoreTest, ReloadIfChangedReadsEachNewVersionOnce) {
  Write(AliceAndOps());
  std::unique_ptr<TokenStore> store = LoadOk();
  ASSERT_NE(store, nullptr);
  // Whether it reloaded; an error fails the test.
  auto reloaded = [&] {
    absl::StatusOr<bool> r = store->ReloadIfChanged();
    EXPECT_TRUE(r.ok()) << r.status();
    return r.value_or(false);
  };
  EXPECT_FALSE(reloaded());  // the file just loaded

  Write(Bob());
  EXPECT_TRUE(reloaded());
  EXPECT_FALSE(store->Authenticate("alice-token").ok());  // revoked
  EXPECT_TRUE(store->Authenticate("bob-token").ok());
  EXPECT_FALSE(reloaded());

  // A bad version is reported once, and the tokens stay.
  Write("tokens: 3\n");
  EXPECT_EQ(store->ReloadIfChanged().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(reloaded());
  EXPECT_TRUE(store->Authenticate("bob-token").ok());

  Write(AliceAndOps());
  EXPECT_TRUE(reloaded());
  EXPECT_TRUE(store->Authenticate("alice-token").ok());
}

TEST_F(TokenStoreTest, ABadReloadKeepsTheOldTokens) {
  Write(AliceAndOps());
  std::unique_ptr<TokenStore> store = LoadOk();
  ASSERT_NE(store, nullptr);

  Write(absl::StrCat(Bob(), "    role: admin\n"));  // a repeated key
  absl::Status reloaded = store->Reload();
  EXPECT_EQ(reloaded.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(reloaded.message()),
              HasSubstr(absl::StrCat("tokens file ", path_, ": document 1: line 6")));
  EXPECT_TRUE(store->Authenticate("alice-token").ok());
  EXPECT_FALSE(store->Authenticate("bob-token").ok());

  Write("");  // truncated
  EXPECT_EQ(store->Reload().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store->Authenticate("alice-token").ok());

  fs::remove(path_);
  reloaded = store->Reload();
  EXPECT_EQ(reloaded.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(reloaded.message()),
              HasSubstr(absl::StrCat("cannot read tokens file ", path_)));
  EXPECT_TRUE(store->Authenticate("alice-token").ok());
  EXPECT_TRUE(store->Authenticate("ops-token").ok());
  EXPECT_EQ(store->size(), 2);
}

TEST_F(TokenStoreTest, LoadFailsOnAMissingOrBadFile) {
  absl::StatusOr<std::unique_ptr<TokenStore>> missing = TokenStore::Load(path_, &clock_);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(path_));

  Write("tokens:\n  - {subject: alice, role: root}\n");
  absl::StatusOr<std::unique_ptr<TokenStore>> bad = TokenStore::Load(path_, &clock_);
  EXPECT_EQ(bad.status(),
            absl::InvalidArgumentError(absl::StrCat(
                "tokens file ", path_, ": tokens[0] (subject \"alice\"): sha256 is missing")));
}

TEST_F(TokenStoreTest, LoadRefusesAHugeFile) {
  Write(absl::StrCat("tokens: []\n", std::string(5 << 20, '#')));
  EXPECT_EQ(TokenStore::Load(path_, &clock_).status(),
            absl::InvalidArgumentError(absl::StrCat("tokens file ", path_, ": larger than 4 MiB")));
}

// A file where the token "shared" is `subject`'s, of role `role` in namespace `ns`.
std::string Shared(const std::string& subject, const std::string& role, const std::string& ns) {
  return absl::StrCat("tokens:\n  - subject: ", subject, "\n    sha256: ", HexHash("shared"),
                      "\n    role: ", role, "\n    namespaces: [", ns, "]\n");
}

TEST_F(TokenStoreTest, ReadersSeeTheOldOrTheNewFileDuringReloads) {
  Write(Shared("first", "user", "team-a"));
  std::unique_ptr<TokenStore> store = LoadOk();
  ASSERT_NE(store, nullptr);
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::thread reader([&] {
    do {
      absl::StatusOr<Principal> p = store->Authenticate("shared");
      const bool first = p.ok() && p->subject == "first" && p->role == Role::kUser &&
                         p->namespaces == std::vector<std::string>{"team-a"};
      const bool second = p.ok() && p->subject == "second" && p->role == Role::kViewer &&
                          p->namespaces == std::vector<std::string>{"team-b"};
      if (!first && !second) failures.fetch_add(1);
    } while (!done.load());
  });
  for (int i = 0; i < 200; ++i) {
    Write(i % 2 == 0 ? Shared("second", "viewer", "team-b") : Shared("first", "user", "team-a"));
    EXPECT_TRUE(store->Reload().ok());
  }
  done.store(true);
  reader.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(BearerTokenTest, TakesTheTokenOfABearerValue) {
  EXPECT_EQ(BearerToken("Bearer abc.DEF-123_~+/=").value_or(""), "abc.DEF-123_~+/=");
  EXPECT_EQ(BearerToken("bearer abc").value_or(""), "abc");  // the scheme in any case
  EXPECT_EQ(BearerToken("BEARER   abc").value_or(""), "abc");
}

TEST(BearerTokenTest, NamesWhatIsWrongWithoutQuotingTheValue) {
  EXPECT_EQ(BearerToken(std::nullopt).status(),
            absl::UnauthenticatedError("missing authorization metadata: expected "
                                       "\"authorization: Bearer <token>\""));
  for (std::string_view value : {"Basic YWxpY2U6c2VjcmV0", "Bearerabc", "", "secret-token"}) {
    absl::StatusOr<std::string_view> token = BearerToken(value);
    EXPECT_EQ(token.status(),
              absl::UnauthenticatedError("authorization metadata is not a Bearer token: expected "
                                         "\"authorization: Bearer <token>\""))
        << value;
  }
  for (std::string_view value : {"Bearer", "Bearer ", "bearer    "}) {
    EXPECT_EQ(BearerToken(value).status(),
              absl::UnauthenticatedError(
                  "empty bearer token: expected \"authorization: Bearer <token>\""))
        << value;
  }
  for (std::string_view value : {"Bearer abc def", "Bearer abc ", "Bearer abc\n"}) {
    EXPECT_EQ(BearerToken(value).status(),
              absl::UnauthenticatedError("the bearer token contains a space or a control "
                                         "character: expected \"authorization: Bearer <token>\""))
        << value;
  }
}

}  // namespace
}  // namespace fsb::auth
