// The CLI against an in-process FastPath server over TLS: the channel that NewChannel
// builds from flags and contexts, the token metadata the server receives, and the hints
// for TLS and token failures. Certificates come from scripts/gen-certs.sh.
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cli/commands.h"
#include "cli/temp_dir_testing.h"
#include "fastpath/v1/fastpath.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "internal/subprocess.h"

namespace fsb::cli {
namespace {

using ::fsb::cli::testing::ReadAll;
using ::fsb::cli::testing::ScopedTempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kGoodToken[] = "good-token";

// ListSandboxes answers OK to kGoodToken and UNAUTHENTICATED otherwise, and records the
// authorization metadata of every call. Thread-safe.
class FakeFastPath final : public fastpath::v1::FastPathService::Service {
 public:
  grpc::Status ListSandboxes(grpc::ServerContext* context, const fastpath::v1::ListRequest*,
                             fastpath::v1::ListResponse*) override {
    std::string authorization;
    auto [begin, end] = context->client_metadata().equal_range("authorization");
    for (auto it = begin; it != end; ++it)
      authorization.assign(it->second.data(), it->second.size());
    absl::MutexLock lock(&mu_);
    authorizations_.push_back(authorization);
    if (authorization != absl::StrCat("Bearer ", kGoodToken)) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown token");
    }
    return grpc::Status::OK;
  }

