#include "agent/image/registry.h"

#include <atomic>
#include <chrono>
#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "fsb/oci/v1/distribution.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
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
  // The blob endpoint redirects there (as registries do to blob storage).
  void set_blob_redirect(std::string url) {
    absl::MutexLock lock(&mu_);
    blob_redirect_ = std::move(url);
  }
  // The blob endpoint sends its bytes this far apart.
  void set_blob_byte_interval(std::chrono::milliseconds interval) {
    absl::MutexLock lock(&mu_);
    blob_byte_interval_ = interval;
  }
  // Unknown manifests are answered with this error message.
  void set_not_found_message(std::string message) {
    absl::MutexLock lock(&mu_);
    not_found_message_ = std::move(message);
  }
  // The token server the Bearer challenge names; default: this server's /token.
  void set_realm(std::string url) {
    absl::MutexLock lock(&mu_);
    realm_ = std::move(url);
  }
  std::string realm() const {
    absl::MutexLock lock(&mu_);
    return realm_.empty() ? absl::StrCat("http://", domain(), "/token") : realm_;
  }
  // The Authorization headers the registry was sent, in order ("" for none).
  std::vector<std::string> authorizations() const {
    absl::MutexLock lock(&mu_);
    return authorizations_;
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
    {
      auto it = r.headers.find("authorization");
      absl::MutexLock lock(&mu_);
      authorizations_.push_back(it == r.headers.end() ? "" : it->second);
    }
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
              : absl::StrCat(R"(Bearer realm=")", realm(),
                             R"(",service="fake",scope="repository:fsb/app:pull")");
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
    absl::MutexLock lock(&mu_);
    if (r.target == "/v2/fsb/app/blobs/" + blob_digest()) {
      if (!blob_redirect_.empty()) return {307, {{"Location", blob_redirect_}}, ""};
      return {.body = blob_override_.value_or(kBlob), .byte_interval = blob_byte_interval_};
    }
    fsb::oci::v1::RegistryErrors errors;
    fsb::oci::v1::RegistryErrors::Error* error = errors.add_errors();
    error->set_code("MANIFEST_UNKNOWN");
    error->set_message(not_found_message_);
    std::string body;
    EXPECT_TRUE(google::protobuf::util::MessageToJsonString(errors, &body).ok());
    return {404, {{"Content-Type", "application/json"}}, body};
  }

  const Auth auth_;
  std::atomic<int> token_requests_{0};
  std::atomic<int> manifest_status_{0};
  mutable absl::Mutex mu_;
  std::optional<std::string> blob_override_ ABSL_GUARDED_BY(mu_);
  std::string blob_redirect_ ABSL_GUARDED_BY(mu_);
  std::string realm_ ABSL_GUARDED_BY(mu_);
  std::chrono::milliseconds blob_byte_interval_ ABSL_GUARDED_BY(mu_){0};
  std::string not_found_message_ ABSL_GUARDED_BY(mu_) = "manifest unknown";
  std::vector<std::string> authorizations_ ABSL_GUARDED_BY(mu_);
  TestHttpServer server_;  // last: its thread uses the members above
};

// A client of `domain` over plain HTTP, listed as insecure (so credentials may be sent).
RegistryClient ClientFor(const std::string& domain, std::optional<RegistryLogin> login,
                         Transport transport = Transport::kInsecureHttp,
                         http::Client::Options options = {}, http::Resolver resolver = {}) {
  return RegistryClient(ImageReference{domain, "fsb/app", "1", ""}, std::move(login), transport,
                        std::move(options), std::move(resolver));
}

fsb::oci::v1::Descriptor BlobOf(const FakeRegistry& registry) {
  fsb::oci::v1::Descriptor blob;
  blob.set_digest(registry.blob_digest());
  blob.set_size(11);
  return blob;
}

const http::BodySink kDiscard = [](std::string_view) { return absl::OkStatus(); };

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

