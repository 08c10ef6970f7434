#include "cli/manifest.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cli/format.h"
#include "internal/proto_json.h"
#include "internal/strings.h"
#include "internal/validation.h"
#include "internal/yaml.h"

namespace fsb::cli {
namespace {

using google::protobuf::Value;

// The string at `key` of `fields`; empty when absent or not a string.
std::string_view StringField(const google::protobuf::Map<std::string, Value>& fields,
                             const std::string& key) {
  auto it = fields.find(key);
  return it == fields.end() ? std::string_view() : std::string_view(it->second.string_value());
}

}  // namespace

absl::StatusOr<std::vector<ManifestResource>> ParseManifest(std::string_view text) {
  absl::StatusOr<std::vector<YamlDocument>> documents = ParseYamlStream(text);
  if (!documents.ok()) return documents.status();
  if (documents->empty()) return absl::InvalidArgumentError("no document found");
  std::vector<ManifestResource> resources;
  for (const YamlDocument& document : *documents) {
    auto invalid = [&document](const std::string& problem) {
      return absl::InvalidArgumentError(
          absl::StrCat("document ", document.number, " (line ", document.line, "): ", problem));
    };
    if (!document.value.has_struct_value()) {
      return invalid("expected a mapping (a Sandbox or SandboxPool resource)");
    }
    const auto& fields = document.value.struct_value().fields();
    std::string_view kind = StringField(fields, "kind");
    if (kind == "Sandbox") {
      resources.emplace_back(std::in_place_type<fsb::v1alpha1::Sandbox>);
    } else if (kind == "SandboxPool") {
      resources.emplace_back(std::in_place_type<fsb::v1alpha1::SandboxPool>);
    } else {
      return invalid(absl::StrCat("kind must be Sandbox or SandboxPool, got \"", Sv(kind), "\""));
    }
    if (std::string_view version = StringField(fields, "apiVersion"); version != kApiVersion) {
      return invalid(
          absl::StrCat("apiVersion must be ", Sv(kApiVersion), ", got \"", Sv(version), "\""));
    }
    absl::StatusOr<std::string> json = ProtoToJson(document.value);
    if (!json.ok()) return invalid(std::string(json.status().message()));
    auto* message = std::visit(
        [](auto& resource) -> google::protobuf::Message* { return &resource; }, resources.back());
    if (absl::Status s = ProtoFromJson(*json, message); !s.ok()) {
      return invalid(std::string(s.message()));
    }
    const std::string& name = std::visit(
        [](const auto& resource) -> const std::string& { return resource.metadata().name(); },
        resources.back());
    if (absl::Status s = ValidateDnsLabel("metadata.name", name); !s.ok()) {
      return invalid(std::string(s.message()));
    }
  }
  return resources;
}

}  // namespace fsb::cli
