#include "cli/format.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "google/protobuf/descriptor.h"
#include "internal/proto_json.h"
#include "internal/sandbox_network.h"
#include "internal/strings.h"

namespace fsb::cli {
namespace {

using fastpath::v1::ListResponse;
using fastpath::v1::SandboxInfo;
using fsb::v1alpha1::Agent;

constexpr std::string_view kNone = "<none>";

// Warm instances per image, "IMAGE READY/DESIRED" comma-separated (empty: none).
std::string FormatWarm(const google::protobuf::RepeatedPtrField<fsb::v1alpha1::WarmStatus>& warm) {
  return absl::StrJoin(warm, ", ", [](std::string* out, const fsb::v1alpha1::WarmStatus& w) {
    absl::StrAppend(out, w.image(), " ", w.ready(), "/", w.desired());
  });
}

// The status of the condition `type` ("" without one).
std::string ConditionStatus(const Agent& agent, std::string_view type) {
  for (const auto& condition : agent.status().conditions()) {
    if (condition.type() == type) return condition.status();
  }
  return "";
}

bool IsPlainSafe(char c) {
  return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '/' || c == '-' || c == ':' ||
         c == '@' || c == '+' || c == '=';
}

// Words a YAML 1.1 or 1.2 parser reads as a boolean or null when unquoted.
bool IsReservedWord(std::string_view s) {
  static constexpr std::string_view kWords[] = {"true", "false", "yes", "no", "on",
                                                "off",  "null",  "y",   "n"};
  for (std::string_view w : kWords) {
    if (s.size() == w.size() && absl::EqualsIgnoreCase(Sv(s), Sv(w))) return true;
  }
  return false;
}

void AppendEscaped(std::string_view s, std::string& out) {
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\0':
        out += "\\0";
        continue;
      case '\a':
        out += "\\a";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\v':
        out += "\\v";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case 0x1b:
        out += "\\e";
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02X", c);
      continue;
    }
    // Unicode line breaks a YAML parser would fold: NEL, LINE and PARAGRAPH SEPARATOR.
    std::string_view rest = s.substr(i);
    if (rest.substr(0, 2) == "\xC2\x85") {
      out += "\\N";
      i += 1;
    } else if (rest.substr(0, 3) == "\xE2\x80\xA8") {
      out += "\\L";
      i += 2;
    } else if (rest.substr(0, 3) == "\xE2\x80\xA9") {
      out += "\\P";
      i += 2;
    } else {
      out += static_cast<char>(c);
    }
  }
}

// A map<string,string> proto field as key-sorted pairs.
template <typename ProtoMap>
std::map<std::string, std::string> Sorted(const ProtoMap& m) {
  return std::map<std::string, std::string>(m.begin(), m.end());
}

template <typename Repeated>
YamlNode StringList(const Repeated& values) {
  YamlNode list = YamlNode::List();
  for (const std::string& v : values) list.Append(YamlNode::String(v));
  return list;
}

// Builds a map, leaving out empty strings and empty collections.
class MapBuilder {
 public:
  MapBuilder& Str(std::string_view key, std::string_view value) {
    if (!value.empty()) node_.Set(key, YamlNode::String(value));
    return *this;
  }
  MapBuilder& Node(std::string_view key, YamlNode value) {
    if (!value.empty()) node_.Set(key, std::move(value));
    return *this;
  }
  MapBuilder& Int(std::string_view key, int64_t value) {
    node_.Set(key, YamlNode::Int(value));
    return *this;
  }
  YamlNode Build() { return std::move(node_); }

 private:
  YamlNode node_ = YamlNode::Map();
};

// `json` ending with '\n', or the printer's error.
absl::StatusOr<std::string> WithNewline(absl::StatusOr<std::string> json) {
  if (json.ok() && (json->empty() || json->back() != '\n')) json->push_back('\n');
  return json;
}

}  // namespace

std::string ShortHumanDuration(absl::Duration d) {
  int64_t seconds = absl::ToInt64Seconds(d);
  if (seconds < 0) return "0s";
  if (seconds < 60) return absl::StrCat(seconds, "s");
  int64_t minutes = seconds / 60;
  if (minutes < 60) return absl::StrCat(minutes, "m");
  int64_t hours = minutes / 60;
  if (hours < 24) return absl::StrCat(hours, "h");
  int64_t days = hours / 24;
  if (days < 365) return absl::StrCat(days, "d");
  return absl::StrCat(days / 365, "y");
}

