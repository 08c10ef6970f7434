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
  EXPECT_EQ(FormatColumns({{"NAME", "PHASE", "AGE"}, {"a-long-name", "", "5s"}, {"b", "Running", ""}}),
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
  EXPECT_EQ(FormatSandboxTable({&a, &b}, /*wide=*/false, kNow),
            "NAME        PHASE       IMAGE                              AGENT     AGE\n"
            "web         Running     docker.io/library/busybox:latest   agent-1   5s\n"
            "batch-job   Succeeded   docker.io/library/busybox:latest   <none>    3h\n");
}

TEST(FormatSandboxTableTest, WideAddsIdAndEndpoints) {
  SandboxInfo a = Info("web", "Running", 4 * 86400);
  a.add_endpoints("10.0.0.1:80");
  a.add_endpoints("10.0.0.1:443");
  EXPECT_EQ(FormatSandboxTable({&a}, /*wide=*/true, kNow),
            "NAME   PHASE     IMAGE                              AGENT     AGE   ID       ENDPOINTS\n"
            "web    Running   docker.io/library/busybox:latest   agent-1   4d    sb-web   "
            "10.0.0.1:80,10.0.0.1:443\n");
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
        ScalarCase{"/app/bin", "/app/bin"},
        ScalarCase{"Running", "Running"},
        ScalarCase{"", R"("")"},
        ScalarCase{"true", R"("true")"},
        ScalarCase{"Yes", R"("Yes")"},
        ScalarCase{"NULL", R"("NULL")"},
        ScalarCase{"n", R"("n")"},
        ScalarCase{"off", R"("off")"},
        ScalarCase{"123", R"("123")"},
        ScalarCase{"1.5", R"("1.5")"},
        ScalarCase{"0x1F", R"("0x1F")"},
        ScalarCase{"2026-11-22", R"("2026-11-22")"},
        ScalarCase{"10.0.0.1:80", R"("10.0.0.1:80")"},
        ScalarCase{"a: b", R"("a: b")"},
        ScalarCase{"foo:", R"("foo:")"},
        ScalarCase{"x #comment", R"("x #comment")"},
        ScalarCase{"#c", R"("#c")"},
        ScalarCase{"- item", R"("- item")"},
        ScalarCase{"*alias", R"("*alias")"},
        ScalarCase{"&anchor", R"("&anchor")"},
        ScalarCase{"!tag", R"("!tag")"},
        ScalarCase{"{a}", R"("{a}")"},
        ScalarCase{"[a]", R"("[a]")"},
        ScalarCase{"|", R"("|")"},
        ScalarCase{" leading", R"(" leading")"},
        ScalarCase{"trailing ", R"("trailing ")"},
        ScalarCase{"say \"hi\"", R"("say \"hi\"")"},
        ScalarCase{"C:\\dir", R"("C:\\dir")"},
        ScalarCase{"line1\nline2\ttab\r", R"("line1\nline2\ttab\r")"},
        ScalarCase{std::string("nul\0byte", 8), R"("nul\0byte")"},
        ScalarCase{"\x01\x1b\x7f", R"("\x01\e\x7F")"},
        ScalarCase{"caf\xC3\xA9", "\"caf\xC3\xA9\""},
        ScalarCase{"a\xE2\x80\xA8" "b\xC2\x85", R"("a\Lb\N")"}));

TEST(YamlNodeTest, EmitsNestedBlocks) {
  YamlNode env = YamlNode::List();
  env.Append(YamlNode::Map().Set("name", YamlNode::String("A")).Set("value", YamlNode::String("1")));
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

SandboxInfo FullInfo() {
  SandboxInfo info;
  info.set_sandbox_id("sb-0001");
  info.set_sandbox_name("web");
  info.set_namespace_("team-a");
  info.set_phase("Failed");
  info.set_agent_pod("agent-1");
  info.set_node("node-1");
  info.add_endpoints("10.0.0.1:8080");
  info.set_created_at(absl::ToUnixSeconds(absl::FromCivil(absl::CivilSecond(2026, 11, 22, 10, 0, 0),
                                                          absl::UTCTimeZone())));
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
  info.set_exit_code(0);
  info.set_message("OOMKilled: exit 137\tretry");
  return info;
}

TEST(SandboxYamlTest, KubernetesShape) {
  EXPECT_EQ(FormatSandboxYaml(FullInfo()),
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
            "status:\n"
            "  phase: Failed\n"
            "  agent: agent-1\n"
            "  node: node-1\n"
            "  endpoints:\n"
            "    - \"10.0.0.1:8080\"\n"
            "  exitCode: 0\n"
            "  message: \"OOMKilled: exit 137\\tretry\"\n");
}

TEST(SandboxYamlTest, OmitsEmptyFields) {
  SandboxInfo info;
  info.set_sandbox_name("web");
  info.set_phase("Running");
  EXPECT_EQ(FormatSandboxYaml(info),
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
