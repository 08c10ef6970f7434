#include "cli/config.h"

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/temp_dir_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::cli {
namespace {

using ::fsb::cli::testing::ModeOf;
using ::fsb::cli::testing::ReadAll;
using ::fsb::cli::testing::ScopedTempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kPath[] = "/home/u/.config/fsb/config.yaml";

CliConfig ParseOk(std::string_view text) {
  absl::StatusOr<CliConfig> config = ParseConfig(text, kPath);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *std::move(config) : CliConfig{};
}

TEST(ParseConfigTest, ReadsEveryField) {
  const CliConfig config = ParseOk(R"(# fsb
current-context: local
contexts:
  - name: local
    endpoint: 127.0.0.1:9090
    ca: /etc/fsb/ca.crt
    token-file: token
    namespace: team-a
    tls-server-name: fsb-controller
  - name: dev
    endpoint: "[::1]:9090"
    insecure: true
  - name: lab
    token: "s3cret"
    insecure-skip-tls-verify: true
)");
  EXPECT_EQ(config.current_context, "local");
  ASSERT_EQ(config.contexts.size(), 3u);
  EXPECT_EQ(config.contexts[0], (ConfigContext{.name = "local",
                                               .endpoint = "127.0.0.1:9090",
                                               .ca = "/etc/fsb/ca.crt",
                                               .token_file = "token",
                                               .ns = "team-a",
                                               .tls_server_name = "fsb-controller"}));
  EXPECT_EQ(config.contexts[1],
            (ConfigContext{.name = "dev", .endpoint = "[::1]:9090", .insecure = true}));
  EXPECT_EQ(config.contexts[2],
            (ConfigContext{.name = "lab", .token = "s3cret", .insecure_skip_tls_verify = true}));
  EXPECT_EQ(config.Find("dev"), &config.contexts[1]);
  EXPECT_EQ(config.Find("prod"), nullptr);
}

TEST(ParseConfigTest, EmptyFileAndNullFieldsAreUnset) {
  EXPECT_EQ(ParseOk(""), CliConfig{});
  EXPECT_EQ(ParseOk("# nothing yet\n"), CliConfig{});
  EXPECT_EQ(ParseOk("current-context:\ncontexts:\n"), CliConfig{});
  EXPECT_THAT(ParseOk("contexts: [{name: a, ca: ~, insecure: null}]").contexts,
              ElementsAre(ConfigContext{.name = "a"}));
}

struct ConfigErrorCase {
  std::string text;
  std::string message;  // expected after "PATH: "
};

class ParseConfigErrorTest : public ::testing::TestWithParam<ConfigErrorCase> {};

TEST_P(ParseConfigErrorTest, NamesTheFileTheContextAndTheField) {
  absl::StatusOr<CliConfig> config = ParseConfig(GetParam().text, kPath);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()), StartsWith(absl::StrCat(kPath, ": ")));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Config, ParseConfigErrorTest,
    ::testing::Values(
        ConfigErrorCase{"contexts: [", "document 1: line"},
        ConfigErrorCase{"--- {}\n--- {}\n", "more than one YAML document"},
        ConfigErrorCase{"[1, 2]", "must be a mapping with current-context and contexts"},
        ConfigErrorCase{"current-context: 3", "field \"current-context\" must be a string"},
        ConfigErrorCase{"contexts: {a: 1}", "field \"contexts\" must be a list, not a mapping"},
        ConfigErrorCase{"kind: Config", "unknown field \"kind\""},
        ConfigErrorCase{"contexts: [a]", "contexts[0]: must be a mapping, not a string"},
        ConfigErrorCase{"contexts: [{name: a}, {endpoint: x}]",
                        "contexts[1]: field \"name\" must be a non-empty string"},
        ConfigErrorCase{"contexts: [{name: a, tokn: x}]", "context \"a\": unknown field \"tokn\""},
        ConfigErrorCase{"contexts: [{name: a, token: 12345}]",
                        "context \"a\": field \"token\": must be a string, not a number"},
        // YAML 1.2: `yes` is a string.
        ConfigErrorCase{"contexts: [{name: a, insecure: yes}]",
                        "context \"a\": field \"insecure\": must be true or false, not a string"},
        ConfigErrorCase{"contexts: [{name: a, namespace: Team}]",
                        "context \"a\": field \"namespace\": namespace \"Team\" is invalid"},
        ConfigErrorCase{"contexts: [{name: a, token: t, token-file: f}]",
                        "context \"a\": field \"token\": cannot be combined with \"token-file\""},
        ConfigErrorCase{"contexts: [{name: a, token: \"a b\"}]",
                        "context \"a\": field \"token\": holds a space"},
        ConfigErrorCase{"contexts: [{name: a, ca: \"x\\ty\"}]",
                        "context \"a\": field \"ca\": holds a control character"},
        ConfigErrorCase{"contexts: [{name: a, insecure: true, ca: c}]",
                        "field \"insecure\": plaintext cannot be combined with \"ca\""},
        ConfigErrorCase{"contexts: [{name: a, insecure: true, token-file: f}]",
                        "plaintext cannot be combined with \"token-file\""},
        ConfigErrorCase{"contexts: [{name: a, insecure: true, insecure-skip-tls-verify: true}]",
                        "plaintext cannot be combined with \"insecure-skip-tls-verify\""},
        ConfigErrorCase{"contexts: [{name: a}, {name: a}]", "context \"a\" appears twice"}));

