// Fuzzes the CLI's manifest reader (`fsb apply -f`, cli/manifest.h) and the YAML reader
// under it (internal/yaml.h), which also reads the tokens file and the CLI's config.
//
// Input: a YAML or JSON stream.
//
// Invariants:
//  * neither reader crashes (deep nesting included) and both fail with INVALID_ARGUMENT;
//  * each YAML document's value, printed as JSON, reads back as one document of the
//    same value (JSON is YAML's flow style; numbers beyond 2^53 may read back as their
//    decimal strings, see SameValue; keys longer than 1024 characters are not YAML,
//    see HasLongKey);
//  * each resource of a manifest, printed as JSON, reads back as the same resource.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "cli/manifest.h"
#include "google/protobuf/util/message_differencer.h"
#include "internal/proto_json.h"
#include "internal/yaml.h"
#include "tests/fuzz/fuzz_check.h"

namespace fsb::fuzz {
namespace {

using ::google::protobuf::Value;
using ::google::protobuf::util::MessageDifferencer;

// Whether `back`, read from the JSON printed for `value`, denotes `value`. The one
// difference allowed: a number of magnitude 2^53 or more, printed as an integer, reads
// back as its decimal string (the YAML reader keeps such integers as strings so that no
// digit is lost; proto3 JSON reads numeric fields from strings alike).
bool SameValue(const Value& value, const Value& back) {
  if (value.kind_case() == Value::kNumberValue && back.kind_case() == Value::kStringValue) {
    double parsed = 0;
    return std::abs(value.number_value()) >= 9007199254740992.0 &&
           absl::SimpleAtod(back.string_value(), &parsed) && parsed == value.number_value();
  }
  if (value.kind_case() != back.kind_case()) return false;
  switch (value.kind_case()) {
    case Value::kListValue: {
      const auto& a = value.list_value().values();
      const auto& b = back.list_value().values();
      if (a.size() != b.size()) return false;
      for (int i = 0; i < a.size(); ++i) {
        if (!SameValue(a[i], b[i])) return false;
      }
      return true;
    }
    case Value::kStructValue: {
      const auto& a = value.struct_value().fields();
      const auto& b = back.struct_value().fields();
      if (a.size() != b.size()) return false;
      for (const auto& [key, v] : a) {
        auto it = b.find(key);
        if (it == b.end() || !SameValue(v, it->second)) return false;
      }
      return true;
    }
    default:
      return MessageDifferencer::Equals(value, back);
  }
}

// The length of `key` as the JSON printer writes it, quotes and escapes (such as \u003e)
// included: what libyaml measures from a key's start to its ':'.
size_t JsonKeyLength(const std::string& key) {
  Value v;
  v.set_string_value(key);
  absl::StatusOr<std::string> json = ProtoToJson(v);
  return json.ok() ? json->size() : key.size() + 2;
}

// Whether `value` has a mapping key that, written as JSON, is longer than YAML allows an
// implicit key (1024 characters; libyaml enforces it): JSON with such a key is not YAML,
// so it cannot read back (found by fuzzing, also with a shorter key whose escapes made
// it longer). Label and annotation keys, the only free-form keys of resources, are far
// shorter once validated.
bool HasLongKey(const Value& value) {
  if (value.has_list_value()) {
    for (const Value& v : value.list_value().values()) {
      if (HasLongKey(v)) return true;
    }
  }
  if (value.has_struct_value()) {
    for (const auto& [key, v] : value.struct_value().fields()) {
      if (JsonKeyLength(key) >= 1024 || HasLongKey(v)) return true;
    }
  }
  return false;
}

void CheckYaml(std::string_view input) {
  absl::StatusOr<std::vector<YamlDocument>> docs = ParseYamlStream(input);
  if (!docs.ok()) {
    FSB_FUZZ_CHECK(absl::IsInvalidArgument(docs.status()));
    return;
  }
  for (const YamlDocument& doc : *docs) {
    absl::StatusOr<std::string> json = ProtoToJson(doc.value);
    if (!json.ok() || HasLongKey(doc.value)) continue;  // a float JSON cannot hold (1e999)
    absl::StatusOr<std::vector<YamlDocument>> back = ParseYamlStream(*json);
    FSB_FUZZ_CHECK(back.ok());
    FSB_FUZZ_CHECK(back->size() == 1 || (back->empty() && doc.value.has_null_value()));
    if (!back->empty()) FSB_FUZZ_CHECK(SameValue(doc.value, back->front().value));
  }
}

// A resource as the JSON document `fsb get -o json` would print.
std::string ResourceJson(const cli::ManifestResource& resource) {
  absl::StatusOr<std::string> json =
      std::visit([](const auto& r) { return ProtoToJson(r); }, resource);
  FSB_FUZZ_CHECK(json.ok());
  return *json;
}

bool SameResource(const cli::ManifestResource& a, const cli::ManifestResource& b) {
  if (a.index() != b.index()) return false;
  if (const auto* sandbox = std::get_if<v1alpha1::Sandbox>(&a)) {
    return MessageDifferencer::Equals(*sandbox, std::get<v1alpha1::Sandbox>(b));
  }
  return MessageDifferencer::Equals(std::get<v1alpha1::SandboxPool>(a),
                                    std::get<v1alpha1::SandboxPool>(b));
}

void CheckManifest(std::string_view input) {
  absl::StatusOr<std::vector<cli::ManifestResource>> resources = cli::ParseManifest(input);
  if (!resources.ok()) {
    FSB_FUZZ_CHECK(absl::IsInvalidArgument(resources.status()));
    return;
  }
  FSB_FUZZ_CHECK(!resources->empty());
  std::vector<std::string> docs;
  for (const cli::ManifestResource& r : *resources) {
    docs.push_back(ResourceJson(r));
    Value as_value;
    FSB_FUZZ_CHECK(ProtoFromJson(docs.back(), &as_value).ok());
    if (HasLongKey(as_value)) return;
  }
  absl::StatusOr<std::vector<cli::ManifestResource>> back =
      cli::ParseManifest(absl::StrJoin(docs, "\n---\n"));
  FSB_FUZZ_CHECK(back.ok());
  FSB_FUZZ_CHECK(back->size() == resources->size());
  for (size_t i = 0; i < back->size(); ++i) {
    FSB_FUZZ_CHECK(SameResource((*back)[i], (*resources)[i]));
  }
}

void TestOneInput(std::string_view input) {
  CheckYaml(input);
  CheckManifest(input);
}

}  // namespace
}  // namespace fsb::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fsb::fuzz::TestOneInput(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
