#include "cli/args.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Optional;
using ::testing::Pair;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

Invocation ParseOk(const std::vector<std::string>& args) {
  absl::StatusOr<Invocation> parsed = ParseArgs(args, kNow);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *std::move(parsed) : Invocation{};
}

template <typename T>
T ParseAs(const std::vector<std::string>& args) {
  Invocation invocation = ParseOk(args);
  const T* command = std::get_if<T>(&invocation.command);
  EXPECT_NE(command, nullptr) << "wrong command kind " << invocation.command.index();
  return command != nullptr ? *command : T{};
}

TEST(ParseArgsTest, RunAcceptsEveryFlagForm) {
  RunCommand run = ParseAs<RunCommand>({"run",       "--image=busybox",
                                        "--name",    "web",
                                        "-e",        "A=b=c",
                                        "--env",     "B=",
                                        "--env=C=3", "--label",
                                        "app=web",   "-l",
                                        "tier=fe",   "--port",
                                        "80",        "--port=443",
                                        "-w",        "/app",
                                        "--pool",    "p1",
                                        "--strong",  "--",
                                        "sh",        "-c",
                                        "echo hi"});
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
  EXPECT_EQ(run.network, "");
  EXPECT_THAT(run.publish, IsEmpty());
}

TEST(ParseArgsTest, RunNetworkAndPublishedPorts) {
  RunCommand run =
      ParseAs<RunCommand>({"run", "--image", "b", "--network", "no-egress", "-p", "8080:80",
                           "--publish=53:5353/udp", "-p53:5353/tcp", "--publish", "9090:90/tcp"});
  EXPECT_EQ(run.network, "no-egress");
  EXPECT_THAT(run.publish,
              ElementsAre(PublishedPort{8080, 80, "tcp"}, PublishedPort{53, 5353, "udp"},
                          PublishedPort{53, 5353, "tcp"}, PublishedPort{9090, 90, "tcp"}));
  EXPECT_EQ(ParseAs<RunCommand>({"run", "--image", "b", "--network=egress"}).network, "egress");
}

TEST(ParseArgsTest, EverythingAfterDashDashIsTheCommand) {
  Invocation invocation =
      ParseOk({"run", "--image", "busybox", "--", "ls", "--name", "x", "-n", "other", "--", "-h"});
  const auto& run = std::get<RunCommand>(invocation.command);
  EXPECT_THAT(run.command, ElementsAre("ls", "--name", "x", "-n", "other", "--", "-h"));
  EXPECT_EQ(run.name, "");
  EXPECT_EQ(invocation.global.ns, std::nullopt);
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
  EXPECT_EQ(ParseAs<RunCommand>({"run", "--image", "a", "--name", "x", "--name", "y"}).name, "y");
  EXPECT_EQ(ParseOk({"-n", "a", "ls", "-n", "b"}).global.ns, "b");
}

TEST(ParseArgsTest, NamespaceInEveryFormAndPosition) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"-n", "team", "ls"},
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

TEST(ParseArgsTest, GlobalDefaultsAreUnsetForResolveSettings) {
  Invocation invocation = ParseOk({"ls"});
  EXPECT_EQ(invocation.global.endpoint, std::nullopt);
  EXPECT_EQ(invocation.global.ns, std::nullopt);
  EXPECT_EQ(invocation.global.context, std::nullopt);
  EXPECT_EQ(invocation.global.token, std::nullopt);
  EXPECT_EQ(invocation.global.ca_file, std::nullopt);
  EXPECT_EQ(invocation.global.tls_server_name, std::nullopt);
  EXPECT_FALSE(invocation.global.insecure);
  EXPECT_FALSE(invocation.global.insecure_skip_tls_verify);
  EXPECT_EQ(invocation.global.timeout, absl::Seconds(60));
}

TEST(ParseArgsTest, ConnectionFlagsInEveryPosition) {
  Invocation invocation =
      ParseOk({"--endpoint=h:1", "--context", "prod", "ls", "--token", "t0k", "--ca", "ca.crt",
               "--tls-server-name=fsb-controller", "--insecure-skip-tls-verify"});
  EXPECT_THAT(invocation.global.endpoint, Optional(std::string("h:1")));
  EXPECT_THAT(invocation.global.context, Optional(std::string("prod")));
  EXPECT_THAT(invocation.global.token, Optional(std::string("t0k")));
  EXPECT_THAT(invocation.global.ca_file, Optional(std::string("ca.crt")));
  EXPECT_THAT(invocation.global.tls_server_name, Optional(std::string("fsb-controller")));
  EXPECT_TRUE(invocation.global.insecure_skip_tls_verify);
  EXPECT_TRUE(ParseOk({"get", "x", "--insecure"}).global.insecure);
  // The last value counts: --insecure=false undoes --insecure.
  EXPECT_FALSE(ParseOk({"ls", "--insecure", "--insecure=false", "--token", "t"}).global.insecure);
}

