#include "cli/format.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace fsb::cli {
namespace {

using fastpath::v1::ListResponse;
using fastpath::v1::SandboxInfo;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

TEST(ShortHumanDurationTest, KubectlStyle) {
  EXPECT_EQ(ShortHumanDuration(absl::ZeroDuration()), "0s");
  EXPECT_EQ(ShortHumanDuration(absl::Seconds(5)), "5s");
  EXPECT_EQ(ShortHumanDuration(absl::Seconds(59)), "59s");
  EXPECT_EQ(ShortHumanDuration(absl::Seconds(60)), "1m");
  EXPECT_EQ(ShortHumanDuration(absl::Seconds(200)), "3m");
  EXPECT_EQ(ShortHumanDuration(absl::Minutes(59) + absl::Seconds(59)), "59m");
  EXPECT_EQ(ShortHumanDuration(absl::Hours(2) + absl::Minutes(59)), "2h");
  EXPECT_EQ(ShortHumanDuration(absl::Hours(23)), "23h");
  EXPECT_EQ(ShortHumanDuration(absl::Hours(24 * 4 + 5)), "4d");
  EXPECT_EQ(ShortHumanDuration(absl::Hours(24 * 364)), "364d");
  EXPECT_EQ(ShortHumanDuration(absl::Hours(24 * 365 * 2)), "2y");
  EXPECT_EQ(ShortHumanDuration(absl::Seconds(-30)), "0s");
}

TEST(FormatAgeTest, FromCreatedAt) {
  EXPECT_EQ(FormatAge(absl::ToUnixSeconds(kNow) - 5, kNow), "5s");
  EXPECT_EQ(FormatAge(absl::ToUnixSeconds(kNow) - 3 * 86400, kNow), "3d");
  EXPECT_EQ(FormatAge(0, kNow), "<unknown>");
}

TEST(FormatTookTest, MillisecondsAndSeconds) {
  EXPECT_EQ(FormatTook(absl::Microseconds(12345)), "12.3ms");
  EXPECT_EQ(FormatTook(absl::Milliseconds(1234)), "1.23s");
}

TEST(FormatColumnsTest, AlignsWithThreeSpacesAndNoTrailingBlanks) {
  EXPECT_EQ(
      FormatColumns({{"NAME", "PHASE", "AGE"}, {"a-long-name", "", "5s"}, {"b", "Running", ""}}),
      "NAME          PHASE     AGE\n"
      "a-long-name   <none>    5s\n"
      "b             Running   <none>\n");
}

SandboxInfo Info(std::string name, std::string phase, int64_t age_seconds) {
  SandboxInfo info;
  info.set_sandbox_name(name);
  info.set_sandbox_id("sb-" + name);
  info.set_phase(phase);
  info.set_image("docker.io/library/busybox:latest");
  info.set_agent_pod("agent-1");
  info.set_created_at(absl::ToUnixSeconds(kNow) - age_seconds);
  return info;
}

TEST(FormatSandboxTableTest, ColumnsAndAges) {
  SandboxInfo a = Info("web", "Running", 5);
  SandboxInfo b = Info("batch-job", "Succeeded", 3 * 3600 + 10);
  b.set_agent_pod("");
  EXPECT_EQ(FormatSandboxTable({&a, &b}, /*wide=*/false, /*with_namespace=*/false, kNow),
            "NAME        PHASE       IMAGE                              AGENT     AGE\n"
            "web         Running     docker.io/library/busybox:latest   agent-1   5s\n"
            "batch-job   Succeeded   docker.io/library/busybox:latest   <none>    3h\n");
}

TEST(FormatSandboxTableTest, WideAddsIdIpNetworkAndEndpoints) {
  SandboxInfo a = Info("web", "Running", 4 * 86400);
  a.set_ip("10.88.0.3");
  a.set_network("no-egress");
  a.add_endpoints("10.88.0.3:80");
  a.add_endpoints("10.0.0.1:8080");
  SandboxInfo b = Info("old", "Running", 60);  // from an agent that reports no ip
  b.add_endpoints("10.0.0.1:443");
  EXPECT_EQ(FormatSandboxTable({&a, &b}, /*wide=*/true, /*with_namespace=*/false, kNow),
            "NAME   PHASE     IMAGE                              AGENT     AGE   ID       IP       "
            "   NETWORK     ENDPOINTS\n"
            "web    Running   docker.io/library/busybox:latest   agent-1   4d    sb-web   10.88.0.3"
            "   no-egress   10.88.0.3:80,10.0.0.1:8080\n"
            "old    Running   docker.io/library/busybox:latest   agent-1   1m    sb-old   <none>   "
            "   <none>      10.0.0.1:443\n");
}

TEST(FormatSandboxTableTest, NamespaceColumnComesFirst) {
  SandboxInfo a = Info("web", "Running", 5);
  a.set_namespace_("team-a");
  SandboxInfo b = Info("db", "Pending", 60);
  b.set_namespace_("default");
  EXPECT_EQ(FormatSandboxTable({&a, &b}, /*wide=*/false, /*with_namespace=*/true, kNow),
            "NAMESPACE   NAME   PHASE     IMAGE                              AGENT     AGE\n"
            "team-a      web    Running   docker.io/library/busybox:latest   agent-1   5s\n"
            "default     db     Pending   docker.io/library/busybox:latest   agent-1   1m\n");
  EXPECT_THAT(FormatSandboxTable({&a}, /*wide=*/true, /*with_namespace=*/true, kNow),
              StartsWith("NAMESPACE   NAME   PHASE     IMAGE                              "
                         "AGENT     AGE   ID       IP       NETWORK   ENDPOINTS\n"
                         "team-a      web    Running   "));
}

fsb::v1alpha1::Agent MakeAgent(std::string name, std::string ready, int64_t heartbeat_age) {
  fsb::v1alpha1::Agent agent;
  agent.set_api_version("fsb.io/v1alpha1");
  agent.set_kind("Agent");
  agent.mutable_metadata()->set_name(name);
  agent.mutable_spec()->set_address("10.0.0.1:5758");
  agent.mutable_spec()->set_node("node-" + name);
  agent.mutable_spec()->set_pool("default");
  agent.mutable_spec()->set_capacity(5);
  agent.mutable_status()->set_capacity(5);
  agent.mutable_status()->set_allocated(2);
  agent.mutable_status()->add_images("busybox");
  agent.mutable_status()->add_images("nginx");
  agent.mutable_status()->mutable_last_heartbeat()->set_seconds(absl::ToUnixSeconds(kNow) -
                                                                heartbeat_age);
  if (!ready.empty()) {
    auto* condition = agent.mutable_status()->add_conditions();
    condition->set_type("Ready");
    condition->set_status(ready);
  }
  return agent;
}

TEST(FormatAgentTableTest, ColumnsAndWide) {
  fsb::v1alpha1::Agent a = MakeAgent("a1", "True", 3);
  fsb::v1alpha1::Agent b = MakeAgent("b2", "", 0);
  b.mutable_status()->clear_last_heartbeat();
  b.mutable_spec()->clear_pool();
  b.mutable_status()->set_capacity(2);  // its pool caps it below its own capacity
  EXPECT_EQ(FormatAgentTable({&a, &b}, /*wide=*/false, kNow),
            "NAME   POOL      NODE      CAPACITY       USED   READY     LAST-HEARTBEAT\n"
            "a1     default   node-a1   5              2      True      3s\n"
            "b2     <none>    node-b2   2 (agent: 5)   2      Unknown   <unknown>\n");
  EXPECT_EQ(FormatAgentTable({&a}, /*wide=*/true, kNow),
            "NAME   POOL      NODE      CAPACITY   USED   READY   LAST-HEARTBEAT   ADDRESS         "
            "RUNTIME   WARM     IMAGES\n"
            "a1     default   node-a1   5          2      True    3s               10.0.0.1:5758   "
            "<none>    <none>   busybox,nginx\n");
}

TEST(FormatAgentTableTest, WideShowsTheRuntimeStateAndWarmInstances) {
  fsb::v1alpha1::Agent up = MakeAgent("a1", "True", 3);
  auto* available = up.mutable_status()->add_conditions();
  available->set_type("RuntimeAvailable");
  available->set_status("True");
  for (auto [image, ready, desired] : {std::tuple{"busybox", 3, 4}, {"nginx", 0, 2}}) {
    fsb::v1alpha1::WarmStatus* warm = up.mutable_status()->add_warm();
    warm->set_image(image);
    warm->set_ready(ready);
    warm->set_preparing(1);
    warm->set_desired(desired);
  }
  fsb::v1alpha1::Agent down = MakeAgent("b2", "False", 1);
  down.mutable_status()->clear_images();
  auto* unavailable = down.mutable_status()->add_conditions();
  unavailable->set_type("RuntimeAvailable");
  unavailable->set_status("False");
  EXPECT_EQ(FormatAgentTable({&up, &down}, /*wide=*/true, kNow),
            "NAME   POOL      NODE      CAPACITY   USED   READY   LAST-HEARTBEAT   ADDRESS         "
            "RUNTIME            WARM                     IMAGES\n"
            "a1     default   node-a1   5          2      True    3s               10.0.0.1:5758   "
            "Up                 busybox 3/4, nginx 0/2   busybox,nginx\n"
            "b2     default   node-b2   5          2      False   1s               10.0.0.1:5758   "
            "Down (warm only)   <none>                   <none>\n");
  // Not in the narrow table.
  EXPECT_EQ(FormatAgentTable({&down}, /*wide=*/false, kNow),
            "NAME   POOL      NODE      CAPACITY   USED   READY   LAST-HEARTBEAT\n"
            "b2     default   node-b2   5          2      False   1s\n");
}

TEST(FormatJsonTest, UsesProtoFieldNamesAndParsesBack) {
  SandboxInfo info = Info("web", "Running", 5);
  info.mutable_labels()->insert({"app", "web"});
  info.add_command("sh");
  absl::StatusOr<std::string> json = FormatJson(info);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT(*json, HasSubstr("\"sandbox_id\""));
  EXPECT_THAT(*json, HasSubstr("\"agent_pod\""));
  SandboxInfo parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &parsed).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(info, parsed));
}

