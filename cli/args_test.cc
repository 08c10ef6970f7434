#include "cli/args.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

EnvLookup EnvOf(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

Invocation ParseOk(const std::vector<std::string>& args, const EnvLookup& env = EnvOf({})) {
  absl::StatusOr<Invocation> parsed = ParseArgs(args, env);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *std::move(parsed) : Invocation{};
}

template <typename T>
T ParseAs(const std::vector<std::string>& args, const EnvLookup& env = EnvOf({})) {
  Invocation invocation = ParseOk(args, env);
  const T* command = std::get_if<T>(&invocation.command);
  EXPECT_NE(command, nullptr) << "wrong command kind " << invocation.command.index();
  return command != nullptr ? *command : T{};
}

TEST(ParseArgsTest, RunAcceptsEveryFlagForm) {
  RunCommand run = ParseAs<RunCommand>(
      {"run", "--image=busybox", "--name", "web", "-e", "A=b=c", "--env", "B=", "--env=C=3",
       "--label", "app=web", "-l", "tier=fe", "--port", "80", "--port=443", "-w", "/app",
       "--pool", "p1", "--strong", "--", "sh", "-c", "echo hi"});
  EXPECT_EQ(run.image, "busybox");
  EXPECT_EQ(run.name, "web");
  EXPECT_THAT(run.envs, ElementsAre(Pair("A", "b=c"), Pair("B", ""), Pair("C", "3")));
  EXPECT_THAT(run.labels, ElementsAre(Pair("app", "web"), Pair("tier", "fe")));
  EXPECT_THAT(run.ports, ElementsAre(80, 443));
  EXPECT_EQ(run.workdir, "/app");
  EXPECT_EQ(run.pool, "p1");
  EXPECT_TRUE(run.strong);
  EXPECT_THAT(run.command, ElementsAre("sh", "-c", "echo hi"));
}

TEST(ParseArgsTest, RunDefaults) {
  RunCommand run = ParseAs<RunCommand>({"run", "--image", "busybox"});
  EXPECT_EQ(run.name, "");
  EXPECT_FALSE(run.strong);
  EXPECT_THAT(run.command, IsEmpty());
  EXPECT_THAT(run.envs, IsEmpty());
  EXPECT_THAT(run.ports, IsEmpty());
}

TEST(ParseArgsTest, EverythingAfterDashDashIsTheCommand) {
  Invocation invocation = ParseOk(
      {"run", "--image", "busybox", "--", "ls", "--name", "x", "-n", "other", "--", "-h"});
  const auto& run = std::get<RunCommand>(invocation.command);
  EXPECT_THAT(run.command, ElementsAre("ls", "--name", "x", "-n", "other", "--", "-h"));
  EXPECT_EQ(run.name, "");
  EXPECT_EQ(invocation.global.ns, "default");
}

TEST(ParseArgsTest, FlagValueMayStartWithDash) {
  RunCommand run = ParseAs<RunCommand>({"run", "--image", "busybox", "--env", "X=-1"});
  EXPECT_THAT(run.envs, ElementsAre(Pair("X", "-1")));
}

TEST(ParseArgsTest, StrongTakesExplicitBoolean) {
  EXPECT_TRUE(ParseAs<RunCommand>({"run", "--image", "b", "--strong=true"}).strong);
  EXPECT_FALSE(ParseAs<RunCommand>({"run", "--image", "b", "--strong", "--strong=false"}).strong);
}

TEST(ParseArgsTest, RepeatedScalarFlagKeepsTheLast) {
  EXPECT_EQ(ParseAs<RunCommand>({"run", "--image", "a", "--name", "x", "--name", "y"}).name,
            "y");
  EXPECT_EQ(ParseOk({"-n", "a", "ls", "-n", "b"}).global.ns, "b");
}

TEST(ParseArgsTest, NamespaceInEveryFormAndPosition) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"-n", "team", "ls"},
           {"ls", "-n", "team"},
           {"ls", "-nteam"},
           {"ls", "-n=team"},
           {"--namespace", "team", "ls"},
           {"ls", "--namespace=team"}}) {
    Invocation invocation = ParseOk(args);
    EXPECT_EQ(invocation.global.ns, "team") << args[0] << " " << args[1];
    EXPECT_TRUE(std::holds_alternative<ListCommand>(invocation.command));
  }
}

