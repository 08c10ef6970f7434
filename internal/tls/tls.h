#ifndef FSB_INTERNAL_TLS_TLS_H_
#define FSB_INTERNAL_TLS_TLS_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/security/auth_context.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace fsb {

// The TLS identity of a daemon: PEM files of its certificate (chain) and key, and of the
// cluster CA that its peers' certificates must chain to (scripts/gen-certs.sh makes
// them). The files are re-read every `refresh` (gRPC's file watcher), so certificates
// are rotated by replacing the files, without a restart.
struct TlsFiles {
  std::string cert;
  std::string key;
  std::string ca;
  absl::Duration refresh = absl::Minutes(1);

  bool empty() const { return cert.empty() && key.empty() && ca.empty(); }
};

// OK when all three files are set and readable PEM; INVALID_ARGUMENT naming the flag
// (`flag_prefix` + "cert", "key", "ca", e.g. "--tls-cert") otherwise.
absl::Status CheckTlsFiles(const TlsFiles& files, std::string_view flag_prefix);

enum class ClientCertificates {
  kNone,     // not asked for: clients authenticate otherwise (bearer tokens)
  kRequire,  // a client without a certificate of the CA is refused in the handshake
};

// Server credentials presenting `files.cert`, verifying clients against `files.ca`. With
// `only_peer`, every call whose client certificate does not name it is refused with
// PERMISSION_DENIED (an agent serves the controller only).
std::shared_ptr<grpc::ServerCredentials> TlsServerCredentials(const TlsFiles& files,
                                                              ClientCertificates clients,
                                                              std::string_view only_peer = "");

// Channel credentials presenting `files.cert` and verifying the server's certificate
// against `files.ca` and the channel's target name (TlsChannelArguments).
std::shared_ptr<grpc::ChannelCredentials> TlsChannelCredentials(const TlsFiles& files);

// Channel arguments making the TLS handshake verify that the server's certificate names
// `server_name` (a DNS SAN), whatever address the channel dials: agents dial
// "fsb-controller", the controller dials each agent by its agent id.
grpc::ChannelArguments TlsChannelArguments(std::string_view server_name);

// The name the controller's certificate carries and agents verify.
inline constexpr std::string_view kControllerName = "fsb-controller";

// Whether the peer of a call presented a certificate of the CA naming `name` (a DNS SAN,
// else its common name). False for a peer without a certificate or on a plaintext server.
bool PeerIs(const grpc::AuthContext& peer, std::string_view name);
// The names of the peer's verified certificate (DNS SANs, else CN), comma-separated, or
// "no client certificate": for error messages.
std::string PeerNames(const grpc::AuthContext& peer);

}  // namespace fsb

#endif  // FSB_INTERNAL_TLS_TLS_H_