TEST(ParseArgsTest, ConfigVerbs) {
  using Verb = ConfigCommand::Verb;
  EXPECT_EQ(ParseAs<ConfigCommand>({"config", "view"}).verb, Verb::kView);
  EXPECT_EQ(ParseAs<ConfigCommand>({"config", "get-contexts"}).verb, Verb::kGetContexts);
  EXPECT_EQ(ParseAs<ConfigCommand>({"config", "current-context"}).verb, Verb::kCurrentContext);
  ConfigCommand use = ParseAs<ConfigCommand>({"config", "use-context", "prod"});
  EXPECT_EQ(use.verb, Verb::kUseContext);
  EXPECT_EQ(use.name, "prod");
  EXPECT_EQ(use.update, ContextUpdate{});
}

TEST(ParseArgsTest, SetContextTakesTheConnectionFlagsAsTheContextsFields) {
  Invocation invocation =
      ParseOk({"config", "set-context", "prod", "--endpoint", "h:1", "--ca=", "--token-file", "/t",
               "-n", "team", "--tls-server-name", "fsb", "--insecure-skip-tls-verify"});
  const auto& set = std::get<ConfigCommand>(invocation.command);
  EXPECT_EQ(set.verb, ConfigCommand::Verb::kSetContext);
  EXPECT_EQ(set.name, "prod");
  ContextUpdate expected;
  expected.endpoint = "h:1";
  expected.ca = "";  // clears the field
  expected.token_file = "/t";
  expected.ns = "team";
  expected.tls_server_name = "fsb";
  expected.insecure_skip_tls_verify = true;
  EXPECT_EQ(set.update, expected);
  // They are not this invocation's own connection settings.
  EXPECT_EQ(invocation.global.endpoint, std::nullopt);
  EXPECT_EQ(invocation.global.ns, std::nullopt);

  ContextUpdate plaintext;
  plaintext.insecure = false;
  plaintext.token = "t0k";
  EXPECT_EQ(
      ParseAs<ConfigCommand>({"config", "set-context", "dev", "--insecure=false", "--token", "t0k"})
          .update,
      plaintext);
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
  EXPECT_THAT(ParseAs<DeleteCommand>({"rm", "pool/gpu", "a", "agent/n1.example"}).names,
              ElementsAre("pool/gpu", "a", "agent/n1.example"));
}

