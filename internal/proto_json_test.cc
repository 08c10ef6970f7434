#include "internal/proto_json.h"

#include "google/protobuf/source_context.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "gtest/gtest.h"

namespace fsb {
namespace {

using google::protobuf::Struct;
using google::protobuf::Timestamp;

TEST(ProtoJsonTest, PrintsAndParsesBack) {
  Struct s;
  (*s.mutable_fields())["name"].set_string_value("a");
  (*s.mutable_fields())["n"].set_number_value(2);
  absl::StatusOr<std::string> json = ProtoToJson(s);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->find('\n'), std::string::npos);  // compact unless asked
  Struct back;
  ASSERT_TRUE(ProtoFromJson(*json, &back).ok());
  EXPECT_EQ(back.fields().at("name").string_value(), "a");
  EXPECT_EQ(back.fields().at("n").number_value(), 2);

  absl::StatusOr<std::string> pretty = ProtoToJson(s, {.pretty = true});
  ASSERT_TRUE(pretty.ok());
  EXPECT_NE(pretty->find('\n'), std::string::npos);
}

TEST(ProtoJsonTest, SortedMapKeysOrdersAStructsFields) {
  Struct s;
  for (const char* key : {"zeta", "alpha", "mid", "beta"}) {
    (*s.mutable_fields())[key].set_bool_value(true);
  }
  absl::StatusOr<std::string> json = ProtoToJson(s, {.sorted_map_keys = true});
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json, R"({"alpha":true,"beta":true,"mid":true,"zeta":true})");
}

TEST(ProtoJsonTest, AllFieldsPrintsDefaults) {
  Timestamp t;  // seconds 0, nanos 0: a well-known type prints as a string either way
  EXPECT_EQ(*ProtoToJson(t), "\"1970-01-01T00:00:00Z\"");
  google::protobuf::Value v;
  v.set_bool_value(false);
  EXPECT_EQ(*ProtoToJson(v, {.all_fields = true}), "false");
}

TEST(ProtoJsonTest, RejectsMalformedJsonWithTheParsersReason) {
  Timestamp t;
  t.set_seconds(5);
  absl::Status s = ProtoFromJson("{not json", &t);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(s.message().empty());
  s = ProtoFromJson("\"yesterday\"", &t);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

TEST(ProtoJsonTest, UnknownFieldsAreAnErrorUnlessIgnored) {
  google::protobuf::SourceContext context;
  absl::Status s = ProtoFromJson(R"({"fileName": "a.proto", "extra": 1})", &context);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("extra"), std::string::npos) << s;
  ASSERT_TRUE(ProtoFromJson(R"({"fileName": "a.proto", "extra": 1})", &context,
                            {.ignore_unknown_fields = true})
                  .ok());
  EXPECT_EQ(context.file_name(), "a.proto");
}

TEST(ProtoJsonTest, ParsingClearsTheMessageFirst) {
  google::protobuf::SourceContext context;
  context.set_file_name("old.proto");
  ASSERT_TRUE(ProtoFromJson("{}", &context).ok());
  EXPECT_EQ(context.file_name(), "");
}

}  // namespace
}  // namespace fsb
