#ifndef FSB_INTERNAL_JSON_WRITER_H_
#define FSB_INTERNAL_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fsb {

// Streaming writer of compact JSON. The caller nests Begin/End calls correctly and
// calls Key() before every value inside an object (CHECKed). Not thread-safe.
//
//   JsonWriter w;
//   w.BeginObject().Key("a").Int(1).Key("b").BeginArray().String("x").EndArray().EndObject();
//   w.str() == R"({"a":1,"b":["x"]})"
class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& StringArray(const std::vector<std::string>& values);
  // `json`, which must be one complete JSON value, verbatim (e.g. a document another
  // program wrote, embedded in this one).
  JsonWriter& Raw(std::string_view json);

  const std::string& str() const { return out_; }

 private:
  void BeforeValue();
  void AppendEscaped(std::string_view s);

  std::string out_;
  // One entry per open container: true for an object. `first_` tracks whether the
  // container has no element yet; `after_key_` whether a key awaits its value.
  std::vector<bool> stack_;
  bool first_ = true;
  bool after_key_ = false;
};

}  // namespace fsb

#endif  // FSB_INTERNAL_JSON_WRITER_H_
