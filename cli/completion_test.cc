// `fsb completion bash`: the script is run by bash with the words a user typed, and what
// it offers is checked against what ParseArgs accepts and what the usage text documents.
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cli/args.h"
#include "cli/temp_dir_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/subprocess.h"

namespace fsb::cli {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::IsSupersetOf;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

const std::vector<std::string> kCommandWords = {
    "run",   "ls",   "list", "get",   "rm",    "delete", "update",  "reset", "apply",     "agents",
    "pools", "logs", "exec", "image", "bench", "config", "version", "help",  "completion"};

class CompletionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    script_ = dir_.path() + "/fsb.bash";
    std::ofstream(script_) << BashCompletionScript();
    std::ofstream(dir_.path() + "/sandboxes.yaml") << "kind: Sandbox\n";
  }

  // What the completion offers when the command line is `words`, the last one being
  // completed (bash splits "--flag=value" into "--flag", "=", "value"), in dir_.
  std::vector<std::string> Complete(const std::vector<std::string>& words) {
    SubprocessCall call;
    call.argv = {"/bin/bash",
                 "--norc",
                 "--noprofile",
                 "-c",
                 "cd \"$0\" && source ./fsb.bash && COMP_WORDS=(\"$@\") && "
                 "COMP_CWORD=$(($# - 1)) && _fsb && printf '%s\\n' \"${COMPREPLY[@]}\"",
                 dir_.path()};
    call.argv.insert(call.argv.end(), words.begin(), words.end());
    call.env = {"PATH=/usr/bin:/bin", "HOME=/nonexistent"};
    absl::StatusOr<SubprocessResult> result = RunSubprocess(call);
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return {};
    EXPECT_EQ(result->exit_code, 0) << result->stderr_data;
    EXPECT_EQ(result->stderr_data, "");
    std::vector<std::string> offered;
    for (const std::string& line :
         std::vector<std::string>(absl::StrSplit(result->stdout_data, '\n', absl::SkipEmpty()))) {
      offered.push_back(line);
    }
    return offered;
  }

  testing::ScopedTempDir dir_;
  std::string script_;
};

TEST_F(CompletionTest, OffersEveryCommandFirst) {
  EXPECT_THAT(Complete({"fsb", ""}),
              UnorderedElementsAre("run", "ls", "list", "get", "rm", "delete", "update", "reset",
                                   "apply", "agents", "pools", "logs", "exec", "image", "bench",
                                   "config", "version", "help", "completion"));
  EXPECT_THAT(Complete({"fsb", "re"}), ElementsAre("reset"));
  // A global flag's value is not the command: "run" is the namespace here.
  EXPECT_THAT(Complete({"fsb", "-n", "run", "r"}), UnorderedElementsAre("run", "rm", "reset"));
  EXPECT_THAT(Complete({"fsb", "--"}), Contains("--endpoint"));
}

TEST_F(CompletionTest, OffersTheFlagsOfTheCommand) {
  EXPECT_THAT(Complete({"fsb", "run", "--im"}), ElementsAre("--image"));
  std::vector<std::string> logs = Complete({"fsb", "logs", "-"});
  EXPECT_THAT(logs, IsSupersetOf({"-f", "--follow", "--tail", "--since", "--endpoint", "-n"}));
  EXPECT_THAT(logs, Not(Contains("--image")));
  EXPECT_THAT(Complete({"fsb", "logs", "--im"}), IsEmpty());
}

TEST_F(CompletionTest, OffersFlagValuesAndFiles) {
  EXPECT_THAT(Complete({"fsb", "ls", "-o", ""}), UnorderedElementsAre("json", "yaml", "wide"));
  EXPECT_THAT(Complete({"fsb", "pools", "--output", "=", ""}),
              UnorderedElementsAre("json", "yaml"));
  EXPECT_THAT(Complete({"fsb", "run", "--network", "no"}), ElementsAre("no-egress"));
  EXPECT_THAT(Complete({"fsb", "update", "x", "--failure-policy", "a"}),
              ElementsAre("auto-recreate"));
  EXPECT_THAT(Complete({"fsb", "apply", "-f", "sand"}), ElementsAre("sandboxes.yaml"));
  EXPECT_THAT(Complete({"fsb", "--ca", "sand"}), ElementsAre("sandboxes.yaml"));
  // A value without a hint (a name, a number) gets nothing, not the flags.
  EXPECT_THAT(Complete({"fsb", "run", "--image", ""}), IsEmpty());
  // -f takes a file for apply only; for logs it is --follow.
  EXPECT_THAT(Complete({"fsb", "logs", "-f", "sand"}), IsEmpty());
}

