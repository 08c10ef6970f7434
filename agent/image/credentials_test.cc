#include "agent/image/credentials.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;

TEST(RegistryCredentialsTest, ReadsAuthInEveryForm) {
  // dXNlcjpwYTpzcw== is base64("user:pa:ss"): the password may contain ':'.
  absl::StatusOr<RegistryCredentials> creds = RegistryCredentials::Parse(R"({
    "auths": {
      "127.0.0.1:5000": {"auth": "dXNlcjpwYTpzcw=="},
      "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="},
      "http://Registry.Example.com:8443/v2/": {"username": "u2", "password": "p2"},
      "helper.example.com": {}
    },
    "credsStore": "desktop"
  })");
  ASSERT_TRUE(creds.ok()) << creds.status();
  std::optional<RegistryLogin> local = creds->LoginFor("127.0.0.1:5000");
  ASSERT_TRUE(local.has_value());
  EXPECT_EQ(local->username, "user");
  EXPECT_EQ(local->password, "pa:ss");
  ASSERT_TRUE(creds->LoginFor("docker.io").has_value());
  EXPECT_EQ(creds->LoginFor("docker.io")->username, "hub");
  EXPECT_EQ(creds->LoginFor("docker.io")->password, "secret");
  ASSERT_TRUE(creds->LoginFor("registry.example.com:8443").has_value());
  EXPECT_EQ(creds->LoginFor("registry.example.com:8443")->username, "u2");
  EXPECT_FALSE(creds->LoginFor("registry.example.com").has_value());  // another port
  EXPECT_FALSE(creds->LoginFor("helper.example.com").has_value());
  EXPECT_FALSE(creds->LoginFor("127.0.0.1:5001").has_value());
}

TEST(RegistryCredentialsTest, InsecureRegistries) {
  absl::StatusOr<RegistryCredentials> creds = RegistryCredentials::Parse(
      R"({"insecure-registries": ["10.0.0.5:5000", "http://lab.local"]})");
  ASSERT_TRUE(creds.ok()) << creds.status();
  EXPECT_TRUE(creds->IsInsecure("10.0.0.5:5000"));
  EXPECT_TRUE(creds->IsInsecure("lab.local"));
  EXPECT_FALSE(creds->IsInsecure("10.0.0.5:5001"));
  EXPECT_FALSE(RegistryCredentials().IsInsecure("10.0.0.5:5000"));
  EXPECT_FALSE(RegistryCredentials().LoginFor("docker.io").has_value());
}

TEST(RegistryCredentialsTest, RejectsMalformedFiles) {
  for (const char* json : {R"({"auths": {"r": {"auth": "not base64!"}}})",
                           R"({"auths": {"r": {"auth": "bm9jb2xvbg=="}}})"}) {  // "nocolon"
    absl::StatusOr<RegistryCredentials> creds = RegistryCredentials::Parse(json);
    EXPECT_TRUE(absl::IsInvalidArgument(creds.status())) << json;
    EXPECT_THAT(creds.status().message(), HasSubstr("the auth of \"r\""));
  }
  EXPECT_TRUE(absl::IsInvalidArgument(RegistryCredentials::Parse("{\"auths\": [").status()));
}

TEST(RegistryCredentialsTest, LoadNamesTheFile) {
  absl::StatusOr<RegistryCredentials> missing =
      RegistryCredentials::Load("/nonexistent/config.json");
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/config.json"));
}

}  // namespace
}  // namespace fsb::agent
