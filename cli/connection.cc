#include "cli/connection.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "grpcpp/support/channel_arguments.h"
#include "internal/strings.h"

namespace fsb::cli {
namespace {

constexpr std::string_view kPemCertificate = "-----BEGIN CERTIFICATE-----";

absl::Status Invalid(std::string_view message) {
  return absl::InvalidArgumentError(std::string(message));
}

// The whole file at `path`; errors start with `source`, the setting that named it.
absl::StatusOr<std::string> ReadFile(const std::string& path, std::string_view source) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return Invalid(absl::StrCat(Sv(source), ": cannot read ", path, ": ", std::strerror(errno)));
  }
  std::string text(std::istreambuf_iterator<char>(file), {});
  if (file.bad()) return Invalid(absl::StrCat(Sv(source), ": cannot read ", path));
  return text;
}

// A path written in the config file: relative ones are relative to the file's folder.
std::string InConfigFolder(const std::string& path, std::string_view config_path) {
  if (path.empty() || path.front() == '/') return path;
  return (std::filesystem::path(config_path).parent_path() / path).string();
}

// A setting that names a file, and what to call it in messages.
struct FileSetting {
  std::string path;
  std::string source;  // "--ca", "FSB_CA", "PATH: context \"local\": ca"
};

absl::StatusOr<std::string> ReadCa(const FileSetting& ca) {
  absl::StatusOr<std::string> pem = ReadFile(ca.path, ca.source);
  if (!pem.ok()) return pem.status();
  if (!absl::StrContains(*pem, Sv(kPemCertificate))) {
    return Invalid(absl::StrCat(ca.source, ": ", ca.path, " holds no PEM certificate"));
  }
  return pem;
}

// The token of a token file: its content without trailing whitespace.
absl::StatusOr<std::string> ReadToken(const FileSetting& file) {
  absl::StatusOr<std::string> token = ReadFile(file.path, file.source);
  if (!token.ok()) return token.status();
  token->erase(std::find_if_not(token->rbegin(), token->rend(),
                                [](char c) { return absl::ascii_isspace(c); })
                   .base(),
               token->end());
  if (token->empty()) return Invalid(absl::StrCat(file.source, ": ", file.path, " is empty"));
  return token;
}

// A token travels in a metadata value: printable ASCII, no spaces.
absl::Status ValidateToken(std::string_view token, std::string_view source) {
  if (token.empty()) return Invalid(absl::StrCat("the token from ", Sv(source), " is empty"));
  for (char c : token) {
    if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f) {
      return Invalid(absl::StrCat("the token from ", Sv(source),
                                  " holds whitespace or a character outside printable ASCII"));
    }
  }
  return absl::OkStatus();
}

bool LooksLikeTlsFailure(absl::string_view message) {
  const std::string lower = absl::AsciiStrToLower(message);
  for (std::string_view word : {"ssl", "tls", "handshake", "certificate"}) {
    if (absl::StrContains(lower, Sv(word))) return true;
  }
  return false;
}

// Whether an UNAVAILABLE `message` is gRPC's own about the channel to the controller (it
// could not connect, or the connection broke), not one the controller relayed from an
// agent or a registry: those start with the controller's words ("agent at ...: ...").
bool LooksLikeConnectionFailure(absl::string_view message) {
  const std::string lower = absl::AsciiStrToLower(message);
  for (std::string_view start :
       {"failed to connect to all addresses", "connections to all backends failing",
        "dns resolution failed", "empty address list", "connection refused", "connection reset",
        "socket closed", "broken pipe", "ipv4:", "ipv6:", "unix:"}) {
    if (absl::StartsWith(lower, Sv(start))) return true;
  }
  return false;
}

// The host of a "host:port" endpoint (the whole endpoint if it has no port).
std::string_view HostOf(std::string_view endpoint) {
  if (endpoint.starts_with('[')) {
    const size_t close = endpoint.find(']');
    if (close != std::string_view::npos) return endpoint.substr(1, close - 1);
  }
  return endpoint.substr(0, endpoint.rfind(':'));
}

}  // namespace

std::optional<std::string> ConfigPath(const EnvLookup& env) {
  if (!env) return std::nullopt;
  if (std::optional<std::string> path = env(kConfigEnvVar); path && !path->empty()) return path;
  if (std::optional<std::string> home = env("HOME"); home && !home->empty()) {
    return absl::StrCat(*home, "/.config/fsb/config.yaml");
  }
  return std::nullopt;
}

