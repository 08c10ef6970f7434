// What TLS and bearer tokens cost a client call: one unary FastPath call
// (GetSandbox) over loopback TCP to an in-process server whose handler does what every
// FastPathServer handler does first, ClientAuth::Authorize, and then answers with a
// SandboxInfo. Three transports on the same server code:
//
//   Plaintext     no TLS, no token (the controller's --insecure: ClientAuth::AllowAll)
//   Tls           TLS with the controller's certificate, no token (AllowAll)
//   TlsAndToken   TLS, and a bearer token checked against a tokens file (the default)
//
// Certificates come from scripts/gen-certs.sh in a temp folder. One channel per
// benchmark, as the CLI and the seed's clients use; ->Threads(8) puts 8 calls in flight
// on it. Reports; asserts nothing. See bench/README.md.
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "controller/client_auth.h"
#include "fastpath/v1/fastpath.grpc.pb.h"
#include "glog/logging.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/server_builder.h"
#include "internal/auth/token_store.h"
#include "internal/auth/tokens.h"
#include "internal/clock.h"
#include "internal/tls/tls.h"

namespace fsb {
namespace {

constexpr char kToken[] = "bench-token-0123456789abcdef";

// GetSandbox as a FastPathServer handler starts: authorize, then answer.
class Service final : public fastpath::v1::FastPathService::Service {
 public:
  explicit Service(const controller::ClientAuth* auth) : auth_(auth) {}
  grpc::Status GetSandbox(grpc::ServerContext* ctx, const fastpath::v1::GetRequest* req,
                          fastpath::v1::SandboxInfo* resp) override {
    absl::StatusOr<auth::Principal> caller =
        auth_->Authorize(*ctx, "/fastpath.v1.FastPathService/GetSandbox", req->namespace_());
    if (!caller.ok()) return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "denied");
    resp->set_sandbox_name(req->sandbox_name());
    resp->set_namespace_(req->namespace_());
    resp->set_phase("Running");
    resp->set_sandbox_id("0123456789abcdef");
    return grpc::Status::OK;
  }

 private:
  const controller::ClientAuth* const auth_;
};

enum class Transport { kPlaintext, kTls, kTlsAndToken };

// The PKI, the tokens file and one server per transport, made once.
class Fixture {
 public:
  static Fixture& Get() {
    static Fixture* fixture = new Fixture();
    return *fixture;
  }

  std::shared_ptr<grpc::Channel> Channel(Transport transport) {
    Server& server = servers_[static_cast<int>(transport)];
    const std::string target = absl::StrCat("127.0.0.1:", server.port);
    if (transport == Transport::kPlaintext) {
      return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
    }
    grpc::SslCredentialsOptions tls;
    std::ifstream ca(dir_ + "/ca.crt");
    tls.pem_root_certs.assign(std::istreambuf_iterator<char>(ca), {});
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::SslCredentials(tls);
    if (transport == Transport::kTlsAndToken) {
      credentials =
          grpc::CompositeChannelCredentials(credentials, grpc::AccessTokenCredentials(kToken));
    }
    return grpc::CreateChannel(target, credentials);
  }

 private:
  struct Server {
    std::unique_ptr<controller::ClientAuth> auth;
    std::unique_ptr<Service> service;
    std::unique_ptr<grpc::Server> server;
    int port = 0;
  };

  Fixture() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fsb-auth-bench-XXXXXX");
    CHECK(mkdtemp(pattern.data()) != nullptr);
    dir_ = pattern;
    const std::string gen =
        absl::StrCat(FSB_SOURCE_DIR, "/scripts/gen-certs.sh --dir ", dir_, " >/dev/null 2>&1");
    CHECK_EQ(std::system(gen.c_str()), 0) << gen;
    absl::StatusOr<auth::TokenHash> hash = auth::HashToken(kToken);
    CHECK(hash.ok());
    // A file of a realistic size: the token is one of 50 entries.
    std::ofstream tokens(dir_ + "/tokens.yaml");
    tokens << "tokens:\n";
    for (int i = 0; i < 50; ++i) {
      absl::StatusOr<auth::TokenHash> other =
          i == 49 ? hash : auth::HashToken(absl::StrCat("other-token-", i));
      CHECK(other.ok());
      tokens << "  - subject: client-" << i << "\n    sha256: "
             << absl::BytesToHexString(
                    absl::string_view(reinterpret_cast<const char*>(other->data()), other->size()))
             << "\n    role: user\n    namespaces: [default]\n";
    }
    tokens.close();
    absl::StatusOr<std::unique_ptr<auth::TokenStore>> store =
        auth::TokenStore::Load(dir_ + "/tokens.yaml", Clock::Real());
    CHECK(store.ok()) << store.status();
    store_ = *std::move(store);