TEST(ParseArgsTest, GlobalDefaults) {
  Invocation invocation = ParseOk({"ls"});
  EXPECT_EQ(invocation.global.endpoint, "127.0.0.1:9090");
  EXPECT_EQ(invocation.global.ns, "default");
  EXPECT_EQ(invocation.global.timeout, absl::Seconds(60));
}

TEST(ParseArgsTest, EndpointFlagBeatsEnvironmentBeatsDefault) {
  EXPECT_EQ(ParseOk({"ls"}, EnvOf({{"FSB_ENDPOINT", "env-host:1"}})).global.endpoint,
            "env-host:1");
  EXPECT_EQ(ParseOk({"ls", "--endpoint", "flag-host:2"}, EnvOf({{"FSB_ENDPOINT", "env-host:1"}}))
                .global.endpoint,
            "flag-host:2");
  EXPECT_EQ(ParseOk({"--endpoint=flag-host:2", "ls"}, EnvOf({{"FSB_ENDPOINT", "env-host:1"}}))
                .global.endpoint,
            "flag-host:2");
  // An empty variable counts as unset.
  EXPECT_EQ(ParseOk({"ls"}, EnvOf({{"FSB_ENDPOINT", ""}})).global.endpoint, "127.0.0.1:9090");
  // Only FSB_ENDPOINT is consulted.
  EXPECT_EQ(ParseOk({"ls"}, EnvOf({{"ENDPOINT", "x:1"}})).global.endpoint, "127.0.0.1:9090");
  // A null lookup is allowed.
  EXPECT_EQ(ParseOk({"ls"}, EnvLookup()).global.endpoint, "127.0.0.1:9090");
}

TEST(ParseArgsTest, Timeout) {
  EXPECT_EQ(ParseOk({"--timeout", "500ms", "ls"}).global.timeout, absl::Milliseconds(500));
  EXPECT_EQ(ParseOk({"ls", "--timeout=2m"}).global.timeout, absl::Minutes(2));
  EXPECT_EQ(ParseOk({"ls", "--timeout", "30"}).global.timeout, absl::Seconds(30));
}

TEST(ParseArgsTest, ListAliasesAndOutputFormats) {
  EXPECT_EQ(ParseAs<ListCommand>({"ls"}).output, OutputFormat::kTable);
  EXPECT_EQ(ParseAs<ListCommand>({"list", "-o", "json"}).output, OutputFormat::kJson);
  EXPECT_EQ(ParseAs<ListCommand>({"ls", "-oyaml"}).output, OutputFormat::kYaml);
  EXPECT_EQ(ParseAs<ListCommand>({"ls", "--output=wide"}).output, OutputFormat::kWide);
}

TEST(ParseArgsTest, Get) {
  GetCommand get = ParseAs<GetCommand>({"get", "web", "-o", "yaml"});
  EXPECT_EQ(get.name, "web");
  EXPECT_EQ(get.output, OutputFormat::kYaml);
  EXPECT_EQ(ParseAs<GetCommand>({"-o", "json", "get", "web"}).output, OutputFormat::kJson);
}

TEST(ParseArgsTest, DeleteTakesSeveralNamesAndAlias) {
  EXPECT_THAT(ParseAs<DeleteCommand>({"rm", "a", "b", "c"}).names, ElementsAre("a", "b", "c"));
  EXPECT_THAT(ParseAs<DeleteCommand>({"delete", "a"}).names, ElementsAre("a"));
}

TEST(ParseArgsTest, HelpVersionAndNoCommand) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"help"}, {"--help"}, {"-h"}, {"help", "run"}, {"run", "--help"}, {"ls", "-h"}}) {
    EXPECT_TRUE(std::holds_alternative<HelpCommand>(ParseOk(args).command)) << args[0];
  }
  EXPECT_TRUE(std::holds_alternative<VersionCommand>(ParseOk({"version"}).command));
  EXPECT_TRUE(std::holds_alternative<NoCommand>(ParseOk({}).command));
  EXPECT_TRUE(std::holds_alternative<NoCommand>(ParseOk({"-n", "team"}).command));
}

struct UsageErrorCase {
  std::vector<std::string> args;
  std::string message;  // a substring of the error
};

class UsageErrorTest : public ::testing::TestWithParam<UsageErrorCase> {};

