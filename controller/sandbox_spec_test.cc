#include "controller/sandbox_spec.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "controller/fastpath_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::controller {
namespace {

using ::fsb::v1alpha1::Sandbox;
using ::fsb::v1alpha1::SandboxSpec;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

fastpath::v1::CreateRequest Request() {
  fastpath::v1::CreateRequest req;
  req.set_name("web");
  req.set_image("busybox");
  return req;
}

// A FastPath create as the controller admits it: decoded by the adapter, then validated
// by SandboxFromCreateSpec.
absl::StatusOr<Sandbox> SandboxFromRequest(const fastpath::v1::CreateRequest& req,
                                           SandboxSpec::ConsistencyMode default_mode,
                                           absl::Time now) {
  return SandboxFromCreateSpec(CreateSpecFromRequest(req), default_mode, now);
}

absl::StatusOr<Sandbox> FromRequest(const fastpath::v1::CreateRequest& req) {
  return SandboxFromRequest(req, SandboxSpec::fast, kNow);
}

TEST(SandboxFromRequestTest, FillsDefaultsAndNormalizes) {
  fastpath::v1::CreateRequest req = Request();
  (*req.mutable_envs())["Z"] = "1";
  (*req.mutable_envs())["A"] = "2";
  req.add_command("httpd");
  req.add_exposed_ports(80);
  absl::StatusOr<Sandbox> s = FromRequest(req);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->api_version(), "fsb.io/v1alpha1");
  EXPECT_EQ(s->kind(), "Sandbox");
  EXPECT_EQ(s->metadata().namespace_(), "default");
  EXPECT_EQ(s->metadata().annotations().at(kRequestIdAnnotation), "default/web");
  EXPECT_THAT(s->metadata().annotations().at(kSpecHashAnnotation), MatchesRegex("[0-9a-f]{16}"));
  EXPECT_EQ(s->spec().image(), "docker.io/library/busybox:latest");
  ASSERT_EQ(s->spec().env_size(), 2);
  EXPECT_EQ(s->spec().env(0).name(), "A");  // sorted
  EXPECT_EQ(s->spec().pool_ref(), "default");
  EXPECT_EQ(s->spec().failure_policy(), SandboxSpec::Manual);
  EXPECT_EQ(s->spec().recovery_timeout_seconds(), 60);
  EXPECT_EQ(s->spec().consistency_mode(), SandboxSpec::fast);
  EXPECT_EQ(s->status().phase(), v1alpha1::SandboxStatus::Pending);
}

TEST(SandboxFromRequestTest, ModeAndGeneratedName) {
  fastpath::v1::CreateRequest req = Request();
  req.clear_name();
  req.set_consistency_mode(fastpath::v1::STRONG);
  req.set_request_id("client-42");
  absl::StatusOr<Sandbox> s = SandboxFromRequest(req, SandboxSpec::fast, kNow);
  ASSERT_TRUE(s.ok());
  EXPECT_THAT(s->metadata().name(), MatchesRegex("sb-[0-9a-f]{8}"));
  EXPECT_EQ(s->metadata().annotations().at(kRequestIdAnnotation), "client-42");
  EXPECT_EQ(s->spec().consistency_mode(), SandboxSpec::strong);
  // FAST is "the controller's default".
  req.set_consistency_mode(fastpath::v1::FAST);
  EXPECT_EQ(SandboxFromRequest(req, SandboxSpec::strong, kNow)->spec().consistency_mode(),
            SandboxSpec::strong);
}

TEST(SandboxFromRequestTest, NetworkDefaultsToEgressAndPublishToTcp) {
  absl::StatusOr<Sandbox> s = FromRequest(Request());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->spec().network(), "egress");
  EXPECT_TRUE(s->spec().publish().empty());

  fastpath::v1::CreateRequest req = Request();
  req.set_network("no-egress");
  req.add_publish("8080:80");
  req.add_publish("53:5353/udp");
  req.add_publish("53:5353/tcp");  // another protocol: another host port
  s = FromRequest(req);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->spec().network(), "no-egress");
  ASSERT_EQ(s->spec().publish_size(), 3);
  EXPECT_EQ(s->spec().publish(0).host_port(), 8080);
  EXPECT_EQ(s->spec().publish(0).container_port(), 80);
  EXPECT_EQ(s->spec().publish(0).protocol(), "tcp");
  EXPECT_EQ(s->spec().publish(1).protocol(), "udp");
  EXPECT_EQ(s->spec().publish(2).protocol(), "tcp");
}

