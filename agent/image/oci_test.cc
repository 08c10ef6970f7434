#include "agent/image/oci.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;

fsb::oci::v1::Index IndexOf(const std::string& json) {
  fsb::oci::v1::Index index;
  absl::Status s = ParseJsonDocument(json, "index", &index);
  EXPECT_TRUE(s.ok()) << s;
  return index;
}

constexpr char kMultiPlatform[] = R"({
  "schemaVersion": 2,
  "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:arm7",
     "size": 1, "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:arm64v8",
     "size": 1, "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:amd64",
     "size": 1, "platform": {"architecture": "amd64", "os": "linux"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:win",
     "size": 1, "platform": {"architecture": "amd64", "os": "windows"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:attest",
     "size": 1, "platform": {"architecture": "unknown", "os": "unknown"}}
  ]})";

TEST(SelectPlatformManifestTest, PicksOsAndArchitecture) {
  const fsb::oci::v1::Index index = IndexOf(kMultiPlatform);
  EXPECT_EQ(SelectPlatformManifest(index, "img", "linux", "amd64", "")->digest(), "sha256:amd64");
  EXPECT_EQ(SelectPlatformManifest(index, "img", "windows", "amd64", "")->digest(), "sha256:win");
  // No variant asked: a variant-specific manifest of the architecture still fits.
  EXPECT_EQ(SelectPlatformManifest(index, "img", "linux", "arm64", "")->digest(), "sha256:arm64v8");
  EXPECT_EQ(SelectPlatformManifest(index, "img", "linux", "arm", "v7")->digest(), "sha256:arm7");
}

TEST(SelectPlatformManifestTest, PrefersTheExactVariantThenNone) {
  const fsb::oci::v1::Index index = IndexOf(R"({"manifests": [
      {"digest": "sha256:v6", "platform": {"architecture": "arm", "os": "linux", "variant": "v6"}},
      {"digest": "sha256:plain", "platform": {"architecture": "arm", "os": "linux"}},
      {"digest": "sha256:v7", "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}}
    ]})");
  EXPECT_EQ(SelectPlatformManifest(index, "img", "linux", "arm", "v7")->digest(), "sha256:v7");
  EXPECT_EQ(SelectPlatformManifest(index, "img", "linux", "arm", "v5")->digest(), "sha256:plain");
  EXPECT_EQ(SelectPlatformManifest(index, "img", "linux", "arm", "")->digest(), "sha256:plain");
}

TEST(SelectPlatformManifestTest, EntriesWithoutPlatformMatchAnything) {
  const fsb::oci::v1::Index index = IndexOf(R"({"manifests": [{"digest": "sha256:any"}]})");
  EXPECT_EQ(SelectPlatformManifest(index, "img", "linux", "riscv64", "")->digest(), "sha256:any");
}

TEST(SelectPlatformManifestTest, NotFoundNamesTheImageAndWhatItHas) {
  const fsb::oci::v1::Index index = IndexOf(kMultiPlatform);
  auto selected = SelectPlatformManifest(index, "docker.io/x/y:1", "linux", "s390x", "");
  EXPECT_TRUE(absl::IsNotFound(selected.status())) << selected.status();
  EXPECT_THAT(selected.status().message(),
              HasSubstr("\"docker.io/x/y:1\" has no manifest for linux/s390x"));
  EXPECT_THAT(selected.status().message(), HasSubstr("linux/arm/v7, linux/arm64/v8, linux/amd64"));
}