TEST(FormatValueJsonTest, SortsKeysAndKeepsEmptyAndNullValues) {
  google::protobuf::Value value;
  auto& fields = *value.mutable_struct_value()->mutable_fields();
  for (const char* key : {"zeta", "alpha", "mid", "beta", "list", "object", "text"}) {
    fields[key];  // insertion order differs from key order
  }
  fields["zeta"].set_number_value(1.5);
  fields["alpha"].set_number_value(12);
  fields["mid"].set_null_value(google::protobuf::NULL_VALUE);
  fields["beta"].set_bool_value(true);
  fields["list"].mutable_list_value();
  fields["object"].mutable_struct_value();
  fields["text"].set_string_value("");
  absl::StatusOr<std::string> json = FormatValueJson(value);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json,
            "{\n \"alpha\": 12,\n \"beta\": true,\n \"list\": [],\n \"mid\": null,\n"
            " \"object\": {},\n \"text\": \"\",\n \"zeta\": 1.5\n}\n");
}

struct ScalarCase {
  std::string in;
  std::string out;
};

class YamlScalarTest : public ::testing::TestWithParam<ScalarCase> {};

TEST_P(YamlScalarTest, QuotesAndEscapesOnlyWhenNeeded) {
  EXPECT_EQ(YamlScalar(GetParam().in), GetParam().out);
}

