#include "agent/oci_spec.h"

#include <sys/resource.h>

#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

fsb::oci::v1::ImageConfig Image() {
  fsb::oci::v1::ImageConfig image;
  auto* c = image.mutable_config();
  c->add_entrypoint("/entry");
  c->add_cmd("default-arg");
  c->add_env("PATH=/bin");
  c->add_env("A=image");
  c->set_working_dir("/srv");
  return image;
}

TEST(MergeProcessTest, ImageDefaultsWhenRequestIsEmpty) {
  auto p = MergeProcess(Image(), {});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(p->args, ElementsAre("/entry", "default-arg"));
  EXPECT_THAT(p->env, ElementsAre("PATH=/bin", "A=image"));
  EXPECT_EQ(p->cwd, "/srv");
  EXPECT_EQ(p->uid, 0u);
}

TEST(MergeProcessTest, CommandReplacesEntrypointAndCmd) {
  fsb::agent::v1::SandboxSpec req;
  req.add_command("sh");
  req.add_args("-c");
  req.add_args("echo hi");
  auto p = MergeProcess(Image(), req);
  ASSERT_TRUE(p.ok());
  EXPECT_THAT(p->args, ElementsAre("sh", "-c", "echo hi"));
}

TEST(MergeProcessTest, ArgsReplaceOnlyCmd) {
  fsb::agent::v1::SandboxSpec req;
  req.add_args("x");
  EXPECT_THAT(MergeProcess(Image(), req)->args, ElementsAre("/entry", "x"));
}

TEST(MergeProcessTest, EnvOverridesInPlaceAndAppendsSorted) {
  fsb::agent::v1::SandboxSpec req;
  (*req.mutable_env())["Z"] = "z";
  (*req.mutable_env())["A"] = "req";
  (*req.mutable_env())["B"] = "b";
  req.set_working_dir("/work");
  auto p = MergeProcess(Image(), req);
  EXPECT_THAT(p->env, ElementsAre("PATH=/bin", "A=req", "B=b", "Z=z"));
  EXPECT_EQ(p->cwd, "/work");
}

TEST(MergeProcessTest, DefaultsPathAndCwd) {
  fsb::oci::v1::ImageConfig image;
  image.mutable_config()->add_cmd("sh");
  auto p = MergeProcess(image, {});
  ASSERT_TRUE(p.ok());
  ASSERT_FALSE(p->env.empty());
  EXPECT_THAT(p->env[0], HasSubstr("PATH=/usr/local/sbin"));
  EXPECT_EQ(p->cwd, "/");
}

TEST(MergeProcessTest, NumericUser) {
  fsb::oci::v1::ImageConfig image = Image();
  image.mutable_config()->set_user("1000:100");
  auto p = MergeProcess(image, {});
  EXPECT_EQ(p->uid, 1000u);
  EXPECT_EQ(p->gid, 100u);
  image.mutable_config()->set_user("65534");
  p = MergeProcess(image, {});
  EXPECT_EQ(p->uid, 65534u);
  EXPECT_EQ(p->gid, 65534u);
}

