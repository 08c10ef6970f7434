#include "internal/tls/tls.h"

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "internal/strings.h"

namespace fsb {
namespace {

std::shared_ptr<grpc::experimental::FileWatcherCertificateProvider> Provider(
    const TlsFiles& files) {
  return std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      files.key, files.cert, files.ca,
      static_cast<unsigned int>(absl::ToInt64Seconds(files.refresh)));
}

// The certificate's names as gRPC records them: DNS SANs when it has any, else its CN.
std::vector<std::string> Names(const grpc::AuthContext& peer) {
  std::vector<std::string> names;
  for (const char* property : {GRPC_X509_SAN_PROPERTY_NAME, GRPC_X509_CN_PROPERTY_NAME}) {
    for (const grpc::string_ref& value : peer.FindPropertyValues(property)) {
      names.emplace_back(value.data(), value.size());
    }
    if (!names.empty()) break;
  }
  return names;
}

// Refuses calls from peers other than `name`.
class PeerNameProcessor final : public grpc::AuthMetadataProcessor {
 public:
  explicit PeerNameProcessor(std::string name) : name_(std::move(name)) {}
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata&, grpc::AuthContext* context, OutputMetadata*,
                       OutputMetadata*) override {
    if (PeerIs(*context, name_)) return grpc::Status::OK;
    return grpc::Status(
        grpc::StatusCode::PERMISSION_DENIED,
        absl::StrCat("only ", name_, " may call this server; the client is ", PeerNames(*context)));
  }

 private:
  const std::string name_;
};

}  // namespace

absl::Status CheckTlsFiles(const TlsFiles& files, std::string_view flag_prefix) {
  for (const auto& [name, path] :
       {std::pair<std::string_view, const std::string*>{"cert", &files.cert},
        {"key", &files.key},
        {"ca", &files.ca}}) {
    const std::string flag = absl::StrCat(Sv(flag_prefix), Sv(name));
    if (path->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " is required (PEM file; scripts/gen-certs.sh makes them)"));
    }
    std::ifstream in(*path);
    std::stringstream text;
    text << in.rdbuf();
    if (!in.good() && !in.eof()) {
      return absl::InvalidArgumentError(absl::StrCat(flag, " ", *path, ": cannot be read"));
    }
    if (!absl::StrContains(text.str(), "-----BEGIN ")) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " ", *path, ": not a PEM file (or cannot be read)"));
    }
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::ServerCredentials> TlsServerCredentials(const TlsFiles& files,
                                                              ClientCertificates clients,
                                                              std::string_view only_peer) {
  grpc::experimental::TlsServerCredentialsOptions options(Provider(files));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  switch (clients) {
    case ClientCertificates::kNone:
      options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
      break;
    case ClientCertificates::kRequire:
      options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
      break;
  }
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::experimental::TlsServerCredentials(options);
  if (!only_peer.empty()) {
    credentials->SetAuthMetadataProcessor(
        std::make_shared<PeerNameProcessor>(std::string(only_peer)));
  }
  return credentials;
}

std::shared_ptr<grpc::ChannelCredentials> TlsChannelCredentials(const TlsFiles& files) {
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(Provider(files));
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  options.set_certificate_verifier(
      std::make_shared<grpc::experimental::HostNameCertificateVerifier>());
  return grpc::experimental::TlsCredentials(options);
}

grpc::ChannelArguments TlsChannelArguments(std::string_view server_name) {
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(std::string(server_name));
  return args;
}

bool PeerIs(const grpc::AuthContext& peer, std::string_view name) {
  if (!peer.IsPeerAuthenticated()) return false;
  for (const std::string& n : Names(peer)) {
    if (n == name) return true;
  }
  return false;
}

std::string PeerNames(const grpc::AuthContext& peer) {
  std::vector<std::string> names = Names(peer);
  if (names.empty() || !peer.IsPeerAuthenticated()) return "no client certificate";
  return absl::StrJoin(names, ",");
}

}  // namespace fsb