TEST_F(CompletionTest, OffersSubcommands) {
  EXPECT_THAT(Complete({"fsb", "config", ""}),
              UnorderedElementsAre("view", "get-contexts", "current-context", "use-context",
                                   "set-context"));
  EXPECT_THAT(Complete({"fsb", "image", ""}), ElementsAre("import"));
  EXPECT_THAT(Complete({"fsb", "image", "--agent", "n1", "import", "sand"}),
              ElementsAre("sandboxes.yaml"));
  EXPECT_THAT(Complete({"fsb", "completion", ""}), ElementsAre("bash"));
  // After "--" comes the sandbox's own command line.
  EXPECT_THAT(Complete({"fsb", "run", "--image", "busybox", "--", "-"}), IsEmpty());
}

// Every command word and every flag it offers is one ParseArgs accepts for that command,
// and every flag is in the usage text (and every flag of the usage text is offered).
TEST_F(CompletionTest, AgreesWithTheParserAndTheUsage) {
  std::set<std::string> offered_long;
  for (const std::string& command : kCommandWords) {
    absl::StatusOr<Invocation> parsed = ParseArgs({command}, absl::UnixEpoch());
    if (!parsed.ok()) {
      EXPECT_THAT(std::string(parsed.status().message()), Not(HasSubstr("unknown command")))
          << command;
    }
    for (const std::string& flag : Complete({"fsb", command, "-"})) {
      absl::StatusOr<Invocation> with_flag = ParseArgs({command, flag}, absl::UnixEpoch());
      if (with_flag.ok()) continue;
      const std::string message(with_flag.status().message());
      EXPECT_THAT(message, Not(HasSubstr("unknown flag"))) << command << " " << flag;
      EXPECT_THAT(message, Not(HasSubstr("not valid for"))) << command << " " << flag;
      if (flag.rfind("--", 0) == 0) offered_long.insert(flag);
    }
    for (const std::string& flag : Complete({"fsb", command, "--"})) offered_long.insert(flag);
  }
  const std::string usage(UsageText());
  std::set<std::string> documented;
  const std::regex long_flag("--[a-z][-a-z]*");
  for (auto it = std::sregex_iterator(usage.begin(), usage.end(), long_flag);
       it != std::sregex_iterator(); ++it) {
    documented.insert(it->str());
  }
  EXPECT_EQ(offered_long, documented);
}

TEST(CompletionParseTest, CompletionTakesBashOnly) {
  absl::StatusOr<Invocation> bash = ParseArgs({"completion", "bash"}, absl::UnixEpoch());
  ASSERT_TRUE(bash.ok()) << bash.status();
  EXPECT_TRUE(std::holds_alternative<CompletionCommand>(bash->command));
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"completion"}, {"completion", "zsh"}, {"completion", "bash", "extra"}}) {
    absl::StatusOr<Invocation> parsed = ParseArgs(bad, absl::UnixEpoch());
    ASSERT_FALSE(parsed.ok()) << bad.back();
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("fsb completion bash"));
  }
}

TEST(CompletionParseTest, VersionFlag) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--version"}, {"run", "--version"}}) {
    absl::StatusOr<Invocation> parsed = ParseArgs(args, absl::UnixEpoch());
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_TRUE(std::holds_alternative<VersionCommand>(parsed->command));
  }
  absl::StatusOr<Invocation> bad = ParseArgs({"--version=maybe"}, absl::UnixEpoch());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fsb::cli
