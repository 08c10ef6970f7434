#ifndef FSB_CLI_FORMAT_H_
#define FSB_CLI_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fastpath/v1/fastpath.pb.h"
#include "fsb/v1alpha1/resources.pb.h"
#include "google/protobuf/struct.pb.h"

namespace fsb::cli {

// Rendering of sandboxes and agents for humans (tables) and programs (JSON, YAML). Pure
// functions of their arguments: no I/O, no clock reads ("now" is passed in).

// The API group/version of fsb's Kubernetes-style resources.
inline constexpr std::string_view kApiVersion = "fsb.io/v1alpha1";

// kubectl's short age: "0s".."59s", "1m".."59m", "1h".."23h", "1d".."364d", then "1y".
// Negative durations (clock skew) render as "0s".
std::string ShortHumanDuration(absl::Duration d);

// Age of an event at `unix_seconds` (a creation, a heartbeat); "<unknown>" when unset (0).
std::string FormatAge(int64_t unix_seconds, absl::Time now);

// A client-side latency: "12.3ms" under a second, "1.23s" above.
std::string FormatTook(absl::Duration d);

// Aligns `rows` (the first is the header) into columns separated by three spaces, like
// kubectl. Empty cells render as "<none>". Lines carry no trailing spaces; every line
// ends with '\n'.
std::string FormatColumns(const std::vector<std::vector<std::string>>& rows);

// The `ls`/`get` table: NAME PHASE IMAGE AGENT AGE, plus ID IP NETWORK ENDPOINTS when
// `wide`, preceded by NAMESPACE when `with_namespace`. Rows in the order of `items`.
std::string FormatSandboxTable(const std::vector<const fastpath::v1::SandboxInfo*>& items,
                               bool wide, bool with_namespace, absl::Time now);

// The `agents` table: NAME POOL NODE CAPACITY USED READY LAST-HEARTBEAT (its age), plus
// ADDRESS RUNTIME WARM IMAGES when `wide`. READY is the status of the agent's Ready
// condition ("Unknown" without one); RUNTIME is "Up" or "Down (warm only)" by its
// RuntimeAvailable condition (<none> without one); WARM its warm instances per image,
// "IMAGE READY/DESIRED" comma-separated. Rows in the order of `items`.
std::string FormatAgentTable(const std::vector<const fsb::v1alpha1::Agent*>& items, bool wide,
                             absl::Time now);

// The `pools` table: NAME MAX-PER-AGENT (<none>: no limit) AGENTS SANDBOXES WARM AGE.
// WARM is status.warm, the warm instances across the pool's agents per image,
// "IMAGE READY/DESIRED" comma-separated. Rows in the order of `items`.
std::string FormatPoolTable(const std::vector<const fsb::v1alpha1::SandboxPool*>& items,
                            absl::Time now);

// Proto3 JSON of `message` with proto field names (sandbox_id, created_at), indented,
// ending with '\n'. Every field is present, defaults included (`"items": []`,
// `"exit_code": 0`), so scripts see a stable shape. INTERNAL if it cannot be converted.
absl::StatusOr<std::string> FormatJson(const google::protobuf::Message& message);

// `value` as indented JSON ending with '\n', object keys sorted (byte order), so that equal
// values always print the same. INTERNAL if it cannot be converted.
absl::StatusOr<std::string> FormatValueJson(const google::protobuf::Value& value);

// A resource (or list of resources) in the proto3 JSON mapping — lowerCamel field names,
// enums by value name, int64 as strings, Timestamps in RFC 3339 — with fields at their
// default value left out, indented, ending with '\n'. INTERNAL if it cannot be converted.
absl::StatusOr<std::string> FormatResourceJson(const google::protobuf::Message& message);

// The same document as FormatResourceJson, in YAML: the JSON is read back as a
// google.protobuf.Value and emitted with ValueToYaml, so both outputs always agree.
absl::StatusOr<std::string> FormatResourceYaml(const google::protobuf::Message& message);

// A YAML value tree, emitted in block style. Scalars are quoted and escaped only when
// needed (see YamlScalar), so any string round-trips through a YAML parser unchanged.
// Maps keep insertion order.
class YamlNode {
 public:
  static YamlNode String(std::string_view value);
  static YamlNode Int(int64_t value);
  // The shortest decimal form that reads back as the same double: 8080, 0.5, 1e+20.
  // Requires a finite value.
  static YamlNode Number(double value);
  static YamlNode Bool(bool value);
  static YamlNode Null();
  static YamlNode Map();
  static YamlNode List();

  // Appends `key: value` to a map. Requires is_map().
  YamlNode& Set(std::string_view key, YamlNode value);
  // Appends an item to a list. Requires is_list().
  YamlNode& Append(YamlNode value);

  bool is_map() const { return kind_ == Kind::kMap; }
  bool is_list() const { return kind_ == Kind::kList; }
  // True for a map or list with no element.
  bool empty() const { return kind_ != Kind::kScalar && children_.empty(); }

  // The document, ending with '\n'. Empty collections render as {} and [].
  std::string Emit() const;

 private:
  enum class Kind { kScalar, kMap, kList };
  explicit YamlNode(Kind kind) : kind_(kind) {}

  // The node on one line: a scalar, {} or []. Requires a scalar or an empty collection.
  std::string Inline() const;
  void EmitBlock(int indent, bool continues_line, std::string& out) const;

  Kind kind_;
  std::string scalar_;              // rendered (quoted if needed) text of a scalar
  std::vector<std::string> keys_;   // map keys, parallel to children_, rendered
  std::vector<YamlNode> children_;  // map values or list items
};

// `value` as a YAML scalar: plain when that is unambiguous (letters, digits and
// `._/-:@+=`, starting with a letter or '/', not ending with ':', not a YAML 1.1
// boolean/null word), otherwise double-quoted with '"', '\', control characters and
// Unicode line breaks escaped.
std::string YamlScalar(std::string_view value);

// `value` as a YAML tree: JSON objects become maps with their keys sorted (as kubectl
// prints them), arrays lists, and strings, numbers, booleans and null scalars that a
// YAML parser reads back as the same JSON value.
YamlNode ValueToYaml(const google::protobuf::Value& value);

// Kubernetes-shaped documents (apiVersion fsb.io/v1alpha1): a Sandbox, and a
// SandboxList holding `items`. Empty fields are omitted; maps are sorted by key.
YamlNode SandboxToYaml(const fastpath::v1::SandboxInfo& info);
std::string FormatSandboxListYaml(const fastpath::v1::ListResponse& list);

}  // namespace fsb::cli

#endif  // FSB_CLI_FORMAT_H_
