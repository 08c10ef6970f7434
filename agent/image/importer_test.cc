#include "agent/image/importer.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;

const std::string kOld = "sha256:" + std::string(64, 'a');
const std::string kNew = "sha256:" + std::string(64, 'b');
constexpr char kName[] = "docker.io/library/alpine:3";

TEST(CheckRepointTest, ANewNameOrTheSameDigestNeedsNoForce) {
  EXPECT_TRUE(CheckRepoint(kName, std::nullopt, kNew, /*force=*/false).ok());
  EXPECT_TRUE(CheckRepoint(kName, kNew, kNew, /*force=*/false).ok());
}

TEST(CheckRepointTest, AnotherDigestIsRefusedNamingBothDigests) {
  absl::Status s = CheckRepoint(kName, kOld, kNew, /*force=*/false);
  EXPECT_TRUE(absl::IsAlreadyExists(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("image ", kName, " already exists with digest ",
                                                  kOld, "; the archive's is ", kNew)));
  EXPECT_THAT(s.message(), HasSubstr("use --force to re-point it"));
}

TEST(CheckRepointTest, ForceAllowsAnotherDigest) {
  EXPECT_TRUE(CheckRepoint(kName, kOld, kNew, /*force=*/true).ok());
}

}  // namespace
}  // namespace fsb::agent
