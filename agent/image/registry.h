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

// The client side of the OCI distribution API for pulling one image: manifests and blobs
// of one repository, with the registry's authentication (Basic, or the Bearer token
// flow with the login as Basic credentials at the token server). The Authorization it
// earns is kept for the session's later requests. Blobs stream to a sink and are
// verified against their digest and size. Errors name the image and the registry: see
// RegistryStatus; UNAVAILABLE when the registry cannot be reached; DATA_LOSS when it
// sends content that does not match its digest. Not thread-safe: one per pull.
class RegistryClient {
 public:
  struct Document {
    std::string media_type;
    std::string digest;
    std::string body;
  };

  // `ref` names the registry and repository; `login` is used when the registry asks;
  // `plain_http` speaks HTTP instead of HTTPS. Requests say User-Agent: fsb-agent.
  RegistryClient(ImageReference ref, std::optional<RegistryLogin> login, bool plain_http,
                 http::Client::Options http);

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
  std::string Image() const;

  const http::Client http_;
  const ImageReference ref_;
  const std::optional<RegistryLogin> login_;
  const std::string base_url_;  // scheme://host[:port]
  std::string authorization_;   // the Authorization header value, once earned
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_IMAGE_REGISTRY_H_