INSTANTIATE_TEST_SUITE_P(
    Format, YamlScalarTest,
    ::testing::Values(
        ScalarCase{"busybox", "busybox"},
        ScalarCase{"docker.io/library/busybox:latest", "docker.io/library/busybox:latest"},
        ScalarCase{"/app/bin", "/app/bin"}, ScalarCase{"Running", "Running"},
        ScalarCase{"", R"("")"}, ScalarCase{"true", R"("true")"}, ScalarCase{"Yes", R"("Yes")"},
        ScalarCase{"NULL", R"("NULL")"}, ScalarCase{"n", R"("n")"}, ScalarCase{"off", R"("off")"},
        ScalarCase{"123", R"("123")"}, ScalarCase{"1.5", R"("1.5")"},
        ScalarCase{"0x1F", R"("0x1F")"}, ScalarCase{"2026-11-22", R"("2026-11-22")"},
        ScalarCase{"10.0.0.1:80", R"("10.0.0.1:80")"}, ScalarCase{"a: b", R"("a: b")"},
        ScalarCase{"foo:", R"("foo:")"}, ScalarCase{"x #comment", R"("x #comment")"},
        ScalarCase{"#c", R"("#c")"}, ScalarCase{"- item", R"("- item")"},
        ScalarCase{"*alias", R"("*alias")"}, ScalarCase{"&anchor", R"("&anchor")"},
        ScalarCase{"!tag", R"("!tag")"}, ScalarCase{"{a}", R"("{a}")"},
        ScalarCase{"[a]", R"("[a]")"}, ScalarCase{"|", R"("|")"},
        ScalarCase{" leading", R"(" leading")"}, ScalarCase{"trailing ", R"("trailing ")"},
        ScalarCase{"say \"hi\"", R"("say \"hi\"")"}, ScalarCase{"C:\\dir", R"("C:\\dir")"},
        ScalarCase{"line1\nline2\ttab\r", R"("line1\nline2\ttab\r")"},
        ScalarCase{std::string("nul\0byte", 8), R"("nul\0byte")"},
        ScalarCase{"\x01\x1b\x7f", R"("\x01\e\x7F")"}, ScalarCase{"caf\xC3\xA9", "\"caf\xC3\xA9\""},
        ScalarCase{"a\xE2\x80\xA8"
                   "b\xC2\x85",
                   R"("a\Lb\N")"}));

TEST(YamlNodeTest, EmitsNestedBlocks) {
  YamlNode env = YamlNode::List();
  env.Append(
      YamlNode::Map().Set("name", YamlNode::String("A")).Set("value", YamlNode::String("1")));
  YamlNode nested = YamlNode::List();
  nested.Append(YamlNode::String("x")).Append(YamlNode::Int(2));
  YamlNode outer = YamlNode::List();
  outer.Append(std::move(nested));
  YamlNode doc = YamlNode::Map();
  doc.Set("top", YamlNode::String("v"))
      .Set("inner", YamlNode::Map().Set("k", YamlNode::String("yes")))
      .Set("env", std::move(env))
      .Set("lists", std::move(outer))
      .Set("none", YamlNode::List())
      .Set("nomap", YamlNode::Map())
      .Set("key: with colon", YamlNode::Int(-3));
  EXPECT_EQ(doc.Emit(),
            "top: v\n"
            "inner:\n"
            "  k: \"yes\"\n"
            "env:\n"
            "  - name: A\n"
            "    value: \"1\"\n"
            "lists:\n"
            "  - - x\n"
            "    - 2\n"
            "none: []\n"
            "nomap: {}\n"
            "\"key: with colon\": -3\n");
  EXPECT_EQ(YamlNode::Map().Emit(), "{}\n");
  EXPECT_EQ(YamlNode::String("s").Emit(), "s\n");
}

TEST(YamlNodeTest, NumbersBooleansAndNull) {
  YamlNode doc = YamlNode::Map();
  doc.Set("int", YamlNode::Number(8080))
      .Set("negative", YamlNode::Number(-3))
      .Set("half", YamlNode::Number(0.5))
      .Set("tenth", YamlNode::Number(0.1))
      .Set("big", YamlNode::Number(1e20))
      .Set("on", YamlNode::Bool(true))
      .Set("off", YamlNode::Bool(false))
      .Set("nothing", YamlNode::Null());
  EXPECT_EQ(doc.Emit(),
            "int: 8080\nnegative: -3\nhalf: 0.5\ntenth: 0.1\nbig: 1e+20\n\"on\": true\n"
            "\"off\": false\nnothing: null\n");
}

google::protobuf::Value Json(const std::string& json) {
  google::protobuf::Value value;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &value).ok()) << json;
  return value;
}

