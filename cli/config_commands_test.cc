#include "cli/config_commands.h"

#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/temp_dir_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::cli {
namespace {

using ::fsb::cli::testing::ModeOf;
using ::fsb::cli::testing::ReadAll;
using ::fsb::cli::testing::ScopedTempDir;
using ::testing::HasSubstr;

// Runs `fsb config ...` with FSB_CONFIG in a fresh folder; no verb may connect.
class ConfigCommandsTest : public ::testing::Test {
 protected:
  int Fsb(const std::vector<std::string>& args) {
    out_.str("");
    err_.str("");
    CliContext context;
    context.env = [this](std::string_view name) -> std::optional<std::string> {
      auto it = env_.find(std::string(name));
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    context.connect = [](const Connection&) {
      ADD_FAILURE() << "fsb config never connects";
      return nullptr;
    };
    context.in = &in_;
    context.out = &out_;
    context.err = &err_;
    context.now = absl::FromUnixSeconds(1'800'000'000);
    return ::fsb::cli::Run(args, context);
  }

  ScopedTempDir dir_;
  const std::string path_ = dir_.File("fsb/config.yaml");
  std::map<std::string, std::string> env_{{"FSB_CONFIG", path_}};
  std::istringstream in_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(ConfigCommandsTest, SetContextCreatesTheFileAndUseContextSwitches) {
  ASSERT_EQ(Fsb({"config", "set-context", "prod", "--endpoint", "fsb.example.com:9090", "--ca",
                 "/etc/fsb/ca.crt", "--token-file", "/etc/fsb/token", "-n", "team-a"}),
            kExitOk)
      << err_.str();
  EXPECT_EQ(out_.str(), absl::StrCat("Context \"prod\" created in ", path_, ".\n"));
  EXPECT_EQ(ModeOf(path_), 0600);
  ASSERT_EQ(Fsb({"config", "set-context", "dev", "--endpoint", "127.0.0.1:9090", "--insecure"}),
            kExitOk);
  ASSERT_EQ(Fsb({"config", "use-context", "prod"}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(), "Switched to context \"prod\".\n");

  EXPECT_EQ(ReadAll(path_),
            "current-context: prod\n"
            "contexts:\n"
            "  - name: prod\n"
            "    endpoint: fsb.example.com:9090\n"
            "    ca: /etc/fsb/ca.crt\n"
            "    token-file: /etc/fsb/token\n"
            "    namespace: team-a\n"
            "  - name: dev\n"
            "    endpoint: \"127.0.0.1:9090\"\n"
            "    insecure: true\n");
  ASSERT_EQ(Fsb({"config", "current-context"}), kExitOk);
  EXPECT_EQ(out_.str(), "prod\n");
  ASSERT_EQ(Fsb({"config", "get-contexts"}), kExitOk);
  EXPECT_EQ(out_.str(),
            "CURRENT   NAME   ENDPOINT               NAMESPACE   TLS         TOKEN\n"
            "*         prod   fsb.example.com:9090   team-a      ca          file\n"
            "          dev    127.0.0.1:9090         <none>      plaintext   <none>\n");
}

TEST_F(ConfigCommandsTest, SetContextUpdatesOneContextAndKeepsTheOthers) {
  ASSERT_EQ(Fsb({"config", "set-context", "a", "--endpoint", "a:1", "--token", "s3cret"}), kExitOk);
  ASSERT_EQ(Fsb({"config", "set-context", "b", "--endpoint", "b:1"}), kExitOk);
  ASSERT_EQ(Fsb({"config", "set-context", "a", "-n", "team", "--endpoint="}), kExitOk);
  EXPECT_EQ(out_.str(), absl::StrCat("Context \"a\" modified in ", path_, ".\n"));
  EXPECT_EQ(ReadAll(path_),
            "contexts:\n"
            "  - name: a\n"
            "    token: s3cret\n"
            "    namespace: team\n"
            "  - name: b\n"
            "    endpoint: b:1\n");
}

TEST_F(ConfigCommandsTest, SetContextStoresPathsAbsolute) {
  ASSERT_EQ(Fsb({"config", "set-context", "a", "--ca", "certs/../ca.crt", "--token-file", "t"}),
            kExitOk);
  const std::string cwd = std::filesystem::current_path().string();
  EXPECT_EQ(ReadAll(path_), absl::StrCat("contexts:\n"
                                         "  - name: a\n"
                                         "    ca: ",
                                         cwd, "/ca.crt\n", "    token-file: ", cwd, "/t\n"));
}

TEST_F(ConfigCommandsTest, ViewRedactsInlineTokens) {
  ASSERT_EQ(Fsb({"config", "set-context", "a", "--token", "s3cret"}), kExitOk);
  ASSERT_EQ(Fsb({"config", "view"}), kExitOk);
  EXPECT_EQ(out_.str(),
            "contexts:\n"
            "  - name: a\n"
            "    token: REDACTED\n");
  EXPECT_THAT(ReadAll(path_), HasSubstr("s3cret"));
}

TEST_F(ConfigCommandsTest, WithoutAFileViewIsEmptyAndGetContextsSaysSo) {
  ASSERT_EQ(Fsb({"config", "view"}), kExitOk);
  EXPECT_EQ(out_.str(), "contexts: []\n");
  ASSERT_EQ(Fsb({"config", "get-contexts"}), kExitOk);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(), absl::StrCat("No contexts in ", path_, ".\n"));
  EXPECT_EQ(ModeOf(path_), -1);  // reading creates nothing
}

TEST_F(ConfigCommandsTest, ErrorsExitTwoAndWriteNothing) {
  ASSERT_EQ(Fsb({"config", "set-context", "a", "--ca", "/ca.crt"}), kExitOk);
  const std::string before = ReadAll(path_);

  EXPECT_EQ(Fsb({"config", "use-context", "b"}), kExitUsage);
  EXPECT_EQ(err_.str(),
            absl::StrCat("fsb: error: context \"b\" is not in ", path_, " (it has a)\n"));
  EXPECT_EQ(Fsb({"config", "current-context"}), kExitUsage);
  EXPECT_THAT(err_.str(),
              HasSubstr("has no current-context: pick one with fsb config use-context"));
  EXPECT_EQ(Fsb({"config", "set-context", "a", "--insecure"}), kExitUsage);
  EXPECT_EQ(err_.str(),
            absl::StrCat("fsb: error: ", path_,
                         ": context \"a\": field \"insecure\": plaintext cannot be combined with "
                         "\"ca\"\n"));
  EXPECT_EQ(Fsb({"config", "set-context", "a", "-n", "Team"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("field \"namespace\": namespace \"Team\" is invalid"));
  EXPECT_EQ(ReadAll(path_), before);

  dir_.Write("fsb/config.yaml", "contexts: [{name: a, colour: blue}]\n");
  EXPECT_EQ(Fsb({"config", "view"}), kExitUsage);
  EXPECT_EQ(err_.str(),
            absl::StrCat("fsb: error: ", path_, ": context \"a\": unknown field \"colour\"\n"));
}

TEST_F(ConfigCommandsTest, TheFileIsUnderHomeWithoutFsbConfig) {
  env_ = {{"HOME", dir_.path()}};
  ASSERT_EQ(Fsb({"config", "set-context", "a"}), kExitOk) << err_.str();
  EXPECT_EQ(ModeOf(dir_.File(".config/fsb/config.yaml")), 0600);
  env_.clear();
  EXPECT_EQ(Fsb({"config", "view"}), kExitUsage);
  EXPECT_EQ(err_.str(), "fsb: error: no config file: set FSB_CONFIG or HOME\n");
}

TEST_F(ConfigCommandsTest, AnUnreadableFileExitsTwo) {
  dir_.Write("fsb", "a file where the folder should be");
  EXPECT_EQ(Fsb({"config", "set-context", "a"}), kExitUsage);
  EXPECT_EQ(err_.str(), absl::StrCat("fsb: error: cannot read ", path_, ": Not a directory\n"));
  EXPECT_EQ(out_.str(), "");
}

}  // namespace
}  // namespace fsb::cli
