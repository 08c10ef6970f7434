#include "internal/json_writer.h"

#include "gtest/gtest.h"

namespace fsb {
namespace {

TEST(JsonWriterTest, NestsObjectsAndArrays) {
  JsonWriter w;
  w.BeginObject()
      .Key("a")
      .Int(-1)
      .Key("b")
      .BeginArray()
      .String("x")
      .Uint(2)
      .Bool(false)
      .EndArray()
      .Key("c")
      .BeginObject()
      .EndObject()
      .Key("d")
      .StringArray({"p", "q"})
      .EndObject();
  EXPECT_EQ(w.str(), R"({"a":-1,"b":["x",2,false],"c":{},"d":["p","q"]})");
}

TEST(JsonWriterTest, RawValuesAreEmbeddedVerbatimWithSeparators) {
  JsonWriter w;
  w.BeginObject().Key("a").Raw(R"({"x":[1,2]})").Key("b").BeginArray().Raw("null").Raw("3");
  w.EndArray().EndObject();
  EXPECT_EQ(w.str(), R"({"a":{"x":[1,2]},"b":[null,3]})");
}

TEST(JsonWriterTest, EscapesStrings) {
  JsonWriter w;
  w.String("q\"b\\n\n\t\x01");
  EXPECT_EQ(w.str(), R"("q\"b\\n\n\t\u0001")");
}

TEST(JsonWriterDeathTest, ValueInObjectWithoutKeyIsAProgrammerError) {
  JsonWriter w;
  w.BeginObject();
  EXPECT_DEATH(w.Int(1), "needs a key");
}

}  // namespace
}  // namespace fsb
