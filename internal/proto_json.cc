#include "internal/proto_json.h"

#include <memory>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver.h"
#include "google/protobuf/util/type_resolver_util.h"

namespace fsb {

namespace pb = google::protobuf;

absl::StatusOr<std::string> ProtoToJson(const pb::Message& message, JsonPrintStyle style) {
  pb::util::JsonPrintOptions options;
  options.add_whitespace = style.pretty;
  options.preserve_proto_field_names = style.proto_field_names;
  options.always_print_primitive_fields = style.all_fields;
  std::string json;
  pb::util::Status s;
  if (style.sorted_map_keys) {
    // Deterministic serialization writes map entries sorted by key, and the printer keeps
    // the order of the wire.
    std::string binary;
    {
      pb::io::StringOutputStream stream(&binary);
      pb::io::CodedOutputStream coded(&stream);
      coded.SetSerializationDeterministic(true);
      message.SerializeToCodedStream(&coded);
    }
    std::unique_ptr<pb::util::TypeResolver> resolver(pb::util::NewTypeResolverForDescriptorPool(
        "type.googleapis.com", pb::DescriptorPool::generated_pool()));
    s = pb::util::BinaryToJsonString(resolver.get(),
                                     "type.googleapis.com/" + message.GetDescriptor()->full_name(),
                                     binary, &json, options);
  } else {
    s = pb::util::MessageToJsonString(message, &json, options);
  }
  if (!s.ok()) {
    return absl::InternalError("cannot print " + message.GetDescriptor()->full_name() +
                               " as JSON: " + std::string(s.message()));
  }
  return json;
}

absl::Status ProtoFromJson(std::string_view json, pb::Message* message, JsonParseRules rules) {
  message->Clear();
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = rules.ignore_unknown_fields;
  pb::util::Status s =
      pb::util::JsonStringToMessage(pb::StringPiece(json.data(), json.size()), message, options);
  if (s.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(std::string(s.message()));
}

}  // namespace fsb