TEST(ValueToYamlTest, SortsKeysAndQuotesAmbiguousStrings) {
  EXPECT_EQ(ValueToYaml(Json(R"({"zeta": 1, "alpha": {"b": [1, "2", true, null, {}],
                                  "a": "yes"}, "mid": [], "str": "1.5", "empty": ""})"))
                .Emit(),
            "alpha:\n"
            "  a: \"yes\"\n"
            "  b:\n"
            "    - 1\n"
            "    - \"2\"\n"
            "    - true\n"
            "    - null\n"
            "    - {}\n"
            "empty: \"\"\n"
            "mid: []\n"
            "str: \"1.5\"\n"
            "zeta: 1\n");
  EXPECT_EQ(ValueToYaml(Json("[]")).Emit(), "[]\n");
  EXPECT_EQ(ValueToYaml(Json("\"x\"")).Emit(), "x\n");
}

fsb::v1alpha1::Sandbox FullSandbox() {
  fsb::v1alpha1::Sandbox sandbox;
  sandbox.set_api_version("fsb.io/v1alpha1");
  sandbox.set_kind("Sandbox");
  auto* meta = sandbox.mutable_metadata();
  meta->set_name("web");
  meta->set_namespace_("team-a");
  meta->set_uid("0b7e-42");
  meta->set_resource_version(42);
  meta->set_generation(3);
  meta->mutable_creation_timestamp()->set_seconds(1'800'000'000);
  meta->mutable_labels()->insert({"tier", "fe"});
  meta->mutable_labels()->insert({"app", "true"});
  meta->mutable_annotations()->insert({"fsb.io/request-id", "team-a/web"});
  auto* spec = sandbox.mutable_spec();
  spec->set_image("docker.io/library/busybox:latest");
  spec->add_command("sh");
  spec->add_command("-c");
  spec->add_args("sleep 3600");
  auto* env = spec->add_env();
  env->set_name("PORT");
  env->set_value("8080");
  spec->add_exposed_ports(8080);
  spec->mutable_resources()->set_cpu_millicores(500);
  spec->mutable_resources()->set_memory_bytes(268435456);
  spec->set_pool_ref("default");
  spec->set_failure_policy(fsb::v1alpha1::SandboxSpec::AutoRecreate);
  spec->set_recovery_timeout_seconds(60);
  spec->mutable_expire_time()->set_seconds(1'800'003'600);
  spec->set_consistency_mode(fsb::v1alpha1::SandboxSpec::fast);
  auto* status = sandbox.mutable_status();
  status->set_phase(fsb::v1alpha1::SandboxStatus::Running);
  status->set_agent("agent-1");
  status->set_node("node-1");
  status->add_endpoints("10.0.0.1:8080");
  status->set_restart_count(2);
  auto* ready = status->add_conditions();
  ready->set_type("Ready");
  ready->set_status("True");
  ready->mutable_last_transition_time()->set_seconds(1'800'000'001);
  ready->mutable_last_transition_time()->set_nanos(500'000'000);
  status->set_observed_generation(3);
  return sandbox;
}

TEST(FormatResourceTest, JsonUsesTheProto3JsonMapping) {
  absl::StatusOr<std::string> json = FormatResourceJson(FullSandbox());
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT(*json, StartsWith("{\n \"apiVersion\": \"fsb.io/v1alpha1\",\n"));
  for (const char* fragment :
       {"\"creationTimestamp\": \"2027-01-15T08:00:00Z\"", "\"resourceVersion\": \"42\"",
        "\"poolRef\": \"default\"", "\"failurePolicy\": \"AutoRecreate\"", "\"phase\": \"Running\"",
        "\"consistencyMode\": \"fast\"", "\"lastTransitionTime\": \"2027-01-15T08:00:01.500Z\"",
        "\"restartCount\": 2"}) {
    EXPECT_THAT(*json, HasSubstr(fragment));
  }
  EXPECT_THAT(*json, Not(HasSubstr("exitCode")));  // defaults are left out
  EXPECT_EQ(json->back(), '\n');
  fsb::v1alpha1::Sandbox parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &parsed).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, FullSandbox()));
}