TEST(SandboxFromRequestTest, SpecHashCoversTheNetworkAndEitherSpellingOfItsDefaults) {
  auto hash = [](fastpath::v1::CreateRequest req) {
    absl::StatusOr<Sandbox> s = FromRequest(req);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? s->metadata().annotations().at(kSpecHashAnnotation) : "";
  };
  fastpath::v1::CreateRequest egress = Request();
  egress.set_network("egress");
  EXPECT_EQ(hash(Request()), hash(egress));
  fastpath::v1::CreateRequest closed = Request();
  closed.set_network("no-egress");
  EXPECT_NE(hash(closed), hash(Request()));

  fastpath::v1::CreateRequest implicit_tcp = Request();
  implicit_tcp.add_publish("8080:80");
  fastpath::v1::CreateRequest explicit_tcp = Request();
  explicit_tcp.add_publish("8080:80/tcp");
  EXPECT_EQ(hash(implicit_tcp), hash(explicit_tcp));
  EXPECT_NE(hash(implicit_tcp), hash(Request()));
  fastpath::v1::CreateRequest udp = Request();
  udp.add_publish("8080:80/udp");
  EXPECT_NE(hash(udp), hash(implicit_tcp));

  // A record stored before the network field existed has it unset: the same spec.
  SandboxSpec before = FromRequest(Request())->spec();
  before.clear_network();
  EXPECT_EQ(SpecHash(before), hash(Request()));
}

TEST(SandboxFromRequestTest, SpecHashIsStableAndSensitive) {
  absl::StatusOr<Sandbox> a = FromRequest(Request());
  absl::StatusOr<Sandbox> b = FromRequest(Request());
  EXPECT_EQ(a->metadata().annotations().at(kSpecHashAnnotation),
            b->metadata().annotations().at(kSpecHashAnnotation));
  fastpath::v1::CreateRequest other = Request();
  other.add_args("x");
  EXPECT_NE(FromRequest(other)->metadata().annotations().at(kSpecHashAnnotation),
            a->metadata().annotations().at(kSpecHashAnnotation));
  // Fields an update may change do not take part.
  SandboxSpec spec = a->spec();
  spec.set_reset_revision("2030-01-01T00:00:00Z");
  spec.set_failure_policy(SandboxSpec::AutoRecreate);
  EXPECT_EQ(SpecHash(spec), SpecHash(a->spec()));
}

struct BadRequest {
  std::string what;
  void (*mutate)(fastpath::v1::CreateRequest&);
  std::string field;  // the message must name it
};

class SandboxFromRequestRejectsTest : public ::testing::TestWithParam<BadRequest> {};

TEST_P(SandboxFromRequestRejectsTest, InvalidArgumentNamingTheField) {
  fastpath::v1::CreateRequest req = Request();
  GetParam().mutate(req);
  absl::StatusOr<Sandbox> s = FromRequest(req);
  ASSERT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << GetParam().what;
  EXPECT_THAT(s.status().message(), HasSubstr(GetParam().field)) << s.status();
}