    const TlsFiles files{
        .cert = dir_ + "/controller.crt", .key = dir_ + "/controller.key", .ca = dir_ + "/ca.crt"};
    for (Transport transport : {Transport::kPlaintext, Transport::kTls, Transport::kTlsAndToken}) {
      Server& s = servers_[static_cast<int>(transport)];
      s.auth = transport == Transport::kTlsAndToken
                   ? std::make_unique<controller::ClientAuth>(store_.get(), &registry_)
                   : std::make_unique<controller::ClientAuth>(controller::ClientAuth::AllowAll(
                         &registries_[static_cast<int>(transport)]));
      s.service = std::make_unique<Service>(s.auth.get());
      grpc::ServerBuilder builder;
      builder.AddListeningPort("127.0.0.1:0",
                               transport == Transport::kPlaintext
                                   ? grpc::InsecureServerCredentials()
                                   : TlsServerCredentials(files, ClientCertificates::kNone),
                               &s.port);
      builder.RegisterService(s.service.get());
      s.server = builder.BuildAndStart();
      CHECK(s.server != nullptr);
    }
  }

  std::string dir_;
  std::unique_ptr<auth::TokenStore> store_;
  metrics::Registry registry_;
  metrics::Registry registries_[2];  // AllowAll's counters, one registry per server
  Server servers_[3];
};

void BM_GetSandbox(benchmark::State& state, Transport transport) {
  // One channel shared by the benchmark's threads, made (and connected) by thread 0.
  static std::shared_ptr<grpc::Channel> channel;
  static std::unique_ptr<fastpath::v1::FastPathService::Stub> stub;
  if (state.thread_index() == 0) {
    channel = Fixture::Get().Channel(transport);
    stub = fastpath::v1::FastPathService::NewStub(channel);
    grpc::ClientContext ctx;
    fastpath::v1::SandboxInfo info;
    CHECK(stub->GetSandbox(&ctx, {}, &info).ok());  // connect (and handshake) first
  }
  fastpath::v1::GetRequest req;
  req.set_sandbox_name("web");
  req.set_namespace_("default");
  for (auto _ : state) {
    grpc::ClientContext ctx;
    fastpath::v1::SandboxInfo info;
    grpc::Status s = stub->GetSandbox(&ctx, req, &info);
    if (!s.ok()) state.SkipWithError(s.error_message().c_str());
    benchmark::DoNotOptimize(info);
  }
}

BENCHMARK_CAPTURE(BM_GetSandbox, Plaintext, Transport::kPlaintext)->UseRealTime()->Threads(1);
BENCHMARK_CAPTURE(BM_GetSandbox, Tls, Transport::kTls)->UseRealTime()->Threads(1);
BENCHMARK_CAPTURE(BM_GetSandbox, TlsAndToken, Transport::kTlsAndToken)->UseRealTime()->Threads(1);
BENCHMARK_CAPTURE(BM_GetSandbox, Plaintext, Transport::kPlaintext)->UseRealTime()->Threads(8);
BENCHMARK_CAPTURE(BM_GetSandbox, Tls, Transport::kTls)->UseRealTime()->Threads(8);
BENCHMARK_CAPTURE(BM_GetSandbox, TlsAndToken, Transport::kTlsAndToken)->UseRealTime()->Threads(8);

}  // namespace
}  // namespace fsb

BENCHMARK_MAIN();
