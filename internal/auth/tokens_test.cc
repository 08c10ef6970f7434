#include "internal/auth/tokens.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::auth {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

// The hex SHA-256 of `token`, as `printf %s TOKEN | sha256sum` prints it.
std::string HexHash(std::string_view token) {
  absl::StatusOr<TokenHash> hash = HashToken(token);
  EXPECT_TRUE(hash.ok()) << hash.status();
  if (!hash.ok()) return "";
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(hash->data()), hash->size()));
}

TEST(HashTokenTest, IsSha256) {
  // FIPS 180-2's test vector, and the digest of the empty string.
  EXPECT_EQ(HexHash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexHash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ParseTokenFileTest, ReadsEveryField) {
  absl::StatusOr<std::vector<TokenEntry>> entries =
      ParseTokenFile(absl::StrCat("# clients of the cluster\n"
                                  "tokens:\n"
                                  "  - subject: alice\n"
                                  "    sha256: ",
                                  HexHash("alice-token"),
                                  "\n"
                                  "    role: user\n"
                                  "    namespaces: [team-b, team-a, team-b]\n"
                                  "    expires: 2027-01-01T00:00:00Z\n"
                                  "  - subject: ops@example.com\n"
                                  "    sha256: \"",
                                  absl::AsciiStrToUpper(HexHash("ops-token")),
                                  "\"\n"
                                  "    role: admin\n"
                                  "  - subject: dashboard\n"
                                  "    sha256: ",
                                  HexHash("dashboard-token"),
                                  "\n"
                                  "    role: viewer\n"
                                  "    namespaces: [\"*\", team-a]\n"
                                  "    expires: 2027-01-01T02:30:00.5+02:00\n"));
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_THAT(*entries, SizeIs(3));

  const TokenEntry& alice = (*entries)[0];
  EXPECT_EQ(alice.sha256, *HashToken("alice-token"));
  EXPECT_EQ(alice.principal.subject, "alice");
  EXPECT_EQ(alice.principal.role, Role::kUser);
  EXPECT_FALSE(alice.principal.all_namespaces);
  EXPECT_THAT(alice.principal.namespaces, ElementsAre("team-a", "team-b"));  // sorted, unique
  const absl::Time new_year =
      absl::FromCivil(absl::CivilSecond(2027, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  EXPECT_EQ(alice.expires, new_year);

  const TokenEntry& ops = (*entries)[1];
  EXPECT_EQ(ops.sha256, *HashToken("ops-token"));  // upper-case hex reads the same
  EXPECT_EQ(ops.principal.subject, "ops@example.com");
  EXPECT_EQ(ops.principal.role, Role::kAdmin);
  EXPECT_TRUE(ops.principal.all_namespaces);
  EXPECT_THAT(ops.principal.namespaces, IsEmpty());
  EXPECT_EQ(ops.expires, std::nullopt);

  const TokenEntry& dashboard = (*entries)[2];
  EXPECT_EQ(dashboard.principal.role, Role::kViewer);
  EXPECT_TRUE(dashboard.principal.all_namespaces);
  EXPECT_THAT(dashboard.principal.namespaces, IsEmpty());
  EXPECT_EQ(dashboard.expires, new_year + absl::Minutes(30) + absl::Milliseconds(500));
}

TEST(ParseTokenFileTest, AnEmptyListLetsNobodyIn) {
  absl::StatusOr<std::vector<TokenEntry>> entries = ParseTokenFile("tokens: []\n");
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_THAT(*entries, IsEmpty());
}

TEST(ParseTokenFileTest, SubjectsMayRepeatForRotation) {
  absl::StatusOr<std::vector<TokenEntry>> entries =
      ParseTokenFile(absl::StrCat("tokens:\n"
                                  "  - {subject: ci, role: user, namespaces: [ci], sha256: ",
                                  HexHash("old"),
                                  "}\n"
                                  "  - {subject: ci, role: user, namespaces: [ci], sha256: ",
                                  HexHash("new"), "}\n"));
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_THAT(*entries, SizeIs(2));
  EXPECT_EQ((*entries)[0].principal.subject, "ci");
  EXPECT_EQ((*entries)[1].principal.subject, "ci");
  EXPECT_NE((*entries)[0].sha256, (*entries)[1].sha256);
}

TEST(ParseTokenFileTest, NeverQuotesTheSha256Field) {
  // An operator pasted the token itself instead of its hash.
  const std::string token = "s3cr3t-t0ken-that-must-not-be-logged";
  absl::StatusOr<std::vector<TokenEntry>> entries = ParseTokenFile(
      absl::StrCat("tokens:\n  - {subject: alice, role: admin, sha256: ", token, "}\n"));
  ASSERT_FALSE(entries.ok());
  EXPECT_EQ(entries.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(entries.status().message()), HasSubstr("sha256 must be 64 hex digits"));
  EXPECT_THAT(std::string(entries.status().message()), Not(HasSubstr(token)));
}

struct ErrorCase {
  std::string name;
  std::string yaml;
  std::string message;  // the whole error message
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class ParseTokenFileErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ParseTokenFileErrorTest, NamesTheEntryAndTheField) {
  absl::StatusOr<std::vector<TokenEntry>> entries = ParseTokenFile(GetParam().yaml);
  ASSERT_FALSE(entries.ok());
  EXPECT_EQ(entries.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(entries.status().message(), GetParam().message);
}

// An entry of role `role` with `extra` fields; its subject is alice, its token "a".
std::string Entry(const std::string& role, const std::string& extra) {
  return absl::StrCat("  - subject: alice\n    sha256: ", HexHash("a"), "\n    role: ", role, "\n",
                      extra);
}

std::string File(const std::string& entries) { return absl::StrCat("tokens:\n", entries); }

INSTANTIATE_TEST_SUITE_P(
    TokenFile, ParseTokenFileErrorTest,
    ::testing::Values(
        ErrorCase{"Empty", "# nothing yet\n",
                  "no tokens list: the file is empty (write tokens: [] to let nobody in)"},
        ErrorCase{"Syntax", "tokens: [\n",
                  "document 1: line 2, column 1: did not find expected node content (while "
                  "parsing a flow node at line 2)"},
        ErrorCase{"TwoDocuments", "tokens: []\n---\ntokens: []\n",
                  "document 2 (line 3): a tokens file has a single document"},
        ErrorCase{"NotAMapping", "- a\n", "expected a mapping with the key tokens"},
        ErrorCase{"NoTokensKey", "users: []\n", "expected a mapping with the key tokens"},
        ErrorCase{"UnknownTopLevelKey", "tokens: []\nversion: 2\n",
                  "unknown key \"version\" (expected only tokens)"},
        ErrorCase{"TokensNotAList", "tokens: {alice: x}\n", "tokens must be a list"},
        ErrorCase{"EntryNotAMapping", "tokens: [alice]\n",
                  "tokens[0]: expected a mapping with the keys subject, sha256, role, "
                  "namespaces and (optionally) expires"},
        ErrorCase{"NoSubject", File("  - {role: admin}\n"), "tokens[0]: subject is missing"},
        ErrorCase{"SubjectNotAString", File("  - {subject: 42, role: admin}\n"),
                  "tokens[0]: subject must be a string"},
        ErrorCase{"SubjectWithSpace", File("  - {subject: alice smith, role: admin}\n"),
                  "tokens[0]: subject \"alice smith\" must be 1-128 printable ASCII characters "
                  "without spaces"},
        ErrorCase{"SubjectEmpty", File("  - {subject: \"\", role: admin}\n"),
                  "tokens[0]: subject \"\" must be 1-128 printable ASCII characters without "
                  "spaces"},
        ErrorCase{"SubjectWithControl", File("  - {subject: \"a\\tb\", role: admin}\n"),
                  "tokens[0]: subject \"a\\tb\" must be 1-128 printable ASCII characters "
                  "without spaces"},
        ErrorCase{"UnknownKey", File(Entry("admin", "    namespace: team-a\n")),
                  "tokens[0] (subject \"alice\"): unknown key \"namespace\" (expected subject, "
                  "sha256, role, namespaces, expires)"},
        ErrorCase{"NoHash", File("  - {subject: alice, role: admin}\n"),
                  "tokens[0] (subject \"alice\"): sha256 is missing"},
        ErrorCase{"HashTooShort", File("  - {subject: alice, role: admin, sha256: 9f86d0}\n"),
                  "tokens[0] (subject \"alice\"): sha256 must be 64 hex digits, the SHA-256 of "
                  "the token (printf %s TOKEN | sha256sum)"},
        ErrorCase{"HashNotHex",
                  File(absl::StrCat("  - {subject: alice, role: admin, sha256: ",
                                    std::string(63, 'a'), "g}\n")),
                  "tokens[0] (subject \"alice\"): sha256 must be 64 hex digits, the SHA-256 of "
                  "the token (printf %s TOKEN | sha256sum)"},
        ErrorCase{
            "HashOfEmptyToken",
            File(absl::StrCat("  - {subject: alice, role: admin, sha256: ", HexHash(""), "}\n")),
            "tokens[0] (subject \"alice\"): sha256 is the hash of the empty token (was "
            "TOKEN unset?)"},
        ErrorCase{
            "DuplicateHash",
            File(absl::StrCat(Entry("admin", ""), "  - subject: bob\n    sha256: ", HexHash("b"),
                              "\n    role: admin\n", "  - subject: carol\n    sha256: ",
                              HexHash("a"), "\n    role: admin\n")),
            "tokens[2] (subject \"carol\"): sha256 is the same as the one of tokens[0]: "
            "every entry needs a token of its own"},
        ErrorCase{"NoRole",
                  File(absl::StrCat("  - {subject: alice, sha256: ", HexHash("a"), "}\n")),
                  "tokens[0] (subject \"alice\"): role is missing"},
        ErrorCase{"BadRole", File(Entry("root", "")),
                  "tokens[0] (subject \"alice\"): role must be admin, user or viewer, got "
                  "\"root\""},
        ErrorCase{"RoleInCapitals", File(Entry("Admin", "")),
                  "tokens[0] (subject \"alice\"): role must be admin, user or viewer, got "
                  "\"Admin\""},
        ErrorCase{"AdminWithNamespaces", File(Entry("admin", "    namespaces: [team-a]\n")),
                  "tokens[0] (subject \"alice\"): namespaces must be absent for role admin (an "
                  "admin is cluster-wide)"},
        ErrorCase{"UserWithoutNamespaces", File(Entry("user", "")),
                  "tokens[0] (subject \"alice\"): namespaces is required for role user: a list "
                  "of namespaces, or [\"*\"] for all"},
        ErrorCase{"ViewerWithEmptyNamespaces", File(Entry("viewer", "    namespaces: []\n")),
                  "tokens[0] (subject \"alice\"): namespaces is required for role viewer: a "
                  "list of namespaces, or [\"*\"] for all"},
        ErrorCase{"NamespacesNotAList", File(Entry("user", "    namespaces: team-a\n")),
                  "tokens[0] (subject \"alice\"): namespaces must be a list (namespaces is "
                  "required for role user: a list of namespaces, or [\"*\"] for all)"},
        ErrorCase{"NamespaceNotAString", File(Entry("user", "    namespaces: [team-a, 7]\n")),
                  "tokens[0] (subject \"alice\"): namespaces[1] must be a string"},
        ErrorCase{"NamespaceNotADnsLabel", File(Entry("user", "    namespaces: [Team_A]\n")),
                  "tokens[0] (subject \"alice\"): namespaces[0] \"Team_A\" is invalid: only "
                  "lowercase letters, digits and '-' are allowed (or \"*\" for all)"},
        ErrorCase{"NamespaceGlob", File(Entry("user", "    namespaces: [\"team-*\"]\n")),
                  "tokens[0] (subject \"alice\"): namespaces[0] \"team-*\" is invalid: only "
                  "lowercase letters, digits and '-' are allowed (or \"*\" for all)"},
        ErrorCase{"ExpiresNotAString", File(Entry("admin", "    expires: 1798761600\n")),
                  "tokens[0] (subject \"alice\"): expires must be an RFC 3339 timestamp, e.g. "
                  "2027-01-01T00:00:00Z"},
        ErrorCase{"ExpiresWithoutOffset",
                  File(Entry("admin", "    expires: 2027-01-01T00:00:00\n")),
                  "tokens[0] (subject \"alice\"): expires \"2027-01-01T00:00:00\" is not an "
                  "RFC 3339 timestamp such as 2027-01-01T00:00:00Z: Failed to parse input"},
        ErrorCase{"ExpiresDateOnly", File(Entry("admin", "    expires: 2027-01-01\n")),
                  "tokens[0] (subject \"alice\"): expires \"2027-01-01\" is not an RFC 3339 "
                  "timestamp such as 2027-01-01T00:00:00Z: Failed to parse input"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

}  // namespace
}  // namespace fsb::auth
