#include "cli/manifest.h"

#include <string>
#include <vector>

#include "cli/format.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace fsb::cli {
namespace {

using fsb::v1alpha1::Sandbox;
using fsb::v1alpha1::SandboxSpec;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

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
