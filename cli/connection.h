#ifndef FSB_CLI_CONNECTION_H_
#define FSB_CLI_CONNECTION_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/args.h"
#include "cli/config.h"
#include "grpcpp/channel.h"

namespace fsb::cli {

// How the CLI talks to the controller.
enum class Transport {
  kPlaintext,    // no TLS, no token
  kTls,          // TLS, the server's certificate verified
  kTlsNoVerify,  // TLS, the server's certificate not verified (--insecure-skip-tls-verify)
};

// How to reach the controller and as whom.
struct Connection {
  std::string endpoint;  // gRPC target, "host:port"
  Transport transport = Transport::kTls;
  // kTls: the PEM certificates of the CAs trusted to sign the server's certificate; empty:
  // the system's roots.
  std::string ca_pem;
  std::string ca_source;        // where ca_pem came from, for messages: "--ca /x/ca.crt"
  std::string tls_server_name;  // the name verified in the certificate; empty: the host
  std::string token;            // sent as "authorization: Bearer TOKEN"; empty: none
  std::string token_source;     // where the token came from, for messages: "FSB_TOKEN"
};

// Everything a command needs besides its own arguments.
struct ClientSettings {
  Connection connection;
  std::string ns{kDefaultNamespace};
  absl::Duration timeout = kDefaultTimeout;
  std::string context;                // the config context used; empty: none
  std::vector<std::string> warnings;  // for stderr, each without "fsb: warning: "
};

// The config file: $FSB_CONFIG, else $HOME/.config/fsb/config.yaml; nullopt when
// neither variable is set.
std::optional<std::string> ConfigPath(const EnvLookup& env);

// Resolves the settings of a command from its flags, then the environment, then a
// context of `config` (read from `config_path`), then the defaults:
//
// * endpoint: --endpoint, FSB_ENDPOINT, the context's, kDefaultEndpoint;
// * namespace: -n, the context's, kDefaultNamespace;
// * token: --token, FSB_TOKEN, the context's token or token-file (read now, trailing
//   whitespace dropped);
// * CA: --ca FILE, FSB_CA (a file), the context's ca (read now);
// * TLS server name: --tls-server-name, the context's;
// * the context: --context, else the file's current-context, else none.
//
// The transport is decided by the first level that says anything about it: the flags
// (--insecure: plaintext; --insecure-skip-tls-verify: unverified TLS; --ca or
// --tls-server-name: TLS), then FSB_CA (TLS), then the context (insecure,
// insecure-skip-tls-verify); when none does, TLS (the controller serves nothing else
// unless it runs --insecure). Over plaintext no token is sent (a warning says so when one is
// set); unverified TLS always adds a warning.
//
// INVALID_ARGUMENT, naming the flag, variable or file and context, when --context or the
// current-context names no context of the file, when a CA or token file cannot be read
// or is empty, a CA file holds no PEM certificate, or a token holds whitespace or
// control characters.
absl::StatusOr<ClientSettings> ResolveSettings(const GlobalOptions& flags, const EnvLookup& env,
                                               const CliConfig& config,
                                               std::string_view config_path);

// A channel to `connection.endpoint` with its transport: plaintext, or TLS trusting
// `ca_pem` (or the system's roots), verifying `tls_server_name` when set, and sending the
// token, if any, with every call.
std::shared_ptr<grpc::Channel> NewChannel(const Connection& connection);

// Lines (each ending with '\n') that help with a failed RPC's `status`: whether the
// controller is reachable, whether TLS failed (and which CA was used) — only when gRPC
// itself says the connection to the controller failed, not for an UNAVAILABLE relayed
// from an agent or a registry —, where the rejected token came from, which --timeout
// expired. Empty when there is nothing to add.
std::string FailureHint(const absl::Status& status, const ClientSettings& settings);

}  // namespace fsb::cli

#endif  // FSB_CLI_CONNECTION_H_
