#include "internal/http/address.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::http {
namespace {

using ::testing::HasSubstr;

AddressClass ClassOf(const char* text) {
  std::optional<IpAddress> a = IpAddress::Parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.has_value() ? Classify(*a) : AddressClass::kPublic;
}

TEST(IpAddressTest, ParsesAndPrintsBothFamilies) {
  EXPECT_EQ(IpAddress::Parse("10.1.2.3")->ToString(), "10.1.2.3");
  EXPECT_TRUE(IpAddress::Parse("10.1.2.3")->is_v4());
  EXPECT_EQ(IpAddress::Parse("[fe80::1]")->ToString(), "fe80::1");
  EXPECT_FALSE(IpAddress::Parse("fe80::1")->is_v4());
  // An IPv4-mapped IPv6 address is the IPv4 address.
  EXPECT_EQ(IpAddress::Parse("::ffff:10.1.2.3"), IpAddress::Parse("10.1.2.3"));
  EXPECT_FALSE(IpAddress::Parse("registry.example.com").has_value());
  EXPECT_FALSE(IpAddress::Parse("10.1.2").has_value());
  EXPECT_FALSE(IpAddress::Parse("").has_value());
}

TEST(ClassifyTest, EveryRangeAndItsEdges) {
  EXPECT_EQ(ClassOf("127.0.0.1"), AddressClass::kLoopback);
  EXPECT_EQ(ClassOf("127.255.255.254"), AddressClass::kLoopback);
  EXPECT_EQ(ClassOf("::1"), AddressClass::kLoopback);
  EXPECT_EQ(ClassOf("169.254.169.254"), AddressClass::kLinkLocal);
  EXPECT_EQ(ClassOf("fe80::1"), AddressClass::kLinkLocal);
  EXPECT_EQ(ClassOf("febf::1"), AddressClass::kLinkLocal);
  EXPECT_EQ(ClassOf("10.0.0.0"), AddressClass::kPrivate);
  EXPECT_EQ(ClassOf("10.255.255.255"), AddressClass::kPrivate);
  EXPECT_EQ(ClassOf("172.16.0.1"), AddressClass::kPrivate);
  EXPECT_EQ(ClassOf("172.31.255.255"), AddressClass::kPrivate);
  EXPECT_EQ(ClassOf("172.15.255.255"), AddressClass::kPublic);
  EXPECT_EQ(ClassOf("172.32.0.0"), AddressClass::kPublic);
  EXPECT_EQ(ClassOf("192.168.1.1"), AddressClass::kPrivate);
  EXPECT_EQ(ClassOf("192.169.0.1"), AddressClass::kPublic);
  EXPECT_EQ(ClassOf("100.64.0.1"), AddressClass::kPrivate);
  EXPECT_EQ(ClassOf("100.128.0.1"), AddressClass::kPublic);
  EXPECT_EQ(ClassOf("fc00::1"), AddressClass::kPrivate);
  EXPECT_EQ(ClassOf("fdff::1"), AddressClass::kPrivate);
  EXPECT_EQ(ClassOf("fec0::1"), AddressClass::kPrivate);
  EXPECT_EQ(ClassOf("0.0.0.0"), AddressClass::kUnspecified);
  EXPECT_EQ(ClassOf("::"), AddressClass::kUnspecified);
  EXPECT_EQ(ClassOf("224.0.0.1"), AddressClass::kMulticast);
  EXPECT_EQ(ClassOf("255.255.255.255"), AddressClass::kMulticast);
  EXPECT_EQ(ClassOf("ff02::1"), AddressClass::kMulticast);
  EXPECT_EQ(ClassOf("8.8.8.8"), AddressClass::kPublic);
  EXPECT_EQ(ClassOf("2001:db8::1"), AddressClass::kPublic);
  // IPv4 inside IPv6 is its IPv4 class: mapped, and NAT64's well-known prefix.
  EXPECT_EQ(ClassOf("::ffff:127.0.0.1"), AddressClass::kLoopback);
  EXPECT_EQ(ClassOf("64:ff9b::a01:203"), AddressClass::kPrivate);  // 10.1.2.3
  EXPECT_EQ(AddressClassName(AddressClass::kLinkLocal), "link-local");
}

// A resolver from a fixed table, counting its calls; each name can answer differently
// on later calls (the last answer repeats).
class TableResolver {
 public:
  void Set(const std::string& host, std::vector<std::vector<std::string>> answers) {
    answers_[host] = std::move(answers);
  }
  int calls() const { return calls_; }
  Resolver resolver() {
    return [this](const std::string& host) -> absl::StatusOr<std::vector<IpAddress>> {
      ++calls_;
      auto it = answers_.find(host);
      if (it == answers_.end()) return absl::UnavailableError("cannot resolve " + host);
      const int n = seen_[host]++;
      const auto& answer = it->second[std::min<size_t>(n, it->second.size() - 1)];
      std::vector<IpAddress> out;
      for (const std::string& a : answer) out.push_back(*IpAddress::Parse(a));
      return out;
    };
  }