std::string FormatAge(int64_t unix_seconds, absl::Time now) {
  if (unix_seconds == 0) return "<unknown>";
  return ShortHumanDuration(now - absl::FromUnixSeconds(unix_seconds));
}

std::string FormatTook(absl::Duration d) {
  if (d < absl::Seconds(1)) return absl::StrFormat("%.1fms", absl::ToDoubleMilliseconds(d));
  return absl::StrFormat("%.2fs", absl::ToDoubleSeconds(d));
}

std::string FormatColumns(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].empty() ? kNone.size() : row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      std::string_view cell = row[i].empty() ? kNone : std::string_view(row[i]);
      line.append(cell);
      if (i + 1 < row.size()) line.append(widths[i] - cell.size() + 3, ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out.append(line).push_back('\n');
  }
  return out;
}

std::string FormatSandboxTable(const std::vector<const SandboxInfo*>& items, bool wide,
                               bool with_namespace, absl::Time now) {
  std::vector<std::vector<std::string>> rows;
  rows.reserve(items.size() + 1);
  rows.push_back(
      {"NAMESPACE", "NAME", "PHASE", "IMAGE", "AGENT", "AGE", "ID", "IP", "NETWORK", "ENDPOINTS"});
  for (const SandboxInfo* info : items) {
    rows.push_back({info->namespace_(), info->sandbox_name(), info->phase(), info->image(),
                    info->agent_pod(), FormatAge(info->created_at(), now), info->sandbox_id(),
                    info->ip(), info->network(), absl::StrJoin(info->endpoints(), ",")});
  }
  for (std::vector<std::string>& row : rows) {
    if (!wide) row.resize(6);
    if (!with_namespace) row.erase(row.begin());
  }
  return FormatColumns(rows);
}

std::string FormatAgentTable(const std::vector<const Agent*>& items, bool wide, absl::Time now) {
  std::vector<std::vector<std::string>> rows;
  rows.reserve(items.size() + 1);
  rows.push_back({"NAME", "POOL", "NODE", "CAPACITY", "USED", "READY", "LAST-HEARTBEAT", "ADDRESS",
                  "RUNTIME", "WARM", "IMAGES"});
  for (const Agent* agent : items) {
    std::string ready = ConditionStatus(*agent, "Ready");
    const std::string runtime = ConditionStatus(*agent, "RuntimeAvailable");
    // The capacity placement uses; the agent's own when its pool lowers it.
    const int32_t own = agent->spec().capacity(), capacity = agent->status().capacity();
    rows.push_back(
        {agent->metadata().name(), agent->spec().pool(), agent->spec().node(),
         capacity == own ? absl::StrCat(own) : absl::StrCat(capacity, " (agent: ", own, ")"),
         absl::StrCat(agent->status().allocated()), ready.empty() ? "Unknown" : std::move(ready),
         FormatAge(agent->status().last_heartbeat().seconds(), now), agent->spec().address(),
         runtime == "True"    ? "Up"
         : runtime == "False" ? "Down (warm only)"
                              : "",
         FormatWarm(agent->status().warm()), absl::StrJoin(agent->status().images(), ",")});
  }
  if (!wide) {
    for (std::vector<std::string>& row : rows) row.resize(7);
  }
  return FormatColumns(rows);
}

std::string FormatPoolTable(const std::vector<const fsb::v1alpha1::SandboxPool*>& items,
                            absl::Time now) {
  std::vector<std::vector<std::string>> rows;
  rows.reserve(items.size() + 1);
  rows.push_back({"NAME", "MAX-PER-AGENT", "AGENTS", "SANDBOXES", "WARM", "AGE"});
  for (const fsb::v1alpha1::SandboxPool* pool : items) {
    const int32_t max = pool->spec().max_sandboxes_per_agent();
    rows.push_back({pool->metadata().name(), max > 0 ? absl::StrCat(max) : "",
                    absl::StrCat(pool->status().agents()), absl::StrCat(pool->status().sandboxes()),
                    FormatWarm(pool->status().warm()),
                    FormatAge(pool->metadata().creation_timestamp().seconds(), now)});
  }
  return FormatColumns(rows);
}

