#include "controller/store/store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "internal/strings.h"
#include "internal/validation.h"

namespace fsb::store {
namespace {

absl::Status BadRequirement(absl::string_view requirement, const absl::Status& cause) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid label selector requirement \"", requirement, "\": ", cause.message()));
}

}  // namespace

absl::StatusOr<LabelSelector> ParseLabelSelector(std::string_view selector) {
  LabelSelector parsed;
  absl::string_view all = absl::StripAsciiWhitespace(Sv(selector));
  if (all.empty()) return parsed;
  for (absl::string_view raw : absl::StrSplit(all, ',')) {
    absl::string_view term = absl::StripAsciiWhitespace(raw);
    LabelRequirement req;
    absl::string_view key;
    absl::string_view value;
    if (size_t pos = term.find("!="); pos != absl::string_view::npos) {
      req.op = LabelRequirement::Op::kNotEquals;
      key = term.substr(0, pos);
      value = term.substr(pos + 2);
    } else if (size_t pos = term.find("=="); pos != absl::string_view::npos) {
      req.op = LabelRequirement::Op::kEquals;
      key = term.substr(0, pos);
      value = term.substr(pos + 2);
    } else if (size_t pos = term.find('='); pos != absl::string_view::npos) {
      req.op = LabelRequirement::Op::kEquals;
      key = term.substr(0, pos);
      value = term.substr(pos + 1);
    } else if (absl::ConsumePrefix(&term, "!")) {
      req.op = LabelRequirement::Op::kNotExists;
      key = term;
    } else {
      req.op = LabelRequirement::Op::kExists;
      key = term;
    }
    key = absl::StripAsciiWhitespace(key);
    value = absl::StripAsciiWhitespace(value);
    if (key.empty()) {
      return BadRequirement(raw, absl::InvalidArgumentError("empty key"));
    }
    // ValidateLabel also rejects stray operator characters left in key or value
    // ("a=b=c", "!a=b").
    if (absl::Status s = ValidateLabel("selector", std::string_view(key.data(), key.size()),
                                       std::string_view(value.data(), value.size()));
        !s.ok()) {
      return BadRequirement(raw, s);
    }
    req.key = std::string(key);
    req.value = std::string(value);
    parsed.push_back(std::move(req));
  }
  return parsed;
}

bool Matches(const LabelSelector& selector, const Labels& labels) {
  for (const LabelRequirement& req : selector) {
    auto it = labels.find(req.key);
    bool ok = false;
    switch (req.op) {
      case LabelRequirement::Op::kEquals:
        ok = it != labels.end() && it->second == req.value;
        break;
      case LabelRequirement::Op::kNotEquals:
        ok = it == labels.end() || it->second != req.value;
        break;
      case LabelRequirement::Op::kExists:
        ok = it != labels.end();
        break;
      case LabelRequirement::Op::kNotExists:
        ok = it == labels.end();
        break;
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace fsb::store
