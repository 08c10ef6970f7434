#include "internal/auth/authorization.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "fastpath/v1/fastpath.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"

namespace fsb::auth {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

Principal Admin() { return Principal{"root", Role::kAdmin, true, {}}; }
Principal UserOfTeamA() { return Principal{"alice", Role::kUser, false, {"team-a", "team-c"}}; }
Principal ViewerOfTeamA() { return Principal{"bob", Role::kViewer, false, {"team-a"}}; }
Principal UserOfAll() { return Principal{"ci", Role::kUser, true, {}}; }
Principal ViewerOfAll() { return Principal{"dash", Role::kViewer, true, {}}; }

// The gRPC name of every method of every service of fastpath/v1/fastpath.proto.
std::vector<std::string> FastPathMethods() {
  const google::protobuf::FileDescriptor* file = fastpath::v1::CreateRequest::descriptor()->file();
  std::vector<std::string> methods;
  for (int s = 0; s < file->service_count(); ++s) {
    const google::protobuf::ServiceDescriptor* service = file->service(s);
    for (int m = 0; m < service->method_count(); ++m) {
      methods.push_back(absl::StrCat("/", service->full_name(), "/", service->method(m)->name()));
    }
  }
  return methods;
}

TEST(MethodAccessTableTest, CoversEveryMethodOfTheClientServices) {
  const google::protobuf::FileDescriptor* file = fastpath::v1::CreateRequest::descriptor()->file();
  std::vector<std::string> services;
  for (int s = 0; s < file->service_count(); ++s) services.push_back(file->service(s)->full_name());
  EXPECT_THAT(services, UnorderedElementsAre("fastpath.v1.FastPathService", "fastpath.v1.SandboxIO",
                                             "fastpath.v1.Images"));
  for (const std::string& method : FastPathMethods()) {
    EXPECT_TRUE(AccessOfMethod(method).has_value())
        << method << " has no entry in MethodAccessTable (internal/auth/authorization.cc)";
  }
}

TEST(MethodAccessTableTest, NamesOnlyExistingMethodsOnce) {
  const std::vector<std::string> methods = FastPathMethods();
  absl::flat_hash_set<std::string> seen;
  for (const MethodAccess& entry : MethodAccessTable()) {
    EXPECT_TRUE(seen.insert(std::string(entry.method)).second) << entry.method << " is repeated";
    EXPECT_THAT(methods, ::testing::Contains(std::string(entry.method)))
        << entry.method << " is not a method of fastpath.v1";
  }
  EXPECT_EQ(seen.size(), methods.size());
}

TEST(MethodAccessTableTest, UnknownMethodsHaveNoAccess) {
  EXPECT_EQ(AccessOfMethod("/fastpath.v1.FastPathService/createsandbox"), std::nullopt);
  EXPECT_EQ(AccessOfMethod("fastpath.v1.FastPathService/CreateSandbox"), std::nullopt);
  EXPECT_EQ(AccessOfMethod("/fsb.agent.v1.SandboxIO/Exec"), std::nullopt);
  EXPECT_EQ(AccessOfMethod(""), std::nullopt);
}

// The policy, per RPC: what it needs and whom it admits. `user_own` and `viewer_own` are
// calls in a namespace of the principal's (team-a), `user_other` and `viewer_other` in
// another (team-b); cluster RPCs ignore the namespace.
struct RpcCase {
  std::string method;
  Access access;
  bool user_own;
  bool user_other;
  bool viewer_own;
  bool viewer_other;
};

void PrintTo(const RpcCase& c, std::ostream* os) { *os << c.method; }

class RpcPolicyTest : public ::testing::TestWithParam<RpcCase> {};

TEST_P(RpcPolicyTest, AdmitsExactlyWhomItShould) {
  const RpcCase& c = GetParam();
  std::optional<Access> access = AccessOfMethod(c.method);
  ASSERT_TRUE(access.has_value()) << c.method;
  ASSERT_EQ(*access, c.access) << c.method << " needs " << AccessName(*access);
  EXPECT_TRUE(Authorize(Admin(), *access, "team-a").ok());
  EXPECT_TRUE(Authorize(Admin(), *access, "team-b").ok());
  EXPECT_TRUE(Authorize(Admin(), *access, "").ok());
  EXPECT_EQ(Authorize(UserOfTeamA(), *access, "team-a").ok(), c.user_own);
  EXPECT_EQ(Authorize(UserOfTeamA(), *access, "team-b").ok(), c.user_other);
  EXPECT_EQ(Authorize(ViewerOfTeamA(), *access, "team-a").ok(), c.viewer_own);
  EXPECT_EQ(Authorize(ViewerOfTeamA(), *access, "team-b").ok(), c.viewer_other);
  // "*" grants every namespace, not more: the same as in one's own namespace.
  EXPECT_EQ(Authorize(UserOfAll(), *access, "team-b").ok(), c.user_own);
  EXPECT_EQ(Authorize(ViewerOfAll(), *access, "team-b").ok(), c.viewer_own);
}

constexpr Access kNsRead = Access::kNamespacedRead;
constexpr Access kNsWrite = Access::kNamespacedWrite;
constexpr Access kClusterRead = Access::kClusterRead;
constexpr Access kClusterWrite = Access::kClusterWrite;

const std::vector<RpcCase>& RpcCases() {
  static const auto* const kCases = new std::vector<RpcCase>{
      // method, access, user: own, other; viewer: own, other
      {"/fastpath.v1.FastPathService/CreateSandbox", kNsWrite, true, false, false, false},
      {"/fastpath.v1.FastPathService/DeleteSandbox", kNsWrite, true, false, false, false},
      {"/fastpath.v1.FastPathService/UpdateSandbox", kNsWrite, true, false, false, false},
      {"/fastpath.v1.FastPathService/ListSandboxes", kNsRead, true, false, true, false},
      {"/fastpath.v1.FastPathService/GetSandbox", kNsRead, true, false, true, false},
      {"/fastpath.v1.FastPathService/GetSandboxResource", kNsRead, true, false, true, false},
      {"/fastpath.v1.FastPathService/ApplySandbox", kNsWrite, true, false, false, false},
      {"/fastpath.v1.FastPathService/ListAgents", kClusterRead, true, true, true, true},
      {"/fastpath.v1.FastPathService/DeleteAgent", kClusterWrite, false, false, false, false},
      {"/fastpath.v1.FastPathService/ApplySandboxPool", kClusterWrite, false, false, false, false},
      {"/fastpath.v1.FastPathService/ListSandboxPools", kClusterRead, true, true, true, true},
      {"/fastpath.v1.FastPathService/DeleteSandboxPool", kClusterWrite, false, false, false, false},
      {"/fastpath.v1.SandboxIO/Logs", kNsRead, true, false, true, false},
      {"/fastpath.v1.SandboxIO/Exec", kNsWrite, true, false, false, false},
      {"/fastpath.v1.Images/ImportImage", kClusterWrite, false, false, false, false},
  };
  return *kCases;
}

INSTANTIATE_TEST_SUITE_P(FastPath, RpcPolicyTest, ::testing::ValuesIn(RpcCases()),
                         [](const ::testing::TestParamInfo<RpcCase>& info) {
                           const std::string& m = info.param.method;
                           return m.substr(m.rfind('/') + 1);
                         });

TEST(RpcPolicyCasesTest, EveryMethodHasACase) {
  // The cases above state each RPC's policy on their own; a new RPC needs one too.
  std::vector<std::string> cased;
  for (const RpcCase& c : RpcCases()) cased.push_back(c.method);
  EXPECT_THAT(cased, ::testing::UnorderedElementsAreArray(FastPathMethods()));
}

TEST(AuthorizeTest, DenialsNameTheSubjectRoleVerbAndNamespace) {
  EXPECT_EQ(Authorize(UserOfTeamA(), kNsWrite, "team-b"),
            absl::PermissionDeniedError("alice (role user) may not write in namespace team-b"));
  EXPECT_EQ(Authorize(UserOfTeamA(), kNsRead, "team-b"),
            absl::PermissionDeniedError("alice (role user) may not read in namespace team-b"));
  EXPECT_EQ(Authorize(ViewerOfTeamA(), kNsWrite, "team-a"),
            absl::PermissionDeniedError("bob (role viewer) may not write in namespace team-a"));
  EXPECT_EQ(Authorize(UserOfTeamA(), kClusterWrite, ""),
            absl::PermissionDeniedError("alice (role user) may not write cluster-wide resources "
                                        "(agents, sandbox pools, images)"));
  EXPECT_EQ(Authorize(UserOfTeamA(), kNsRead, ""),
            absl::PermissionDeniedError("alice (role user) may not read in every namespace"));
  // Whatever a client sends as a namespace is escaped before it reaches a log line.
  EXPECT_EQ(Authorize(ViewerOfTeamA(), kNsRead, "x\n\"y"),
            absl::PermissionDeniedError("bob (role viewer) may not read in namespace x\\n\\\"y"));
}

TEST(AuthorizeTest, EveryNamespaceNeedsAllNamespaces) {
  EXPECT_TRUE(Authorize(UserOfAll(), kNsWrite, "").ok());
  EXPECT_TRUE(Authorize(ViewerOfAll(), kNsRead, "").ok());
  EXPECT_FALSE(Authorize(ViewerOfAll(), kNsWrite, "").ok());
  EXPECT_FALSE(Authorize(UserOfTeamA(), kNsWrite, "").ok());
}

TEST(AuthorizeTest, NamespacesMatchExactly) {
  for (std::string_view ns : {"team", "team-a-x", "Team-a", "team-a ", "team-"}) {
    EXPECT_FALSE(Authorize(UserOfTeamA(), kNsRead, ns).ok()) << ns;
  }
  EXPECT_TRUE(Authorize(UserOfTeamA(), kNsWrite, "team-c").ok());  // its second namespace
}

TEST(MayReadTest, FiltersAListOverEveryNamespace) {
  const std::vector<std::string> namespaces = {"default", "team-a", "team-b", "team-c"};
  auto readable = [&namespaces](const Principal& principal) {
    std::vector<std::string> out;
    for (const std::string& ns : namespaces) {
      if (MayRead(principal, ns)) out.push_back(ns);
    }
    return out;
  };
  EXPECT_THAT(readable(Admin()), ElementsAre("default", "team-a", "team-b", "team-c"));
  EXPECT_THAT(readable(UserOfTeamA()), ElementsAre("team-a", "team-c"));
  EXPECT_THAT(readable(ViewerOfTeamA()), ElementsAre("team-a"));
  EXPECT_THAT(readable(ViewerOfAll()), ElementsAre("default", "team-a", "team-b", "team-c"));
  EXPECT_THAT(readable(Principal{"nobody", Role::kViewer, false, {"team-z"}}), IsEmpty());
}

}  // namespace
}  // namespace fsb::auth