TEST(FormatResourceTest, YamlIsTheJsonDocumentWithSortedKeys) {
  absl::StatusOr<std::string> yaml = FormatResourceYaml(FullSandbox());
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  EXPECT_EQ(*yaml,
            "apiVersion: fsb.io/v1alpha1\n"
            "kind: Sandbox\n"
            "metadata:\n"
            "  annotations:\n"
            "    fsb.io/request-id: team-a/web\n"
            "  creationTimestamp: \"2027-01-15T08:00:00Z\"\n"
            "  generation: \"3\"\n"
            "  labels:\n"
            "    app: \"true\"\n"
            "    tier: fe\n"
            "  name: web\n"
            "  namespace: team-a\n"
            "  resourceVersion: \"42\"\n"
            "  uid: \"0b7e-42\"\n"
            "spec:\n"
            "  args:\n"
            "    - \"sleep 3600\"\n"
            "  command:\n"
            "    - sh\n"
            "    - \"-c\"\n"
            "  consistencyMode: fast\n"
            "  env:\n"
            "    - name: PORT\n"
            "      value: \"8080\"\n"
            "  expireTime: \"2027-01-15T09:00:00Z\"\n"
            "  exposedPorts:\n"
            "    - 8080\n"
            "  failurePolicy: AutoRecreate\n"
            "  image: docker.io/library/busybox:latest\n"
            "  poolRef: default\n"
            "  recoveryTimeoutSeconds: 60\n"
            "  resources:\n"
            "    cpuMillicores: \"500\"\n"
            "    memoryBytes: \"268435456\"\n"
            "status:\n"
            "  agent: agent-1\n"
            "  conditions:\n"
            "    - lastTransitionTime: \"2027-01-15T08:00:01.500Z\"\n"
            "      status: \"True\"\n"
            "      type: Ready\n"
            "  endpoints:\n"
            "    - \"10.0.0.1:8080\"\n"
            "  node: node-1\n"
            "  observedGeneration: \"3\"\n"
            "  phase: Running\n"
            "  restartCount: 2\n");
}

