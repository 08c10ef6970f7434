#include "internal/image_ref.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "internal/strings.h"

namespace fsb {
namespace {

constexpr size_t kMaxReferenceLength = 512;

bool IsPathComponent(std::string_view c) {
  // [a-z0-9]+ separated by '.', '_', '__' or '-'+.
  if (c.empty() || !absl::ascii_isalnum(c.front()) || !absl::ascii_isalnum(c.back())) {
    return false;
  }
  for (char ch : c) {
    if (!(absl::ascii_islower(ch) || absl::ascii_isdigit(ch) || ch == '.' || ch == '_' ||
          ch == '-')) {
      return false;
    }
  }
  return true;
}

bool IsDomain(std::string_view d) {
  if (d.empty()) return false;
  for (char ch : d) {
    if (!(absl::ascii_isalnum(ch) || ch == '.' || ch == '-' || ch == ':' || ch == '[' ||
          ch == ']')) {
      return false;
    }
  }
  return true;
}

bool IsTag(std::string_view t) {
  if (t.empty() || t.size() > 128 || !(absl::ascii_isalnum(t[0]) || t[0] == '_')) return false;
  for (char ch : t) {
    if (!(absl::ascii_isalnum(ch) || ch == '_' || ch == '.' || ch == '-')) return false;
  }
  return true;
}

bool IsDigest(std::string_view d) {
  size_t colon = d.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= d.size()) return false;
  for (char ch : d.substr(colon + 1)) {
    if (!absl::ascii_isxdigit(ch)) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> NormalizeImageReference(std::string_view ref) {
  if (ref.empty()) return absl::InvalidArgumentError("image reference is empty");
  if (ref.size() > kMaxReferenceLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("image reference is longer than ", kMaxReferenceLength, " characters"));
  }
  std::string_view rest = ref;
  std::string_view digest;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (!IsDigest(digest)) {
      return absl::InvalidArgumentError(
          absl::StrCat("image reference \"", Sv(ref), "\" has a malformed digest"));
    }
  }
  // The domain is the first component when it looks like a host (has '.', ':' or is
  // localhost); otherwise the image lives on Docker Hub.
  std::string domain = "docker.io";
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view first = rest.substr(0, slash);
    if (first.find_first_of(".:") != std::string_view::npos || first == "localhost") {
      if (!IsDomain(first)) {
        return absl::InvalidArgumentError(
            absl::StrCat("image reference \"", Sv(ref), "\" has a malformed registry host"));
      }
      domain = std::string(first);
      rest = rest.substr(slash + 1);
    }
  }
  std::string_view tag;
  if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (!IsTag(tag)) {
      return absl::InvalidArgumentError(
          absl::StrCat("image reference \"", Sv(ref), "\" has a malformed tag"));
    }
  }
  if (rest.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("image reference \"", Sv(ref), "\" has no repository"));
  }
  for (size_t start = 0;;) {
    size_t end = rest.find('/', start);
    std::string_view component = rest.substr(start, end - start);
    if (!IsPathComponent(component)) {
      return absl::InvalidArgumentError(
          absl::StrCat("image reference \"", Sv(ref), "\" has an invalid repository component \"",
                       Sv(component), "\" (lowercase letters, digits and . _ - only)"));
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  std::string out = absl::StrCat(domain, "/");
  if (domain == "docker.io" && rest.find('/') == std::string_view::npos) {
    absl::StrAppend(&out, "library/");
  }
  absl::StrAppend(&out, Sv(rest));
  if (!tag.empty()) {
    absl::StrAppend(&out, ":", Sv(tag));
  } else if (digest.empty()) {
    absl::StrAppend(&out, ":latest");
  }
  if (!digest.empty()) absl::StrAppend(&out, "@", Sv(digest));
  return out;
}

}  // namespace fsb
