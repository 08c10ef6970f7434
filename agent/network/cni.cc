#include "agent/network/cni.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "internal/json_writer.h"
#include "internal/proto_json.h"
#include "internal/strings.h"

namespace fsb::agent {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr char kCniVersion[] = "1.0.0";
constexpr char kEth[] = "eth0";
constexpr char kLo[] = "lo";
// The eth0 chain, in ADD order.
constexpr std::string_view kChain[CniNetwork::kChainLength] = {"bridge", "tuning", "firewall"};

// The string field `key` of `s`, or "".
std::string_view StringField(const Struct& s, std::string_view key) {
  auto it = s.fields().find(std::string(key));
  if (it == s.fields().end() || it->second.kind_case() != Value::kStringValue) return "";
  return it->second.string_value();
}

// A plugin's error document (CNI spec "Error"), as a status naming the plugin.
absl::Status PluginError(std::string_view type, std::string_view command,
                         const SubprocessResult& r) {
  Struct error;
  std::string message;
  if (ProtoFromJson(r.stdout_data, &error).ok()) {
    message = std::string(StringField(error, "msg"));
    if (std::string_view details = StringField(error, "details"); !details.empty()) {
      absl::StrAppend(&message, ": ", Sv(details));
    }
  }
  if (message.empty()) {
    message = absl::StrCat("exit code ", r.exit_code, ": ",
                           Sv(r.stderr_data.empty() ? r.stdout_data : r.stderr_data));
  }
  const std::string text =
      absl::StrCat("CNI plugin ", Sv(type), " ", Sv(command), " failed: ", message);
  // host-local says so when the range has no free address left.
  if (absl::StrContains(message, "no IP addresses available")) {
    return absl::ResourceExhaustedError(text);
  }
  return absl::UnavailableError(text);
}

// Opens a plugin's configuration object with the fields every plugin reads.
JsonWriter& BeginConfig(JsonWriter& w, std::string_view network, std::string_view type) {
  return w.BeginObject()
      .Key("cniVersion")
      .String(kCniVersion)
      .Key("name")
      .String(network)
      .Key("type")
      .String(type);
}

}  // namespace

CniNetwork::CniNetwork(CniOptions options, ProgramRunner run)
    : options_(std::move(options)), run_(std::move(run)) {}

std::string CniNetwork::PluginConfig(int index, std::string_view prev_result) const {
  JsonWriter w;
  BeginConfig(w, options_.network_name, kChain[index]);
  switch (index) {
    case 0:
      w.Key("bridge")
          .String(options_.bridge)
          .Key("isGateway")
          .Bool(true)
          .Key("ipMasq")
          .Bool(false)  // the agent's own nftables rules masquerade
          .Key("hairpinMode")
          .Bool(false)
          .Key("ipam")
          .BeginObject()
          .Key("type")
          .String("host-local")
          .Key("dataDir")
          .String(options_.ipam_dir)
          .Key("ranges")
          .BeginArray()
          .BeginArray()
          .BeginObject()
          .Key("subnet")
          .String(options_.subnet)
          .EndObject()
          .EndArray()
          .EndArray()
          .Key("routes")
          .BeginArray()
          .BeginObject()
          .Key("dst")
          .String("0.0.0.0/0")
          .EndObject()
          .EndArray()
          .EndObject();
      break;
    case 1:
      w.Key("sysctl")
          .BeginObject()
          .Key("net.ipv6.conf.all.disable_ipv6")
          .String("1")
          .Key("net.ipv6.conf.default.disable_ipv6")
          .String("1")
          .EndObject();
      break;
    case 2:
      w.Key("backend").String("iptables");
      break;
  }
  if (!prev_result.empty()) w.Key("prevResult").Raw(prev_result);
  w.EndObject();
  return w.str();
}

std::string CniNetwork::LoopbackConfig() const {
  JsonWriter w;
  BeginConfig(w, absl::StrCat(options_.network_name, "-lo"), "loopback").EndObject();
  return w.str();
}

std::string CniNetwork::PortmapConfig(std::string_view prev_result,
                                      const std::vector<PublishedPort>& ports) const {
  JsonWriter w;
  BeginConfig(w, options_.network_name, "portmap")
      .Key("snat")
      .Bool(true)
      .Key("runtimeConfig")
      .BeginObject()
      .Key("portMappings")
      .BeginArray();
  for (const PublishedPort& p : ports) {
    w.BeginObject()
        .Key("hostPort")
        .Int(p.host_port)
        .Key("containerPort")
        .Int(p.container_port)
        .Key("protocol")
        .String(p.protocol.empty() ? kProtocolTcp : std::string_view(p.protocol))
        .EndObject();
  }
  w.EndArray().EndObject().Key("prevResult").Raw(prev_result).EndObject();
  return w.str();
}

