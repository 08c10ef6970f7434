#ifndef FSB_INTERNAL_PROTO_JSON_H_
#define FSB_INTERNAL_PROTO_JSON_H_

// The one place that calls protobuf's JSON printer and parser: proto3 JSON mapping,
// protobuf's util::Status turned into absl::Status. Thread-safe (no state).

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace fsb {

struct JsonPrintStyle {
  bool pretty = false;             // indented, one field per line
  bool proto_field_names = false;  // snake_case names instead of lowerCamelCase
  bool all_fields = false;         // also fields at their default value (a stable shape)
  // Map entries (e.g. a Struct's fields) sorted by key rather than in the map's
  // unspecified order: printed from a deterministic binary serialization, which costs a
  // copy.
  bool sorted_map_keys = false;
};

// `message` as JSON. INTERNAL if the printer refuses it (e.g. an Any of unknown type).
absl::StatusOr<std::string> ProtoToJson(const google::protobuf::Message& message,
                                        JsonPrintStyle style = {});

struct JsonParseRules {
  bool ignore_unknown_fields = false;  // for documents written by others (OCI, containerd)
};

// Clears `message` and parses `json` into it. INVALID_ARGUMENT with the parser's
// explanation (naming the field) if `json` is not JSON of that message type; `message`
// is then unspecified.
absl::Status ProtoFromJson(std::string_view json, google::protobuf::Message* message,
                           JsonParseRules rules = {});

}  // namespace fsb

#endif  // FSB_INTERNAL_PROTO_JSON_H_