TEST(FormatConfigTest, RoundTripsThroughParseConfig) {
  CliConfig config;
  config.current_context = "odd: name";
  config.contexts = {
      ConfigContext{.name = "odd: name",
                    .endpoint = "dns:///fsb.example.com:443",
                    .ca = "certs/ca #1.crt",
                    .token = "true",
                    .ns = "team-a",
                    .tls_server_name = "10.0.0.1"},
      ConfigContext{.name = "dev", .endpoint = "127.0.0.1:9090", .insecure = true},
      ConfigContext{.name = "lab", .token_file = "/t", .insecure_skip_tls_verify = true},
  };
  const std::string text = FormatConfig(config);
  EXPECT_EQ(ParseOk(text), config) << text;
  EXPECT_EQ(ParseOk(FormatConfig(CliConfig{})), CliConfig{});
}

TEST(FormatConfigTest, LeavesUnsetFieldsOut) {
  CliConfig config;
  config.contexts = {ConfigContext{.name = "dev", .endpoint = "h:1", .insecure = true}};
  EXPECT_EQ(FormatConfig(config),
            "contexts:\n"
            "  - name: dev\n"
            "    endpoint: h:1\n"
            "    insecure: true\n");
}

TEST(RedactedTest, HidesInlineTokensOnly) {
  CliConfig config;
  config.contexts = {ConfigContext{.name = "a", .token = "s3cret"},
                     ConfigContext{.name = "b", .token_file = "/etc/fsb/token"},
                     ConfigContext{.name = "c"}};
  const CliConfig redacted = Redacted(config);
  EXPECT_EQ(redacted.contexts[0].token, kRedacted);
  EXPECT_EQ(redacted.contexts[1], config.contexts[1]);
  EXPECT_EQ(redacted.contexts[2], config.contexts[2]);
  EXPECT_THAT(FormatConfig(redacted), Not(HasSubstr("s3cret")));
}

TEST(SetContextTest, CreatesThenUpdatesKeepingTheRest) {
  CliConfig config = ParseOk(R"(current-context: dev
contexts:
  - {name: dev, endpoint: "127.0.0.1:9090", insecure: true}
)");
  ContextUpdate create;
  create.endpoint = "fsb.example.com:9090";
  create.ca = "/ca.crt";
  create.token = "t0k";
  create.ns = "team-a";
  absl::StatusOr<bool> created = SetContext(config, "prod", create);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(*created);

  ContextUpdate update;
  update.token_file = "/token";  // replaces the inline token
  update.ns = "";                // clears the namespace
  absl::StatusOr<bool> modified = SetContext(config, "prod", update);
  ASSERT_TRUE(modified.ok()) << modified.status();
  EXPECT_FALSE(*modified);

  EXPECT_EQ(config.current_context, "dev");
  EXPECT_THAT(
      config.contexts,
      ElementsAre(ConfigContext{.name = "dev", .endpoint = "127.0.0.1:9090", .insecure = true},
                  ConfigContext{.name = "prod",
                                .endpoint = "fsb.example.com:9090",
                                .ca = "/ca.crt",
                                .token_file = "/token"}));
}

TEST(SetContextTest, AnInvalidResultChangesNothing) {
  CliConfig config = ParseOk("contexts: [{name: prod, ca: /ca.crt}]");
  const CliConfig before = config;
  ContextUpdate update;
  update.insecure = true;
  absl::StatusOr<bool> result = SetContext(config, "prod", update);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("context \"prod\": field \"insecure\": plaintext cannot be combined with "
                        "\"ca\""));
  EXPECT_EQ(config, before);
  EXPECT_FALSE(SetContext(config, "", ContextUpdate{}).ok());
  EXPECT_EQ(config, before);
}

TEST(SaveConfigTest, WritesMode0600AtomicallyIntoANewFolder) {
  ScopedTempDir dir;
  const std::string path = dir.File("fsb/config.yaml");
  CliConfig config = ParseOk("contexts: [{name: prod, token: s3cret}]");
  ASSERT_TRUE(SaveConfig(path, config).ok());
  EXPECT_EQ(ModeOf(dir.File("fsb")), 0700);
  EXPECT_EQ(ModeOf(path), 0600);
  absl::StatusOr<CliConfig> loaded = LoadConfig(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, config);

  config.current_context = "prod";
  ASSERT_TRUE(SaveConfig(path, config).ok());
  EXPECT_EQ(ModeOf(path), 0600);
  EXPECT_EQ(ParseOk(ReadAll(path)), config);
  // Nothing but the file is left behind.
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir.File("fsb"))) {
    names.push_back(entry.path().filename().string());
  }
  EXPECT_THAT(names, ElementsAre("config.yaml"));
}

TEST(SaveConfigTest, AnUnwritableFolderIsAnErrorNamingTheFile) {
  ScopedTempDir dir;
  const std::string file = dir.Write("plain-file", "x");
  const absl::Status status = SaveConfig(file + "/config.yaml", CliConfig{});
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("plain-file"));
  EXPECT_EQ(ReadAll(file), "x");
}

TEST(LoadConfigTest, AMissingFileIsEmptyAndABadOneNamesItself) {
  ScopedTempDir dir;
  absl::StatusOr<CliConfig> missing = LoadConfig(dir.File("none.yaml"));
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_THAT(missing->contexts, IsEmpty());

  const std::string bad = dir.Write("bad.yaml", "contexts: 7\n");
  absl::StatusOr<CliConfig> loaded = LoadConfig(bad);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), StartsWith(bad + ": field \"contexts\""));
}

}  // namespace
}  // namespace fsb::cli
