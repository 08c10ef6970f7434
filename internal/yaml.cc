#include "internal/yaml.h"

#include <yaml.h>

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "internal/strings.h"

namespace fsb {
namespace {

using google::protobuf::Value;

constexpr int kMaxDepth = 100;
constexpr std::string_view kStrTag = "tag:yaml.org,2002:str";
// Integers up to 2^53 are exact in a JSON number (a double).
constexpr uint64_t kMaxExactInteger = uint64_t{1} << 53;
constexpr uint64_t kMaxInt64 = std::numeric_limits<int64_t>::max();

Value NullValue() {
  Value v;
  v.set_null_value(google::protobuf::NULL_VALUE);
  return v;
}

Value StringValue(std::string s) {
  Value v;
  v.set_string_value(std::move(s));
  return v;
}

Value NumberValue(double d) {
  Value v;
  v.set_number_value(d);
  return v;
}

size_t CountDigits(std::string_view s, size_t from) {
  size_t n = 0;
  while (from + n < s.size() && absl::ascii_isdigit(s[from + n])) ++n;
  return n;
}

// YAML 1.2 core schema integers: [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+.
std::optional<Value> CoreInteger(std::string_view s) {
  std::string_view digits = s;
  int base = 10;
  bool negative = false;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    base = s[1] == 'x' ? 16 : 8;
    digits.remove_prefix(2);
  } else if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty()) return std::nullopt;
  uint64_t magnitude = 0;
  const char* end = digits.data() + digits.size();
  auto [ptr, ec] = std::from_chars(digits.data(), end, magnitude, base);
  if (ptr != end) return std::nullopt;  // not an integer at all
  if (ec != std::errc() || magnitude > kMaxInt64 + (negative ? 1 : 0)) {
    return StringValue(std::string(s));  // out of int64 range: let the reader reject it
  }
  if (magnitude <= kMaxExactInteger) {
    const double d = static_cast<double>(magnitude);
    return NumberValue(negative ? -d : d);
  }
  return StringValue(absl::StrCat(negative ? "-" : "", magnitude));
}

// YAML 1.2 core schema floats: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?,
// with a dot or an exponent (else it is an integer). .inf and .nan have no JSON form
// and stay strings.
std::optional<Value> CoreFloat(std::string_view s) {
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  const size_t int_digits = CountDigits(s, i);
  i += int_digits;
  size_t frac_digits = 0;
  const bool dot = i < s.size() && s[i] == '.';
  if (dot) {
    frac_digits = CountDigits(s, ++i);
    i += frac_digits;
  }
  if (int_digits + frac_digits == 0) return std::nullopt;
  bool exponent = false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    if (++i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    const size_t exp_digits = CountDigits(s, i);
    if (exp_digits == 0) return std::nullopt;
    i += exp_digits;
    exponent = true;
  }
  if (i != s.size() || !(dot || exponent)) return std::nullopt;
  std::string_view number = s.front() == '+' ? s.substr(1) : s;
  double d = 0;
  auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), d);
  if (ec != std::errc()) return StringValue(std::string(s));  // overflows a double
  return NumberValue(d);
}

// The JSON value of a plain (unquoted, untagged) scalar.
Value PlainScalar(std::string_view s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return NullValue();
  if (s == "true" || s == "True" || s == "TRUE" || s == "false" || s == "False" || s == "FALSE") {
    Value v;
    v.set_bool_value(absl::ascii_tolower(s.front()) == 't');
    return v;
  }
  if (std::optional<Value> v = CoreInteger(s)) return *std::move(v);
  if (std::optional<Value> v = CoreFloat(s)) return *std::move(v);
  return StringValue(std::string(s));
}

std::string_view Text(const yaml_char_t* s) {
  return s == nullptr ? std::string_view() : std::string_view(reinterpret_cast<const char*>(s));
}

// Converts the events of one libyaml parser into documents. Owns the current event.
class Converter {
 public:
  explicit Converter(yaml_parser_t* parser) : parser_(parser) {}
  ~Converter() {
    if (has_event_) yaml_event_delete(&event_);
  }
  Converter(const Converter&) = delete;
  Converter& operator=(const Converter&) = delete;

  absl::StatusOr<std::vector<YamlDocument>> Documents() {
    std::vector<YamlDocument> documents;
    if (absl::Status s = Next(); !s.ok()) return s;  // STREAM-START
    for (;;) {
      if (absl::Status s = Next(); !s.ok()) return s;
      if (event_.type == YAML_STREAM_END_EVENT) break;
      // DOCUMENT-START, the root node, DOCUMENT-END.
      if (absl::Status s = Next(); !s.ok()) return s;
      YamlDocument document;
      document.number = completed_ + 1;
      document.line = static_cast<int>(event_.start_mark.line) + 1;
      if (absl::Status s = Node(0, document.value); !s.ok()) return s;
      if (absl::Status s = Next(); !s.ok()) return s;
      ++completed_;
      if (!document.value.has_null_value()) documents.push_back(std::move(document));
    }
    return documents;
  }

