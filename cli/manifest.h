#ifndef FSB_CLI_MANIFEST_H_
#define FSB_CLI_MANIFEST_H_

#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "fsb/v1alpha1/resources.pb.h"

namespace fsb::cli {

// Reading of manifests: files of Kubernetes-style resources in YAML or JSON, as
// `fsb apply -f` takes them (read with fsb::ParseYamlStream). Pure functions of their
// input; no I/O.

// A resource `fsb apply` takes.
using ManifestResource = std::variant<fsb::v1alpha1::Sandbox, fsb::v1alpha1::SandboxPool>;

// The fsb.io/v1alpha1 resources of a manifest, in document order. Every non-empty
// document must be a mapping with `kind: Sandbox` or `kind: SandboxPool`, `apiVersion:
// fsb.io/v1alpha1`, a `metadata.name` that is a DNS label, and only fields of that
// resource's message (proto3 JSON mapping: lowerCamel names, enums by name). A
// sandbox's namespace is left as written (possibly empty).
//
// INVALID_ARGUMENT naming the document, "document N (line L): problem", when one is not
// such a resource (an fsb::ParseYamlStream error as is); also when there is no document at all.
absl::StatusOr<std::vector<ManifestResource>> ParseManifest(std::string_view text);

}  // namespace fsb::cli

#endif  // FSB_CLI_MANIFEST_H_