 private:
  std::map<std::string, std::vector<std::vector<std::string>>> answers_;
  std::map<std::string, int> seen_;
  int calls_ = 0;
};

TEST(AddressPolicyTest, LoopbackOriginMayReachLoopbackAndPublicOnly) {
  TableResolver table;
  table.Set("blobs.test", {{"10.1.2.3"}});
  table.Set("cdn.test", {{"93.184.216.34"}});
  AddressPolicy policy("127.0.0.1", table.resolver());
  EXPECT_TRUE(policy.Admit("127.0.0.1").ok());
  EXPECT_TRUE(policy.Admit("127.0.0.2").ok());
  EXPECT_TRUE(policy.Admit("cdn.test").ok());
  absl::StatusOr<std::vector<IpAddress>> refused = policy.Admit("blobs.test");
  EXPECT_TRUE(absl::IsPermissionDenied(refused.status())) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("blobs.test is 10.1.2.3, a private address"));
  EXPECT_THAT(refused.status().message(), HasSubstr("loopback, public"));
  for (const char* literal :
       {"169.254.169.254", "[fe80::1]", "10.0.0.1", "0.0.0.0", "[::]", "224.0.0.1", "[fd00::1]"}) {
    EXPECT_TRUE(absl::IsPermissionDenied(policy.Admit(literal).status())) << literal;
  }
}

TEST(AddressPolicyTest, PublicOriginMayReachPublicOnly) {
  TableResolver table;
  table.Set("registry.test", {{"93.184.216.34"}});
  AddressPolicy policy("registry.test", table.resolver());
  EXPECT_TRUE(policy.Admit("registry.test").ok());
  EXPECT_TRUE(absl::IsPermissionDenied(policy.Admit("127.0.0.1").status()));
  EXPECT_TRUE(absl::IsPermissionDenied(policy.Admit("[::1]").status()));
  EXPECT_TRUE(absl::IsPermissionDenied(policy.Admit("192.168.0.1").status()));
}

TEST(AddressPolicyTest, PrivateOriginMayReachPrivateAndPublic) {
  TableResolver table;
  AddressPolicy policy("10.0.0.5", table.resolver());
  EXPECT_TRUE(policy.Admit("10.9.9.9").ok());
  EXPECT_TRUE(policy.Admit("8.8.8.8").ok());
  EXPECT_TRUE(absl::IsPermissionDenied(policy.Admit("127.0.0.1").status()));
  EXPECT_EQ(table.calls(), 0);  // IP literals are not looked up
}

TEST(AddressPolicyTest, OneRefusedAddressRefusesTheHost) {
  TableResolver table;
  table.Set("mixed.test", {{"93.184.216.34", "127.0.0.1"}});
  AddressPolicy policy("8.8.8.8", table.resolver());
  absl::Status s = policy.Admit("mixed.test").status();
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("127.0.0.1, a loopback address"));
}

TEST(AddressPolicyTest, TheOriginsFirstResolutionFixesTheClassesAgainstRebinding) {
  TableResolver table;
  // Public at first, loopback on every later lookup.
  table.Set("registry.test", {{"93.184.216.34"}, {"127.0.0.1"}});
  AddressPolicy policy("registry.test", table.resolver());
  absl::StatusOr<std::vector<IpAddress>> first = policy.Admit("registry.test");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->front().ToString(), "93.184.216.34");
  EXPECT_EQ(table.calls(), 1);  // the origin's lookup is the one admitted
  absl::Status again = policy.Admit("registry.test").status();
  EXPECT_TRUE(absl::IsPermissionDenied(again)) << again;
  EXPECT_THAT(again.message(), HasSubstr("127.0.0.1, a loopback address"));
}

TEST(AddressPolicyTest, ResolverErrorsAreReturned) {
  TableResolver table;
  AddressPolicy policy("registry.test", table.resolver());
  EXPECT_TRUE(absl::IsUnavailable(policy.Admit("registry.test").status()));
}

TEST(SystemResolveTest, ResolvesLocalhostToLoopback) {
  absl::StatusOr<std::vector<IpAddress>> a = SystemResolve("localhost");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_FALSE(a->empty());
  for (const IpAddress& ip : *a) EXPECT_EQ(Classify(ip), AddressClass::kLoopback) << ip.ToString();
}

}  // namespace
}  // namespace fsb::http