TEST(FormatResourceTest, AgentListInJsonAndYaml) {
  fastpath::v1::ListAgentsResponse list;
  *list.add_items() = MakeAgent("a1", "True", 3);
  absl::StatusOr<std::string> json = FormatResourceJson(list);
  ASSERT_TRUE(json.ok());
  fastpath::v1::ListAgentsResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &parsed).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, list));
  absl::StatusOr<std::string> yaml = FormatResourceYaml(list);
  ASSERT_TRUE(yaml.ok());
  EXPECT_THAT(*yaml, StartsWith("items:\n  - apiVersion: fsb.io/v1alpha1\n    kind: Agent\n"
                                "    metadata:\n      name: a1\n    spec:\n"
                                "      address: \"10.0.0.1:5758\"\n      capacity: 5\n"));
  EXPECT_EQ(*FormatResourceYaml(fastpath::v1::ListAgentsResponse()), "{}\n");
}

SandboxInfo FullInfo() {
  SandboxInfo info;
  info.set_sandbox_id("sb-0001");
  info.set_sandbox_name("web");
  info.set_namespace_("team-a");
  info.set_phase("Failed");
  info.set_agent_pod("agent-1");
  info.set_node("node-1");
  info.add_endpoints("10.0.0.1:8080");
  info.set_created_at(absl::ToUnixSeconds(
      absl::FromCivil(absl::CivilSecond(2026, 11, 22, 10, 0, 0), absl::UTCTimeZone())));
  info.set_image("busybox");
  info.set_pool_ref("default");
  info.mutable_labels()->insert({"tier", "fe"});
  info.mutable_labels()->insert({"app", "true"});
  info.add_command("sh");
  info.add_command("-c");
  info.add_command("echo \"hi\": done\n");
  info.mutable_envs()->insert({"PATH", "/bin:/usr/bin"});
  info.mutable_envs()->insert({"EMPTY", ""});
  info.set_working_dir("/app");
  info.add_exposed_ports(8080);
  info.set_network("no-egress");
  info.add_publish("18080:8080/tcp");
  info.add_publish("5353:53/udp");
  info.set_ip("10.88.0.9");
  info.set_exit_code(0);
  info.set_message("OOMKilled: exit 137\tretry");
  return info;
}

