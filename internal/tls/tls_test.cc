#include "internal/tls/tls.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "fsb/agent/v1/agent.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace fsb {
namespace {

using ::testing::HasSubstr;

// Records the peer's names (on gRPC's threads; read by the test's); answers OK.
class Recorder final : public fsb::agent::v1::Registration::Service {
 public:
  grpc::Status Register(grpc::ServerContext* ctx, const fsb::agent::v1::RegisterRequest*,
                        fsb::agent::v1::RegisterResponse*) override {
    absl::MutexLock lock(&mu_);
    peer_is_agent_ = PeerIs(*ctx->auth_context(), "it-agent");
    names_ = PeerNames(*ctx->auth_context());
    return grpc::Status::OK;
  }
  bool peer_is_agent() const {
    absl::MutexLock lock(&mu_);
    return peer_is_agent_;
  }
  std::string names() const {
    absl::MutexLock lock(&mu_);
    return names_;
  }

 private:
  mutable absl::Mutex mu_;
  bool peer_is_agent_ ABSL_GUARDED_BY(mu_) = false;
  std::string names_ ABSL_GUARDED_BY(mu_);
};

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(std::filesystem::path(::testing::TempDir()) / "fsb-tls-test");
    std::filesystem::remove_all(*dir_);
    for (const std::string& pki : {*dir_ + "/pki", *dir_ + "/other"}) {
      const std::string cmd =
          absl::StrCat(FSB_GEN_CERTS, " --dir ", pki, " --agent it-agent >/dev/null");
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  static TlsFiles Files(const std::string& pki, const std::string& name) {
    return {.cert = absl::StrCat(*dir_, "/", pki, "/", name, ".crt"),
            .key = absl::StrCat(*dir_, "/", pki, "/", name, ".key"),
            .ca = absl::StrCat(*dir_, "/pki/ca.crt")};
  }

  void Serve(ClientCertificates clients, std::string_view only_peer = "",
             const std::string& identity = "controller") {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(
        "127.0.0.1:0", TlsServerCredentials(Files("pki", identity), clients, only_peer), &port_);
    builder.RegisterService(&recorder_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  grpc::Status Call(std::shared_ptr<grpc::ChannelCredentials> creds, std::string_view name) {
    auto stub = fsb::agent::v1::Registration::NewStub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", port_), std::move(creds), TlsChannelArguments(name)));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    fsb::agent::v1::RegisterResponse resp;
    return stub->Register(&ctx, {}, &resp);
  }

  static std::string* dir_;
  Recorder recorder_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};
std::string* TlsTest::dir_ = nullptr;

TEST_F(TlsTest, MutualTlsNamesThePeerToTheServer) {
  ASSERT_NO_FATAL_FAILURE(Serve(ClientCertificates::kRequire));
  grpc::Status s = Call(TlsChannelCredentials(Files("pki", "agent-it-agent")), kControllerName);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(recorder_.peer_is_agent());
  EXPECT_EQ(recorder_.names(), "it-agent");
}

TEST_F(TlsTest, TheServerMustCarryTheNameTheClientPins) {
  ASSERT_NO_FATAL_FAILURE(Serve(ClientCertificates::kRequire));
  grpc::Status s = Call(TlsChannelCredentials(Files("pki", "agent-it-agent")), "other-agent");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, ClientsWithoutACertificateOfTheCaAreRefusedOrAnonymous) {
  ASSERT_NO_FATAL_FAILURE(Serve(ClientCertificates::kRequire));
  // A certificate of another CA.
  TlsFiles stranger = Files("other", "agent-it-agent");
  EXPECT_FALSE(Call(TlsChannelCredentials(stranger), kControllerName).ok());
  // No certificate at all (the CA only).
  grpc::SslCredentialsOptions anonymous;
  anonymous.pem_root_certs = [] {
    std::ifstream in(*dir_ + "/pki/ca.crt");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  EXPECT_FALSE(Call(grpc::SslCredentials(anonymous), kControllerName).ok());
  server_->Shutdown();

  // Where certificates are not asked for (clients with tokens), such a client is served,
  // as nobody.
  ASSERT_NO_FATAL_FAILURE(Serve(ClientCertificates::kNone));
  ASSERT_TRUE(Call(grpc::SslCredentials(anonymous), kControllerName).ok());
  EXPECT_FALSE(recorder_.peer_is_agent());
  EXPECT_EQ(recorder_.names(), "no client certificate");
}

TEST_F(TlsTest, AServerForOnePeerRefusesTheOthers) {
  // An agent's server: only the controller may call it.
  ASSERT_NO_FATAL_FAILURE(Serve(ClientCertificates::kRequire, kControllerName, "agent-it-agent"));
  grpc::Status s = Call(TlsChannelCredentials(Files("pki", "agent-it-agent")), "it-agent");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("only fsb-controller may call this server"));
  EXPECT_THAT(s.error_message(), HasSubstr("it-agent"));
  s = Call(TlsChannelCredentials(Files("pki", "controller")), "it-agent");
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(TlsTest, ReplacedCertificateFilesAreServedWithoutARestart) {
  // The server starts with a certificate of another CA, which clients do not trust...
  const std::string live = *dir_ + "/live";
  std::filesystem::create_directories(live);
  auto install = [&](const std::string& pki) {
    for (const char* ext : {".crt", ".key"}) {
      std::filesystem::copy_file(absl::StrCat(*dir_, "/", pki, "/controller", ext),
                                 absl::StrCat(live, "/next", ext),
                                 std::filesystem::copy_options::overwrite_existing);
      std::filesystem::rename(absl::StrCat(live, "/next", ext),
                              absl::StrCat(live, "/controller", ext));
    }
  };
  install("other");
  TlsFiles files{.cert = live + "/controller.crt",
                 .key = live + "/controller.key",
                 .ca = *dir_ + "/pki/ca.crt",
                 .refresh = absl::Seconds(1)};
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", TlsServerCredentials(files, ClientCertificates::kRequire),
                           &port_);
  builder.RegisterService(&recorder_);
  server_ = builder.BuildAndStart();
  ASSERT_NE(server_, nullptr);
  const TlsFiles agent = Files("pki", "agent-it-agent");
  EXPECT_FALSE(Call(TlsChannelCredentials(agent), kControllerName).ok());
  // ... until its files are replaced by the cluster CA's: new connections get them.
  install("pki");
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    served = Call(TlsChannelCredentials(agent), kControllerName).ok();
    if (!served) usleep(200000);
  }
  EXPECT_TRUE(served);
}

TEST(CheckTlsFilesTest, NamesTheMissingOrUnreadableFlag) {
  absl::Status s = CheckTlsFiles({.cert = "/etc/hostname"}, "--tls-");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--tls-cert /etc/hostname: not a PEM file"));
  s = CheckTlsFiles({}, "--tls-");
  EXPECT_THAT(s.message(), HasSubstr("--tls-cert is required"));
}

}  // namespace
}  // namespace fsb