TEST(SanitizeRemoteTextTest, RemovesEscapesAndControlsKeepsText) {
  EXPECT_EQ(SanitizeRemoteText("plain: text, \xc3\xa9t\xc3\xa9 \xe2\x9c\x93", 100),
            "plain: text, \xc3\xa9t\xc3\xa9 \xe2\x9c\x93");
  EXPECT_EQ(SanitizeRemoteText("\x1b[1;31mred\x1b[0m", 100), "red");  // CSI
  EXPECT_EQ(SanitizeRemoteText("a\x1b]0;owned\x07"
                               "b\x1b]8;;x\x1b\\c",
                               100),
            "abc");  // OSC
  EXPECT_EQ(SanitizeRemoteText("a\x1bPdevice\x1b\\b\x1b"
                               "7c",
                               100),
            "abc");  // DCS, ESC 7
  EXPECT_EQ(SanitizeRemoteText("a\xc2\x9b"
                               "2Jb\xc2\x85"
                               "c",
                               100),
            "abc");  // C1 CSI, NEL
  EXPECT_EQ(SanitizeRemoteText(std::string("a\bb\x7f\0c\x1b", 7), 100), "abc");
  EXPECT_EQ(SanitizeRemoteText("line\r\nnext\tcol", 100), "line  next col");
  EXPECT_EQ(SanitizeRemoteText("bad \xff\xc3 utf8", 100), "bad ?? utf8");
  // An overlong U+009B (C1 CSI) and a surrogate are not characters.
  EXPECT_EQ(SanitizeRemoteText("a\xe0\x82\x9b"
                               "b\xed\xa0\x80"
                               "c",
                               100),
            "a???b???c");
}

TEST(SanitizeRemoteTextTest, CutsAtACharacterBoundary) {
  EXPECT_EQ(SanitizeRemoteText("0123456789", 10), "0123456789");
  EXPECT_EQ(SanitizeRemoteText("0123456789abc", 10), "0123456...");
  // "\xc3\xa9" is two bytes: never cut in half.
  EXPECT_EQ(SanitizeRemoteText("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 7), "\xc3\xa9\xc3\xa9...");
  EXPECT_EQ(SanitizeRemoteText(std::string(100000, 'x'), 50).size(), 50u);
}

TEST(RegistryClientTest, EscapesInTheRegistrysErrorBodyAreStrippedAndBounded) {
  FakeRegistry registry(FakeRegistry::Auth::kNone);
  registry.set_not_found_message(
      absl::StrCat("\x1b]0;pwned\x07\x1b[2J\x1b[31mgone\x1b[0m\r\n", std::string(5000, 'z')));
  absl::Status s = ClientFor(registry.domain(), std::nullopt).GetManifest("nope").status();
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("(MANIFEST_UNKNOWN: gone  zzz"));
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("\x1b")));
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("pwned")));
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("\n")));
  EXPECT_LT(s.message().size(), 400u);
}

