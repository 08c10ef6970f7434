#ifndef FSB_CLI_CONFIG_H_
#define FSB_CLI_CONFIG_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fsb::cli {

// The CLI's config file, like kubectl's: named contexts, each saying how to reach one
// controller as one client, and the current one.
//
//   current-context: local
//   contexts:
//     - name: local
//       endpoint: 127.0.0.1:9090
//       ca: /path/ca.crt         # the CA that signed the controller's certificate
//       token-file: /path/token  # or token: <inline>
//       namespace: default
//       tls-server-name: fsb-controller
//       # insecure: true                  # plaintext, no token
//       # insecure-skip-tls-verify: true  # TLS without verifying the server
//
// Relative `ca` and `token-file` paths are relative to the file's folder.

// One context. Empty strings and false are "not set".
struct ConfigContext {
  std::string name;  // not empty, unique in the file
  std::string endpoint;
  std::string ca;  // path of a PEM file
  std::string token;
  std::string token_file;  // path of a file holding the token
  std::string ns;          // a DNS label
  std::string tls_server_name;
  bool insecure = false;  // plaintext: none of ca, token, token-file, tls-server-name
  bool insecure_skip_tls_verify = false;

  bool operator==(const ConfigContext&) const = default;
};

struct CliConfig {
  std::string current_context;          // empty: none; may name no context (until fixed)
  std::vector<ConfigContext> contexts;  // in file order

  // The context named `name`; nullptr if none.
  const ConfigContext* Find(std::string_view name) const;

  bool operator==(const CliConfig&) const = default;
};

// The fields `fsb config set-context` sets; unset ones keep their value and an empty
// string clears one.
struct ContextUpdate {
  std::optional<std::string> endpoint;
  std::optional<std::string> ca;
  std::optional<std::string> token;
  std::optional<std::string> token_file;
  std::optional<std::string> ns;
  std::optional<std::string> tls_server_name;
  std::optional<bool> insecure;
  std::optional<bool> insecure_skip_tls_verify;

  bool operator==(const ContextUpdate&) const = default;
};

// "context \"NAME\" is not in PATH (it has a, b)", for a context that `config` lacks.
std::string NoSuchContext(const CliConfig& config, std::string_view name, std::string_view path);

// What `fsb config view` shows in place of an inline token.
inline constexpr std::string_view kRedacted = "REDACTED";

// Parses the config file's text; `path` only names the file in messages. An empty file
// is an empty config. INVALID_ARGUMENT "PATH: problem" for a YAML error, more than one
// document, an unknown or mistyped field, and "PATH: context \"NAME\": field \"F\": problem"
// for an invalid context (see ValidateContext).
absl::StatusOr<CliConfig> ParseConfig(std::string_view text, std::string_view path);

// The config as YAML that ParseConfig reads back equal; unset fields are left out.
std::string FormatConfig(const CliConfig& config);

// `config` with every inline token replaced by kRedacted (token-file paths stay).
CliConfig Redacted(CliConfig config);

// Reads and parses the file at `path`; a missing file is an empty config.
// INVALID_ARGUMENT naming the file when it cannot be read or parsed.
absl::StatusOr<CliConfig> LoadConfig(const std::string& path);

// Writes `config` to `path` atomically (a temporary file in the same folder, mode 0600,
// synced, then renamed over it), creating the folder (mode 0700) if missing. INTERNAL
// naming the file on failure; the old file is then left as it was.
absl::Status SaveConfig(const std::string& path, const CliConfig& config);

// INVALID_ARGUMENT "context \"NAME\": field \"F\": problem" unless: the name is not
// empty; the namespace, if set, is a DNS label; not both token and token-file; insecure
// with none of ca, token, token-file, tls-server-name, insecure-skip-tls-verify; no
// string holds a control character.
absl::Status ValidateContext(const ConfigContext& context);

// Applies `update` to the context `name`, appended if missing, and validates the result.
// Returns whether the context was created. On error `config` is unchanged.
absl::StatusOr<bool> SetContext(CliConfig& config, std::string_view name,
                                const ContextUpdate& update);

}  // namespace fsb::cli

#endif  // FSB_CLI_CONFIG_H_