absl::StatusOr<std::string> CniNetwork::Invoke(const Invocation& call) const {
  SubprocessCall sub;
  sub.argv = {absl::StrCat(options_.plugin_dir, "/", Sv(call.type))};
  sub.env = {
      absl::StrCat("CNI_COMMAND=", Sv(call.command)), absl::StrCat("CNI_CONTAINERID=", Sv(call.id)),
      absl::StrCat("CNI_NETNS=", Sv(call.netns)), absl::StrCat("CNI_IFNAME=", Sv(call.ifname)),
      absl::StrCat("CNI_PATH=", options_.plugin_dir),
      // The firewall and portmap plugins run iptables.
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  sub.stdin_data = call.config;
  sub.timeout = options_.timeout;
  absl::StatusOr<SubprocessResult> r = run_(sub);
  if (!r.ok()) {
    return absl::UnavailableError(absl::StrCat("CNI plugin ", Sv(call.type), " ", Sv(call.command),
                                               ": ", r.status().message()));
  }
  if (r->exit_code != 0) return PluginError(call.type, call.command, *r);
  return std::move(r->stdout_data);
}

absl::StatusOr<CniAttachment> CniNetwork::Add(std::string_view id, std::string_view netns) const {
  absl::StatusOr<std::string> lo = Invoke({"ADD", id, netns, kLo, "loopback", LoopbackConfig()});
  if (!lo.ok()) return lo.status();
  std::string result;
  for (int i = 0; i < kChainLength; ++i) {
    absl::StatusOr<std::string> r =
        Invoke({"ADD", id, netns, kEth, kChain[i], PluginConfig(i, result)});
    if (!r.ok()) {
      // Undo what was made: DEL of the whole chain is how CNI releases a partial ADD.
      (void)Del(id, netns, result);
      return r.status();
    }
    result = *std::move(r);
  }
  absl::StatusOr<CniAttachment> attachment = ParseCniResult(result);
  if (!attachment.ok()) {
    (void)Del(id, netns, result);
    return attachment.status();
  }
  return attachment;
}

absl::Status CniNetwork::Check(std::string_view id, std::string_view netns,
                               std::string_view result_json) const {
  for (int i = 0; i < kChainLength; ++i) {
    absl::StatusOr<std::string> r =
        Invoke({"CHECK", id, netns, kEth, kChain[i], PluginConfig(i, result_json)});
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

absl::Status CniNetwork::Del(std::string_view id, std::string_view netns,
                             std::string_view result_json) const {
  absl::Status first;
  for (int i = kChainLength - 1; i >= 0; --i) {
    absl::StatusOr<std::string> r =
        Invoke({"DEL", id, netns, kEth, kChain[i], PluginConfig(i, result_json)});
    if (!r.ok() && first.ok()) first = r.status();
  }
  if (!netns.empty()) {
    absl::StatusOr<std::string> r = Invoke({"DEL", id, netns, kLo, "loopback", LoopbackConfig()});
    if (!r.ok() && first.ok()) first = r.status();
  }
  return first;
}

absl::Status CniNetwork::Publish(std::string_view id, std::string_view netns,
                                 std::string_view result_json,
                                 const std::vector<PublishedPort>& ports) const {
  absl::StatusOr<std::string> r =
      Invoke({"ADD", id, netns, kEth, "portmap", PortmapConfig(result_json, ports)});
  if (!r.ok()) {
    (void)Unpublish(id, netns, result_json, ports);
    return r.status();
  }
  return absl::OkStatus();
}

absl::Status CniNetwork::Unpublish(std::string_view id, std::string_view netns,
                                   std::string_view result_json,
                                   const std::vector<PublishedPort>& ports) const {
  return Invoke({"DEL", id, netns, kEth, "portmap", PortmapConfig(result_json, ports)}).status();
}

absl::StatusOr<CniAttachment> ParseCniResult(std::string_view result_json) {
  Struct result;
  if (absl::Status s = ProtoFromJson(result_json, &result); !s.ok()) {
    return absl::InternalError(absl::StrCat("CNI result is not JSON: ", s.message()));
  }
  auto ips = result.fields().find("ips");
  if (ips != result.fields().end() && ips->second.has_list_value()) {
    for (const Value& ip : ips->second.list_value().values()) {
      if (!ip.has_struct_value()) continue;
      const std::string_view address = StringField(ip.struct_value(), "address");
      std::pair<absl::string_view, absl::string_view> parts =
          absl::StrSplit(Sv(address), absl::MaxSplits('/', 1));
      int prefix = 0;
      if (parts.first.empty() || absl::StrContains(parts.first, ':') ||
          !absl::SimpleAtoi(parts.second, &prefix)) {
        continue;  // not IPv4
      }
      CniAttachment a;
      a.ip = std::string(parts.first);
      a.prefix_length = prefix;
      a.gateway = std::string(StringField(ip.struct_value(), "gateway"));
      a.result_json = std::string(result_json);
      return a;
    }
  }
  return absl::InternalError(
      absl::StrCat("CNI result has no IPv4 address: ", Sv(result_json.substr(0, 200))));
}

}  // namespace fsb::agent
