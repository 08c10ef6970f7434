#include "cli/manifest.h"

#include <string>
#include <vector>

#include "cli/format.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace fsb::cli {
namespace {

using fsb::v1alpha1::Sandbox;
using fsb::v1alpha1::SandboxSpec;
using google::protobuf::Value;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

Value Json(const std::string& json) {
  Value value;
  auto status = google::protobuf::util::JsonStringToMessage(json, &value);
  EXPECT_TRUE(status.ok()) << status.ToString() << " in " << json;
  return value;
}

// The JSON values of the documents of `yaml`; fails the test on a parse error.
std::vector<Value> Documents(const std::string& yaml) {
  absl::StatusOr<std::vector<YamlDocument>> documents = ParseYamlStream(yaml);
  EXPECT_TRUE(documents.ok()) << documents.status();
  std::vector<Value> values;
  if (documents.ok()) {
    for (const YamlDocument& d : *documents) values.push_back(d.value);
  }
  return values;
}

MATCHER_P(EqualsJson, json, "") {
  Value expected = Json(json);
  std::string diff;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  if (differencer.Compare(expected, arg)) return true;
  *result_listener << diff;
  return false;
}

std::string ErrorOf(const std::string& yaml) {
  absl::StatusOr<std::vector<YamlDocument>> documents = ParseYamlStream(yaml);
  EXPECT_FALSE(documents.ok());
  if (documents.ok()) return "";
  EXPECT_EQ(documents.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(documents.status().message());
}

TEST(ParseYamlStreamTest, BlockMapsNestAndKeepQuotedScalarsAsStrings) {
  EXPECT_THAT(
      Documents("a: 1\n"
                "b:\n"
                "  c: x\n"
                "  d: \"2\"\n"
                "  e: '3'\n"
                "  f: !!str 4\n"),
      ElementsAre(EqualsJson(R"({"a": 1, "b": {"c": "x", "d": "2", "e": "3", "f": "4"}})")));
}

TEST(ParseYamlStreamTest, BlockListsAndListsOfMaps) {
  EXPECT_THAT(Documents("ports:\n"
                        "  - 80\n"
                        "  - 443\n"
                        "env:\n"
                        "- name: A\n"
                        "  value: \"1\"\n"
                        "- name: B\n"
                        "  value: two words\n"
                        "nested:\n"
                        "  - - x\n"
                        "    - y\n"),
              ElementsAre(EqualsJson(R"({"ports": [80, 443],
                                          "env": [{"name": "A", "value": "1"},
                                                  {"name": "B", "value": "two words"}],
                                          "nested": [["x", "y"]]})")));
}

TEST(ParseYamlStreamTest, FlowCollections) {
  EXPECT_THAT(Documents("command: [sh, -c, \"echo hi\"]\nlabels: {app: web, n: 1}\nnone: []\n"),
              ElementsAre(EqualsJson(R"({"command": ["sh", "-c", "echo hi"],
                                          "labels": {"app": "web", "n": 1}, "none": []})")));
}

TEST(ParseYamlStreamTest, PlainScalarsFollowTheCoreSchema) {
  EXPECT_THAT(
      Documents("null1: null\nnull2: ~\nnull3:\nnull4: NULL\n"
                "t1: true\nt2: True\nt3: TRUE\nf1: false\nf2: False\n"
                "yes: yes\non: off\n"  // YAML 1.1 booleans are strings under the core schema
                "i1: 42\ni2: -7\ni3: +7\ni4: 0x1F\ni5: 0o17\ni6: 012\n"
                "x1: 1.5\nx2: .5\nx3: 1e3\nx4: -2.5E-1\nx5: 1.\n"
                "s1: .inf\ns2: .nan\ns3: 1_000\ns4: 0x\ns5: -0x1F\ns6: 1.2.3\ns7: 10.0.0.1:80\n"
                "s8: +\ns9: 1e\n"
                "q1: \"true\"\nq2: 'null'\nq3: \"42\"\nq4: \"\"\n"),
      ElementsAre(EqualsJson(R"({
        "null1": null, "null2": null, "null3": null, "null4": null,
        "t1": true, "t2": true, "t3": true, "f1": false, "f2": false,
        "yes": "yes", "on": "off",
        "i1": 42, "i2": -7, "i3": 7, "i4": 31, "i5": 15, "i6": 12,
        "x1": 1.5, "x2": 0.5, "x3": 1000, "x4": -0.25, "x5": 1,
        "s1": ".inf", "s2": ".nan", "s3": "1_000", "s4": "0x", "s5": "-0x1F", "s6": "1.2.3",
        "s7": "10.0.0.1:80", "s8": "+", "s9": "1e",
        "q1": "true", "q2": "null", "q3": "42", "q4": ""})")));
}

TEST(ParseYamlStreamTest, IntegersBeyondDoublePrecisionBecomeDecimalStrings) {
  EXPECT_THAT(Documents("exact: 9007199254740992\n"
                        "big: 9007199254740993\n"
                        "max: 9223372036854775807\n"
                        "min: -9223372036854775808\n"
                        "over: 9223372036854775808\n"
                        "hex: 0x7FFFFFFFFFFFFFFF\n"),
              ElementsAre(EqualsJson(R"({"exact": 9007199254740992,
                                          "big": "9007199254740993",
                                          "max": "9223372036854775807",
                                          "min": "-9223372036854775808",
                                          "over": "9223372036854775808",
                                          "hex": "9223372036854775807"})")));
}

TEST(ParseYamlStreamTest, BlockScalarsAreStrings) {
  EXPECT_THAT(Documents("literal: |\n  line 1\n  line 2\nfolded: >\n  a\n  b\n"),
              ElementsAre(EqualsJson(R"({"literal": "line 1\nline 2\n", "folded": "a b\n"})")));
}

TEST(ParseYamlStreamTest, CommentsAreIgnored) {
  EXPECT_THAT(Documents("# leading comment\n"
                        "a: 1  # trailing comment\n"
                        "# between\n"
                        "b: \"# not a comment\"\n"
                        "c: x#y\n"),
              ElementsAre(EqualsJson(R"({"a": 1, "b": "# not a comment", "c": "x#y"})")));
}

TEST(ParseYamlStreamTest, MultipleDocumentsWithNumbersAndLines) {
  absl::StatusOr<std::vector<YamlDocument>> documents = ParseYamlStream(
      "---\n"   // line 1
      "a: 1\n"  // line 2
      "---\n"   // line 3
      "# only a comment\n"
      "---\n"   // line 5
      "b: 2\n"  // line 6
      "...\n"
      "---\n"
      "null\n"
      "---\n"  // line 10
      "\n"
      "- c\n");  // line 12
  ASSERT_TRUE(documents.ok()) << documents.status();
  ASSERT_THAT(*documents, SizeIs(3));
  EXPECT_EQ((*documents)[0].number, 1);
  EXPECT_EQ((*documents)[0].line, 2);
  EXPECT_THAT((*documents)[0].value, EqualsJson(R"({"a": 1})"));
  EXPECT_EQ((*documents)[1].number, 3);  // the comment-only document counts
  EXPECT_EQ((*documents)[1].line, 6);
  EXPECT_THAT((*documents)[1].value, EqualsJson(R"({"b": 2})"));
  EXPECT_EQ((*documents)[2].number, 5);
  EXPECT_EQ((*documents)[2].line, 12);
  EXPECT_THAT((*documents)[2].value, EqualsJson(R"(["c"])"));
}

TEST(ParseYamlStreamTest, NothingButCommentsHasNoDocument) {
  EXPECT_THAT(Documents(""), IsEmpty());
  EXPECT_THAT(Documents("# nothing\n\n"), IsEmpty());
}

TEST(ParseYamlStreamTest, JsonIsYaml) {
  EXPECT_THAT(
      Documents("{\n\t\"a\": [1, \"x\\/y\\u00e9\", null, true],\n\t\"b\":{\"c\":-1.5e2}\n}\n"),
      ElementsAre(EqualsJson(R"({"a": [1, "x/y\u00e9", null, true], "b": {"c": -150}})")));
}

TEST(ParseYamlStreamTest, SyntaxErrorsNameDocumentLineAndColumn) {
  EXPECT_EQ(ErrorOf("a: [x, y\nb: 1\n"),
            "document 1: line 2, column 2: did not find expected ',' or ']' "
            "(while parsing a flow sequence at line 1)");
  EXPECT_EQ(ErrorOf("a: 1\n---\nb: 1\n c: 2\n"),
            "document 2: line 4, column 3: mapping values are not allowed in this context");
  EXPECT_THAT(ErrorOf("a: \"unterminated\n"), HasSubstr("document 1: line 2"));
  EXPECT_THAT(ErrorOf("a:\n  - x\n  y: 1\n"), HasSubstr("document 1: line 3, column 3: "));
}

TEST(ParseYamlStreamTest, RejectsWhatJsonCannotSay) {
  EXPECT_EQ(ErrorOf("a: 1\nb: 2\na: 3\n"), "document 1: line 3, column 1: key \"a\" is repeated");
  EXPECT_EQ(ErrorOf("base: &b {x: 1}\ncopy: *b\n"),
            "document 1: line 2, column 7: aliases (*b) are not supported");
  EXPECT_EQ(ErrorOf("a: !!int \"5\"\n"),
            "document 1: line 1, column 4: tag tag:yaml.org,2002:int is not supported (only "
            "!!str is)");
  EXPECT_THAT(ErrorOf("a: !custom {x: 1}\n"), HasSubstr("tag !custom is not supported"));
  EXPECT_EQ(ErrorOf("? [a, b]\n: 1\n"),
            "document 1: line 1, column 3: a mapping key must be a scalar");
  EXPECT_THAT(ErrorOf(std::string(200, '[') + std::string(200, ']')),
              HasSubstr("nesting deeper than 100 levels"));
}

constexpr char kSandboxYaml[] = R"(# a sandbox
apiVersion: fsb.io/v1alpha1
kind: Sandbox
metadata:
  name: web
  namespace: team-a
  labels:
    app: web
    tier: "1"
spec:
  image: busybox
  command: [sh, -c]
  args:
    - echo hi; sleep 3600
  env:
    - name: PORT
      value: "8080"
  workingDir: /app
  exposedPorts: [8080]
  resources:
    cpuMillicores: 500
    memoryBytes: 268435456
  poolRef: default
  failurePolicy: AutoRecreate
  recoveryTimeoutSeconds: 120
  expireTime: "2030-01-02T15:04:05Z"
  consistencyMode: strong
  network: no-egress
  publish:
    - {hostPort: 18080, containerPort: 8080}
    - hostPort: 5353
      containerPort: 53
      protocol: udp
)";

// The Sandboxes of a manifest; fails the test for any other kind.
absl::StatusOr<std::vector<Sandbox>> ParseSandboxManifest(std::string_view text) {
  absl::StatusOr<std::vector<ManifestResource>> resources = ParseManifest(text);
  if (!resources.ok()) return resources.status();
  std::vector<Sandbox> sandboxes;
  for (ManifestResource& resource : *resources) {
    if (auto* sandbox = std::get_if<Sandbox>(&resource)) {
      sandboxes.push_back(std::move(*sandbox));
    } else {
      ADD_FAILURE() << "not a Sandbox";
    }
  }
  return sandboxes;
}

TEST(ParseManifestTest, SandboxPoolsAndSandboxesInOneStream) {
  absl::StatusOr<std::vector<ManifestResource>> resources = ParseManifest(
      "apiVersion: fsb.io/v1alpha1\nkind: SandboxPool\nmetadata: {name: gpu}\n"
      "spec:\n  maxSandboxesPerAgent: 2\n  warmImages:\n  - {image: busybox, count: 3}\n"
      "---\n"
      "apiVersion: fsb.io/v1alpha1\nkind: Sandbox\nmetadata: {name: a}\n"
      "spec: {image: busybox, poolRef: gpu}\n");
  ASSERT_TRUE(resources.ok()) << resources.status();
  ASSERT_THAT(*resources, SizeIs(2));
  const auto* pool = std::get_if<fsb::v1alpha1::SandboxPool>(&(*resources)[0]);
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->metadata().name(), "gpu");
  EXPECT_EQ(pool->spec().max_sandboxes_per_agent(), 2);
  ASSERT_EQ(pool->spec().warm_images_size(), 1);
  EXPECT_EQ(pool->spec().warm_images(0).image(), "busybox");
  EXPECT_EQ(pool->spec().warm_images(0).count(), 3);
  const auto* sandbox = std::get_if<Sandbox>(&(*resources)[1]);
  ASSERT_NE(sandbox, nullptr);
  EXPECT_EQ(sandbox->spec().pool_ref(), "gpu");
}

TEST(ParseSandboxManifestTest, ReadsEveryField) {
  absl::StatusOr<std::vector<Sandbox>> sandboxes = ParseSandboxManifest(kSandboxYaml);
  ASSERT_TRUE(sandboxes.ok()) << sandboxes.status();
  ASSERT_THAT(*sandboxes, SizeIs(1));
  const Sandbox& s = sandboxes->front();
  EXPECT_EQ(s.api_version(), "fsb.io/v1alpha1");
  EXPECT_EQ(s.kind(), "Sandbox");
  EXPECT_EQ(s.metadata().name(), "web");
  EXPECT_EQ(s.metadata().namespace_(), "team-a");
  EXPECT_THAT(s.metadata().labels(), UnorderedElementsAre(Pair("app", "web"), Pair("tier", "1")));
  EXPECT_EQ(s.spec().image(), "busybox");
  EXPECT_THAT(s.spec().command(), ElementsAre("sh", "-c"));
  EXPECT_THAT(s.spec().args(), ElementsAre("echo hi; sleep 3600"));
  ASSERT_EQ(s.spec().env_size(), 1);
  EXPECT_EQ(s.spec().env(0).name(), "PORT");
  EXPECT_EQ(s.spec().env(0).value(), "8080");
  EXPECT_EQ(s.spec().working_dir(), "/app");
  EXPECT_THAT(s.spec().exposed_ports(), ElementsAre(8080));
  EXPECT_EQ(s.spec().resources().cpu_millicores(), 500);
  EXPECT_EQ(s.spec().resources().memory_bytes(), 268435456);
  EXPECT_EQ(s.spec().pool_ref(), "default");
  EXPECT_EQ(s.spec().failure_policy(), SandboxSpec::AutoRecreate);
  EXPECT_EQ(s.spec().recovery_timeout_seconds(), 120);
  EXPECT_EQ(s.spec().expire_time().seconds(),
            absl::ToUnixSeconds(
                absl::FromCivil(absl::CivilSecond(2030, 1, 2, 15, 4, 5), absl::UTCTimeZone())));
  EXPECT_EQ(s.spec().consistency_mode(), SandboxSpec::strong);
  EXPECT_EQ(s.spec().network(), "no-egress");
  ASSERT_EQ(s.spec().publish_size(), 2);
  EXPECT_EQ(s.spec().publish(0).host_port(), 18080);
  EXPECT_EQ(s.spec().publish(0).container_port(), 8080);
  EXPECT_EQ(s.spec().publish(0).protocol(), "");  // the controller fills in tcp
  EXPECT_EQ(s.spec().publish(1).host_port(), 5353);
  EXPECT_EQ(s.spec().publish(1).container_port(), 53);
  EXPECT_EQ(s.spec().publish(1).protocol(), "udp");
}

TEST(ParseSandboxManifestTest, SeveralDocumentsAndJson) {
  absl::StatusOr<std::vector<Sandbox>> sandboxes = ParseSandboxManifest(
      "apiVersion: fsb.io/v1alpha1\nkind: Sandbox\nmetadata: {name: a}\nspec: {image: busybox}\n"
      "---\n"
      "{\"apiVersion\": \"fsb.io/v1alpha1\", \"kind\": \"Sandbox\", \"metadata\": {\"name\": "
      "\"b\"}, \"spec\": {\"image\": \"nginx\", \"resources\": {\"memoryBytes\": "
      "\"9007199254740993\"}}}\n");
  ASSERT_TRUE(sandboxes.ok()) << sandboxes.status();
  ASSERT_THAT(*sandboxes, SizeIs(2));
  EXPECT_EQ((*sandboxes)[0].metadata().name(), "a");
  EXPECT_EQ((*sandboxes)[0].metadata().namespace_(), "");  // the CLI fills it in
  EXPECT_EQ((*sandboxes)[1].metadata().name(), "b");
  EXPECT_EQ((*sandboxes)[1].spec().image(), "nginx");
  EXPECT_EQ((*sandboxes)[1].spec().resources().memory_bytes(), 9007199254740993);
}

TEST(ParseSandboxManifestTest, LargeIntegersKeepEveryDigit) {
  absl::StatusOr<std::vector<Sandbox>> sandboxes = ParseSandboxManifest(
      "apiVersion: fsb.io/v1alpha1\nkind: Sandbox\nmetadata: {name: a}\n"
      "spec: {image: b, resources: {memoryBytes: 9007199254740993}}\n");
  ASSERT_TRUE(sandboxes.ok()) << sandboxes.status();
  EXPECT_EQ(sandboxes->front().spec().resources().memory_bytes(), 9007199254740993);
}

TEST(ParseSandboxManifestTest, ReadsBackWhatGetPrints) {
  Sandbox sandbox;
  sandbox.set_api_version("fsb.io/v1alpha1");
  sandbox.set_kind("Sandbox");
  sandbox.mutable_metadata()->set_name("web");
  sandbox.mutable_metadata()->set_namespace_("team");
  sandbox.mutable_metadata()->set_resource_version(9007199254740993);
  sandbox.mutable_metadata()->mutable_creation_timestamp()->set_seconds(1'800'000'000);
  sandbox.mutable_metadata()->mutable_labels()->insert({"on", "true"});
  sandbox.mutable_spec()->set_image("docker.io/library/busybox:latest");
  sandbox.mutable_spec()->add_command("echo");
  sandbox.mutable_spec()->add_args("-n");
  sandbox.mutable_spec()->add_args("1.5");
  sandbox.mutable_spec()->add_args("null");
  sandbox.mutable_spec()->add_args("say \"hi\"\n");
  sandbox.mutable_spec()->add_exposed_ports(8080);
  sandbox.mutable_spec()->set_failure_policy(SandboxSpec::AutoRecreate);
  sandbox.mutable_spec()->set_reset_revision("2027-01-15T08:00:00.000000000Z");
  sandbox.mutable_spec()->set_network("egress");
  fsb::v1alpha1::PortPublish* published = sandbox.mutable_spec()->add_publish();
  published->set_host_port(18080);
  published->set_container_port(8080);
  published->set_protocol("tcp");
  sandbox.mutable_status()->set_phase(fsb::v1alpha1::SandboxStatus::Running);
  sandbox.mutable_status()->set_ip("10.88.0.4");
  sandbox.mutable_status()->add_endpoints("10.88.0.4:8080");
  sandbox.mutable_status()->set_restart_count(3);

  absl::StatusOr<std::string> yaml = FormatResourceYaml(sandbox);
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  absl::StatusOr<std::vector<Sandbox>> parsed = ParseSandboxManifest(*yaml);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << *yaml;
  ASSERT_THAT(*parsed, SizeIs(1));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed->front(), sandbox))
      << *yaml;
}

struct ManifestErrorCase {
  std::string yaml;
  std::string message;  // a substring of the error
};

class ParseSandboxManifestErrorTest : public ::testing::TestWithParam<ManifestErrorCase> {};

TEST_P(ParseSandboxManifestErrorTest, NamesTheDocumentAndTheProblem) {
  absl::StatusOr<std::vector<Sandbox>> sandboxes = ParseSandboxManifest(GetParam().yaml);
  ASSERT_FALSE(sandboxes.ok());
  EXPECT_EQ(sandboxes.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(sandboxes.status().message()), HasSubstr(GetParam().message));
}

constexpr char kHeader[] = "apiVersion: fsb.io/v1alpha1\nkind: Sandbox\n";

INSTANTIATE_TEST_SUITE_P(
    Manifest, ParseSandboxManifestErrorTest,
    ::testing::Values(
        ManifestErrorCase{"", "no document found"},
        ManifestErrorCase{"# just a comment\n", "no document found"},
        ManifestErrorCase{std::string(kHeader) + "metadata: {name: a}\nspec:\n  imagee: b\n",
                          "document 1 (line 1): (spec) imagee: Cannot find field."},
        ManifestErrorCase{std::string(kHeader) + "metadata: {name: a}\n---\n" + kHeader +
                              "metadata: {name: b}\nspec: {failurePolicy: Sometimes}\n",
                          "document 2 (line 5): (spec.failure_policy): invalid value "
                          "\"Sometimes\""},
        ManifestErrorCase{std::string(kHeader) + "metadata: {name: a}\nspec: {exposedPorts: "
                                                 "[http]}\n",
                          "document 1 (line 1): (spec.exposed_ports[0]): invalid value"},
        ManifestErrorCase{std::string(kHeader) + "metadata: {name: a}\nspec: {publish: "
                                                 "[\"8080:80\"]}\n",
                          "document 1 (line 1): (spec.publish[0])"},
        ManifestErrorCase{
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: []}\n",
            "document 1 (line 1): kind must be Sandbox or SandboxPool, got \"Pod\""},
        ManifestErrorCase{"kind: Sandbox\nmetadata: {name: a}\n",
                          "document 1 (line 1): apiVersion must be fsb.io/v1alpha1, got \"\""},
        ManifestErrorCase{"apiVersion: fsb.io/v2\nkind: Sandbox\n",
                          "apiVersion must be fsb.io/v1alpha1, got \"fsb.io/v2\""},
        ManifestErrorCase{"- a\n- b\n", "document 1 (line 1): expected a mapping"},
        ManifestErrorCase{"---\njust a string\n", "document 1 (line 2): expected a mapping"},
        ManifestErrorCase{std::string(kHeader) + "spec: {image: b}\n",
                          "document 1 (line 1): metadata.name is empty"},
        ManifestErrorCase{std::string(kHeader) + "metadata: {name: Web_1}\n",
                          "document 1 (line 1): metadata.name \"Web_1\" is invalid"},
        ManifestErrorCase{"apiVersion: fsb.io/v1alpha1\nkind: SandboxPool\nmetadata: {name: p}\n"
                          "spec: {maxSandboxesPerAgent: many}\n",
                          "document 1 (line 1): (spec.max_sandboxes_per_agent): invalid value"},
        ManifestErrorCase{"apiVersion: fsb.io/v1alpha1\nkind: SandboxPool\nmetadata: {name: P}\n",
                          "document 1 (line 1): metadata.name \"P\" is invalid"},
        ManifestErrorCase{std::string(kHeader) + "metadata: {name: a}\nspec: [\n",
                          "document 1: line 5, column 1: did not find expected node content"}));

}  // namespace
}  // namespace fsb::cli
