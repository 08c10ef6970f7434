#include "internal/yaml.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace fsb {
namespace {

using google::protobuf::Value;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

Value Json(const std::string& json) {
  Value value;
  auto status = google::protobuf::util::JsonStringToMessage(json, &value);
  EXPECT_TRUE(status.ok()) << status.ToString() << " in " << json;
  return value;
}

// The JSON values of the documents of `yaml`; fails the test on a parse error.
std::vector<Value> Documents(const std::string& yaml) {
  absl::StatusOr<std::vector<YamlDocument>> documents = ParseYamlStream(yaml);
  EXPECT_TRUE(documents.ok()) << documents.status();
  std::vector<Value> values;
  if (documents.ok()) {
    for (const YamlDocument& d : *documents) values.push_back(d.value);
  }
  return values;
}

MATCHER_P(EqualsJson, json, "") {
  Value expected = Json(json);
  std::string diff;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  if (differencer.Compare(expected, arg)) return true;
  *result_listener << diff;
  return false;
}

std::string ErrorOf(const std::string& yaml) {
  absl::StatusOr<std::vector<YamlDocument>> documents = ParseYamlStream(yaml);
  EXPECT_FALSE(documents.ok());
  if (documents.ok()) return "";
  EXPECT_EQ(documents.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(documents.status().message());
}

TEST(ParseYamlStreamTest, BlockMapsNestAndKeepQuotedScalarsAsStrings) {
  EXPECT_THAT(
      Documents("a: 1\n"
                "b:\n"
                "  c: x\n"
                "  d: \"2\"\n"
                "  e: '3'\n"
                "  f: !!str 4\n"),
      ElementsAre(EqualsJson(R"({"a": 1, "b": {"c": "x", "d": "2", "e": "3", "f": "4"}})")));
}

TEST(ParseYamlStreamTest, BlockListsAndListsOfMaps) {
  EXPECT_THAT(Documents("ports:\n"
                        "  - 80\n"
                        "  - 443\n"
                        "env:\n"
                        "- name: A\n"
                        "  value: \"1\"\n"
                        "- name: B\n"
                        "  value: two words\n"
                        "nested:\n"
                        "  - - x\n"
                        "    - y\n"),
              ElementsAre(EqualsJson(R"({"ports": [80, 443],
                                          "env": [{"name": "A", "value": "1"},
                                                  {"name": "B", "value": "two words"}],
                                          "nested": [["x", "y"]]})")));
}

TEST(ParseYamlStreamTest, FlowCollections) {
  EXPECT_THAT(Documents("command: [sh, -c, \"echo hi\"]\nlabels: {app: web, n: 1}\nnone: []\n"),
              ElementsAre(EqualsJson(R"({"command": ["sh", "-c", "echo hi"],
                                          "labels": {"app": "web", "n": 1}, "none": []})")));
}

TEST(ParseYamlStreamTest, PlainScalarsFollowTheCoreSchema) {
  EXPECT_THAT(
      Documents("null1: null\nnull2: ~\nnull3:\nnull4: NULL\n"
                "t1: true\nt2: True\nt3: TRUE\nf1: false\nf2: False\n"
                "yes: yes\non: off\n"  // YAML 1.1 booleans are strings under the core schema
                "i1: 42\ni2: -7\ni3: +7\ni4: 0x1F\ni5: 0o17\ni6: 012\n"
                "x1: 1.5\nx2: .5\nx3: 1e3\nx4: -2.5E-1\nx5: 1.\n"
                "s1: .inf\ns2: .nan\ns3: 1_000\ns4: 0x\ns5: -0x1F\ns6: 1.2.3\ns7: 10.0.0.1:80\n"
                "s8: +\ns9: 1e\n"
                "q1: \"true\"\nq2: 'null'\nq3: \"42\"\nq4: \"\"\n"),
      ElementsAre(EqualsJson(R"({
        "null1": null, "null2": null, "null3": null, "null4": null,
        "t1": true, "t2": true, "t3": true, "f1": false, "f2": false,
        "yes": "yes", "on": "off",
        "i1": 42, "i2": -7, "i3": 7, "i4": 31, "i5": 15, "i6": 12,
        "x1": 1.5, "x2": 0.5, "x3": 1000, "x4": -0.25, "x5": 1,
        "s1": ".inf", "s2": ".nan", "s3": "1_000", "s4": "0x", "s5": "-0x1F", "s6": "1.2.3",
        "s7": "10.0.0.1:80", "s8": "+", "s9": "1e",
        "q1": "true", "q2": "null", "q3": "42", "q4": ""})")));
}

TEST(ParseYamlStreamTest, IntegersBeyondDoublePrecisionBecomeDecimalStrings) {
  EXPECT_THAT(Documents("exact: 9007199254740992\n"
                        "big: 9007199254740993\n"
                        "max: 9223372036854775807\n"
                        "min: -9223372036854775808\n"
                        "over: 9223372036854775808\n"
                        "hex: 0x7FFFFFFFFFFFFFFF\n"),
              ElementsAre(EqualsJson(R"({"exact": 9007199254740992,
                                          "big": "9007199254740993",
                                          "max": "9223372036854775807",
                                          "min": "-9223372036854775808",
                                          "over": "9223372036854775808",
                                          "hex": "9223372036854775807"})")));
}

TEST(ParseYamlStreamTest, BlockScalarsAreStrings) {
  EXPECT_THAT(Documents("literal: |\n  line 1\n  line 2\nfolded: >\n  a\n  b\n"),
              ElementsAre(EqualsJson(R"({"literal": "line 1\nline 2\n", "folded": "a b\n"})")));
}

TEST(ParseYamlStreamTest, CommentsAreIgnored) {
  EXPECT_THAT(Documents("# leading comment\n"
                        "a: 1  # trailing comment\n"
                        "# between\n"
                        "b: \"# not a comment\"\n"
                        "c: x#y\n"),
              ElementsAre(EqualsJson(R"({"a": 1, "b": "# not a comment", "c": "x#y"})")));
}

TEST(ParseYamlStreamTest, MultipleDocumentsWithNumbersAndLines) {
  absl::StatusOr<std::vector<YamlDocument>> documents = ParseYamlStream(
      "---\n"   // line 1
      "a: 1\n"  // line 2
      "---\n"   // line 3
      "# only a comment\n"
      "---\n"   // line 5
      "b: 2\n"  // line 6
      "...\n"
      "---\n"
      "null\n"
      "---\n"  // line 10
      "\n"
      "- c\n");  // line 12
  ASSERT_TRUE(documents.ok()) << documents.status();
  ASSERT_THAT(*documents, SizeIs(3));
  EXPECT_EQ((*documents)[0].number, 1);
  EXPECT_EQ((*documents)[0].line, 2);
  EXPECT_THAT((*documents)[0].value, EqualsJson(R"({"a": 1})"));
  EXPECT_EQ((*documents)[1].number, 3);  // the comment-only document counts
  EXPECT_EQ((*documents)[1].line, 6);
  EXPECT_THAT((*documents)[1].value, EqualsJson(R"({"b": 2})"));
  EXPECT_EQ((*documents)[2].number, 5);
  EXPECT_EQ((*documents)[2].line, 12);
  EXPECT_THAT((*documents)[2].value, EqualsJson(R"(["c"])"));
}

TEST(ParseYamlStreamTest, NothingButCommentsHasNoDocument) {
  EXPECT_THAT(Documents(""), IsEmpty());
  EXPECT_THAT(Documents("# nothing\n\n"), IsEmpty());
}

TEST(ParseYamlStreamTest, JsonIsYaml) {
  EXPECT_THAT(
      Documents("{\n\t\"a\": [1, \"x\\/y\\u00e9\", null, true],\n\t\"b\":{\"c\":-1.5e2}\n}\n"),
      ElementsAre(EqualsJson(R"({"a": [1, "x/y\u00e9", null, true], "b": {"c": -150}})")));
}

TEST(ParseYamlStreamTest, SyntaxErrorsNameDocumentLineAndColumn) {
  EXPECT_EQ(ErrorOf("a: [x, y\nb: 1\n"),
            "document 1: line 2, column 2: did not find expected ',' or ']' "
            "(while parsing a flow sequence at line 1)");
  EXPECT_EQ(ErrorOf("a: 1\n---\nb: 1\n c: 2\n"),
            "document 2: line 4, column 3: mapping values are not allowed in this context");
  EXPECT_THAT(ErrorOf("a: \"unterminated\n"), HasSubstr("document 1: line 2"));
  EXPECT_THAT(ErrorOf("a:\n  - x\n  y: 1\n"), HasSubstr("document 1: line 3, column 3: "));
}

TEST(ParseYamlStreamTest, RejectsWhatJsonCannotSay) {
  EXPECT_EQ(ErrorOf("a: 1\nb: 2\na: 3\n"), "document 1: line 3, column 1: key \"a\" is repeated");
  EXPECT_EQ(ErrorOf("base: &b {x: 1}\ncopy: *b\n"),
            "document 1: line 2, column 7: aliases (*b) are not supported");
  EXPECT_EQ(ErrorOf("a: !!int \"5\"\n"),
            "document 1: line 1, column 4: tag tag:yaml.org,2002:int is not supported (only "
            "!!str is)");
  EXPECT_THAT(ErrorOf("a: !custom {x: 1}\n"), HasSubstr("tag !custom is not supported"));
  EXPECT_EQ(ErrorOf("? [a, b]\n: 1\n"),
            "document 1: line 1, column 3: a mapping key must be a scalar");
  EXPECT_THAT(ErrorOf(std::string(200, '[') + std::string(200, ']')),
              HasSubstr("nesting deeper than 100 levels"));
}

}  // namespace
}  // namespace fsb