TEST(MergeProcessTest, RejectsNoCommandAndUnknownNames) {
  EXPECT_EQ(MergeProcess(fsb::oci::v1::ImageConfig(), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  fsb::oci::v1::ImageConfig image = Image();
  image.mutable_config()->set_user("www-data");
  auto p = MergeProcess(image, {});
  EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(p.status().message(), HasSubstr("www-data"));
  UserDatabase db = ParseUserDatabase("www-data:x:33:33::/var/www:/bin/false\n", "");
  image.mutable_config()->set_user("www-data:staff");
  EXPECT_THAT(MergeProcess(image, {}, &db).status().message(),
              HasSubstr("group \"staff\" is not in the image's /etc/group"));
}

TEST(MergeProcessTest, NamesResolveThroughTheImagesUserDatabase) {
  UserDatabase db = ParseUserDatabase(
      "root:x:0:0:root:/root:/bin/sh\n"
      "broken line\n"
      "app:x:1000:1001::/home/app:/bin/sh\n",
      "app:x:1001:\nwheel:x:10:root,app\naudio:x:29:app\n");
  EXPECT_TRUE(NeedsUserDatabase("app"));
  EXPECT_TRUE(NeedsUserDatabase("1000:wheel"));
  EXPECT_FALSE(NeedsUserDatabase("1000:10"));
  EXPECT_FALSE(NeedsUserDatabase(""));
  fsb::oci::v1::ImageConfig image = Image();
  image.mutable_config()->set_user("app");
  auto p = MergeProcess(image, {}, &db);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->uid, 1000u);
  EXPECT_EQ(p->gid, 1001u);
  EXPECT_THAT(p->additional_gids, ElementsAre(10, 29));
  // A numeric uid takes its primary group from passwd; a named group its gid.
  image.mutable_config()->set_user("1000");
  EXPECT_EQ(MergeProcess(image, {}, &db)->gid, 1001u);
  image.mutable_config()->set_user("1000:wheel");
  EXPECT_EQ(MergeProcess(image, {}, &db)->gid, 10u);
}

TEST(BuildRuntimeSpecJsonTest, WritesLimitsOnlyWhenSet) {
  ProcessSpec p{.args = {"sh"}, .cwd = "/"};
  std::string none = BuildRuntimeSpecJson(p, {.cgroups_path = "/fsb/x"});
  EXPECT_THAT(none, ::testing::Not(HasSubstr("\"cpu\"")));
  EXPECT_THAT(none, ::testing::Not(HasSubstr("\"pids\"")));
  std::string limited = BuildRuntimeSpecJson(
      p, {.cgroups_path = "/fsb/x", .cpu_millicores = 1500, .memory_bytes = 1 << 30, .pids = 10});
  EXPECT_THAT(limited, HasSubstr(R"("cpu":{"quota":150000,"period":100000})"));
  EXPECT_THAT(limited, HasSubstr(R"("memory":{"limit":1073741824})"));
  EXPECT_THAT(limited, HasSubstr(R"("pids":{"limit":10})"));
  EXPECT_THAT(none, ::testing::Not(HasSubstr("oomScoreAdj")));
}

TEST(BuildRuntimeSpecJsonTest, WritesSharesOomScoreAndNofile) {
  ProcessSpec p{.args = {"sh"}, .cwd = "/"};
  RuntimeSpecOptions o{.cgroups_path = "/fsb/x", .cpu_shares = 512};
  o.oom_score_adj = 500;
  o.nofile = 8192;
  google::protobuf::Struct spec;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(BuildRuntimeSpecJson(p, o), &spec).ok());
  const auto& process = spec.fields().at("process").struct_value().fields();
  EXPECT_EQ(process.at("oomScoreAdj").number_value(), 500);
  const auto& rlimits = process.at("rlimits").list_value().values();
  ASSERT_EQ(rlimits.size(), 1);
  const auto& nofile = rlimits[0].struct_value().fields();
  EXPECT_EQ(nofile.at("type").string_value(), "RLIMIT_NOFILE");
  EXPECT_EQ(nofile.at("soft").number_value(), 8192);
  EXPECT_EQ(nofile.at("hard").number_value(), 8192);
  const auto& cpu = spec.fields()
                        .at("linux")
                        .struct_value()
                        .fields()
                        .at("resources")
                        .struct_value()
                        .fields()
                        .at("cpu")
                        .struct_value()
                        .fields();
  EXPECT_EQ(cpu.at("shares").number_value(), 512);
  EXPECT_FALSE(cpu.contains("quota"));  // shares alone set no CFS quota
  // A negative adjustment is written as such (the runtime needs no sign tricks).
  o.oom_score_adj = -10;
  EXPECT_THAT(BuildRuntimeSpecJson(p, o), HasSubstr(R"("oomScoreAdj":-10)"));
  // The spec's rlimits are ProcessRlimits', which a warm instance's init order uses too.
  std::vector<ProcessRlimit> limits = ProcessRlimits(o);
  ASSERT_EQ(limits.size(), 1u);
  EXPECT_EQ(limits[0].resource, RLIMIT_NOFILE);
  EXPECT_EQ(limits[0].soft, 8192u);
}

TEST(BuildRuntimeSpecJsonTest, MasksKernelPathsIncludingPowercap) {
  google::protobuf::Struct spec;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  BuildRuntimeSpecJson({.args = {"sh"}, .cwd = "/"}, {}), &spec)
                  .ok());
  std::vector<std::string> masked;
  for (const auto& v :
       spec.fields().at("linux").struct_value().fields().at("maskedPaths").list_value().values()) {
    masked.push_back(v.string_value());
  }
  EXPECT_THAT(masked, ::testing::IsSupersetOf(
                          {"/proc/kcore", "/sys/firmware", "/sys/devices/virtual/powercap"}));
}

