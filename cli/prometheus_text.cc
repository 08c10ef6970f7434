#include "cli/prometheus_text.h"

#include <cstdint>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "internal/strings.h"

namespace fsb::cli {
namespace {

bool IsNameStart(char c, bool allow_colon) {
  return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         (allow_colon && c == ':');
}

bool IsNameChar(char c, bool allow_colon) {
  return IsNameStart(c, allow_colon) || absl::ascii_isdigit(static_cast<unsigned char>(c));
}

// Reads the sample of one line (not blank, not a comment). Not thread-safe; one per line.
class LineParser {
 public:
  explicit LineParser(std::string_view line) : rest_(line) {}

  absl::StatusOr<MetricSample> Parse() {
    MetricSample sample;
    sample.name = Name(/*allow_colon=*/true);
    if (sample.name.empty()) return Error("expected a metric name");
    SkipBlanks();
    if (Consume('{')) {
      if (absl::Status s = Labels(sample.labels); !s.ok()) return s;
    }
    SkipBlanks();
    const std::string_view value = Word();
    if (value.empty()) return Error("expected a value");
    if (!ParseValue(value, sample.value)) {
      return Error(absl::StrCat("malformed value \"", Sv(value), "\""));
    }
    SkipBlanks();
    if (const std::string_view timestamp = Word(); !timestamp.empty()) {
      int64_t ignored = 0;
      if (!absl::SimpleAtoi(Sv(timestamp), &ignored)) {
        return Error(absl::StrCat("malformed timestamp \"", Sv(timestamp), "\""));
      }
    }
    SkipBlanks();
    if (!rest_.empty()) return Error(absl::StrCat("unexpected \"", Sv(rest_), "\""));
    return sample;
  }

 private:
  // After '{': `name="value"` pairs separated by commas, an optional trailing comma, '}'.
  absl::Status Labels(std::map<std::string, std::string>& labels) {
    for (;;) {
      SkipBlanks();
      if (Consume('}')) return absl::OkStatus();
      std::string name = Name(/*allow_colon=*/false);
      if (name.empty()) return Error("expected a label name or '}'");
      SkipBlanks();
      if (!Consume('=')) return Error(absl::StrCat("expected '=' after label ", name));
      SkipBlanks();
      if (!Consume('"')) return Error(absl::StrCat("expected '\"' opening label ", name));
      absl::StatusOr<std::string> value = QuotedRest();
      if (!value.ok()) return value.status();
      if (!labels.emplace(name, *std::move(value)).second) {
        return Error(absl::StrCat("label ", name, " is repeated"));
      }
      SkipBlanks();
      if (Consume(',')) continue;
      if (Consume('}')) return absl::OkStatus();
      return Error("expected ',' or '}' after a label");
    }
  }

  // The rest of a label value after its opening quote, unescaped, through the closing one.
  absl::StatusOr<std::string> QuotedRest() {
    std::string value;
    while (!rest_.empty()) {
      const char c = rest_.front();
      rest_.remove_prefix(1);
      if (c == '"') return value;
      if (c != '\\') {
        value.push_back(c);
        continue;
      }
      if (rest_.empty()) break;
      const char escaped = rest_.front();
      rest_.remove_prefix(1);
      if (escaped == 'n') {
        value.push_back('\n');
      } else if (escaped == '\\' || escaped == '"') {
        value.push_back(escaped);
      } else {
        return Error(absl::StrCat("unknown escape \\", std::string(1, escaped)));
      }
    }
    return Error("unterminated label value");
  }

  static bool ParseValue(std::string_view text, double& value) {
    if (text == "+Inf" || text == "Inf") {
      value = std::numeric_limits<double>::infinity();
    } else if (text == "-Inf") {
      value = -std::numeric_limits<double>::infinity();
    } else if (text == "NaN") {
      value = std::numeric_limits<double>::quiet_NaN();
    } else {
      return absl::SimpleAtod(Sv(text), &value);
    }
    return true;
  }

  std::string Name(bool allow_colon) {
    size_t n = 0;
    if (!rest_.empty() && IsNameStart(rest_.front(), allow_colon)) {
      while (n < rest_.size() && IsNameChar(rest_[n], allow_colon)) ++n;
    }
    std::string name(rest_.substr(0, n));
    rest_.remove_prefix(n);
    return name;
  }

  // Characters up to the next blank.
  std::string_view Word() {
    size_t n = 0;
    while (n < rest_.size() && rest_[n] != ' ' && rest_[n] != '\t') ++n;
    std::string_view word = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return word;
  }

  bool Consume(char c) {
    if (rest_.empty() || rest_.front() != c) return false;
    rest_.remove_prefix(1);
    return true;
  }

  void SkipBlanks() {
    while (!rest_.empty() && (rest_.front() == ' ' || rest_.front() == '\t')) {
      rest_.remove_prefix(1);
    }
  }

  static absl::Status Error(std::string_view what) {
    return absl::InvalidArgumentError(std::string(what));
  }

  std::string_view rest_;
};

}  // namespace

absl::StatusOr<std::vector<MetricSample>> ParsePrometheusText(std::string_view text) {
  std::vector<MetricSample> samples;
  int line_number = 0;
  for (absl::string_view raw : absl::StrSplit(Sv(text), '\n')) {
    ++line_number;
    const absl::string_view stripped = absl::StripAsciiWhitespace(raw);
    const std::string_view line(stripped.data(), stripped.size());
    if (line.empty() || line.front() == '#') continue;
    absl::StatusOr<MetricSample> sample = LineParser(line).Parse();
    if (!sample.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("metrics line ", line_number, ": ", sample.status().message()));
    }
    samples.push_back(*std::move(sample));
  }
  return samples;
}

}  // namespace fsb::cli