TEST_P(UsageErrorTest, IsInvalidArgumentNamingTheProblem) {
  absl::StatusOr<Invocation> parsed = ParseArgs(GetParam().args, EnvOf({}));
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    ParseArgs, UsageErrorTest,
    ::testing::Values(
        UsageErrorCase{{"bogus"}, "unknown command \"bogus\""},
        UsageErrorCase{{"ls", "--bogus"}, "unknown flag \"--bogus\""},
        UsageErrorCase{{"ls", "--bogus=1"}, "unknown flag \"--bogus\""},
        UsageErrorCase{{"ls", "-x"}, "unknown flag \"-x\""},
        UsageErrorCase{{"run"}, "run needs --image"},
        UsageErrorCase{{"run", "--image="}, "run needs --image"},
        UsageErrorCase{{"run", "--image"}, "flag --image needs a value"},
        UsageErrorCase{{"run", "--image", "--", "sh"}, "flag --image needs a value"},
        UsageErrorCase{{"run", "--image", "Not A Ref"}, "--image"},
        UsageErrorCase{{"run", "--image", "b", "--env", "NOEQUALS"}, "expected KEY=VALUE"},
        UsageErrorCase{{"run", "--image", "b", "--env", "=v"}, "empty key"},
        UsageErrorCase{{"run", "--image", "b", "-e", "1BAD=v"}, "-e \"1BAD\" is invalid"},
        UsageErrorCase{{"run", "--image", "b", "--env", "A-B=v"}, "--env \"A-B\" is invalid"},
        UsageErrorCase{{"run", "--image", "b", "--label", "bad key=v"}, "--label"},
        UsageErrorCase{{"run", "--image", "b", "--label", "novalue"}, "expected KEY=VALUE"},
        UsageErrorCase{{"run", "--image", "b", "--port", "0"}, "--port 0 is out of range"},
        UsageErrorCase{{"run", "--image", "b", "--port", "70000"}, "out of range"},
        UsageErrorCase{{"run", "--image", "b", "--port", "http"}, "--port \"http\" is not a number"},
        UsageErrorCase{{"run", "--image", "b", "--name", "Bad_Name"}, "--name \"Bad_Name\""},
        UsageErrorCase{{"run", "--image", "b", "--strong=maybe"}, "takes true or false"},
        UsageErrorCase{{"run", "--image", "b", "echo"}, "put the sandbox command after '--'"},
        UsageErrorCase{{"get"}, "get needs a sandbox NAME"},
        UsageErrorCase{{"get", "a", "b"}, "get takes one NAME, got 2"},
        UsageErrorCase{{"get", "UPPER"}, "NAME \"UPPER\" is invalid"},
        UsageErrorCase{{"rm"}, "rm needs a sandbox NAME"},
        UsageErrorCase{{"delete"}, "delete needs a sandbox NAME"},
        UsageErrorCase{{"ls", "-o", "xml"}, "unknown output format \"xml\""},
        UsageErrorCase{{"ls", "-o"}, "flag -o needs a value"},
        UsageErrorCase{{"rm", "x", "-o", "json"}, "flag -o is not valid for \"rm\""},
        UsageErrorCase{{"ls", "--image", "b"}, "flag --image is not valid for \"ls\""},
        UsageErrorCase{{"ls", "extra"}, "unexpected argument \"extra\" for ls"},
        UsageErrorCase{{"version", "extra"}, "unexpected argument"},
        UsageErrorCase{{"ls", "--", "x"}, "'--' is only valid for run"},
        UsageErrorCase{{"--", "x"}, "'--' needs a command"},
        UsageErrorCase{{"--timeout", "soon", "ls"}, "--timeout \"soon\" is not a duration"},
        UsageErrorCase{{"--timeout", "0s", "ls"}, "must be positive"},
        UsageErrorCase{{"--timeout", "-5s", "ls"}, "must be positive"},
        UsageErrorCase{{"--endpoint=", "ls"}, "--endpoint is empty"},
        UsageErrorCase{{"-n", "Bad", "ls"}, "--namespace \"Bad\" is invalid"}));

TEST(UsageTextTest, MentionsEveryCommandAndGlobalFlag) {
  std::string usage(UsageText());
  for (const char* word : {"run", "ls", "get", "rm", "version", "help", "--endpoint",
                           "FSB_ENDPOINT", "--namespace", "--timeout", "--image", "--env",
                           "--label", "--port", "--strong", "--workdir", "--pool", "-o"}) {
    EXPECT_THAT(usage, HasSubstr(word));
  }
  EXPECT_EQ(usage.back(), '\n');
}

}  // namespace
}  // namespace fsb::cli
