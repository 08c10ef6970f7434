#include "controller/sandbox_spec.h"

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
                   "command+args"},
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
                   "expire time"},
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
                   "publish: 65 entries"}),
    [](const auto& info) {
      std::string name = info.param.what;
      for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

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