TEST(DigestTest, Sha256) {
  EXPECT_EQ(Sha256Digest(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 streamed;
  streamed.Update("hello ");
  streamed.Update("world");
  EXPECT_EQ(streamed.Digest(), Sha256Digest("hello world"));
  EXPECT_TRUE(IsSha256Digest(Sha256Digest("x")));
  EXPECT_FALSE(IsSha256Digest("sha256:abc"));
  EXPECT_FALSE(
      IsSha256Digest("sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  EXPECT_FALSE(
      IsSha256Digest("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
}

TEST(ChainIdsTest, FirstIsTheDiffIdThenHashOfParentAndDiff) {
  const std::string a = "sha256:" + std::string(64, 'a');
  const std::string b = "sha256:" + std::string(64, 'b');
  absl::StatusOr<std::vector<std::string>> chain = ChainIds({a, b});
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ((*chain)[0], a);
  EXPECT_EQ((*chain)[1], Sha256Digest(a + " " + b));
  // A known value: printf 'sha256:aaaa sha256:bbbb' | sha256sum (short ids only to fix the
  // formula; real diff ids are full digests).
  EXPECT_EQ(Sha256Digest("sha256:aaaa sha256:bbbb"),
            "sha256:2c4d8760379f05d0ad1ed610712309f0114e7345e6e6a351494cff030ffdf197");
  const std::string c = "sha256:" + std::string(64, 'c');
  EXPECT_EQ((*ChainIds({a, b, c}))[2], Sha256Digest((*chain)[1] + " " + c));
  EXPECT_TRUE(ChainIds({}).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(ChainIds({a, "md5:00"}).status()));
}

TEST(ArchiveImageNameTest, ContainerdAnnotationThenFullRefName) {
  fsb::oci::v1::Descriptor d;
  EXPECT_FALSE(ArchiveImageName(d).has_value());
  (*d.mutable_annotations())["org.opencontainers.image.ref.name"] = "1.0";
  EXPECT_FALSE(ArchiveImageName(d).has_value());  // a bare tag names no repository
  (*d.mutable_annotations())["org.opencontainers.image.ref.name"] = "fsb/app:1.0";
  EXPECT_EQ(ArchiveImageName(d), "docker.io/fsb/app:1.0");
  (*d.mutable_annotations())["io.containerd.image.name"] = "docker.io/fsb/imported:1";
  EXPECT_EQ(ArchiveImageName(d), "docker.io/fsb/imported:1");
}

TEST(ParseImageReferenceTest, SplitsNormalizedReferences) {
  absl::StatusOr<ImageReference> hub = ParseImageReference("busybox");
  ASSERT_TRUE(hub.ok()) << hub.status();
  EXPECT_EQ(hub->domain, "docker.io");
  EXPECT_EQ(hub->repository, "library/busybox");
  EXPECT_EQ(hub->tag, "latest");
  EXPECT_EQ(hub->Reference(), "latest");

  const std::string digest = "sha256:" + std::string(64, '0');
  absl::StatusOr<ImageReference> local = ParseImageReference("127.0.0.1:5000/fsb/app:1@" + digest);
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(local->domain, "127.0.0.1:5000");
  EXPECT_EQ(local->repository, "fsb/app");
  EXPECT_EQ(local->tag, "1");
  EXPECT_EQ(local->Reference(), digest);

  EXPECT_TRUE(absl::IsInvalidArgument(ParseImageReference("UPPER/case").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseImageReference("fsb/app@md5:0011").status()));
}

TEST(MediaTypeTest, IndexesAndManifests) {
  EXPECT_TRUE(IsIndexType(kOciIndexType));
  EXPECT_TRUE(IsIndexType(kDockerManifestListType));
  EXPECT_TRUE(IsManifestType(kOciManifestType));
  EXPECT_TRUE(IsManifestType(kDockerManifestType));
  EXPECT_FALSE(IsManifestType("application/vnd.docker.distribution.manifest.v1+prettyjws"));
  EXPECT_FALSE(IsIndexType(kOciManifestType));
}

TEST(ParseJsonDocumentTest, MalformedIsInvalidArgumentNamingTheDocument) {
  fsb::oci::v1::Manifest m;
  absl::Status s = ParseJsonDocument("{not json", "manifest of x", &m);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("malformed manifest of x"));
  EXPECT_TRUE(ParseJsonDocument(R"({"layers": [], "unknown": {"a": 1}})", "m", &m).ok());
}

}  // namespace
}  // namespace fsb::agent
