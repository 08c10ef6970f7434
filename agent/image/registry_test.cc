#include "agent/image/registry.h"

#include <atomic>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/http/test_http_server.h"

namespace fsb::agent {
namespace {

using http::TestHttpServer;
using ::testing::HasSubstr;
using Request = TestHttpServer::Request;
using Response = TestHttpServer::Response;

TEST(ParseAuthChallengeTest, BearerWithQuotedParameters) {
  absl::StatusOr<AuthChallenge> c = ParseAuthChallenge(
      R"(Bearer realm="https://auth.example.com/token",service="registry.example.com",)"
      R"(scope="repository:a/b:pull,push", error=insufficient_scope)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->scheme, "bearer");
  EXPECT_EQ(c->params["realm"], "https://auth.example.com/token");
  EXPECT_EQ(c->params["service"], "registry.example.com");
  EXPECT_EQ(c->params["scope"], "repository:a/b:pull,push");  // the comma is quoted
  EXPECT_EQ(c->params["error"], "insufficient_scope");
}

TEST(ParseAuthChallengeTest, BasicAndEscapes) {
  absl::StatusOr<AuthChallenge> c = ParseAuthChallenge(R"(  basic Realm="say \"hi\"" )");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->scheme, "basic");
  EXPECT_EQ(c->params["realm"], "say \"hi\"");
  EXPECT_EQ(ParseAuthChallenge("Basic")->params.size(), 0u);
}

TEST(ParseAuthChallengeTest, Malformed) {
  EXPECT_TRUE(absl::IsInvalidArgument(ParseAuthChallenge("").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseAuthChallenge(R"(Bearer realm="open)").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseAuthChallenge("Bearer realm").status()));
}

TEST(RegistryStatusTest, MapsHttpStatusesAndNamesSubjectAndRegistry) {
  const std::string body =
      R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]})";
  absl::Status nf = RegistryStatus(404, body, "image \"r:5000/a:x\"", "r:5000");
  EXPECT_TRUE(absl::IsNotFound(nf)) << nf;
  EXPECT_EQ(
      nf.message(),
      "image \"r:5000/a:x\" not found in registry r:5000 (MANIFEST_UNKNOWN: manifest unknown)");
  EXPECT_TRUE(absl::IsUnauthenticated(RegistryStatus(401, "", "s", "r")));
  EXPECT_TRUE(absl::IsPermissionDenied(RegistryStatus(403, "", "s", "r")));
  EXPECT_TRUE(absl::IsInvalidArgument(RegistryStatus(400, "", "s", "r")));
  EXPECT_TRUE(absl::IsUnavailable(RegistryStatus(429, "", "s", "r")));
  EXPECT_TRUE(absl::IsUnavailable(RegistryStatus(503, "<html>", "s", "r")));
  absl::Status teapot = RegistryStatus(418, "", "image \"i\"", "r");
  EXPECT_TRUE(absl::IsUnknown(teapot));
  EXPECT_EQ(teapot.message(), "registry r answered HTTP 418 for image \"i\"");
}

TEST(IsLoopbackRegistryTest, LoopbackHostsOnly) {
  EXPECT_TRUE(IsLoopbackRegistry("localhost:5000"));
  EXPECT_TRUE(IsLoopbackRegistry("localhost"));
  EXPECT_TRUE(IsLoopbackRegistry("127.0.0.1:5000"));
  EXPECT_TRUE(IsLoopbackRegistry("127.1.2.3"));
  EXPECT_TRUE(IsLoopbackRegistry("[::1]:5000"));
  EXPECT_FALSE(IsLoopbackRegistry("docker.io"));
  EXPECT_FALSE(IsLoopbackRegistry("10.0.0.1:5000"));
  EXPECT_FALSE(IsLoopbackRegistry("localhost.example.com:5000"));
}

// A fake registry serving repository fsb/app: tag "1" (an OCI manifest), one blob, and
// optionally Basic or Bearer authentication for user "alice" / "s3cret".
class FakeRegistry {
 public:
  enum class Auth { kNone, kBasic, kBearer };

  static constexpr char kBlob[] = "layer bytes";

  explicit FakeRegistry(Auth auth)
      : auth_(auth), server_([this](const Request& r) { return Handle(r); }) {}

  std::string domain() const { return server_.address(); }
  std::string blob_digest() const { return Sha256Digest(kBlob); }
  std::string manifest() const {
    return absl::StrCat(
        R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)",
        R"("config":{"digest":")", blob_digest(), R"(","size":11},"layers":[]})");
  }
  int token_requests() const { return token_requests_; }
  // The manifest endpoint answers with this status instead (0: normally).
  void set_manifest_status(int status) { manifest_status_ = status; }
  // The blob endpoint sends this instead of kBlob.
  void set_blob_override(std::string body) {
    absl::MutexLock lock(&mu_);
    blob_override_ = std::move(body);
  }