absl::StatusOr<std::string> FormatJson(const google::protobuf::Message& message) {
  // All fields: a stable shape for scripts.
  return WithNewline(
      ProtoToJson(message, {.pretty = true, .proto_field_names = true, .all_fields = true}));
}

absl::StatusOr<std::string> FormatValueJson(const google::protobuf::Value& value) {
  return WithNewline(ProtoToJson(value, {.pretty = true, .sorted_map_keys = true}));
}

absl::StatusOr<std::string> FormatResourceJson(const google::protobuf::Message& message) {
  return WithNewline(ProtoToJson(message, {.pretty = true}));
}

absl::StatusOr<std::string> FormatResourceYaml(const google::protobuf::Message& message) {
  absl::StatusOr<std::string> json = ProtoToJson(message);
  if (!json.ok()) return json.status();
  google::protobuf::Value value;
  if (absl::Status status = ProtoFromJson(*json, &value); !status.ok()) {
    return absl::InternalError(absl::StrCat("cannot render YAML: ", status.message()));
  }
  return ValueToYaml(value).Emit();
}

std::string YamlScalar(std::string_view value) {
  bool plain = !value.empty() && (absl::ascii_isalpha(value.front()) || value.front() == '/') &&
               value.back() != ':' && !IsReservedWord(value) &&
               std::all_of(value.begin(), value.end(), IsPlainSafe);
  if (plain) return std::string(value);
  std::string out = "\"";
  AppendEscaped(value, out);
  out.push_back('"');
  return out;
}

YamlNode YamlNode::String(std::string_view value) {
  YamlNode node(Kind::kScalar);
  node.scalar_ = YamlScalar(value);
  return node;
}

YamlNode YamlNode::Int(int64_t value) {
  YamlNode node(Kind::kScalar);
  node.scalar_ = absl::StrCat(value);
  return node;
}

YamlNode YamlNode::Number(double value) {
  YamlNode node(Kind::kScalar);
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  CHECK(ec == std::errc()) << "to_chars(double) needs more than 32 bytes";
  node.scalar_.assign(buffer, end);
  return node;
}

YamlNode YamlNode::Bool(bool value) {
  YamlNode node(Kind::kScalar);
  node.scalar_ = value ? "true" : "false";
  return node;
}

YamlNode YamlNode::Null() {
  YamlNode node(Kind::kScalar);
  node.scalar_ = "null";
  return node;
}

YamlNode YamlNode::Map() { return YamlNode(Kind::kMap); }
YamlNode YamlNode::List() { return YamlNode(Kind::kList); }

YamlNode& YamlNode::Set(std::string_view key, YamlNode value) {
  CHECK(is_map()) << "YamlNode::Set on a non-map";
  keys_.push_back(YamlScalar(key));
  children_.push_back(std::move(value));
  return *this;
}

YamlNode& YamlNode::Append(YamlNode value) {
  CHECK(is_list()) << "YamlNode::Append on a non-list";
  children_.push_back(std::move(value));
  return *this;
}

std::string YamlNode::Inline() const {
  switch (kind_) {
    case Kind::kScalar:
      return scalar_;
    case Kind::kMap:
      return "{}";
    case Kind::kList:
      return "[]";
  }
  return scalar_;
}

// Writes a non-empty collection, one element per line at `indent`. When
// `continues_line`, the first element goes on the current line (after "- ").
void YamlNode::EmitBlock(int indent, bool continues_line, std::string& out) const {
  for (size_t i = 0; i < children_.size(); ++i) {
    if (!(continues_line && i == 0)) out.append(indent, ' ');
    const YamlNode& child = children_[i];
    const bool nested = child.kind_ != Kind::kScalar && !child.empty();
    if (is_map()) {
      out.append(keys_[i]).push_back(':');
      if (nested) {
        out.push_back('\n');
        child.EmitBlock(indent + 2, false, out);
        continue;
      }
    } else {
      out.push_back('-');
      if (nested) {
        out.push_back(' ');
        child.EmitBlock(indent + 2, true, out);
        continue;
      }
    }
    out.append(" ").append(child.Inline()).push_back('\n');
  }
}

std::string YamlNode::Emit() const {
  if (kind_ == Kind::kScalar || empty()) return Inline() + "\n";
  std::string out;
  EmitBlock(0, false, out);
  return out;
}