INSTANTIATE_TEST_SUITE_P(
    All, SandboxFromRequestRejectsTest,
    ::testing::Values(
        BadRequest{"empty image", [](auto& r) { r.clear_image(); }, "image"},
        BadRequest{"bad image", [](auto& r) { r.set_image("Bad Image!"); }, "Bad Image!"},
        BadRequest{"bad name", [](auto& r) { r.set_name("Web_1"); }, "name"},
        BadRequest{"long name", [](auto& r) { r.set_name(std::string(64, 'a')); }, "name"},
        BadRequest{"bad namespace", [](auto& r) { r.set_namespace_("-x"); }, "namespace"},
        BadRequest{"bad pool", [](auto& r) { r.set_pool_ref("Pool"); }, "pool_ref"},
        BadRequest{"bad env", [](auto& r) { (*r.mutable_envs())["1X"] = "v"; }, "env"},
        BadRequest{"bad label", [](auto& r) { (*r.mutable_labels())["a b"] = "v"; }, "labels"},
        BadRequest{"port 0", [](auto& r) { r.add_exposed_ports(0); }, "exposed_ports"},
        BadRequest{"port 70000", [](auto& r) { r.add_exposed_ports(70000); }, "exposed_ports"},
        BadRequest{"repeated port",
                   [](auto& r) {
                     r.add_exposed_ports(80);
                     r.add_exposed_ports(80);
                   },
                   "exposed_ports"},
        BadRequest{"relative dir", [](auto& r) { r.set_working_dir("tmp"); }, "working_dir"},
        BadRequest{"too many args",
                   [](auto& r) {
                     for (int i = 0; i <= kMaxArgs; ++i) r.add_args("a");
                   },
                   "command+args"},
        BadRequest{"huge arg", [](auto& r) { r.add_args(std::string(kMaxArgvBytes + 1, 'a')); },
                   "args[0]: 131073 bytes, at most 131072 are allowed"},
        BadRequest{"too many env",
                   [](auto& r) {
                     for (int i = 0; i <= kMaxEnv; ++i)
                       (*r.mutable_envs())[absl::StrCat("E", i)] = "";
                   },
                   "env"},
        BadRequest{"too many labels",
                   [](auto& r) {
                     for (int i = 0; i <= kMaxLabels; ++i)
                       (*r.mutable_labels())[absl::StrCat("l", i)] = "";
                   },
                   "labels"},
        BadRequest{"negative memory", [](auto& r) { r.mutable_resources()->set_memory_bytes(-1); },
                   "resources"},
        BadRequest{"recovery too long", [](auto& r) { r.set_recovery_timeout_seconds(86401); },
                   "recovery_timeout_seconds"},
        BadRequest{"expired already", [](auto& r) { r.set_expire_time_seconds(1'700'000'000); },
                   "expire_time: 2023-11-14T22:13:20+00:00 is not in the future"},
        BadRequest{
            "bad policy",
            [](auto& r) { r.set_failure_policy(static_cast<fastpath::v1::FailurePolicy>(7)); },
            "failure_policy"},
        BadRequest{"bad request id", [](auto& r) { r.set_request_id("a b"); }, "request_id"},
        BadRequest{"unknown network", [](auto& r) { r.set_network("none"); },
                   "network \"none\" is not a network mode"},
        BadRequest{"network in capitals", [](auto& r) { r.set_network("Egress"); },
                   "network \"Egress\""},
        BadRequest{"publish without colon", [](auto& r) { r.add_publish("8080"); },
                   "publish \"8080\" is invalid"},
        BadRequest{"publish port 0", [](auto& r) { r.add_publish("0:80"); },
                   "publish \"0:80\" is invalid: host port 0"},
        BadRequest{"publish port 65536", [](auto& r) { r.add_publish("80:65536"); },
                   "publish \"80:65536\" is invalid: container port 65536"},
        BadRequest{"publish sctp", [](auto& r) { r.add_publish("80:80/sctp"); },
                   "protocol \"sctp\""},
        BadRequest{"first bad publish entry",
                   [](auto& r) {
                     r.add_publish("80:80");
                     r.add_publish("x:1");
                     r.add_publish("y:1");
                   },
                   "publish \"x:1\""},
        BadRequest{"publish twice",
                   [](auto& r) {
                     r.add_publish("8080:80");
                     r.add_publish("8080:81/tcp");
                   },
                   "publish \"8080:81/tcp\" is invalid: host port 8080/tcp is already published"},
        BadRequest{"too many published",
                   [](auto& r) {
                     for (int i = 0; i <= kMaxPorts; ++i)
                       r.add_publish(absl::StrCat(1000 + i, ":80"));
                   },
                   "publish: 65 entries"},
        BadRequest{"NUL in a command entry",
                   [](auto& r) {
                     r.add_command("sh");
                     r.add_command(std::string("a\0b", 3));
                   },
                   "command[1]: holds a NUL byte at offset 1"},
        BadRequest{"empty program", [](auto& r) { r.add_command(""); },
                   "command[0]: is empty; it names the program to run"},
        BadRequest{"NUL in an arg", [](auto& r) { r.add_args(std::string("\0", 1)); },
                   "args[0]: holds a NUL byte at offset 0"},
        BadRequest{"NUL in an env value",
                   [](auto& r) { (*r.mutable_envs())["K"] = std::string("v\0", 2); },
                   "env[K]: holds a NUL byte at offset 1"},
        BadRequest{"huge env",
                   [](auto& r) { (*r.mutable_envs())["K"] = std::string(kMaxEnvBytes, 'v'); },
                   "env: 131075 bytes, at most 131072 are allowed"},
        BadRequest{"env over its total",
                   [](auto& r) {
                     (*r.mutable_envs())["A"] = std::string(kMaxEnvBytes / 2, 'v');
                     (*r.mutable_envs())["B"] = std::string(kMaxEnvBytes / 2, 'v');
                   },
                   "env: 131078 bytes, at most 131072 are allowed"},
        BadRequest{"long env name",
                   [](auto& r) { (*r.mutable_envs())[std::string(kMaxEnvNameBytes + 1, 'A')] = ""; },
                   "name longer than 256 characters"},
        BadRequest{"NUL in the working dir",
                   [](auto& r) { r.set_working_dir(std::string("/a\0", 3)); },
                   "working_dir: holds a NUL byte at offset 2"},
        BadRequest{"long working dir",
                   [](auto& r) { r.set_working_dir("/" + std::string(kMaxPathBytes, 'd')); },
                   "working_dir: 4097 bytes, at most 4096 are allowed"},
        BadRequest{"cpu below the kernel's least quota",
                   [](auto& r) { r.mutable_resources()->set_cpu_millicores(9); },
                   "resources.cpu_millicores: 9 millicores is below the minimum of 10"},
        BadRequest{"negative cpu", [](auto& r) { r.mutable_resources()->set_cpu_millicores(-1); },
                   "resources.cpu_millicores: -1 millicores is below the minimum of 10"},
        BadRequest{"cpu that overflows the quota",
                   [](auto& r) { r.mutable_resources()->set_cpu_millicores(INT64_MAX); },
                   "resources.cpu_millicores: 9223372036854775807 millicores is above the maximum "
                   "of 1000000"},
        BadRequest{"memory below a process's start",
                   [](auto& r) { r.mutable_resources()->set_memory_bytes(1048576); },
                   "resources.memory_bytes: 1048576 bytes is below the minimum of 6291456"},
        BadRequest{"memory beyond any node",
                   [](auto& r) { r.mutable_resources()->set_memory_bytes(kMaxMemoryBytes + 1); },
                   "resources.memory_bytes: 17592186044417 bytes is above the maximum"},
        BadRequest{"pids below runc's init",
                   [](auto& r) { r.mutable_resources()->set_pids(3); },
                   "resources.pids: 3 processes is below the minimum of 4"},
        BadRequest{"pids beyond PID_MAX_LIMIT",
                   [](auto& r) { r.mutable_resources()->set_pids(kMaxPids + 1); },
                   "resources.pids: 4194305 processes is above the maximum of 4194304"},
        BadRequest{"expiry past the year 9999",
                   [](auto& r) { r.set_expire_time_seconds(kMaxUnixSeconds + 1); },
                   "expire_time: 253402300800 Unix seconds is outside RFC 3339's range"},
        BadRequest{"expiry at INT64_MAX",
                   [](auto& r) { r.set_expire_time_seconds(INT64_MAX); },
                   "expire_time: 9223372036854775807 Unix seconds is outside"},
        BadRequest{"negative recovery timeout",
                   [](auto& r) { r.set_recovery_timeout_seconds(-1); },
                   "recovery_timeout_seconds must not be negative"},
        BadRequest{"NUL in the request id",
                   [](auto& r) { r.set_request_id(std::string("a\0", 2)); },
                   "request_id: holds a NUL byte at offset 1"},
        BadRequest{"long request id",
                   [](auto& r) { r.set_request_id(std::string(kMaxRequestIdBytes + 1, 'r')); },
                   "request_id: 254 bytes, at most 253 are allowed"},
        BadRequest{"short digest", [](auto& r) { r.set_image("busybox@sha256:abc"); },
                   "image: image reference \"busybox@sha256:abc\" has a malformed digest"},
        BadRequest{"NUL in the image", [](auto& r) { r.set_image(std::string("busy\0box", 8)); },
                   "image: image reference \"busy\\000box\""},
        BadRequest{"unknown consistency mode",
                   [](auto& r) {
                     r.set_consistency_mode(static_cast<fastpath::v1::ConsistencyMode>(9));
                   },
                   "consistency_mode 9 is not a known mode"},
        BadRequest{"NUL in a label value",
                   [](auto& r) { (*r.mutable_labels())["app"] = std::string("w\0", 2); },
                   "labels \"w\\000\" is invalid"}),
    [](const auto& info) {
      std::string name = info.param.what;
      for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

TEST(SandboxFromRequestTest, AcceptsEveryLimitItself) {
  fastpath::v1::CreateRequest req = Request();
  req.mutable_resources()->set_cpu_millicores(kMinCpuMillicores);
  req.mutable_resources()->set_memory_bytes(kMinMemoryBytes);
  req.mutable_resources()->set_pids(kMinPids);
  req.set_working_dir("/" + std::string(kMaxPathBytes - 1, 'd'));
  req.set_expire_time_seconds(kMaxUnixSeconds);
  req.set_recovery_timeout_seconds(kMaxRecoveryTimeoutSeconds);
  req.set_request_id(std::string(kMaxRequestIdBytes, 'r'));
  (*req.mutable_labels())["app"] = std::string(kMaxLabelValueBytes, 'v');
  req.add_command("sh");
  req.add_command("");  // an empty argument, not the program, is fine
  EXPECT_TRUE(FromRequest(req).ok()) << FromRequest(req).status();

  req.mutable_resources()->set_cpu_millicores(kMaxCpuMillicores);
  req.mutable_resources()->set_memory_bytes(kMaxMemoryBytes);
  req.mutable_resources()->set_pids(kMaxPids);
  EXPECT_TRUE(FromRequest(req).ok()) << FromRequest(req).status();

  // 0 is "the agent's default" for each limit.
  req.mutable_resources()->Clear();
  EXPECT_TRUE(FromRequest(req).ok()) << FromRequest(req).status();
}

TEST(SandboxFromRequestTest, AcceptsTheLargestArgvAndEnv) {
  fastpath::v1::CreateRequest req = Request();
  for (int i = 0; i < kMaxArgs; ++i) req.add_args("a");
  EXPECT_TRUE(FromRequest(req).ok()) << FromRequest(req).status();

  req = Request();
  req.add_args(std::string(kMaxArgvBytes - 1, 'a'));  // + its NUL: exactly the limit
  EXPECT_TRUE(FromRequest(req).ok()) << FromRequest(req).status();
  req.add_args("");
  EXPECT_THAT(FromRequest(req).status().message(),
              HasSubstr("command+args: 131073 bytes, at most 131072 are allowed"));

  req = Request();
  for (int i = 0; i < kMaxEnv; ++i) (*req.mutable_envs())[absl::StrCat("E", i)] = "";
  EXPECT_TRUE(FromRequest(req).ok()) << FromRequest(req).status();

  req = Request();
  // "K=" + value + NUL: exactly the limit.
  (*req.mutable_envs())["K"] = std::string(kMaxEnvBytes - 3, 'v');
  EXPECT_TRUE(FromRequest(req).ok()) << FromRequest(req).status();
}

Sandbox Resource() {
  Sandbox r;
  r.mutable_metadata()->set_name("web");
  r.mutable_spec()->set_image("busybox");
  return r;
}

struct BadResource {
  std::string what;
  void (*mutate)(Sandbox&);
  std::string message;  // the error must hold it
};

class SandboxFromResourceRejectsTest : public ::testing::TestWithParam<BadResource> {};

TEST_P(SandboxFromResourceRejectsTest, InvalidArgumentNamingTheField) {
  Sandbox r = Resource();
  GetParam().mutate(r);
  absl::StatusOr<Sandbox> s = SandboxFromResource(r, SandboxSpec::fast, kNow);
  ASSERT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << GetParam().what;
  EXPECT_THAT(s.status().message(), HasSubstr(GetParam().message)) << s.status();
}

INSTANTIATE_TEST_SUITE_P(
    All, SandboxFromResourceRejectsTest,
    ::testing::Values(
        BadResource{"unknown consistency mode",
                    [](Sandbox& r) {
                      r.mutable_spec()->set_consistency_mode(
                          static_cast<SandboxSpec::ConsistencyMode>(7));
                    },
                    "consistency_mode: 7 is not a mode (fast or strong)"},
        BadResource{"unknown failure policy",
                    [](Sandbox& r) {
                      r.mutable_spec()->set_failure_policy(
                          static_cast<SandboxSpec::FailurePolicy>(7));
                    },
                    "failure_policy: 7 is not a policy (Manual or AutoRecreate)"},
        BadResource{"expiry nanos out of range",
                    [](Sandbox& r) {
                      r.mutable_spec()->mutable_expire_time()->set_seconds(1'900'000'000);
                      r.mutable_spec()->mutable_expire_time()->set_nanos(1'000'000'000);
                    },
                    "expire_time.nanos: 1000000000 is above the maximum of 999999999"},
        BadResource{
            "expiry before the year 1",
            [](Sandbox& r) { r.mutable_spec()->mutable_expire_time()->set_seconds(INT64_MIN); },
            "expire_time: -9223372036854775808 Unix seconds is outside"},
        BadResource{
            "reset revision past the year 9999",
            [](Sandbox& r) { r.mutable_spec()->set_reset_revision("10000-01-01T00:00:00Z"); },
            "reset_revision \"10000-01-01T00:00:00Z\" is outside RFC 3339's years"},
        BadResource{"long reset revision",
                    [](Sandbox& r) {
                      r.mutable_spec()->set_reset_revision(
                          std::string(kMaxResetRevisionBytes + 1, '1'));
                    },
                    "reset_revision: 65 bytes, at most 64 are allowed"},
        BadResource{"negative recovery timeout",
                    [](Sandbox& r) { r.mutable_spec()->set_recovery_timeout_seconds(-5); },
                    "recovery_timeout_seconds: -5 seconds is below the minimum of 0"},
        BadResource{"repeated env name",
                    [](Sandbox& r) {
                      for (int i = 0; i < 2; ++i) r.mutable_spec()->add_env()->set_name("K");
                    },
                    "env: K is set twice"},
        BadResource{"NUL in an env value",
                    [](Sandbox& r) {
                      auto* var = r.mutable_spec()->add_env();
                      var->set_name("K");
                      var->set_value(std::string("\0", 1));
                    },
                    "env[K]: holds a NUL byte at offset 0"},
        BadResource{
            "annotation key",
            [](Sandbox& r) { (*r.mutable_metadata()->mutable_annotations())["no spaces"] = "x"; },
            "annotations \"no spaces\" is invalid"},
        BadResource{"NUL in an annotation",
                    [](Sandbox& r) {
                      (*r.mutable_metadata()->mutable_annotations())["note"] = std::string("\0", 1);
                    },
                    "annotations[\"note\"]: holds a NUL byte at offset 0"},
        BadResource{"annotations too large",
                    [](Sandbox& r) {
                      (*r.mutable_metadata()->mutable_annotations())["a"] =
                          std::string(kMaxAnnotationBytes / 2, 'x');
                      (*r.mutable_metadata()->mutable_annotations())["b"] =
                          std::string(kMaxAnnotationBytes / 2, 'x');
                    },
                    "annotations: 65538 bytes, at most 65536 are allowed"},
        BadResource{"too many annotations",
                    [](Sandbox& r) {
                      for (int i = 0; i <= kMaxAnnotations; ++i) {
                        (*r.mutable_metadata()->mutable_annotations())[absl::StrCat("a", i)] = "";
                      }
                    },
                    "annotations: 65 entries, at most 64 are allowed"},
        BadResource{"pids in the spec",
                    [](Sandbox& r) { r.mutable_spec()->mutable_resources()->set_pids(1); },
                    "resources.pids: 1 processes is below the minimum of 4"}),
    [](const auto& info) {
      std::string name = info.param.what;
      for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

TEST(SandboxFromResourceTest, AcceptsTheLimitsOfTimesAndAnnotations) {
  Sandbox r = Resource();
  r.mutable_spec()->mutable_expire_time()->set_seconds(kMaxUnixSeconds);
  r.mutable_spec()->mutable_expire_time()->set_nanos(999'999'999);
  r.mutable_spec()->set_reset_revision("9999-12-31T23:59:59.999999999Z");
  r.mutable_spec()->set_recovery_timeout_seconds(kMaxRecoveryTimeoutSeconds);
  auto& annotations = *r.mutable_metadata()->mutable_annotations();
  annotations["a"] = std::string(kMaxAnnotationBytes - 1, 'x');
  absl::StatusOr<Sandbox> s = SandboxFromResource(r, SandboxSpec::fast, kNow);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->metadata().annotations().at("a").size(), kMaxAnnotationBytes - 1);
  EXPECT_TRUE(ParseResetRevision("0001-01-01T00:00:00Z").ok());
}

struct BadUpdate {
  std::string what;
  void (*mutate)(SandboxUpdate&);
  std::string message;  // the error must hold it
};

class ValidateSandboxUpdateTest : public ::testing::TestWithParam<BadUpdate> {};

TEST_P(ValidateSandboxUpdateTest, InvalidArgumentNamingTheField) {
  SandboxUpdate update;
  update.name = "web";
  GetParam().mutate(update);
  absl::Status s = ValidateSandboxUpdate(update, kNow);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << GetParam().what;
  EXPECT_THAT(s.message(), HasSubstr(GetParam().message)) << s;
}

INSTANTIATE_TEST_SUITE_P(
    All, ValidateSandboxUpdateTest,
    ::testing::Values(
        BadUpdate{"malformed",
                  [](auto& u) { u.malformed = absl::InvalidArgumentError("policy 7"); },
                  "policy 7"},
        BadUpdate{"no name", [](auto& u) { u.name.clear(); }, "sandbox_name is empty"},
        BadUpdate{"bad namespace", [](auto& u) { u.ns = "Team"; }, "namespace \"Team\""},
        BadUpdate{"negative expiry", [](auto& u) { u.expire_time_seconds = -1; },
                  "expire_time_seconds: -1 must not be negative"},
        BadUpdate{"past expiry", [](auto& u) { u.expire_time_seconds = 1'700'000'000; },
                  "expire_time_seconds: 2023-11-14T22:13:20+00:00 is not in the future"},
        BadUpdate{"expiry past 9999", [](auto& u) { u.expire_time_seconds = INT64_MAX; },
                  "expire_time_seconds: 9223372036854775807 Unix seconds is outside RFC 3339's "
                  "range"},
        BadUpdate{"bad reset revision", [](auto& u) { u.reset_revision = "now"; },
                  "reset_revision \"now\" is not an RFC 3339 timestamp"},
        BadUpdate{"recovery 0", [](auto& u) { u.recovery_timeout_seconds = 0; },
                  "recovery_timeout_seconds: 0 seconds is below the minimum of 1"},
        BadUpdate{"recovery too long",
                  [](auto& u) { u.recovery_timeout_seconds = kMaxRecoveryTimeoutSeconds + 1; },
                  "recovery_timeout_seconds: 86401 seconds is above the maximum of 86400"},
        BadUpdate{"bad label", [](auto& u) { u.labels["a b"] = "x"; }, "labels \"a b\""},
        BadUpdate{"too many labels",
                  [](auto& u) {
                    for (int i = 0; i <= kMaxLabels; ++i) u.labels[absl::StrCat("l", i)] = "";
                  },
                  "labels: 65 entries, at most 64 are allowed"},
        BadUpdate{"bad label to remove",
                  [](auto& u) { u.remove_labels.push_back(std::string("a\0", 2)); },
                  "remove_labels \"a\\000\" is invalid"},
        BadUpdate{"too many labels to remove",
                  [](auto& u) { u.remove_labels.assign(kMaxLabelChanges + 1, "app"); },
                  "remove_labels: 129 entries, at most 128 are allowed"}),
    [](const auto& info) {
      std::string name = info.param.what;
      for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

TEST(ValidateSandboxUpdateTest, AcceptsTheLimits) {
  SandboxUpdate update;
  update.name = "web";
  update.ns = "team-a";
  update.expire_time_seconds = kMaxUnixSeconds;
  EXPECT_TRUE(ValidateSandboxUpdate(update, kNow).ok());
  update.expire_time_seconds = 0;  // removes the expiry
  update.recovery_timeout_seconds = kMaxRecoveryTimeoutSeconds;
  update.reset_revision = "2026-11-23T10:00:00Z";
  for (int i = 0; i < kMaxLabels; ++i) update.labels[absl::StrCat("l", i)] = "";
  update.remove_labels.assign(kMaxLabelChanges, "app");
  EXPECT_TRUE(ValidateSandboxUpdate(update, kNow).ok()) << ValidateSandboxUpdate(update, kNow);
  update.recovery_timeout_seconds = 1;
  EXPECT_TRUE(ValidateSandboxUpdate(update, kNow).ok());
}

TEST(ValidateArgvTest, NamesTheEntryAndTheLists) {
  google::protobuf::RepeatedPtrField<std::string> command;
  google::protobuf::RepeatedPtrField<std::string> args;
  EXPECT_TRUE(ValidateArgv({{"command", command}, {"args", args}}).ok());
  args.Add("");  // the first entry, the program: empty
  EXPECT_EQ(ValidateArgv({{"command", command}, {"args", args}}).message(),
            "args[0]: is empty; it names the program to run");
  command.Add("sh");
  EXPECT_TRUE(ValidateArgv({{"command", command}, {"args", args}}).ok());
  for (int i = 0; i < kMaxArgs; ++i) args.Add("x");
  EXPECT_EQ(ValidateArgv({{"command", command}, {"args", args}}).message(),
            "command+args: 1026 entries, at most 1024 are allowed");
}

TEST(SandboxFromResourceTest, ClearsServerFieldsAndChecksKind) {
  Sandbox r;
  r.set_kind("Sandbox");
  r.mutable_metadata()->set_name("web");
  r.mutable_metadata()->set_uid("forged");
  r.mutable_metadata()->set_resource_version(99);
  r.mutable_spec()->set_image("busybox");
  r.mutable_status()->set_phase(v1alpha1::SandboxStatus::Running);
  absl::StatusOr<Sandbox> s = SandboxFromResource(r, SandboxSpec::fast, kNow);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->metadata().uid(), "");
  EXPECT_EQ(s->metadata().resource_version(), 0);
  EXPECT_EQ(s->status().phase(), v1alpha1::SandboxStatus::Pending);
  r.set_kind("Pod");
  EXPECT_THAT(SandboxFromResource(r, SandboxSpec::fast, kNow).status().message(),
              HasSubstr("kind must be Sandbox"));
}

TEST(SandboxFromResourceTest, ValidatesAndDefaultsTheNetworkAndPublishedPorts) {
  Sandbox r;
  r.mutable_metadata()->set_name("web");
  r.mutable_spec()->set_image("busybox");
  v1alpha1::PortPublish* p = r.mutable_spec()->add_publish();
  p->set_host_port(8080);
  p->set_container_port(80);
  absl::StatusOr<Sandbox> s = SandboxFromResource(r, SandboxSpec::fast, kNow);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->spec().network(), "egress");
  EXPECT_EQ(s->spec().publish(0).protocol(), "tcp");

  Sandbox bad = r;
  bad.mutable_spec()->set_network("host");
  EXPECT_THAT(SandboxFromResource(bad, SandboxSpec::fast, kNow).status().message(),
              HasSubstr("network \"host\" is not a network mode"));
  bad = r;
  bad.mutable_spec()->mutable_publish(0)->set_host_port(0);
  absl::Status st = SandboxFromResource(bad, SandboxSpec::fast, kNow).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("publish \"0:80/tcp\" is invalid: host port 0"));
  bad = r;
  bad.mutable_spec()->mutable_publish(0)->set_protocol("icmp");
  EXPECT_THAT(SandboxFromResource(bad, SandboxSpec::fast, kNow).status().message(),
              HasSubstr("protocol \"icmp\" is not tcp or udp"));
  bad = r;
  *bad.mutable_spec()->add_publish() = r.spec().publish(0);
  bad.mutable_spec()->mutable_publish(1)->set_protocol("tcp");
  EXPECT_THAT(SandboxFromResource(bad, SandboxSpec::fast, kNow).status().message(),
              HasSubstr("host port 8080/tcp is already published"));
}

TEST(ImmutableSpecChangesTest, NetworkAndPublishAreImmutableAndTheDefaultHasTwoSpellings) {
  SandboxSpec a;
  a.set_image("x");
  SandboxSpec b = a;
  b.set_network("egress");
  EXPECT_EQ(ImmutableSpecChanges(a, b), "");
  b.set_network("no-egress");
  v1alpha1::PortPublish* p = b.add_publish();
  p->set_host_port(8080);
  p->set_container_port(80);
  p->set_protocol("tcp");
  EXPECT_EQ(ImmutableSpecChanges(a, b), "network, publish");
}

TEST(ImmutableSpecChangesTest, NamesChangedImmutableFieldsOnly) {
  SandboxSpec a;
  a.set_image("x");
  a.add_command("sh");
  SandboxSpec b = a;
  b.set_failure_policy(SandboxSpec::AutoRecreate);
  b.set_reset_revision("2030-01-01T00:00:00Z");
  b.mutable_expire_time()->set_seconds(5);
  EXPECT_EQ(ImmutableSpecChanges(a, b), "");
  b.set_image("y");
  b.add_exposed_ports(80);
  EXPECT_EQ(ImmutableSpecChanges(a, b), "image, exposedPorts");
}

TEST(ParseResetRevisionTest, AcceptsRfc3339Only) {
  EXPECT_TRUE(ParseResetRevision("2026-11-23T10:00:00.123456789Z").ok());
  EXPECT_TRUE(ParseResetRevision("2026-11-23T10:00:00+02:00").ok());
  EXPECT_THAT(ParseResetRevision("yesterday").status().message(), HasSubstr("RFC 3339"));
}

TEST(AgentSpecOfTest, CarriesTheProcessAndIdentity) {
  fastpath::v1::CreateRequest req = Request();
  req.add_command("sh");
  req.add_args("-c");
  (*req.mutable_envs())["K"] = "V";
  req.add_exposed_ports(8080);
  req.mutable_resources()->set_cpu_millicores(500);
  req.mutable_resources()->set_memory_bytes(64 << 20);
  req.mutable_resources()->set_pids(100);
  req.set_read_only_root_filesystem(true);
  req.set_network("no-egress");
  req.add_publish("8080:80");
  req.add_publish("5353:53/udp");
  Sandbox s = *FromRequest(req);
  s.mutable_status()->set_container_id("0123456789abcdef");
  fsb::agent::v1::SandboxSpec spec = AgentSpecOf(s);
  EXPECT_EQ(spec.sandbox_id(), "0123456789abcdef");
  EXPECT_EQ(spec.name(), "web");
  EXPECT_EQ(spec.namespace_(), "default");
  EXPECT_EQ(spec.image(), "docker.io/library/busybox:latest");
  EXPECT_THAT(spec.command(), ElementsAre("sh"));
  EXPECT_THAT(spec.args(), ElementsAre("-c"));
  EXPECT_EQ(spec.env().at("K"), "V");
  EXPECT_THAT(spec.exposed_ports(), ElementsAre(8080));
  EXPECT_EQ(spec.resources().cpu_millicores(), 500);
  EXPECT_EQ(spec.resources().memory_bytes(), 64 << 20);
  EXPECT_EQ(spec.resources().pids(), 100);
  EXPECT_TRUE(spec.readonly_rootfs());
  EXPECT_EQ(spec.network(), fsb::agent::v1::SANDBOX_NETWORK_NO_EGRESS);
  ASSERT_EQ(spec.published_ports_size(), 2);
  EXPECT_EQ(spec.published_ports(0).host_port(), 8080);
  EXPECT_EQ(spec.published_ports(0).container_port(), 80);
  EXPECT_EQ(spec.published_ports(0).protocol(), "tcp");
  EXPECT_EQ(spec.published_ports(1).host_port(), 5353);
  EXPECT_EQ(spec.published_ports(1).container_port(), 53);
  EXPECT_EQ(spec.published_ports(1).protocol(), "udp");
}

TEST(AgentSpecOfTest, EgressUnlessNoEgress) {
  Sandbox s = *FromRequest(Request());
  EXPECT_EQ(AgentSpecOf(s).network(), fsb::agent::v1::SANDBOX_NETWORK_EGRESS);
  s.mutable_spec()->clear_network();  // a record made before the field existed
  EXPECT_EQ(AgentSpecOf(s).network(), fsb::agent::v1::SANDBOX_NETWORK_EGRESS);
  EXPECT_TRUE(AgentSpecOf(s).published_ports().empty());
}

}  // namespace
}  // namespace fsb::controller
