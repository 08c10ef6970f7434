#ifndef FSB_AGENT_IMAGE_REGISTRY_H_
#define FSB_AGENT_IMAGE_REGISTRY_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/image/credentials.h"
#include "agent/image/oci.h"
#include "fsb/oci/v1/image.pb.h"
#include "internal/http/client.h"

namespace fsb::agent {

// A challenge from a WWW-Authenticate header, e.g.
//   Bearer realm="https://auth.example.com/token",service="registry",scope="repository:a:pull"
struct AuthChallenge {
  std::string scheme;                                    // lowercase: "bearer", "basic"
  absl::flat_hash_map<std::string, std::string> params;  // lowercase keys, unquoted values
};

// Parses one challenge (auth-scheme followed by comma-separated key=value or
// key="quoted value" parameters). INVALID_ARGUMENT when malformed.
absl::StatusOr<AuthChallenge> ParseAuthChallenge(std::string_view header);

// The status for a registry's non-2xx answer `http_status` (with `body`, whose
// distribution error codes are quoted) to a request about `subject` (e.g. `image "X"`):
// 404 NOT_FOUND ("... not found in registry R"), 401 UNAUTHENTICATED, 403
// PERMISSION_DENIED, 400 INVALID_ARGUMENT, 408/429/5xx UNAVAILABLE, else UNKNOWN; the
// message names the subject and the registry.
absl::Status RegistryStatus(long http_status, std::string_view body, std::string_view subject,
                            std::string_view registry);

// Whether the registry `domain` (host[:port]) is on this machine: such registries are
// spoken to over plain HTTP.
bool IsLoopbackRegistry(std::string_view domain);

// `text` a registry sent (or that quotes what it sent), fit for a terminal and a log
// line: escape sequences (CSI, OSC, ...) and other control characters are removed (tab,
// CR and LF become spaces), bytes that are not UTF-8 become '?', and the result is cut
// to at most `max_bytes` bytes (at a character boundary, ending in "...").
std::string SanitizeRemoteText(std::string_view text, size_t max_bytes);

// How a registry is spoken to.
enum class Transport {
  kHttps,
  kLoopbackHttp,  // plain HTTP to a registry on this machine; no credentials are sent
  kInsecureHttp,  // plain HTTP to a registry the config lists as insecure; credentials are sent
};

// The client side of the OCI distribution API for pulling one image: manifests and blobs
// of one repository, with the registry's authentication (Basic, or the Bearer token
// flow with the login as Basic credentials at the token server). The Authorization it
// earns is kept for the session's later requests. Credentials (the login, and a token
// earned with it) go over plain HTTP only with Transport::kInsecureHttp; Authorization
// never follows a redirect to another origin. Every request of the session (redirects
// and the token server included) reaches only public addresses and the address classes
// of the registry itself (http::AddressPolicy). Blobs stream to a sink and are verified
// against their digest and size. Errors name the image and the registry: see
// RegistryStatus; UNAVAILABLE when the registry cannot be reached or is slower than the
// minimum rate; PERMISSION_DENIED for a redirect or address refused; DATA_LOSS when it
// sends content that does not match its digest. Not thread-safe: one per pull.
class RegistryClient {
 public:
  struct Document {
    std::string media_type;
    std::string digest;
    std::string body;
  };

  // `ref` names the registry and repository; `login` is used when the registry asks;
  // `resolver` resolves host names (empty: http::SystemResolve). Requests say
  // User-Agent: fsb-agent.
  RegistryClient(ImageReference ref, std::optional<RegistryLogin> login, Transport transport,
                 http::Client::Options http, http::Resolver resolver = {});

  // The manifest or index `reference` (a tag or a digest) names. A digest reference is
  // verified. INVALID_ARGUMENT for a document that is neither (e.g. schema 1).
  absl::StatusOr<Document> GetManifest(std::string_view reference);

  // Streams the blob `blob` describes to `sink`.
  absl::Status GetBlob(const fsb::oci::v1::Descriptor& blob, const http::BodySink& sink);

  const std::string& base_url() const { return base_url_; }

 private:
  // GETs `url`, answering one authentication challenge. `subject` names what is asked
  // for in errors. Returns the 2xx response, or the error status.
  absl::StatusOr<http::Response> Fetch(const std::string& url, std::vector<std::string> headers,
                                       const http::BodySink* sink, std::string_view subject);
  // Earns the Authorization header `challenge` asks for.
  absl::Status Authorize(const AuthChallenge& challenge);
  // The login, for a request to `url`; UNAUTHENTICATED when there is none, or when it
  // may not be sent there over plain HTTP.
  absl::StatusOr<RegistryLogin> LoginFor(std::string_view url) const;
  std::string Image() const;

  const ImageReference ref_;
  const Transport transport_;
  const http::Client http_;
  const std::optional<RegistryLogin> login_;
  const std::string base_url_;  // scheme://host[:port]
  std::string authorization_;   // the Authorization header value, once earned
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_IMAGE_REGISTRY_H_