YamlNode ValueToYaml(const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNumberValue:
      return YamlNode::Number(value.number_value());
    case google::protobuf::Value::kStringValue:
      return YamlNode::String(value.string_value());
    case google::protobuf::Value::kBoolValue:
      return YamlNode::Bool(value.bool_value());
    case google::protobuf::Value::kStructValue: {
      std::vector<std::pair<std::string_view, const google::protobuf::Value*>> fields;
      fields.reserve(value.struct_value().fields().size());
      for (const auto& [key, field] : value.struct_value().fields()) {
        fields.emplace_back(key, &field);
      }
      std::sort(fields.begin(), fields.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      YamlNode map = YamlNode::Map();
      for (const auto& [key, field] : fields) map.Set(key, ValueToYaml(*field));
      return map;
    }
    case google::protobuf::Value::kListValue: {
      YamlNode list = YamlNode::List();
      for (const auto& item : value.list_value().values()) list.Append(ValueToYaml(item));
      return list;
    }
    case google::protobuf::Value::kNullValue:
    case google::protobuf::Value::KIND_NOT_SET:
      break;
  }
  return YamlNode::Null();
}

YamlNode SandboxToYaml(const SandboxInfo& info) {
  YamlNode labels = YamlNode::Map();
  for (const auto& [k, v] : Sorted(info.labels())) labels.Set(k, YamlNode::String(v));
  std::string created;
  if (info.created_at() != 0) {
    created = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(info.created_at()),
                               absl::UTCTimeZone());
  }
  YamlNode metadata = MapBuilder()
                          .Str("name", info.sandbox_name())
                          .Str("namespace", info.namespace_())
                          .Str("uid", info.sandbox_id())
                          .Node("labels", std::move(labels))
                          .Str("creationTimestamp", created)
                          .Build();

  YamlNode env = YamlNode::List();
  for (const auto& [k, v] : Sorted(info.envs())) {
    YamlNode var = YamlNode::Map();
    var.Set("name", YamlNode::String(k)).Set("value", YamlNode::String(v));
    env.Append(std::move(var));
  }
  YamlNode ports = YamlNode::List();
  for (int32_t p : info.exposed_ports()) ports.Append(YamlNode::Int(p));
  // In the resource's shape; an entry this client cannot read stays text.
  YamlNode publish = YamlNode::List();
  for (const std::string& entry : info.publish()) {
    absl::StatusOr<PublishedPort> port = ParsePublishedPort("publish", entry);
    if (!port.ok()) {
      publish.Append(YamlNode::String(entry));
      continue;
    }
    publish.Append(MapBuilder()
                       .Int("hostPort", port->host_port)
                       .Int("containerPort", port->container_port)
                       .Str("protocol", port->protocol)
                       .Build());
  }
  YamlNode spec = MapBuilder()
                      .Str("image", info.image())
                      .Node("command", StringList(info.command()))
                      .Node("args", StringList(info.args()))
                      .Node("env", std::move(env))
                      .Str("workingDir", info.working_dir())
                      .Node("exposedPorts", std::move(ports))
                      .Str("poolRef", info.pool_ref())
                      .Str("network", info.network())
                      .Node("publish", std::move(publish))
                      .Build();

  MapBuilder status;
  status.Str("phase", info.phase())
      .Str("agent", info.agent_pod())
      .Str("node", info.node())
      .Str("ip", info.ip())
      .Node("endpoints", StringList(info.endpoints()));
  // proto3 cannot tell "exited 0" from "unset": show 0 only once the sandbox finished.
  if (info.exit_code() != 0 || info.phase() == "Succeeded" || info.phase() == "Failed") {
    status.Int("exitCode", info.exit_code());
  }
  status.Str("message", info.message());

  return MapBuilder()
      .Str("apiVersion", kApiVersion)
      .Str("kind", "Sandbox")
      .Node("metadata", std::move(metadata))
      .Node("spec", std::move(spec))
      .Node("status", status.Build())
      .Build();
}

std::string FormatSandboxListYaml(const ListResponse& list) {
  YamlNode items = YamlNode::List();
  for (const SandboxInfo& info : list.items()) items.Append(SandboxToYaml(info));
  YamlNode doc = YamlNode::Map();
  doc.Set("apiVersion", YamlNode::String(kApiVersion))
      .Set("kind", YamlNode::String("SandboxList"))
      .Set("items", std::move(items));
  return doc.Emit();
}

}  // namespace fsb::cli