 private:
  static constexpr char kToken[] = "tok-123";

  bool Authorized(const Request& r) const {
    auto it = r.headers.find("authorization");
    const std::string got = it == r.headers.end() ? "" : it->second;
    switch (auth_) {
      case Auth::kNone:
        return true;
      case Auth::kBasic:
        return got == "Basic " + absl::Base64Escape("alice:s3cret");
      case Auth::kBearer:
        return got == absl::StrCat("Bearer ", kToken);
    }
    return false;
  }

  Response Handle(const Request& r) {
    if (absl::StartsWith(r.target, "/token?")) {
      ++token_requests_;
      EXPECT_THAT(r.target, HasSubstr("scope=repository%3Afsb%2Fapp%3Apull"));
      EXPECT_THAT(r.target, HasSubstr("service=fake"));
      auto it = r.headers.find("authorization");
      if (it == r.headers.end() || it->second != "Basic " + absl::Base64Escape("alice:s3cret")) {
        return {401, {}, R"({"errors":[{"code":"UNAUTHORIZED"}]})"};
      }
      return {200,
              {{"Content-Type", "application/json"}},
              absl::StrCat(R"({"token":")", kToken, R"("})")};
    }
    if (!Authorized(r)) {
      const std::string challenge =
          auth_ == Auth::kBasic
              ? R"(Basic realm="fake")"
              : absl::StrCat(R"(Bearer realm="http://)", domain(),
                             R"(/token",service="fake",scope="repository:fsb/app:pull")");
      return {401, {{"WWW-Authenticate", challenge}}, R"({"errors":[{"code":"UNAUTHORIZED"}]})"};
    }
    if (r.target == "/v2/fsb/app/manifests/1" ||
        r.target == "/v2/fsb/app/manifests/" + Sha256Digest(manifest())) {
      EXPECT_THAT(r.headers.at("accept"), HasSubstr("application/vnd.oci.image.index.v1+json"));
      if (manifest_status_ != 0) return {manifest_status_, {}, ""};
      return {200, {{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}}, manifest()};
    }
    if (r.target == "/v2/fsb/app/manifests/json") {  // a registry that says application/json
      return {200, {{"Content-Type", "application/json; charset=utf-8"}}, manifest()};
    }
    if (r.target == "/v2/fsb/app/blobs/" + blob_digest()) {
      absl::MutexLock lock(&mu_);
      return {200, {}, blob_override_.value_or(kBlob)};
    }
    return {404,
            {{"Content-Type", "application/json"}},
            R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})"};
  }

  const Auth auth_;
  std::atomic<int> token_requests_{0};
  std::atomic<int> manifest_status_{0};
  absl::Mutex mu_;
  std::optional<std::string> blob_override_ ABSL_GUARDED_BY(mu_);
  TestHttpServer server_;  // last: its thread uses the members above
};

RegistryClient ClientFor(const std::string& domain, std::optional<RegistryLogin> login) {
  return RegistryClient(ImageReference{domain, "fsb/app", "1", ""}, std::move(login),
                        /*plain_http=*/true, http::Client::Options{});
}

const RegistryLogin kAlice{"alice", "s3cret"};

TEST(RegistryClientTest, AnonymousManifestAndBlob) {
  FakeRegistry registry(FakeRegistry::Auth::kNone);
  RegistryClient client = ClientFor(registry.domain(), std::nullopt);
  absl::StatusOr<RegistryClient::Document> doc = client.GetManifest("1");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->media_type, kOciManifestType);
  EXPECT_EQ(doc->body, registry.manifest());
  EXPECT_EQ(doc->digest, Sha256Digest(registry.manifest()));
  // By digest too, verified.
  EXPECT_TRUE(client.GetManifest(doc->digest).ok());

  fsb::oci::v1::Descriptor blob;
  blob.set_digest(registry.blob_digest());
  blob.set_size(11);
  std::string received;
  absl::Status s = client.GetBlob(blob, [&](std::string_view piece) {
    received.append(piece);
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(received, FakeRegistry::kBlob);
}

TEST(RegistryClientTest, MediaTypeFromTheDocumentWhenTheHeaderIsGeneric) {
  FakeRegistry registry(FakeRegistry::Auth::kNone);
  absl::StatusOr<RegistryClient::Document> doc =
      ClientFor(registry.domain(), std::nullopt).GetManifest("json");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->media_type, kOciManifestType);
}

