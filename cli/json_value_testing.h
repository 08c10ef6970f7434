#ifndef FSB_CLI_JSON_VALUE_TESTING_H_
#define FSB_CLI_JSON_VALUE_TESTING_H_

// Test helpers for reading JSON output (`-o json`) parsed into a google.protobuf.Value.
// Header-only, for tests.

#include <string>

#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"

namespace fsb::cli::testing {

// The field `key` of the object `object`; a test failure and an empty value when missing.
inline const google::protobuf::Value& Field(const google::protobuf::Value& object,
                                            const std::string& key) {
  static const google::protobuf::Value* const kMissing = new google::protobuf::Value();
  const auto& fields = object.struct_value().fields();
  auto it = fields.find(key);
  EXPECT_NE(it, fields.end()) << "no field " << key;
  return it == fields.end() ? *kMissing : it->second;
}

// The number in the field `key` of `object` (0 when missing or not a number).
inline double Number(const google::protobuf::Value& object, const std::string& key) {
  return Field(object, key).number_value();
}

}  // namespace fsb::cli::testing

#endif  // FSB_CLI_JSON_VALUE_TESTING_H_