absl::StatusOr<ClientSettings> ResolveSettings(const GlobalOptions& flags, const EnvLookup& env,
                                               const CliConfig& config,
                                               std::string_view config_path) {
  auto from_env = [&env](std::string_view name) -> std::optional<std::string> {
    if (!env) return std::nullopt;
    std::optional<std::string> value = env(name);
    if (!value || value->empty()) return std::nullopt;
    return value;
  };
  ClientSettings settings;
  settings.timeout = flags.timeout;

  const ConfigContext no_context;
  const ConfigContext* context = &no_context;
  if (flags.context) {
    context = config.Find(*flags.context);
    if (context == nullptr) {
      return Invalid(absl::StrCat(
          "--context: ",
          NoSuchContext(config, *flags.context,
                        config_path.empty() ? std::string_view("the config file") : config_path)));
    }
  } else if (!config.current_context.empty()) {
    context = config.Find(config.current_context);
    if (context == nullptr) {
      return Invalid(
          absl::StrCat(Sv(config_path), ": current-context \"", config.current_context,
                       "\" names no context; pick one with fsb config use-context NAME"));
    }
  }
  settings.context = context->name;
  const std::string in_context =
      absl::StrCat(Sv(config_path), ": context \"", context->name, "\": ");

  Connection& connection = settings.connection;
  const std::optional<std::string> env_endpoint = from_env(kEndpointEnvVar);
  const std::optional<std::string> env_token = from_env(kTokenEnvVar);
  const std::optional<std::string> env_ca = from_env(kCaEnvVar);
  if (flags.endpoint) {
    connection.endpoint = *flags.endpoint;
  } else if (env_endpoint) {
    connection.endpoint = *env_endpoint;
  } else if (!context->endpoint.empty()) {
    connection.endpoint = context->endpoint;
  } else {
    connection.endpoint = kDefaultEndpoint;
  }
  if (flags.ns) {
    settings.ns = *flags.ns;
  } else if (!context->ns.empty()) {
    settings.ns = context->ns;
  }

  // The first level that says anything about the transport decides it; TLS when none
  // does.
  const bool has_token =
      flags.token || env_token || !context->token.empty() || !context->token_file.empty();
  if (flags.insecure) {
    connection.transport = Transport::kPlaintext;
  } else if (flags.insecure_skip_tls_verify) {
    connection.transport = Transport::kTlsNoVerify;
  } else if (flags.ca_file || flags.tls_server_name || env_ca) {
    connection.transport = Transport::kTls;
  } else if (context->insecure) {
    connection.transport = Transport::kPlaintext;
  } else if (context->insecure_skip_tls_verify) {
    connection.transport = Transport::kTlsNoVerify;
  } else {
    connection.transport = Transport::kTls;
  }
  if (connection.transport == Transport::kPlaintext) {
    if (has_token) {
      settings.warnings.push_back(absl::StrCat(
          "the connection to ", connection.endpoint, " is plaintext (",
          flags.insecure ? "--insecure" : in_context + "insecure", "): no token is sent"));
    }
    return settings;
  }

  if (connection.transport == Transport::kTlsNoVerify) {
    settings.warnings.push_back(
        absl::StrCat("the certificate of ", connection.endpoint, " is not verified (",
                     flags.insecure_skip_tls_verify ? "--insecure-skip-tls-verify"
                                                    : in_context + "insecure-skip-tls-verify",
                     "): anyone on the way can read and change this connection, token included"));
  } else {
    std::optional<FileSetting> ca;
    if (flags.ca_file) {
      ca = FileSetting{*flags.ca_file, "--ca"};
    } else if (env_ca) {
      ca = FileSetting{*env_ca, std::string(kCaEnvVar)};
    } else if (!context->ca.empty()) {
      ca = FileSetting{InConfigFolder(context->ca, config_path), in_context + "ca"};
    }
    if (ca) {
      absl::StatusOr<std::string> pem = ReadCa(*ca);
      if (!pem.ok()) return pem.status();
      connection.ca_pem = *std::move(pem);
      connection.ca_source = absl::StrCat(ca->source, " ", ca->path);
    }
  }
  if (flags.tls_server_name) {
    connection.tls_server_name = *flags.tls_server_name;
  } else {
    connection.tls_server_name = context->tls_server_name;
  }

  if (flags.token) {
    connection.token = *flags.token;
    connection.token_source = "--token";
  } else if (env_token) {
    connection.token = *env_token;
    connection.token_source = kTokenEnvVar;
  } else if (!context->token.empty()) {
    connection.token = context->token;
    connection.token_source = in_context + "token";
  } else if (!context->token_file.empty()) {
    const FileSetting file{InConfigFolder(context->token_file, config_path),
                           in_context + "token-file"};
    absl::StatusOr<std::string> token = ReadToken(file);
    if (!token.ok()) return token.status();
    connection.token = *std::move(token);
    connection.token_source = absl::StrCat(file.source, " ", file.path);
  }
  if (!connection.token_source.empty()) {
    if (absl::Status s = ValidateToken(connection.token, connection.token_source); !s.ok()) {
      return s;
    }
  }
  return settings;
}

