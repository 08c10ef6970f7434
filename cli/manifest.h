#ifndef FSB_CLI_MANIFEST_H_
#define FSB_CLI_MANIFEST_H_

#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "fsb/v1alpha1/resources.pb.h"
#include "google/protobuf/struct.pb.h"

namespace fsb::cli {

// Reading of manifests: files of Kubernetes-style resources in YAML or JSON, as
// `fsb apply -f` takes them. Pure functions of their input; no I/O.

// One document of a YAML stream, as the JSON value it denotes.
struct YamlDocument {
  int number = 0;  // 1-based position in the stream; empty documents count too
  int line = 0;    // 1-based line where the document's content starts
  google::protobuf::Value value;
};

// Parses a YAML stream (libyaml: YAML 1.1 syntax; JSON is YAML's flow style, so JSON
// files parse too) into one JSON value per document, leaving out empty documents
// (nothing but comments, or an explicit null). Documents are separated by `---`.
//
// Mappings become JSON objects (keys are scalars, taken as strings), sequences arrays.
// Quoted, literal (|), folded (>) and `!!str`-tagged scalars stay strings. Plain scalars
// follow YAML 1.2's core schema: "", ~, null, Null, NULL -> null; true/True/TRUE and
// false/False/FALSE -> booleans; integers (123, -7, +7, 0x1F, 0o17) -> numbers, written
// as decimal strings beyond ±2^53 so that no digit is lost (proto3 JSON reads int64
// fields from strings); floats (1.5, .5, 1e3) -> numbers; anything else -> strings.
//
// INVALID_ARGUMENT "document N: line L, column C: problem" on a syntax error, an alias,
// a tag other than !!str, a key that is not a scalar, a repeated key, or nesting deeper
// than 100 levels.
absl::StatusOr<std::vector<YamlDocument>> ParseYamlStream(std::string_view text);

// A resource `fsb apply` takes.
using ManifestResource = std::variant<fsb::v1alpha1::Sandbox, fsb::v1alpha1::SandboxPool>;

// The fsb.io/v1alpha1 resources of a manifest, in document order. Every non-empty
// document must be a mapping with `kind: Sandbox` or `kind: SandboxPool`, `apiVersion:
// fsb.io/v1alpha1`, a `metadata.name` that is a DNS label, and only fields of that
// resource's message (proto3 JSON mapping: lowerCamel names, enums by name). A
// sandbox's namespace is left as written (possibly empty).
//
// INVALID_ARGUMENT naming the document, "document N (line L): problem", when one is not
// such a resource (a ParseYamlStream error as is); also when there is no document at all.
absl::StatusOr<std::vector<ManifestResource>> ParseManifest(std::string_view text);

}  // namespace fsb::cli

#endif  // FSB_CLI_MANIFEST_H_
