#include "cli/connection.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/temp_dir_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::cli {
namespace {

using ::fsb::cli::testing::ScopedTempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Optional;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);
constexpr char kPem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
constexpr char kOtherPem[] = "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n";

EnvLookup EnvOf(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// Resolves `fsb ls ARGS...` with env_ and a config file of `config_text` in a fresh folder
// holding ca.crt (kPem) and token ("t0k\n").
class ResolveSettingsTest : public ::testing::Test {
 protected:
  absl::StatusOr<ClientSettings> Resolve(std::vector<std::string> args,
                                         std::string_view config_text = "") {
    args.insert(args.begin(), "ls");
    absl::StatusOr<Invocation> invocation = ParseArgs(args, kNow);
    EXPECT_TRUE(invocation.ok()) << invocation.status();
    absl::StatusOr<CliConfig> config = ParseConfig(config_text, config_path_);
    EXPECT_TRUE(config.ok()) << config.status();
    if (!invocation.ok() || !config.ok()) return absl::InternalError("bad test input");
    return ResolveSettings(invocation->global, EnvOf(env_), *config, config_path_);
  }

  ClientSettings ResolveOk(std::vector<std::string> args, std::string_view config_text = "") {
    absl::StatusOr<ClientSettings> settings = Resolve(std::move(args), config_text);
    EXPECT_TRUE(settings.ok()) << settings.status();
    return settings.ok() ? *std::move(settings) : ClientSettings{};
  }

  // The message of the error that resolving gives.
  std::string ResolveError(std::vector<std::string> args, std::string_view config_text = "") {
    absl::StatusOr<ClientSettings> settings = Resolve(std::move(args), config_text);
    EXPECT_FALSE(settings.ok());
    if (settings.ok()) return "";
    EXPECT_EQ(settings.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(settings.status().message());
  }

  ScopedTempDir dir_;
  const std::string config_path_ = dir_.File("config.yaml");
  const std::string ca_path_ = dir_.Write("ca.crt", kPem);
  const std::string token_path_ = dir_.Write("token", "t0k\n");
  std::map<std::string, std::string> env_;
};

constexpr char kLocal[] = R"(current-context: local
contexts:
  - name: local
    endpoint: ctx-host:9090
    namespace: team-a
    ca: ca.crt
    token-file: token
    tls-server-name: fsb-controller
  - name: dev
    endpoint: dev-host:9090
    insecure: true
)";

TEST_F(ResolveSettingsTest, WithoutConfigOrFlagsItIsTlsToTheDefaultEndpoint) {
  const ClientSettings settings = ResolveOk({});
  EXPECT_EQ(settings.connection.endpoint, "127.0.0.1:9090");
  EXPECT_EQ(settings.connection.transport, Transport::kTls);
  EXPECT_EQ(settings.connection.ca_pem, "");  // the system's roots
  EXPECT_EQ(settings.connection.token, "");
  EXPECT_EQ(settings.ns, "default");
  EXPECT_EQ(settings.context, "");
  EXPECT_EQ(settings.timeout, absl::Seconds(60));
  EXPECT_THAT(settings.warnings, IsEmpty());
}

TEST_F(ResolveSettingsTest, TheCurrentContextGivesEverythingWithPathsInItsFolder) {
  const ClientSettings settings = ResolveOk({}, kLocal);
  const Connection& connection = settings.connection;
  EXPECT_EQ(settings.context, "local");
  EXPECT_EQ(settings.ns, "team-a");
  EXPECT_EQ(connection.endpoint, "ctx-host:9090");
  EXPECT_EQ(connection.transport, Transport::kTls);
  EXPECT_EQ(connection.ca_pem, kPem);
  EXPECT_EQ(connection.ca_source, absl::StrCat(config_path_, ": context \"local\": ca ", ca_path_));
  EXPECT_EQ(connection.token, "t0k");  // without the newline
  EXPECT_EQ(connection.token_source,
            absl::StrCat(config_path_, ": context \"local\": token-file ", token_path_));
  EXPECT_EQ(connection.tls_server_name, "fsb-controller");
  EXPECT_THAT(settings.warnings, IsEmpty());
}

TEST_F(ResolveSettingsTest, FlagsBeatTheEnvironmentWhichBeatsTheContext) {
  const std::string other_ca = dir_.Write("other.crt", kOtherPem);
  env_ = {{"FSB_ENDPOINT", "env-host:1"}, {"FSB_TOKEN", "env-token"}, {"FSB_CA", other_ca}};
  ClientSettings settings = ResolveOk({}, kLocal);
  EXPECT_EQ(settings.connection.endpoint, "env-host:1");
  EXPECT_EQ(settings.connection.token, "env-token");
  EXPECT_EQ(settings.connection.token_source, "FSB_TOKEN");
  EXPECT_EQ(settings.connection.ca_pem, kOtherPem);
  EXPECT_EQ(settings.connection.ca_source, absl::StrCat("FSB_CA ", other_ca));
  EXPECT_EQ(settings.ns, "team-a");

  settings = ResolveOk({"--endpoint", "flag-host:2", "--token", "flag-token", "--ca", ca_path_,
                        "-n", "team-b", "--tls-server-name", "other-name"},
                       kLocal);
  EXPECT_EQ(settings.connection.endpoint, "flag-host:2");
  EXPECT_EQ(settings.connection.token, "flag-token");
  EXPECT_EQ(settings.connection.token_source, "--token");
  EXPECT_EQ(settings.connection.ca_pem, kPem);
  EXPECT_EQ(settings.connection.ca_source, absl::StrCat("--ca ", ca_path_));
  EXPECT_EQ(settings.connection.tls_server_name, "other-name");
  EXPECT_EQ(settings.ns, "team-b");

  // Empty variables count as unset.
  env_ = {{"FSB_ENDPOINT", ""}, {"FSB_TOKEN", ""}, {"FSB_CA", ""}};
  settings = ResolveOk({}, kLocal);
  EXPECT_EQ(settings.connection.endpoint, "ctx-host:9090");
  EXPECT_EQ(settings.connection.token, "t0k");
}

TEST_F(ResolveSettingsTest, ContextFlagPicksAnotherContext) {
  const ClientSettings settings = ResolveOk({"--context", "dev"}, kLocal);
  EXPECT_EQ(settings.context, "dev");
  EXPECT_EQ(settings.connection.endpoint, "dev-host:9090");
  EXPECT_EQ(settings.connection.transport, Transport::kPlaintext);
  EXPECT_EQ(settings.ns, "default");
}

TEST_F(ResolveSettingsTest, AnUnknownContextIsAnErrorListingTheKnownOnes) {
  EXPECT_EQ(
      ResolveError({"--context", "prod"}, kLocal),
      absl::StrCat("--context: context \"prod\" is not in ", config_path_, " (it has local, dev)"));
  EXPECT_THAT(ResolveError({"--context", "prod"}), HasSubstr("(it has none)"));
  EXPECT_EQ(ResolveError({}, "current-context: gone\n"),
            absl::StrCat(config_path_,
                         ": current-context \"gone\" names no context; pick one with fsb config "
                         "use-context NAME"));
}

struct TransportCase {
  std::string name;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string context;  // the current context's fields, as entries of a YAML flow mapping
  Transport expected;
};

class TransportTest : public ResolveSettingsTest,
                      public ::testing::WithParamInterface<TransportCase> {};

TEST_P(TransportTest, TheFirstLevelThatSaysAnythingDecides) {
  // "ca.crt" in a flag or variable stands for the fixture's CA file.
  auto ca = [this](std::string value) { return value == "ca.crt" ? ca_path_ : value; };
  std::vector<std::string> args;
  for (const std::string& arg : GetParam().args) args.push_back(ca(arg));
  for (const auto& [name, value] : GetParam().env) env_[name] = ca(value);
  const std::string config =
      GetParam().context.empty()
          ? ""
          : absl::StrCat("current-context: c\ncontexts: [{name: c, ", GetParam().context, "}]\n");
  EXPECT_EQ(ResolveOk(args, config).connection.transport, GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Connection, TransportTest,
    ::testing::Values(
        TransportCase{"Nothing", {}, {}, "", Transport::kTls},
        TransportCase{"NothingButAnEndpoint", {}, {}, "endpoint: h:1", Transport::kTls},
        TransportCase{"InsecureFlag", {"--insecure"}, {}, "", Transport::kPlaintext},
        TransportCase{"TokenFlag", {"--token", "t"}, {}, "", Transport::kTls},
        TransportCase{"TokenVariable", {}, {{"FSB_TOKEN", "t"}}, "", Transport::kTls},
        TransportCase{"CaVariable", {}, {{"FSB_CA", "ca.crt"}}, "", Transport::kTls},
        TransportCase{"ServerNameFlag", {"--tls-server-name", "n"}, {}, "", Transport::kTls},
        TransportCase{
            "SkipVerifyFlag", {"--insecure-skip-tls-verify"}, {}, "", Transport::kTlsNoVerify},
        TransportCase{"ContextCa", {}, {}, "ca: ca.crt", Transport::kTls},
        TransportCase{"ContextTokenFile", {}, {}, "token-file: token", Transport::kTls},
        TransportCase{"ContextServerName", {}, {}, "tls-server-name: n", Transport::kTls},
        TransportCase{
            "ContextSkipVerify", {}, {}, "insecure-skip-tls-verify: true", Transport::kTlsNoVerify},
        TransportCase{"ContextInsecure", {}, {}, "insecure: true", Transport::kPlaintext},
        TransportCase{
            "InsecureFlagOverContextCa", {"--insecure"}, {}, "ca: ca.crt", Transport::kPlaintext},
        TransportCase{"SkipVerifyFlagOverContextCa",
                      {"--insecure-skip-tls-verify"},
                      {},
                      "ca: ca.crt",
                      Transport::kTlsNoVerify},
        TransportCase{
            "CaFlagOverInsecureContext", {"--ca", "ca.crt"}, {}, "insecure: true", Transport::kTls},
        TransportCase{"CaVariableOverInsecureContext",
                      {},
                      {{"FSB_CA", "ca.crt"}},
                      "insecure: true",
                      Transport::kTls},
        // A token alone decides nothing that a level above it said.
        TransportCase{"TokenVariableUnderInsecureContext",
                      {},
                      {{"FSB_TOKEN", "t"}},
                      "insecure: true",
                      Transport::kPlaintext}),
    [](const ::testing::TestParamInfo<TransportCase>& info) { return info.param.name; });

TEST_F(ResolveSettingsTest, PlaintextSendsNoTokenAndSaysWhy) {
  env_ = {{"FSB_TOKEN", "t0k"}};
  ClientSettings settings = ResolveOk({"--insecure"});
  EXPECT_EQ(settings.connection.token, "");
  EXPECT_THAT(settings.warnings,
              ElementsAre("the connection to 127.0.0.1:9090 is plaintext (--insecure): no token "
                          "is sent"));

  settings = ResolveOk({"--context", "dev"}, kLocal);
  EXPECT_EQ(settings.connection.token, "");
  EXPECT_THAT(
      settings.warnings,
      ElementsAre(HasSubstr(absl::StrCat("is plaintext (", config_path_,
                                         ": context \"dev\": insecure): no token is sent"))));
}

TEST_F(ResolveSettingsTest, UnverifiedTlsWarnsAndNeedsNoCa) {
  const ClientSettings settings =
      ResolveOk({"--insecure-skip-tls-verify"},
                "current-context: c\ncontexts: [{name: c, ca: missing.crt, token-file: token}]\n");
  EXPECT_EQ(settings.connection.transport, Transport::kTlsNoVerify);
  EXPECT_EQ(settings.connection.ca_pem, "");
  EXPECT_EQ(settings.connection.token, "t0k");
  EXPECT_THAT(settings.warnings,
              ElementsAre(HasSubstr("the certificate of 127.0.0.1:9090 is not verified "
                                    "(--insecure-skip-tls-verify)")));
}

TEST_F(ResolveSettingsTest, UnreadableOrInvalidFilesAndTokensAreErrorsNamingTheirSource) {
  const std::string missing = dir_.File("missing.crt");
  EXPECT_EQ(ResolveError({"--ca", missing}),
            absl::StrCat("--ca: cannot read ", missing, ": No such file or directory"));

  const std::string not_pem = dir_.Write("key.pem", "-----BEGIN PRIVATE KEY-----\n");
  env_ = {{"FSB_CA", not_pem}};
  EXPECT_EQ(ResolveError({}), absl::StrCat("FSB_CA: ", not_pem, " holds no PEM certificate"));

  env_ = {{"FSB_TOKEN", "two words"}};
  EXPECT_THAT(ResolveError({}), HasSubstr("the token from FSB_TOKEN holds whitespace"));
  env_.clear();
  EXPECT_THAT(ResolveError({"--token", "caf\xc3\xa9"}), HasSubstr("the token from --token holds"));

  const std::string empty = dir_.Write("empty-token", " \n");
  EXPECT_EQ(ResolveError({}, "current-context: c\ncontexts: [{name: c, token-file: empty-token}]"),
            absl::StrCat(config_path_, ": context \"c\": token-file: ", empty, " is empty"));
  EXPECT_THAT(ResolveError({}, "current-context: c\ncontexts: [{name: c, ca: nope.crt}]"),
              HasSubstr(absl::StrCat(config_path_, ": context \"c\": ca: cannot read ",
                                     dir_.File("nope.crt"))));
}

TEST(ConfigPathTest, FsbConfigThenHome) {
  EXPECT_THAT(ConfigPath(EnvOf({{"FSB_CONFIG", "/etc/fsb.yaml"}, {"HOME", "/home/u"}})),
              Optional(std::string("/etc/fsb.yaml")));
  EXPECT_THAT(ConfigPath(EnvOf({{"FSB_CONFIG", ""}, {"HOME", "/home/u"}})),
              Optional(std::string("/home/u/.config/fsb/config.yaml")));
  EXPECT_EQ(ConfigPath(EnvOf({})), std::nullopt);
  EXPECT_EQ(ConfigPath(EnvLookup()), std::nullopt);
}

ClientSettings TlsSettings() {
  ClientSettings settings;
  settings.ns = "team-a";
  settings.connection.endpoint = "ctrl.example.com:9090";
  settings.connection.transport = Transport::kTls;
  settings.connection.ca_source = "--ca /etc/fsb/ca.crt";
  settings.connection.token = "t0k";
  settings.connection.token_source = "FSB_TOKEN";
  return settings;
}

TEST(FailureHintTest, UnauthenticatedNamesWhereTheTokenCameFrom) {
  ClientSettings settings = TlsSettings();
  EXPECT_EQ(FailureHint(absl::UnauthenticatedError("unknown token"), settings),
            "fsb: the token came from FSB_TOKEN; is it the current one?\n");
  settings.connection.token.clear();
  EXPECT_THAT(FailureHint(absl::UnauthenticatedError("missing token"), settings),
              HasSubstr("no token was sent: pass --token, set FSB_TOKEN, or give the context a "
                        "token-file"));
}

TEST(FailureHintTest, PermissionDeniedNamesTheTokenAndNamespace) {
  EXPECT_EQ(FailureHint(absl::PermissionDeniedError("denied"), TlsSettings()),
            "fsb: the token from FSB_TOKEN was refused this in namespace \"team-a\".\n");
}

TEST(FailureHintTest, TlsFailuresPointAtTheCaAndTheServerName) {
  ClientSettings settings = TlsSettings();
  const absl::Status handshake = absl::UnavailableError(
      "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:9090: Ssl "
      "handshake failed: SSL_ERROR_SSL: CERTIFICATE_VERIFY_FAILED");
  EXPECT_EQ(FailureHint(handshake, settings),
            "fsb: TLS with ctrl.example.com:9090 failed: is the controller's certificate signed "
            "by the CA of --ca /etc/fsb/ca.crt? Does it name \"ctrl.example.com\"? (Else set "
            "--tls-server-name.)\n");
  settings.connection.ca_source.clear();
  settings.connection.tls_server_name = "fsb-controller";
  EXPECT_THAT(FailureHint(handshake, settings),
              HasSubstr("signed by a CA the system trusts? (Set --ca, FSB_CA or the context's "
                        "ca.) Does it name \"fsb-controller\"?"));
  settings.connection.transport = Transport::kTlsNoVerify;
  EXPECT_THAT(FailureHint(handshake, settings), HasSubstr("does fsb-controller serve TLS there?"));
}

TEST(FailureHintTest, OtherFailures) {
  ClientSettings settings = TlsSettings();
  EXPECT_EQ(FailureHint(absl::UnavailableError("connection refused"), settings),
            "fsb: is fsb-controller reachable at ctrl.example.com:9090? Set --endpoint, "
            "FSB_ENDPOINT or the context's endpoint.\n");
  settings.connection.transport = Transport::kPlaintext;
  EXPECT_THAT(FailureHint(absl::UnavailableError(
                              "failed to connect to all addresses; last error: UNKNOWN: "
                              "ipv4:127.0.0.1:9090: Failed to connect to remote host: ssl"),
                          settings),
              HasSubstr("reachable"));
  EXPECT_THAT(FailureHint(absl::UnavailableError("connection refused"), settings),
              Not(HasSubstr("plaintext")));
  EXPECT_THAT(FailureHint(absl::UnavailableError("ipv4:127.0.0.1:9090: Socket closed"), settings),
              HasSubstr("fsb: the connection was plaintext: if fsb-controller serves TLS, set "
                        "--ca, FSB_CA or a context with its ca.\n"));
  settings.timeout = absl::Seconds(5);
  EXPECT_EQ(FailureHint(absl::DeadlineExceededError("late"), settings),
            "fsb: no answer within --timeout 5s.\n");
  EXPECT_EQ(FailureHint(absl::NotFoundError("no sandbox"), settings), "");
}

TEST(FailureHintTest, UnavailableFromAnAgentOrARegistryHasNoControllerHint) {
  ClientSettings settings = TlsSettings();
  for (const char* relayed :
       {"no candidate agent reached for sandbox default/web; last: agent at 10.0.0.2:5758 not "
        "reached: failed to connect to all addresses; last error: UNKNOWN: Connection refused",
        "pulling docker.io/library/alpine:3: registry-1.docker.io: Connection refused",
        "registry example.com: TLS handshake failed: certificate signed by unknown authority"}) {
    EXPECT_EQ(FailureHint(absl::UnavailableError(relayed), settings), "") << relayed;
  }
  EXPECT_THAT(
      FailureHint(absl::UnavailableError("failed to connect to all addresses; last error: "
                                         "UNKNOWN: ipv4:127.0.0.1:9090: Connection refused"),
                  settings),
      HasSubstr("is fsb-controller reachable at ctrl.example.com:9090?"));
}

}  // namespace
}  // namespace fsb::cli