std::shared_ptr<grpc::Channel> NewChannel(const Connection& connection) {
  grpc::ChannelArguments arguments;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  switch (connection.transport) {
    case Transport::kPlaintext:
      return grpc::CreateChannel(connection.endpoint, grpc::InsecureChannelCredentials());
    case Transport::kTls: {
      grpc::SslCredentialsOptions options;
      options.pem_root_certs = connection.ca_pem;
      credentials = grpc::SslCredentials(options);
      break;
    }
    case Transport::kTlsNoVerify: {
      grpc::experimental::TlsChannelCredentialsOptions options;
      options.set_verify_server_certs(false);
      options.set_check_call_host(false);
      options.set_certificate_verifier(
          std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
      credentials = grpc::experimental::TlsCredentials(options);
      break;
    }
  }
  if (!connection.tls_server_name.empty()) {
    arguments.SetSslTargetNameOverride(connection.tls_server_name);
  }
  if (!connection.token.empty()) {
    credentials = grpc::CompositeChannelCredentials(credentials,
                                                    grpc::AccessTokenCredentials(connection.token));
  }
  return grpc::CreateCustomChannel(connection.endpoint, credentials, arguments);
}

std::string FailureHint(const absl::Status& status, const ClientSettings& settings) {
  const Connection& connection = settings.connection;
  switch (status.code()) {
    case absl::StatusCode::kUnauthenticated:
      if (connection.token.empty()) {
        return "fsb: no token was sent: pass --token, set FSB_TOKEN, or give the context a "
               "token-file (fsb config set-context).\n";
      }
      return absl::StrCat("fsb: the token came from ", connection.token_source,
                          "; is it the current one?\n");
    case absl::StatusCode::kPermissionDenied:
      if (connection.token.empty()) return "";
      return absl::StrCat("fsb: the token from ", connection.token_source,
                          " was refused this in namespace \"", settings.ns, "\".\n");
    case absl::StatusCode::kUnavailable:
      if (!LooksLikeConnectionFailure(status.message())) return "";
      if (connection.transport != Transport::kPlaintext && LooksLikeTlsFailure(status.message())) {
        if (connection.transport == Transport::kTlsNoVerify) {
          return absl::StrCat("fsb: TLS with ", connection.endpoint,
                              " failed: does fsb-controller serve TLS there?\n");
        }
        const std::string_view name = connection.tls_server_name.empty()
                                          ? HostOf(connection.endpoint)
                                          : std::string_view(connection.tls_server_name);
        return absl::StrCat(
            "fsb: TLS with ", connection.endpoint, " failed: is the controller's certificate ",
            connection.ca_source.empty()
                ? "signed by a CA the system trusts? (Set --ca, FSB_CA or the context's ca.)"
                : absl::StrCat("signed by the CA of ", connection.ca_source, "?"),
            " Does it name \"", Sv(name), "\"? (Else set --tls-server-name.)\n");
      }
      return absl::StrCat(
          "fsb: is fsb-controller reachable at ", connection.endpoint,
          "? Set --endpoint, FSB_ENDPOINT or the context's endpoint.\n",
          // What a plaintext client sees of a TLS server.
          connection.transport == Transport::kPlaintext &&
                  absl::StrContains(status.message(), "Socket closed")
              ? "fsb: the connection was plaintext: if fsb-controller serves TLS, set --ca, "
                "FSB_CA or a context with its ca.\n"
              : "");
    case absl::StatusCode::kDeadlineExceeded:
      return absl::StrCat("fsb: no answer within --timeout ",
                          absl::FormatDuration(settings.timeout), ".\n");
    default:
      return "";
  }
}

}  // namespace fsb::cli
