#include "internal/image_ref.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/request_limits.h"

namespace fsb {
namespace {

using ::testing::HasSubstr;

TEST(NormalizeImageReferenceTest, QualifiesDockerHubShortNames) {
  EXPECT_EQ(*NormalizeImageReference("busybox"), "docker.io/library/busybox:latest");
  EXPECT_EQ(*NormalizeImageReference("busybox:1.36"), "docker.io/library/busybox:1.36");
  EXPECT_EQ(*NormalizeImageReference("user/app"), "docker.io/user/app:latest");
  EXPECT_EQ(*NormalizeImageReference("docker.io/library/busybox:latest"),
            "docker.io/library/busybox:latest");
}

TEST(NormalizeImageReferenceTest, KeepsOtherRegistriesAndPorts) {
  EXPECT_EQ(*NormalizeImageReference("ghcr.io/a/b"), "ghcr.io/a/b:latest");
  EXPECT_EQ(*NormalizeImageReference("127.0.0.1:5000/x/y:v1"), "127.0.0.1:5000/x/y:v1");
  EXPECT_EQ(*NormalizeImageReference("localhost/img"), "localhost/img:latest");
}

TEST(NormalizeImageReferenceTest, KeepsDigests) {
  const std::string digest =
      "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  EXPECT_EQ(*NormalizeImageReference("busybox@" + digest), "docker.io/library/busybox@" + digest);
  const std::string sha512 = "sha512:" + std::string(128, 'f');
  EXPECT_EQ(*NormalizeImageReference("busybox:1@" + sha512),
            "docker.io/library/busybox:1@" + sha512);
}

TEST(NormalizeImageReferenceTest, RejectsDigestsThatCannotBeChecked) {
  const std::string hex64(64, 'a');
  struct Case {
    std::string digest;
    std::string problem;
  };
  for (const Case& c : std::vector<Case>{
           {"sha256", "expected ALGORITHM:HEX"},
           {"md5:" + hex64, "the algorithm must be sha256 or sha512"},
           {"SHA256:" + hex64, "the algorithm must be sha256 or sha512"},
           {"sha256:" + hex64.substr(1), "sha256 takes 64 hex digits"},
           {"sha256:" + hex64 + "a", "sha256 takes 64 hex digits"},
           {"sha512:" + hex64, "sha512 takes 128 hex digits"},
           {"sha256:" + std::string(63, 'a') + "A", "the hex digits must be 0-9 and a-f"},
           {"sha256:" + std::string(63, 'a') + "g", "the hex digits must be 0-9 and a-f"},
       }) {
    absl::Status s = NormalizeImageReference("busybox@" + c.digest).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.digest;
    EXPECT_THAT(s.message(), HasSubstr("has a malformed digest: " + c.problem)) << c.digest;
  }
}

TEST(NormalizeImageReferenceTest, QuotesTheReferenceEscaped) {
  EXPECT_THAT(NormalizeImageReference(std::string("bu\0sybox", 8)).status().message(),
              HasSubstr("image reference \"bu\\000sybox\""));
}

TEST(NormalizeImageReferenceTest, LengthLimitHoldsForTheFullForm) {
  // "docker.io/" + "a/" + 493 b + ":latest" is exactly the limit.
  const std::string longest = "a/" + std::string(kMaxImageReferenceBytes - 19, 'b');
  absl::StatusOr<std::string> full = NormalizeImageReference(longest);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->size(), kMaxImageReferenceBytes);
  EXPECT_EQ(NormalizeImageReference(*full), full);
  EXPECT_THAT(NormalizeImageReference(longest + "b").status().message(),
              HasSubstr("longer than 512 characters in full (513)"));
  EXPECT_THAT(
      NormalizeImageReference(std::string(kMaxImageReferenceBytes + 1, 'b')).status().message(),
      HasSubstr("longer than 512"));
}

TEST(NormalizeImageReferenceTest, RejectsMalformedReferences) {
  EXPECT_THAT(NormalizeImageReference("").status().message(), HasSubstr("empty"));
  EXPECT_THAT(NormalizeImageReference("Busybox").status().message(),
              HasSubstr("invalid repository component"));
  EXPECT_THAT(NormalizeImageReference("busybox:").status().message(), HasSubstr("tag"));
  EXPECT_THAT(NormalizeImageReference("busybox@sha256:xyz").status().message(),
              HasSubstr("digest"));
  EXPECT_THAT(NormalizeImageReference("a//b").status().message(), HasSubstr("component"));
  EXPECT_EQ(NormalizeImageReference(std::string(600, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fsb