TEST(ParseArgsTest, Pools) {
  EXPECT_EQ(ParseAs<PoolsCommand>({"pools"}).output, OutputFormat::kTable);
  EXPECT_EQ(ParseAs<PoolsCommand>({"pools", "-o", "json"}).output, OutputFormat::kJson);
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

TEST(ParseArgsTest, RunResourcesPoliciesAndExpiry) {
  RunCommand run =
      ParseAs<RunCommand>({"run", "--image", "busybox", "--request-id", "job-42", "--expire-in",
                           "10m", "--failure-policy", "auto-recreate", "--recovery-timeout", "2m",
                           "--cpu", "500m", "--memory", "256Mi", "--pids", "100"});
  EXPECT_EQ(run.request_id, "job-42");
  EXPECT_EQ(run.expire_time_seconds, 1'800'000'600);  // kNow + 10m
  EXPECT_EQ(run.failure_policy, FailurePolicy::kAutoRecreate);
  EXPECT_EQ(run.recovery_timeout_seconds, 120);
  EXPECT_EQ(run.cpu_millicores, 500);
  EXPECT_EQ(run.memory_bytes, 256 << 20);
  EXPECT_EQ(run.pids, 100);
}

TEST(ParseArgsTest, RunNewFieldsDefaultToUnset) {
  RunCommand run = ParseAs<RunCommand>({"run", "--image", "busybox"});
  EXPECT_EQ(run.request_id, "");
  EXPECT_EQ(run.expire_time_seconds, 0);
  EXPECT_EQ(run.failure_policy, FailurePolicy::kManual);
  EXPECT_EQ(run.recovery_timeout_seconds, 0);
  EXPECT_EQ(run.cpu_millicores, 0);
  EXPECT_EQ(run.memory_bytes, 0);
  EXPECT_EQ(run.pids, 0);
}

TEST(ParseArgsTest, FailurePolicySpellings) {
  for (const auto& [spelled, policy] : std::vector<std::pair<std::string, FailurePolicy>>{
           {"manual", FailurePolicy::kManual},
           {"Manual", FailurePolicy::kManual},
           {"auto-recreate", FailurePolicy::kAutoRecreate},
           {"AutoRecreate", FailurePolicy::kAutoRecreate}}) {
    EXPECT_EQ(
        ParseAs<RunCommand>({"run", "--image", "b", "--failure-policy", spelled}).failure_policy,
        policy)
        << spelled;
    EXPECT_THAT(
        ParseAs<UpdateCommand>({"update", "web", "--failure-policy=" + spelled}).failure_policy,
        Optional(policy))
        << spelled;
  }
}

TEST(ParseArgsTest, ListSelectorAndAllNamespaces) {
  ListCommand list = ParseAs<ListCommand>({"ls", "-l", "app=web,tier!=batch", "-A"});
  EXPECT_EQ(list.selector, "app=web,tier!=batch");
  EXPECT_TRUE(list.all_namespaces);
  list = ParseAs<ListCommand>({"ls", "--selector=app", "--all-namespaces", "-o", "wide"});
  EXPECT_EQ(list.selector, "app");
  EXPECT_TRUE(list.all_namespaces);
  EXPECT_EQ(list.output, OutputFormat::kWide);
  list = ParseAs<ListCommand>({"ls"});
  EXPECT_EQ(list.selector, "");
  EXPECT_FALSE(list.all_namespaces);
}

TEST(ParseArgsTest, ShortLMeansLabelOrSelectorByCommand) {
  // Before or after the command word, -l binds to the command's flag.
  EXPECT_EQ(ParseAs<ListCommand>({"-l", "a=b", "ls"}).selector, "a=b");
  EXPECT_EQ(ParseAs<ListCommand>({"ls", "-la=b"}).selector, "a=b");
  EXPECT_THAT(ParseAs<RunCommand>({"-l", "a=b", "run", "--image", "x"}).labels,
              ElementsAre(Pair("a", "b")));
  EXPECT_THAT(ParseAs<UpdateCommand>({"update", "web", "-l", "a=b"}).labels,
              ElementsAre(Pair("a", "b")));
}

TEST(ParseArgsTest, UpdateEveryField) {
  UpdateCommand update =
      ParseAs<UpdateCommand>({"update", "web", "--expire-in", "1h", "--failure-policy", "manual",
                              "--recovery-timeout", "30", "-l", "a=1", "--label", "b=2",
                              "--remove-label", "old", "--remove-label", "example.com/gone"});
  EXPECT_EQ(update.name, "web");
  EXPECT_THAT(update.expire_time_seconds, Optional(1'800'003'600));
  EXPECT_THAT(update.failure_policy, Optional(FailurePolicy::kManual));
  EXPECT_THAT(update.recovery_timeout_seconds, Optional(30));
  EXPECT_THAT(update.labels, ElementsAre(Pair("a", "1"), Pair("b", "2")));
  EXPECT_THAT(update.remove_labels, ElementsAre("old", "example.com/gone"));
}

TEST(ParseArgsTest, UpdateExpiryForms) {
  EXPECT_THAT(ParseAs<UpdateCommand>({"update", "web", "--expire-at", "2030-01-02T15:04:05Z"})
                  .expire_time_seconds,
              Optional(1893596645));
  EXPECT_THAT(
      ParseAs<UpdateCommand>({"update", "web", "--expire-at", "1900000000"}).expire_time_seconds,
      Optional(1900000000));
  EXPECT_THAT(ParseAs<UpdateCommand>({"update", "web", "--no-expire"}).expire_time_seconds,
              Optional(0));
  // The same flag twice keeps the last; --no-expire=false is no request.
  EXPECT_THAT(ParseAs<UpdateCommand>({"update", "web", "--expire-in", "1m", "--expire-in", "2m"})
                  .expire_time_seconds,
              Optional(1'800'000'120));
  UpdateCommand only_labels =
      ParseAs<UpdateCommand>({"update", "web", "--no-expire=false", "-l", "a=b"});
  EXPECT_EQ(only_labels.expire_time_seconds, std::nullopt);
  EXPECT_EQ(only_labels.failure_policy, std::nullopt);
  EXPECT_EQ(only_labels.recovery_timeout_seconds, std::nullopt);
}

TEST(ParseArgsTest, ResetAgentsApply) {
  EXPECT_EQ(ParseAs<ResetCommand>({"reset", "web"}).name, "web");
  EXPECT_EQ(ParseAs<AgentsCommand>({"agents"}).output, OutputFormat::kTable);
  EXPECT_EQ(ParseAs<AgentsCommand>({"agents", "-o", "yaml"}).output, OutputFormat::kYaml);
  EXPECT_THAT(
      ParseAs<ApplyCommand>({"apply", "-f", "a.yaml", "--filename=b.json", "-f", "-"}).files,
      ElementsAre("a.yaml", "b.json", "-"));
  EXPECT_THAT(ParseAs<ApplyCommand>({"apply", "-f-"}).files, ElementsAre("-"));
}

TEST(ParseArgsTest, DeleteGrace) {
  EXPECT_EQ(ParseAs<DeleteCommand>({"rm", "a"}).grace_period_seconds, std::nullopt);
  EXPECT_THAT(ParseAs<DeleteCommand>({"rm", "a", "--grace", "30s"}).grace_period_seconds,
              Optional(30));
  EXPECT_THAT(ParseAs<DeleteCommand>({"rm", "a", "--grace=0"}).grace_period_seconds, Optional(0));
  EXPECT_THAT(ParseAs<DeleteCommand>({"rm", "--now", "a", "b"}).grace_period_seconds, Optional(0));
  EXPECT_EQ(ParseAs<DeleteCommand>({"rm", "a", "--now=false"}).grace_period_seconds, std::nullopt);
}

struct UsageErrorCase {
  std::vector<std::string> args;
  std::string message;  // a substring of the error
};

class UsageErrorTest : public ::testing::TestWithParam<UsageErrorCase> {};

TEST_P(UsageErrorTest, IsInvalidArgumentNamingTheProblem) {
  absl::StatusOr<Invocation> parsed = ParseArgs(GetParam().args, kNow);
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
        UsageErrorCase{{"run", "--image", "b", "--port", "http"},
                       "--port \"http\" is not a number"},
        UsageErrorCase{{"run", "--image", "b", "--name", "Bad_Name"}, "--name \"Bad_Name\""},
        UsageErrorCase{{"run", "--image", "b", "--strong=maybe"}, "takes true or false"},
        UsageErrorCase{{"run", "--image", "b", "echo"}, "put the sandbox command after '--'"},
        UsageErrorCase{{"get"}, "get needs a sandbox NAME"},
        UsageErrorCase{{"get", "a", "b"}, "get takes one NAME, got 2"},
        UsageErrorCase{{"get", "UPPER"}, "NAME \"UPPER\" is invalid"},
        UsageErrorCase{{"rm"}, "rm needs a sandbox NAME"},
        UsageErrorCase{{"delete"}, "delete needs a sandbox NAME"},
        UsageErrorCase{{"rm", "pool/GPU"}, "POOL \"GPU\" is invalid"},
        UsageErrorCase{{"rm", "pool/"}, "POOL is empty"},
        UsageErrorCase{{"rm", "sandbox/web"}, "NAME \"sandbox/web\" is invalid"},
        UsageErrorCase{{"rm", "agent/Node_1"}, "AGENT \"Node_1\" is invalid"},
        UsageErrorCase{{"pools", "extra"}, "unexpected argument \"extra\" for pools"},
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
        UsageErrorCase{{"-n", "Bad", "ls"}, "--namespace \"Bad\" is invalid"},
        UsageErrorCase{{"ls", "--token="}, "--token is empty"},
        UsageErrorCase{{"ls", "--ca", ""}, "--ca is empty"},
        UsageErrorCase{{"ls", "--context="}, "--context is empty"},
        UsageErrorCase{{"ls", "--insecure", "--token", "t"},
                       "flag --insecure (plaintext) cannot be combined with --token"},
        UsageErrorCase{{"--ca", "x", "ls", "--insecure"},
                       "flag --insecure (plaintext) cannot be combined with --ca"},
        UsageErrorCase{{"ls", "--insecure", "--insecure-skip-tls-verify"},
                       "cannot be combined with --insecure-skip-tls-verify"},
        UsageErrorCase{{"ls", "--token-file", "f"}, "flag --token-file is not valid for \"ls\""},
        UsageErrorCase{{"config"}, "config needs a verb: view, get-contexts"},
        UsageErrorCase{{"config", "show"}, "unknown verb \"show\" for config"},
        UsageErrorCase{{"config", "use-context"}, "config use-context takes one context NAME"},
        UsageErrorCase{{"config", "set-context", "a", "b"},
                       "config set-context takes one context NAME"},
        UsageErrorCase{{"config", "view", "extra"},
                       "unexpected argument \"extra\" for config view"},
        UsageErrorCase{{"config", "view", "--endpoint", "h:1"},
                       "flag --endpoint is not valid for \"config view\""},
        UsageErrorCase{{"config", "set-context", "a", "--context", "b"},
                       "flag --context is not valid for \"config set-context\""},
        // run's new flags
        UsageErrorCase{{"run", "--image", "b", "--request-id="}, "--request-id is empty"},
        UsageErrorCase{{"run", "--image", "b", "--request-id", "a b"},
                       "--request-id \"a b\" may not contain whitespace"},
        UsageErrorCase{{"run", "--image", "b", "--expire-in", "soon"},
                       "--expire-in \"soon\" is not a duration"},
        UsageErrorCase{{"run", "--image", "b", "--expire-in", "0s"},
                       "--expire-in \"0s\" is out of range 1s-87600h"},
        UsageErrorCase{{"run", "--image", "b", "--expire-in", "90000h"}, "is out of range"},
        UsageErrorCase{{"run", "--image", "b", "--expire-in", "1500ms"},
                       "--expire-in \"1500ms\" is not a whole number of seconds"},
        UsageErrorCase{{"run", "--image", "b", "--failure-policy", "sometimes"},
                       "--failure-policy \"sometimes\" is not a policy: use manual or "
                       "auto-recreate"},
        UsageErrorCase{{"run", "--image", "b", "--failure-policy", "AUTO_RECREATE"},
                       "is not a policy"},
        UsageErrorCase{{"run", "--image", "b", "--recovery-timeout", "25h"},
                       "--recovery-timeout \"25h\" is out of range 1s-24h"},
        UsageErrorCase{{"run", "--image", "b", "--recovery-timeout", "0"}, "out of range 1s-24h"},
        UsageErrorCase{{"run", "--image", "b", "--cpu", "lots"},
                       "--cpu \"lots\" is not a CPU quantity"},
        UsageErrorCase{{"run", "--image", "b", "--cpu", "0.1m"},
                       "--cpu \"0.1m\" is not a whole number of millicores"},
        UsageErrorCase{{"run", "--image", "b", "--memory", "1GB"},
                       "--memory \"1GB\" is not a memory quantity"},
        UsageErrorCase{{"run", "--image", "b", "--memory", "0"}, "must be greater than zero"},
        UsageErrorCase{{"run", "--image", "b", "--pids", "many"},
                       "--pids \"many\" is not a number"},
        UsageErrorCase{{"run", "--image", "b", "--pids", "0"},
                       "--pids 0 is out of range 4-4194304"},
        UsageErrorCase{{"run", "--image", "b", "--expire-at", "1900000000"},
                       "flag --expire-at is not valid for \"run\""},
        UsageErrorCase{{"run", "--image", "b", "--network", "none"},
                       "--network \"none\" is not a network mode: use egress or no-egress"},
        UsageErrorCase{{"run", "--image", "b", "--network="},
                       "--network \"\" is not a network mode"},
        UsageErrorCase{{"run", "--image", "b", "--network"}, "flag --network needs a value"},
        UsageErrorCase{{"run", "--image", "b", "-p", "8080"},
                       "-p \"8080\" is invalid: use HOST_PORT:CONTAINER_PORT[/tcp|udp]"},
        UsageErrorCase{{"run", "--image", "b", "--publish", "0:80"},
                       "--publish \"0:80\" is invalid: host port 0 is out of range 1-65535"},
        UsageErrorCase{{"run", "--image", "b", "-p", "80:http"},
                       "-p \"80:http\" is invalid: container port \"http\" is not a number"},
        UsageErrorCase{{"run", "--image", "b", "-p", "80:80/sctp"},
                       "protocol \"sctp\" is not tcp or udp"},
        UsageErrorCase{{"run", "--image", "b", "-p", "8080:80", "-p", "8080:81"},
                       "host port 8080/tcp is already published by \"8080:80/tcp\""},
        UsageErrorCase{{"ls", "-p", "80:80"}, "flag -p is not valid for \"ls\""},
        UsageErrorCase{{"bench", "--image", "b", "--network", "egress"},
                       "flag --network is not valid for \"bench\""},
        // ls
        UsageErrorCase{{"ls", "--selector="}, "flag --selector is empty"},
        UsageErrorCase{{"ls", "-A=yes"}, "flag -A takes true or false"},
        UsageErrorCase{{"get", "web", "-l", "a=b"}, "flag -l is not valid for \"get\""},
        UsageErrorCase{{"rm", "web", "-A"}, "flag -A is not valid for \"rm\""},
        // update
        UsageErrorCase{{"update"}, "update needs a sandbox NAME"},
        UsageErrorCase{{"update", "a", "b", "-l", "x=y"}, "update takes one NAME, got 2"},
        UsageErrorCase{{"update", "web"}, "update needs something to change"},
        UsageErrorCase{{"update", "web", "--no-expire=false"}, "update needs something to change"},
        UsageErrorCase{{"update", "web", "--expire-in", "1m", "--no-expire"},
                       "flag --no-expire cannot be combined with --expire-in"},
        UsageErrorCase{{"update", "web", "--expire-at", "1900000000", "--expire-in", "1m"},
                       "flag --expire-in cannot be combined with --expire-at"},
        UsageErrorCase{{"update", "web", "--expire-at", "1700000000"},
                       "--expire-at \"1700000000\" is not in the future"},
        UsageErrorCase{{"update", "web", "--expire-at", "next week"}, "is not a time"},
        UsageErrorCase{{"update", "web", "--remove-label", "bad key"},
                       "--remove-label \"bad key\" is invalid"},
        UsageErrorCase{{"update", "web", "-l", "a=1", "--remove-label", "a"},
                       "label \"a\" is both set (--label) and removed (--remove-label)"},
        UsageErrorCase{{"update", "web", "--recovery-timeout", "1.5s"},
                       "is not a whole number of seconds"},
        UsageErrorCase{{"update", "web", "--cpu", "1"}, "flag --cpu is not valid for \"update\""},
        // reset
        UsageErrorCase{{"reset"}, "reset needs a sandbox NAME"},
        UsageErrorCase{{"reset", "a", "b"}, "reset takes one NAME, got 2"},
        UsageErrorCase{{"reset", "web", "-l", "a=b"}, "flag -l is not valid for \"reset\""},
        // rm
        UsageErrorCase{{"rm", "web", "--grace", "-1s"}, "--grace \"-1s\" is out of range 0-10m"},
        UsageErrorCase{{"rm", "web", "--grace", "1500ms"}, "is not a whole number of seconds"},
        UsageErrorCase{{"rm", "web", "--grace", "5", "--now"},
                       "flag --now cannot be combined with --grace"},
        // apply
        UsageErrorCase{{"apply"}, "apply needs -f FILE"},
        UsageErrorCase{{"apply", "-f", ""}, "flag -f is empty"},
        UsageErrorCase{{"apply", "-f"}, "flag -f needs a value"},
        UsageErrorCase{{"apply", "x.yaml"}, "unexpected argument \"x.yaml\" for apply"},
        UsageErrorCase{{"ls", "-f", "x.yaml"}, "flag -f is not valid for \"ls\""},
        // agents
        UsageErrorCase{{"agents", "extra"}, "unexpected argument \"extra\" for agents"},
        UsageErrorCase{{"agents", "-o", "csv"}, "unknown output format \"csv\""}));

TEST(UsageTextTest, MentionsEveryCommandAndGlobalFlag) {
  std::string usage(UsageText());
  for (const char* word : {"run",
                           "ls",
                           "get",
                           "update",
                           "reset",
                           "rm",
                           "apply",
                           "agents",
                           "version",
                           "help",
                           "--endpoint",
                           "FSB_ENDPOINT",
                           "config",
                           "set-context",
                           "use-context",
                           "--context",
                           "--token",
                           "FSB_TOKEN",
                           "--ca",
                           "FSB_CA",
                           "FSB_CONFIG",
                           "~/.config/fsb/config.yaml",
                           "--insecure",
                           "--insecure-skip-tls-verify",
                           "--tls-server-name",
                           "--namespace",
                           "--timeout",
                           "--image",
                           "--env",
                           "--label",
                           "--port",
                           "-p, --publish",
                           "--network",
                           "no-egress",
                           "--strong",
                           "--workdir",
                           "--pool",
                           "-o",
                           "--request-id",
                           "--expire-in",
                           "--failure-policy",
                           "--recovery-timeout",
                           "--cpu",
                           "--memory",
                           "--pids",
                           "--selector",
                           "-A, --all-namespaces",
                           "--expire-at",
                           "--no-expire",
                           "--remove-label",
                           "--grace",
                           "--now",
                           "-f, --filename",
                           "auto-recreate",
                           "256Mi",
                           "500m"}) {
    EXPECT_THAT(usage, HasSubstr(word));
  }
  // Every command has an example.
  for (const char* example : {"fsb run ", "fsb ls ", "fsb get ", "fsb update ", "fsb reset ",
                              "fsb rm ", "fsb apply ", "fsb agents "}) {
    EXPECT_THAT(usage, HasSubstr(absl::StrCat("\n  ", example)));
  }
  EXPECT_EQ(usage.back(), '\n');
}

TEST(ParseArgsTest, LogsDefaultsAndFlags) {
  LogsCommand logs = ParseAs<LogsCommand>({"logs", "box"});
  EXPECT_EQ(logs.name, "box");
  EXPECT_FALSE(logs.follow);
  EXPECT_EQ(logs.tail_lines, -1);
  EXPECT_EQ(logs.since_unix_seconds, 0);
  EXPECT_FALSE(logs.timestamps);

  logs = ParseAs<LogsCommand>({"logs", "-f", "box", "--tail=20", "--since", "1h", "--timestamps"});
  EXPECT_TRUE(logs.follow);
  EXPECT_EQ(logs.tail_lines, 20);
  EXPECT_EQ(logs.since_unix_seconds, absl::ToUnixSeconds(kNow) - 3600);
  EXPECT_TRUE(logs.timestamps);
  EXPECT_TRUE(ParseAs<LogsCommand>({"logs", "box", "--follow"}).follow);
  EXPECT_EQ(ParseAs<LogsCommand>({"logs", "box", "--tail", "-1"}).tail_lines, -1);
}

TEST(ParseArgsTest, ExecTakesTheCommandAfterDashDash) {
  ExecCommand exec = ParseAs<ExecCommand>(
      {"exec", "-it", "box", "-e", "A=1", "--env=B=2", "-w", "/srv", "--", "sh", "-c", "ls -l"});
  EXPECT_EQ(exec.name, "box");
  EXPECT_TRUE(exec.stdin);
  EXPECT_TRUE(exec.tty);
  EXPECT_THAT(exec.envs, ElementsAre(Pair("A", "1"), Pair("B", "2")));
  EXPECT_EQ(exec.workdir, "/srv");
  EXPECT_THAT(exec.command, ElementsAre("sh", "-c", "ls -l"));

  exec = ParseAs<ExecCommand>({"exec", "box", "--", "true"});
  EXPECT_FALSE(exec.stdin);
  EXPECT_FALSE(exec.tty);
  EXPECT_TRUE(ParseAs<ExecCommand>({"exec", "-i", "-t", "box", "--", "sh"}).tty);
  EXPECT_TRUE(ParseAs<ExecCommand>({"exec", "--stdin", "--tty", "box", "--", "sh"}).stdin);
  // Flags after the command are the sandbox command's.
  EXPECT_THAT(ParseAs<ExecCommand>({"exec", "box", "--", "ls", "-it"}).command,
              ElementsAre("ls", "-it"));
}

TEST(ParseArgsTest, ShortFlagsThatDifferByCommandNeedTheCommandFirst) {
  EXPECT_TRUE(ParseAs<LogsCommand>({"logs", "box", "-f"}).follow);
  EXPECT_THAT(ParseAs<ApplyCommand>({"apply", "-f", "x.yaml"}).files, ElementsAre("x.yaml"));
  absl::StatusOr<Invocation> parsed = ParseArgs({"-f", "logs", "box"}, kNow);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("put it after the command"));
}

INSTANTIATE_TEST_SUITE_P(
    LogsAndExec, UsageErrorTest,
    ::testing::Values(
        UsageErrorCase{{"logs"}, "logs needs a sandbox NAME"},
        UsageErrorCase{{"logs", "a", "b"}, "logs takes one NAME"},
        UsageErrorCase{{"logs", "box", "--tail", "x"}, "--tail \"x\" must be a number"},
        UsageErrorCase{{"logs", "box", "--tail", "-2"}, "--tail \"-2\" must be a number"},
        UsageErrorCase{{"logs", "box", "--tail", "1000001"},
                       "--tail \"1000001\" must be a number of lines up to 1000000"},
        UsageErrorCase{{"logs", "box", "--since", "0s"}, "must be positive"},
        UsageErrorCase{{"logs", "box", "--since", "soon"}, "--since"},
        UsageErrorCase{{"logs", "box", "-i"}, "flag -i is not valid for \"logs\""},
        UsageErrorCase{{"logs", "box", "--", "x"}, "'--' is only valid for run, exec and bench"},
        UsageErrorCase{{"exec", "--", "sh"}, "exec needs a sandbox NAME"},
        UsageErrorCase{{"exec", "box"}, "exec needs a command after '--'"},
        UsageErrorCase{{"exec", "box", "--"}, "exec needs a command after '--'"},
        UsageErrorCase{{"exec", "box", "--", ""}, "exec needs a command after '--'"},
        UsageErrorCase{{"exec", "a", "b", "--", "sh"}, "exec takes one NAME"},
        UsageErrorCase{{"exec", "box", "-e", "1A=x", "--", "sh"}, "-e"},
        UsageErrorCase{{"exec", "box", "-w", "rel", "--", "sh"}, "must be an absolute path"},
        UsageErrorCase{{"exec", "box", "-ix", "--", "sh"}, "unknown flag \"-x\""},
        UsageErrorCase{{"exec", "box", "-f", "--", "sh"}, "flag -f is not valid for \"exec\""},
        UsageErrorCase{{"exec", "Box", "--", "sh"}, "NAME"}));

TEST(ParseArgsTest, ImageImportTakesOneFileAndAnAgent) {
  ImageImportCommand import =
      ParseAs<ImageImportCommand>({"image", "import", "app.tar", "--agent", "node-1"});
  EXPECT_EQ(import.file, "app.tar");
  EXPECT_EQ(import.agent, "node-1");
  EXPECT_FALSE(import.json);
  EXPECT_FALSE(import.force);
  import = ParseAs<ImageImportCommand>({"-o", "json", "image", "import", "x.tar"});
  EXPECT_EQ(import.file, "x.tar");
  EXPECT_EQ(import.agent, "");
  EXPECT_TRUE(import.json);
  EXPECT_FALSE(import.force);
}

TEST(ParseArgsTest, ImageImportForceIsExplicit) {
  EXPECT_TRUE(ParseAs<ImageImportCommand>({"image", "import", "app.tar", "--force"}).force);
  EXPECT_TRUE(ParseAs<ImageImportCommand>({"image", "import", "--force=true", "app.tar"}).force);
  EXPECT_FALSE(ParseAs<ImageImportCommand>({"image", "import", "app.tar", "--force=false"}).force);
}

TEST(ParseArgsTest, BenchDefaults) {
  const BenchCommand bench = ParseAs<BenchCommand>({"bench", "--image", "busybox"});
  EXPECT_EQ(bench.image, "busybox");
  EXPECT_EQ(bench.requests, kDefaultBenchRequests);
  EXPECT_EQ(bench.concurrency, 1);
  EXPECT_EQ(bench.rate, 0);
  EXPECT_FALSE(bench.cleanup);
  EXPECT_FALSE(bench.strong);
  EXPECT_THAT(bench.command, ElementsAre("sleep", "3600"));
  EXPECT_EQ(bench.controller_metrics, "");
  EXPECT_EQ(bench.agent_metrics_port, kDefaultAgentMetricsPort);
  EXPECT_THAT(bench.agent_metrics, IsEmpty());
  EXPECT_FALSE(bench.json);
}

TEST(ParseArgsTest, BenchAcceptsEveryFlag) {
  const BenchCommand bench = ParseAs<BenchCommand>({"bench",
                                                    "--image=fsb/busybox",
                                                    "--requests",
                                                    "50",
                                                    "--concurrency=8",
                                                    "--rate",
                                                    "12.5",
                                                    "--cleanup",
                                                    "--strong",
                                                    "--controller-metrics",
                                                    "10.0.0.1:9091",
                                                    "--agent-metrics",
                                                    "10.0.0.2:5759",
                                                    "--agent-metrics=[::1]:6000",
                                                    "--agent-metrics-port",
                                                    "7000",
                                                    "-o",
                                                    "json",
                                                    "--",
                                                    "sh",
                                                    "-c",
                                                    "sleep 5"});
  EXPECT_EQ(bench.image, "fsb/busybox");
  EXPECT_EQ(bench.requests, 50);
  EXPECT_EQ(bench.concurrency, 8);
  EXPECT_EQ(bench.rate, 12.5);
  EXPECT_TRUE(bench.cleanup);
  EXPECT_TRUE(bench.strong);
  EXPECT_EQ(bench.controller_metrics, "10.0.0.1:9091");
  EXPECT_THAT(bench.agent_metrics, ElementsAre("10.0.0.2:5759", "[::1]:6000"));
  EXPECT_EQ(bench.agent_metrics_port, 7000);
  EXPECT_TRUE(bench.json);
  EXPECT_THAT(bench.command, ElementsAre("sh", "-c", "sleep 5"));
}

INSTANTIATE_TEST_SUITE_P(
    ImageAndBench, UsageErrorTest,
    ::testing::Values(
        UsageErrorCase{{"image"}, "image needs a subcommand"},
        UsageErrorCase{{"image", "pull", "x"}, "unknown subcommand \"pull\" for image"},
        UsageErrorCase{{"image", "import"}, "image import takes one FILE, got 0"},
        UsageErrorCase{{"image", "import", "a", "b"}, "image import takes one FILE, got 2"},
        UsageErrorCase{{"image", "import", "a", "-o", "wide"}, "use -o json"},
        UsageErrorCase{{"image", "import", "a", "--requests", "1"},
                       "flag --requests is not valid for \"image\""},
        UsageErrorCase{{"image", "import", "a", "--force=yes"},
                       "flag --force takes true or false, got \"yes\""},
        UsageErrorCase{{"run", "--image", "busybox", "--force"},
                       "flag --force is not valid for \"run\""},
        UsageErrorCase{{"bench"}, "bench needs --image"},
        UsageErrorCase{{"bench", "--image", "busybox", "--requests", "0"},
                       "--requests 0 is out of range 1-100000"},
        UsageErrorCase{{"bench", "--image", "busybox", "--concurrency", "two"},
                       "--concurrency \"two\" is not a number"},
        UsageErrorCase{{"bench", "--image", "busybox", "--requests", "3", "--concurrency", "4"},
                       "--concurrency 4 is above --requests 3"},
        UsageErrorCase{{"bench", "--image", "busybox", "--rate", "0"},
                       "--rate \"0\" must be a number of creates per second"},
        UsageErrorCase{{"bench", "--image", "busybox", "--rate", "inf"}, "--rate \"inf\""},
        UsageErrorCase{{"bench", "--image", "busybox", "--agent-metrics", "::1:80"},
                       "write an IPv6 host in brackets"},
        UsageErrorCase{{"bench", "--image", "busybox", "--controller-metrics", "h:"},
                       "needs a port 1-65535"},
        UsageErrorCase{{"bench", "--image", "busybox", "--agent-metrics-port", "0"},
                       "--agent-metrics-port 0 is out of range 1-65535"},
        UsageErrorCase{{"bench", "--image", "busybox", "--"}, "bench needs a command after '--'"},
        UsageErrorCase{{"bench", "--image", "busybox", "box"}, "unexpected argument \"box\""}));

}  // namespace
}  // namespace fsb::cli