TEST(SandboxYamlTest, KubernetesShape) {
  EXPECT_EQ(SandboxToYaml(FullInfo()).Emit(),
            "apiVersion: fsb.io/v1alpha1\n"
            "kind: Sandbox\n"
            "metadata:\n"
            "  name: web\n"
            "  namespace: team-a\n"
            "  uid: sb-0001\n"
            "  labels:\n"
            "    app: \"true\"\n"
            "    tier: fe\n"
            "  creationTimestamp: \"2026-11-22T10:00:00Z\"\n"
            "spec:\n"
            "  image: busybox\n"
            "  command:\n"
            "    - sh\n"
            "    - \"-c\"\n"
            "    - \"echo \\\"hi\\\": done\\n\"\n"
            "  env:\n"
            "    - name: EMPTY\n"
            "      value: \"\"\n"
            "    - name: PATH\n"
            "      value: /bin:/usr/bin\n"
            "  workingDir: /app\n"
            "  exposedPorts:\n"
            "    - 8080\n"
            "  poolRef: default\n"
            "  network: no-egress\n"
            "  publish:\n"
            "    - hostPort: 18080\n"
            "      containerPort: 8080\n"
            "      protocol: tcp\n"
            "    - hostPort: 5353\n"
            "      containerPort: 53\n"
            "      protocol: udp\n"
            "status:\n"
            "  phase: Failed\n"
            "  agent: agent-1\n"
            "  node: node-1\n"
            "  ip: \"10.88.0.9\"\n"
            "  endpoints:\n"
            "    - \"10.0.0.1:8080\"\n"
            "  exitCode: 0\n"
            "  message: \"OOMKilled: exit 137\\tretry\"\n");
}

TEST(SandboxYamlTest, OmitsEmptyFields) {
  SandboxInfo info;
  info.set_sandbox_name("web");
  info.set_phase("Running");
  EXPECT_EQ(SandboxToYaml(info).Emit(),
            "apiVersion: fsb.io/v1alpha1\n"
            "kind: Sandbox\n"
            "metadata:\n"
            "  name: web\n"
            "status:\n"
            "  phase: Running\n");
}

TEST(SandboxYamlTest, ListHoldsItems) {
  ListResponse list;
  *list.add_items() = FullInfo();
  std::string yaml = FormatSandboxListYaml(list);
  EXPECT_THAT(yaml, HasSubstr("kind: SandboxList\nitems:\n  - apiVersion: fsb.io/v1alpha1\n"
                              "    kind: Sandbox\n    metadata:\n      name: web\n"));
  EXPECT_EQ(FormatSandboxListYaml(ListResponse()),
            "apiVersion: fsb.io/v1alpha1\nkind: SandboxList\nitems: []\n");
  EXPECT_THAT(yaml, Not(HasSubstr("\t")));
}

}  // namespace
}  // namespace fsb::cli
