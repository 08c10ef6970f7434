#include "internal/image_ref.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

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