TEST(RegistryClientTest, BearerTokenFlowWithBasicCredentialsAtTheTokenServer) {
  FakeRegistry registry(FakeRegistry::Auth::kBearer);
  RegistryClient client = ClientFor(registry.domain(), kAlice);
  absl::StatusOr<RegistryClient::Document> doc = client.GetManifest("1");
  ASSERT_TRUE(doc.ok()) << doc.status();
  fsb::oci::v1::Descriptor blob;
  blob.set_digest(registry.blob_digest());
  blob.set_size(11);
  ASSERT_TRUE(client.GetBlob(blob, [](std::string_view) { return absl::OkStatus(); }).ok());
  EXPECT_EQ(registry.token_requests(), 1);  // the token is kept for the session
}

TEST(RegistryClientTest, BearerWithoutOrWithWrongCredentialsIsUnauthenticated) {
  FakeRegistry registry(FakeRegistry::Auth::kBearer);
  absl::Status none = ClientFor(registry.domain(), std::nullopt).GetManifest("1").status();
  EXPECT_TRUE(absl::IsUnauthenticated(none)) << none;
  EXPECT_THAT(none.message(), HasSubstr("requires credentials"));
  absl::Status wrong =
      ClientFor(registry.domain(), RegistryLogin{"alice", "nope"}).GetManifest("1").status();
  EXPECT_TRUE(absl::IsUnauthenticated(wrong)) << wrong;
  EXPECT_THAT(wrong.message(), HasSubstr("rejected the credentials of user \"alice\""));
  EXPECT_THAT(wrong.message(), HasSubstr(registry.domain()));
}

TEST(RegistryClientTest, BasicAuth) {
  FakeRegistry registry(FakeRegistry::Auth::kBasic);
  EXPECT_TRUE(ClientFor(registry.domain(), kAlice).GetManifest("1").ok());
  absl::Status none = ClientFor(registry.domain(), std::nullopt).GetManifest("1").status();
  EXPECT_TRUE(absl::IsUnauthenticated(none)) << none;
  EXPECT_THAT(none.message(), HasSubstr("has no credentials for it"));
  absl::Status wrong =
      ClientFor(registry.domain(), RegistryLogin{"alice", "nope"}).GetManifest("1").status();
  EXPECT_TRUE(absl::IsUnauthenticated(wrong)) << wrong;
  EXPECT_THAT(wrong.message(), HasSubstr("rejected the credentials of user \"alice\""));
}

TEST(RegistryClientTest, UnknownTagIsNotFoundNamingImageAndRegistry) {
  FakeRegistry registry(FakeRegistry::Auth::kBasic);
  absl::Status s = ClientFor(registry.domain(), kAlice).GetManifest("nope").status();
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("image \"", registry.domain(), "/fsb/app:1\"")));
  EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("not found in registry ", registry.domain())));
  EXPECT_THAT(s.message(), HasSubstr("MANIFEST_UNKNOWN"));
}

TEST(RegistryClientTest, ForbiddenAndServerErrors) {
  FakeRegistry registry(FakeRegistry::Auth::kNone);
  registry.set_manifest_status(403);
  EXPECT_TRUE(absl::IsPermissionDenied(
      ClientFor(registry.domain(), std::nullopt).GetManifest("1").status()));
  registry.set_manifest_status(503);
  absl::Status s = ClientFor(registry.domain(), std::nullopt).GetManifest("1").status();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("HTTP 503"));
}

TEST(RegistryClientTest, UnreachableRegistryIsUnavailableNamingIt) {
  // A port nobody listens on any more.
  std::string domain;
  {
    TestHttpServer gone([](const Request&) { return Response{}; });
    domain = gone.address();
  }
  absl::Status s = ClientFor(domain, std::nullopt).GetManifest("1").status();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("registry ", domain, " (http://", domain,
                                                  ") cannot be reached")));
}

TEST(RegistryClientTest, BlobThatDoesNotMatchItsDigestIsDataLoss) {
  FakeRegistry registry(FakeRegistry::Auth::kNone);
  registry.set_blob_override("layer bytez");  // same size, other content
  fsb::oci::v1::Descriptor blob;
  blob.set_digest(registry.blob_digest());
  blob.set_size(11);
  RegistryClient client = ClientFor(registry.domain(), std::nullopt);
  absl::Status s = client.GetBlob(blob, [](std::string_view) { return absl::OkStatus(); });
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  registry.set_blob_override("longer than announced");
  s = client.GetBlob(blob, [](std::string_view) { return absl::OkStatus(); });
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  // The sink's own error stops the transfer and is returned.
  registry.set_blob_override(FakeRegistry::kBlob);
  s = client.GetBlob(blob, [](std::string_view) { return absl::ResourceExhaustedError("full"); });
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
}

}  // namespace
}  // namespace fsb::agent