TEST(RegistryClientTest, NoCredentialsOverPlainHttpUnlessTheRegistryIsListedAsInsecure) {
  // Basic: the password would go to the registry itself.
  FakeRegistry basic(FakeRegistry::Auth::kBasic);
  absl::Status s =
      ClientFor(basic.domain(), kAlice, Transport::kLoopbackHttp).GetManifest("1").status();
  EXPECT_TRUE(absl::IsUnauthenticated(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("registry ", basic.domain())));
  EXPECT_THAT(s.message(), HasSubstr("\"insecure-registries\""));
  // Bearer: the password would go to the token server.
  FakeRegistry bearer(FakeRegistry::Auth::kBearer);
  s = ClientFor(bearer.domain(), kAlice, Transport::kLoopbackHttp).GetManifest("1").status();
  EXPECT_TRUE(absl::IsUnauthenticated(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("\"insecure-registries\""));
  EXPECT_EQ(bearer.token_requests(), 0);
  for (const FakeRegistry* r : {&basic, &bearer}) {
    for (const std::string& a : r->authorizations()) EXPECT_EQ(a, "");
  }
  // An anonymous registry is pulled from as before.
  FakeRegistry open(FakeRegistry::Auth::kNone);
  EXPECT_TRUE(ClientFor(open.domain(), kAlice, Transport::kLoopbackHttp).GetManifest("1").ok());
}

// A resolver knowing only `names` (name -> the addresses of each successive lookup; the
// last repeats), counting lookups.
class TestResolver {
 public:
  explicit TestResolver(std::map<std::string, std::vector<std::string>> names)
      : names_(std::move(names)) {}
  http::Resolver resolver() {
    return [this](const std::string& host) -> absl::StatusOr<std::vector<http::IpAddress>> {
      absl::MutexLock lock(&mu_);
      ++lookups_[host];
      auto it = names_.find(host);
      if (it == names_.end()) return absl::UnavailableError("unknown host " + host);
      const std::string& a = it->second[std::min(lookups_[host], it->second.size()) - 1];
      return std::vector<http::IpAddress>{*http::IpAddress::Parse(a)};
    };
  }
  size_t lookups(const std::string& host) {
    absl::MutexLock lock(&mu_);
    return lookups_[host];
  }

 private:
  const std::map<std::string, std::vector<std::string>> names_;
  absl::Mutex mu_;
  std::map<std::string, size_t> lookups_ ABSL_GUARDED_BY(mu_);
};

TEST(RegistryClientTest, BlobRedirectToStorageElsewhereCarriesNoAuthorization) {
  // The storage is another origin (another port) that blobs.test names; the registry is
  // on loopback, so loopback addresses are allowed.
  std::map<std::string, std::string> storage_auth;
  absl::Mutex mu;
  TestHttpServer storage([&](const Request& r) {
    absl::MutexLock lock(&mu);
    storage_auth = r.headers;
    return Response{.body = FakeRegistry::kBlob};
  });
  const std::string port = storage.address().substr(storage.address().find(':') + 1);
  FakeRegistry registry(FakeRegistry::Auth::kBasic);
  registry.set_blob_redirect(absl::StrCat("http://blobs.test:", port, "/b?signature=x"));
  TestResolver resolver({{"blobs.test", std::vector<std::string>{"127.0.0.1"}}});
  RegistryClient client =
      ClientFor(registry.domain(), kAlice, Transport::kInsecureHttp, {}, resolver.resolver());
  std::string received;
  absl::Status s = client.GetBlob(BlobOf(registry), [&](std::string_view piece) {
    received.append(piece);
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(received, FakeRegistry::kBlob);
  EXPECT_EQ(registry.authorizations().back(), "Basic " + absl::Base64Escape("alice:s3cret"));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(storage_auth.count("authorization"), 0u);
}

TEST(RegistryClientTest, RedirectToAPrivateAddressIsRefusedBeforeConnecting) {
  // A registry on loopback may lead only to loopback and public addresses; blobs.test
  // is 10.1.2.3 to the test's resolver. The pull is refused when the redirect is
  // checked, before anything connects to it.
  FakeRegistry registry(FakeRegistry::Auth::kNone);
  registry.set_blob_redirect("http://blobs.test:9/b");
  TestResolver resolver({{"blobs.test", std::vector<std::string>{"10.1.2.3"}}});
  absl::Status s =
      ClientFor(registry.domain(), std::nullopt, Transport::kLoopbackHttp, {}, resolver.resolver())
          .GetBlob(BlobOf(registry), kDiscard);
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("registry ", registry.domain(), " (http://")));
  EXPECT_THAT(s.message(), HasSubstr("blobs.test is 10.1.2.3, a private address"));
  EXPECT_EQ(resolver.lookups("blobs.test"), 1u);
}

TEST(RegistryClientTest, TokenServerAtARefusedAddressIsNotAskedNorSentCredentials) {
  FakeRegistry registry(FakeRegistry::Auth::kBearer);
  registry.set_realm("http://auth.test:9/token");
  TestResolver resolver({{"auth.test", std::vector<std::string>{"169.254.169.254"}}});
  absl::Status s =
      ClientFor(registry.domain(), kAlice, Transport::kInsecureHttp, {}, resolver.resolver())
          .GetManifest("1")
          .status();
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("token server http://auth.test:9/token of "
                                                  "registry ",
                                                  registry.domain())));
  EXPECT_THAT(s.message(), HasSubstr("auth.test is 169.254.169.254, a link-local address"));
  EXPECT_EQ(resolver.lookups("auth.test"), 1u);
}

TEST(RegistryClientTest, TheRegistrysAddressClassIsFixedByItsFirstLookup) {
  // registry.test is 127.0.0.1 at first, 10.1.2.3 afterwards (DNS rebinding): the
  // manifest comes, the blob is refused.
  FakeRegistry registry(FakeRegistry::Auth::kNone);
  const std::string port = registry.domain().substr(registry.domain().find(':') + 1);
  TestResolver resolver({{"registry.test", {"127.0.0.1", "10.1.2.3"}}});
  RegistryClient client = ClientFor(absl::StrCat("registry.test:", port), std::nullopt,
                                    Transport::kLoopbackHttp, {}, resolver.resolver());
  absl::StatusOr<RegistryClient::Document> doc = client.GetManifest("1");
  ASSERT_TRUE(doc.ok()) << doc.status();
  absl::Status s = client.GetBlob(BlobOf(registry), kDiscard);
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("registry.test is 10.1.2.3, a private address"));
}

TEST(RegistryClientTest, BlobSlowerThanTheMinimumRateIsUnavailableNamingRegistryAndRate) {
  FakeRegistry registry(FakeRegistry::Auth::kNone);
  registry.set_blob_byte_interval(std::chrono::milliseconds(100));  // 11 bytes in ~1.1 s
  absl::Status s = ClientFor(registry.domain(), std::nullopt, Transport::kLoopbackHttp,
                             {.min_rate = 1000, .stall_timeout = absl::Milliseconds(200)})
                       .GetBlob(BlobOf(registry), kDiscard);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("registry ", registry.domain())));
  EXPECT_THAT(s.message(), HasSubstr("minimum rate of 1000 bytes/s over 200ms"));
}

}  // namespace
}  // namespace fsb::agent
