#ifndef FSB_INTERNAL_YAML_H_
#define FSB_INTERNAL_YAML_H_

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"

namespace fsb {

// Reading of YAML files (manifests, the tokens file, configuration) as JSON values, so
// that their readers work on one data model. Pure functions of their input; no I/O.

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
// fields from strings); floats (1.5, .5, 1e3) -> numbers; anything else (timestamps
// included) -> strings.
//
// INVALID_ARGUMENT "document N: line L, column C: problem" on a syntax error, an alias,
// a tag other than !!str, a key that is not a scalar, a repeated key, or nesting deeper
// than 100 levels.
absl::StatusOr<std::vector<YamlDocument>> ParseYamlStream(std::string_view text);

}  // namespace fsb

#endif  // FSB_INTERNAL_YAML_H_