  std::vector<std::string> authorizations() {
    absl::MutexLock lock(&mu_);
    return authorizations_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> authorizations_ ABSL_GUARDED_BY(mu_);
};

// Generates a PKI in `dir` with scripts/gen-certs.sh; false (and a failure) if it fails.
bool GenerateCerts(const std::string& dir) {
  SubprocessCall call;
  call.argv = {"/bin/bash", FSB_GEN_CERTS_SCRIPT, "--dir", dir};
  call.env = {"PATH=/usr/bin:/bin"};
  absl::StatusOr<SubprocessResult> result = RunSubprocess(call);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return false;
  EXPECT_EQ(result->exit_code, 0) << result->stderr_data;
  return result->exit_code == 0;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(FSB_GEN_CERTS_SCRIPT)) {
      GTEST_SKIP() << FSB_GEN_CERTS_SCRIPT << " is missing";
    }
    ASSERT_TRUE(GenerateCerts(dir_.File("pki")));
    ASSERT_TRUE(GenerateCerts(dir_.File("other-pki")));
    grpc::SslServerCredentialsOptions options;
    options.pem_key_cert_pairs.push_back(
        {ReadAll(dir_.File("pki/controller.key")), ReadAll(dir_.File("pki/controller.crt"))});
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(options), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    endpoint_ = absl::StrCat("127.0.0.1:", port_);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // Runs fsb with `args` and env_, over real channels.
  int Fsb(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    args.insert(args.end(), {"--timeout", "20s"});
    CliContext context;
    context.env = [this](std::string_view name) -> std::optional<std::string> {
      auto it = env_.find(std::string(name));
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    context.in = &in_;
    context.out = &out_;
    context.err = &err_;
    context.now = absl::FromUnixSeconds(1'800'000'000);
    return ::fsb::cli::Run(args, context);
  }

  std::string Ca() const { return dir_.File("pki/ca.crt"); }
  std::string OtherCa() const { return dir_.File("other-pki/ca.crt"); }

  ScopedTempDir dir_;
  FakeFastPath service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string endpoint_;
  std::map<std::string, std::string> env_;
  std::istringstream in_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(TlsTest, FlagsGiveTlsWithTheCaAndTheBearerToken) {
  EXPECT_EQ(Fsb({"ls", "--endpoint", endpoint_, "--ca", Ca(), "--token", kGoodToken}), kExitOk)
      << err_.str();
  EXPECT_THAT(service_.authorizations(), ElementsAre("Bearer good-token"));
}

TEST_F(TlsTest, AContextGivesTheSameFromItsFiles) {
  dir_.Write("token", absl::StrCat(kGoodToken, "\n"));
  env_["FSB_CONFIG"] = dir_.Write(
      "config.yaml", absl::StrCat("current-context: local\ncontexts:\n  - name: local\n",
                                  "    endpoint: \"", endpoint_, "\"\n    ca: pki/ca.crt\n",
                                  "    token-file: token\n    tls-server-name: fsb-controller\n"));
  EXPECT_EQ(Fsb({"ls"}), kExitOk) << err_.str();
  EXPECT_THAT(service_.authorizations(), ElementsAre("Bearer good-token"));
}

TEST_F(TlsTest, AnUnknownTokenIsUnauthenticatedWithItsSource) {
  env_["FSB_TOKEN"] = "stale-token";
  env_["FSB_CA"] = Ca();
  EXPECT_EQ(Fsb({"ls", "--endpoint", endpoint_}), kExitServerError);
  EXPECT_EQ(err_.str(),
            "fsb: error: UNAUTHENTICATED: unknown token\n"
            "fsb: the token came from FSB_TOKEN; is it the current one?\n");
  EXPECT_THAT(service_.authorizations(), ElementsAre("Bearer stale-token"));
}

TEST_F(TlsTest, AnotherCaFailsTheHandshakeAndSaysWhichCa) {
  EXPECT_EQ(Fsb({"ls", "--endpoint", endpoint_, "--ca", OtherCa(), "--token", kGoodToken}),
            kExitServerError);
  EXPECT_THAT(err_.str(), HasSubstr("fsb: error: UNAVAILABLE: "));
  EXPECT_THAT(err_.str(),
              HasSubstr(absl::StrCat("fsb: TLS with ", endpoint_,
                                     " failed: is the controller's certificate signed by the CA "
                                     "of --ca ",
                                     OtherCa(), "?")));
  EXPECT_THAT(service_.authorizations(), IsEmpty());  // the token never left
}

TEST_F(TlsTest, TheServerNameIsVerified) {
  EXPECT_EQ(Fsb({"ls", "--endpoint", endpoint_, "--ca", Ca(), "--token", kGoodToken,
                 "--tls-server-name", "fsb-controller"}),
            kExitOk)
      << err_.str();
  EXPECT_EQ(Fsb({"ls", "--endpoint", endpoint_, "--ca", Ca(), "--token", kGoodToken,
                 "--tls-server-name", "someone-else"}),
            kExitServerError);
  EXPECT_THAT(err_.str(), HasSubstr("Does it name \"someone-else\"?"));
  EXPECT_THAT(service_.authorizations(), ElementsAre("Bearer good-token"));
}

TEST_F(TlsTest, SkipVerifyConnectsWithoutTheCaAndWarns) {
  EXPECT_EQ(
      Fsb({"ls", "--endpoint", endpoint_, "--insecure-skip-tls-verify", "--token", kGoodToken}),
      kExitOk)
      << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("fsb: warning: the certificate of "));
  EXPECT_THAT(service_.authorizations(), ElementsAre("Bearer good-token"));
}

TEST_F(TlsTest, WithoutTheCaTheSystemsRootsDoNotTrustTheServer) {
  // TLS is the default; the test CA is not among the system's roots.
  EXPECT_EQ(Fsb({"ls", "--endpoint", endpoint_}), kExitServerError);
  EXPECT_THAT(err_.str(), HasSubstr("certificate verify failed"));
  EXPECT_THAT(err_.str(), HasSubstr("signed by a CA the system trusts? (Set --ca, FSB_CA"));
  EXPECT_THAT(service_.authorizations(), IsEmpty());
}

TEST_F(TlsTest, PlaintextToTheTlsServerFailsAndSaysItWasPlaintext) {
  EXPECT_EQ(Fsb({"ls", "--endpoint", endpoint_, "--insecure"}), kExitServerError);
  EXPECT_THAT(err_.str(), HasSubstr("fsb: error: UNAVAILABLE: "));
  EXPECT_THAT(err_.str(), HasSubstr("fsb: the connection was plaintext"));
  EXPECT_THAT(service_.authorizations(), IsEmpty());
}

}  // namespace
}  // namespace fsb::cli