TEST(BuildRuntimeSpecJsonTest, ProducesAValidSpec) {
  ProcessSpec p{
      .args = {"sh", "-c", "echo \"q\""}, .env = {"PATH=/bin"}, .cwd = "/", .uid = 7, .gid = 8};
  std::string json = BuildRuntimeSpecJson(
      p, {.hostname = "sb1", .cgroups_path = "/fsb/abc", .annotations = {{"k", "v"}}});
  google::protobuf::Struct spec;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &spec).ok()) << json;
  const auto& f = spec.fields();
  EXPECT_EQ(f.at("ociVersion").string_value(), "1.0.2");
  EXPECT_EQ(f.at("hostname").string_value(), "sb1");
  EXPECT_EQ(f.at("root").struct_value().fields().at("path").string_value(), "rootfs");
  const auto& process = f.at("process").struct_value().fields();
  EXPECT_EQ(process.at("args").list_value().values(2).string_value(), "echo \"q\"");
  EXPECT_EQ(process.at("user").struct_value().fields().at("uid").number_value(), 7);
  EXPECT_EQ(process.at("cwd").string_value(), "/");
  for (const char* set : {"bounding", "effective", "permitted"}) {
    std::vector<std::string> caps;
    for (const auto& c :
         process.at("capabilities").struct_value().fields().at(set).list_value().values()) {
      caps.push_back(c.string_value());
    }
    EXPECT_THAT(caps, ::testing::Contains("CAP_NET_BIND_SERVICE")) << set;
    EXPECT_THAT(caps, ::testing::Not(::testing::Contains("CAP_NET_RAW"))) << set;
  }
  const auto& linux = f.at("linux").struct_value().fields();
  EXPECT_EQ(linux.at("cgroupsPath").string_value(), "/fsb/abc");
  std::vector<std::string> namespaces;
  for (const auto& ns : linux.at("namespaces").list_value().values()) {
    namespaces.push_back(ns.struct_value().fields().at("type").string_value());
  }
  // No netns given: the sandbox shares the runtime's network namespace.
  EXPECT_THAT(namespaces, ElementsAre("pid", "ipc", "uts", "mount"));
  std::vector<std::string> mounts;
  for (const auto& m : f.at("mounts").list_value().values()) {
    mounts.push_back(m.struct_value().fields().at("destination").string_value());
  }
  EXPECT_THAT(mounts, ::testing::IsSupersetOf({"/proc", "/dev", "/dev/pts", "/sys"}));
  EXPECT_EQ(f.at("annotations").struct_value().fields().at("k").string_value(), "v");
  // fsb's seccomp profile (agent/seccomp/profile_test.cc tests its content).
  const auto& seccomp = linux.at("seccomp").struct_value().fields();
  EXPECT_EQ(seccomp.at("defaultAction").string_value(), "SCMP_ACT_ERRNO");
  EXPECT_GT(seccomp.at("syscalls").list_value().values_size(), 0);
}

TEST(BuildRuntimeSpecJsonTest, JoinsTheSlotsNetworkNamespaceAndMountsItsFiles) {
  ProcessSpec p{.args = {"sh"}, .cwd = "/"};
  const std::string spec = BuildRuntimeSpecJson(
      p, {.netns = "/s/n1/netns", .hosts_file = "/s/n1/hosts", .resolv_conf_file = "/s/n1/rc"});
  EXPECT_THAT(spec, HasSubstr(R"({"type":"network","path":"/s/n1/netns"})"));
  EXPECT_THAT(spec,
              HasSubstr(R"("destination":"/etc/hosts","type":"bind","source":"/s/n1/hosts")"));
  EXPECT_THAT(spec,
              HasSubstr(R"("destination":"/etc/resolv.conf","type":"bind","source":"/s/n1/rc")"));
  const std::string host = BuildRuntimeSpecJson(p, {});
  EXPECT_THAT(host, ::testing::Not(HasSubstr(R"("network")")));
  EXPECT_THAT(host, HasSubstr(R"("destination":"/etc/hosts","type":"bind","source":"/etc/hosts")"));
}

TEST(BuildRuntimeSpecJsonTest, ExtraSyscallsAreAllowedOnlyWhenAsked) {
  ProcessSpec p{.args = {"sh"}, .cwd = "/"};
  const std::string allow = R"({"names":["umount2"],"action":"SCMP_ACT_ALLOW"})";
  EXPECT_THAT(BuildRuntimeSpecJson(p, {.extra_syscalls = {"umount2"}}), HasSubstr(allow));
  EXPECT_THAT(BuildRuntimeSpecJson(p, {}), ::testing::Not(HasSubstr("umount2")));
}

TEST(MergeEnvTest, OverridesInPlaceAndAppendsTheRestInKeyOrder) {
  EXPECT_EQ(MergeEnv({"PATH=/bin", "A=1", "B=2"}, {{"Z", "9"}, {"A", "x=y"}, {"C", ""}}),
            (std::vector<std::string>{"PATH=/bin", "A=x=y", "B=2", "C=", "Z=9"}));
  EXPECT_EQ(MergeEnv({}, {}), std::vector<std::string>{});
  EXPECT_EQ(MergeEnv({"A=1"}, {}), std::vector<std::string>{"A=1"});
}

}  // namespace
}  // namespace fsb::agent