 private:
  // Replaces the current event with the next one.
  absl::Status Next() {
    if (has_event_) yaml_event_delete(&event_);
    has_event_ = yaml_parser_parse(parser_, &event_) != 0;
    if (has_event_) return absl::OkStatus();
    std::string problem = parser_->problem != nullptr ? parser_->problem : "invalid YAML";
    if (parser_->context != nullptr) {
      absl::StrAppend(&problem, " (", parser_->context, " at line ", parser_->context_mark.line + 1,
                      ")");
    }
    return Error(parser_->problem_mark, problem);
  }

  absl::Status Error(const yaml_mark_t& mark, std::string_view problem) const {
    return absl::InvalidArgumentError(absl::StrCat("document ", completed_ + 1, ": line ",
                                                   mark.line + 1, ", column ", mark.column + 1,
                                                   ": ", Sv(problem)));
  }

  absl::Status CheckNoTag(const yaml_char_t* tag) const {
    if (tag == nullptr) return absl::OkStatus();
    return Error(event_.start_mark,
                 absl::StrCat("tag ", Sv(Text(tag)), " is not supported (only !!str is)"));
  }

  // Converts the node that starts at the current event into `out`; on return the
  // current event is the node's last (its scalar, or its end).
  absl::Status Node(int depth, Value& out) {
    if (depth > kMaxDepth) {
      return Error(event_.start_mark, absl::StrCat("nesting deeper than ", kMaxDepth, " levels"));
    }
    switch (event_.type) {
      case YAML_SCALAR_EVENT: {
        const auto& scalar = event_.data.scalar;
        std::string_view text(reinterpret_cast<const char*>(scalar.value), scalar.length);
        const bool str_tag = Text(scalar.tag) == kStrTag;
        if (!str_tag) {
          if (absl::Status s = CheckNoTag(scalar.tag); !s.ok()) return s;
        }
        out = !str_tag && scalar.style == YAML_PLAIN_SCALAR_STYLE ? PlainScalar(text)
                                                                  : StringValue(std::string(text));
        return absl::OkStatus();
      }
      case YAML_SEQUENCE_START_EVENT: {
        if (absl::Status s = CheckNoTag(event_.data.sequence_start.tag); !s.ok()) return s;
        auto* list = out.mutable_list_value();
        for (;;) {
          if (absl::Status s = Next(); !s.ok()) return s;
          if (event_.type == YAML_SEQUENCE_END_EVENT) return absl::OkStatus();
          if (absl::Status s = Node(depth + 1, *list->add_values()); !s.ok()) return s;
        }
      }
      case YAML_MAPPING_START_EVENT: {
        if (absl::Status s = CheckNoTag(event_.data.mapping_start.tag); !s.ok()) return s;
        auto* fields = out.mutable_struct_value()->mutable_fields();
        for (;;) {
          if (absl::Status s = Next(); !s.ok()) return s;
          if (event_.type == YAML_MAPPING_END_EVENT) return absl::OkStatus();
          if (event_.type != YAML_SCALAR_EVENT) {
            return Error(event_.start_mark, "a mapping key must be a scalar");
          }
          std::string key(reinterpret_cast<const char*>(event_.data.scalar.value),
                          event_.data.scalar.length);
          if (fields->contains(key)) {
            return Error(event_.start_mark, absl::StrCat("key \"", key, "\" is repeated"));
          }
          if (absl::Status s = Next(); !s.ok()) return s;
          if (absl::Status s = Node(depth + 1, (*fields)[key]); !s.ok()) return s;
        }
      }
      case YAML_ALIAS_EVENT:
        return Error(
            event_.start_mark,
            absl::StrCat("aliases (*", Sv(Text(event_.data.alias.anchor)), ") are not supported"));
      default:
        return Error(event_.start_mark, "unexpected YAML event");
    }
  }

  yaml_parser_t* parser_;
  yaml_event_t event_{};
  bool has_event_ = false;
  int completed_ = 0;  // documents whose DOCUMENT-END was read
};

}  // namespace

absl::StatusOr<std::vector<YamlDocument>> ParseYamlStream(std::string_view text) {
  yaml_parser_t parser;
  if (yaml_parser_initialize(&parser) == 0) {
    return absl::ResourceExhaustedError("cannot initialize the YAML parser");
  }
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());
  absl::StatusOr<std::vector<YamlDocument>> documents = Converter(&parser).Documents();
  yaml_parser_delete(&parser);
  return documents;
}

}  // namespace fsb
