#include "agent/network/cni.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "internal/proto_json.h"

namespace fsb::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kResult[] =
    R"({"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],)"
    R"("ips":[{"address":"fe80::1/64"},{"address":"10.88.0.7/16","gateway":"10.88.0.1"}]})";

// Records each plugin run and answers from a script.
struct FakePlugins {
  std::vector<SubprocessCall> calls;
  std::string fail_type;  // this plugin fails ADD
  std::string fail_output = R"({"code":11,"msg":"failed to set bridge addr","details":"EBUSY"})";

  ProgramRunner Runner() {
    return [this](const SubprocessCall& call) -> absl::StatusOr<SubprocessResult> {
      calls.push_back(call);
      SubprocessResult r;
      const std::string type = call.argv[0].substr(call.argv[0].rfind('/') + 1);
      if (type == fail_type && Env(call, "CNI_COMMAND") == "ADD") {
        r.exit_code = 1;
        r.stdout_data = fail_output;
        return r;
      }
      if (Env(call, "CNI_COMMAND") == "ADD") r.stdout_data = kResult;
      return r;
    };
  }
  static std::string Env(const SubprocessCall& call, const std::string& key) {
    for (const std::string& kv : call.env) {
      if (absl::StartsWith(kv, key + "=")) return kv.substr(key.size() + 1);
    }
    return "<unset>";
  }
  std::vector<std::string> Sequence() const {
    std::vector<std::string> out;
    for (const SubprocessCall& c : calls) {
      out.push_back(Env(c, "CNI_COMMAND") + " " + c.argv[0].substr(c.argv[0].rfind('/') + 1) + " " +
                    Env(c, "CNI_IFNAME"));
    }
    return out;
  }
};

CniOptions Options() {
  CniOptions o;
  o.plugin_dir = "/plugins";
  o.bridge = "fsbt0";
  o.subnet = "10.88.0.0/16";
  o.ipam_dir = "/state/ipam";
  return o;
}

google::protobuf::Struct Parse(const std::string& json) {
  google::protobuf::Struct s;
  EXPECT_TRUE(ProtoFromJson(json, &s).ok()) << json;
  return s;
}

TEST(CniNetworkTest, AddRunsLoopbackThenTheChainPassingEachResultOn) {
  FakePlugins plugins;
  CniNetwork cni(Options(), plugins.Runner());
  absl::StatusOr<CniAttachment> a = cni.Add("slot1", "/run/ns1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->ip, "10.88.0.7");
  EXPECT_EQ(a->prefix_length, 16);
  EXPECT_EQ(a->gateway, "10.88.0.1");
  EXPECT_EQ(a->result_json, kResult);
  EXPECT_THAT(plugins.Sequence(), ElementsAre("ADD loopback lo", "ADD bridge eth0",
                                              "ADD tuning eth0", "ADD firewall eth0"));
  const SubprocessCall& bridge = plugins.calls[1];
  EXPECT_EQ(bridge.argv[0], "/plugins/bridge");
  EXPECT_EQ(FakePlugins::Env(bridge, "CNI_CONTAINERID"), "slot1");
  EXPECT_EQ(FakePlugins::Env(bridge, "CNI_NETNS"), "/run/ns1");
  EXPECT_EQ(FakePlugins::Env(bridge, "CNI_PATH"), "/plugins");
  google::protobuf::Struct config = Parse(bridge.stdin_data);
  EXPECT_EQ(config.fields().at("cniVersion").string_value(), "1.0.0");
  EXPECT_EQ(config.fields().at("bridge").string_value(), "fsbt0");
  EXPECT_FALSE(config.fields().contains("prevResult"));
  const auto& ipam = config.fields().at("ipam").struct_value().fields();
  EXPECT_EQ(ipam.at("type").string_value(), "host-local");
  EXPECT_EQ(ipam.at("dataDir").string_value(), "/state/ipam");
  // The second plugin gets the first's result as prevResult.
  google::protobuf::Struct tuning = Parse(plugins.calls[2].stdin_data);
  ASSERT_TRUE(tuning.fields().contains("prevResult"));
  EXPECT_EQ(
      tuning.fields().at("prevResult").struct_value().fields().at("ips").list_value().values_size(),
      2);
}

TEST(CniNetworkTest, AFailedPluginIsAPreciseErrorAndWhatWasMadeIsDeleted) {
  FakePlugins plugins;
  plugins.fail_type = "tuning";
  CniNetwork cni(Options(), plugins.Runner());
  absl::StatusOr<CniAttachment> a = cni.Add("slot1", "/run/ns1");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(a.status().message(), HasSubstr("CNI plugin tuning ADD failed"));
  EXPECT_THAT(a.status().message(), HasSubstr("failed to set bridge addr: EBUSY"));
  EXPECT_THAT(
      plugins.Sequence(),
      ElementsAre("ADD loopback lo", "ADD bridge eth0", "ADD tuning eth0", "DEL firewall eth0",
                  "DEL tuning eth0", "DEL bridge eth0", "DEL loopback lo"));
}

TEST(CniNetworkTest, AnExhaustedRangeIsResourceExhausted) {
  FakePlugins plugins;
  plugins.fail_type = "bridge";
  plugins.fail_output =
      R"({"code":999,"msg":"failed to allocate for range 0: no IP addresses available in range set: 10.88.0.1-10.88.0.6"})";
  CniNetwork cni(Options(), plugins.Runner());
  EXPECT_EQ(cni.Add("slot1", "/run/ns1").status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(CniNetworkTest, APluginThatCannotRunIsUnavailableNamingIt) {
  CniNetwork cni(Options(), [](const SubprocessCall& call) -> absl::StatusOr<SubprocessResult> {
    return absl::InternalError("cannot run " + call.argv[0] + ": No such file or directory");
  });
  absl::StatusOr<CniAttachment> a = cni.Add("slot1", "/run/ns1");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(a.status().message(), HasSubstr("/plugins/loopback"));
}

TEST(CniNetworkTest, DelRunsEveryPluginInReverseWithTheResultEvenAfterAFailure) {
  FakePlugins plugins;
  int n = 0;
  CniNetwork cni(Options(), [&](const SubprocessCall& call) -> absl::StatusOr<SubprocessResult> {
    plugins.calls.push_back(call);
    SubprocessResult r;
    if (n++ == 0) r.exit_code = 1;  // the first DEL fails
    return r;
  });
  absl::Status s = cni.Del("slot1", "", kResult);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  // Without a namespace loopback has nothing to release.
  EXPECT_THAT(plugins.Sequence(),
              ElementsAre("DEL firewall eth0", "DEL tuning eth0", "DEL bridge eth0"));
  EXPECT_EQ(FakePlugins::Env(plugins.calls[0], "CNI_NETNS"), "");
  EXPECT_TRUE(Parse(plugins.calls[2].stdin_data).fields().contains("prevResult"));
}

TEST(CniNetworkTest, PublishGivesPortmapTheMappingsAsRuntimeConfig) {
  FakePlugins plugins;
  CniNetwork cni(Options(), plugins.Runner());
  ASSERT_TRUE(cni.Publish("slot1", "/run/ns1", kResult, {{8081, 80, "tcp"}}).ok());
  ASSERT_EQ(plugins.calls.size(), 1u);
  google::protobuf::Struct config = Parse(plugins.calls[0].stdin_data);
  const auto& mapping = config.fields()
                            .at("runtimeConfig")
                            .struct_value()
                            .fields()
                            .at("portMappings")
                            .list_value()
                            .values(0)
                            .struct_value()
                            .fields();
  EXPECT_EQ(mapping.at("hostPort").number_value(), 8081);
  EXPECT_EQ(mapping.at("containerPort").number_value(), 80);
  EXPECT_EQ(mapping.at("protocol").string_value(), "tcp");
}

TEST(ParseCniResultTest, RejectsResultsWithoutAnIpv4Address) {
  EXPECT_FALSE(ParseCniResult(R"({"ips":[{"address":"fe80::1/64"}]})").ok());
  EXPECT_FALSE(ParseCniResult("not json").ok());
  EXPECT_FALSE(ParseCniResult("{}").ok());
}

}  // namespace
}  // namespace fsb::agent
