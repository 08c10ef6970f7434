#include "internal/image_ref.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "internal/request_limits.h"
#include "internal/strings.h"
#include "internal/validation.h"

namespace fsb {
namespace {

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

// Why `d` is not a digest fsb can check ("sha256:" and 64 lowercase hex digits, or
// "sha512:" and 128, as OCI registers them); empty when it is one.
std::string DigestProblem(std::string_view d) {
  const size_t colon = d.find(':');
  if (colon == std::string_view::npos) return "expected ALGORITHM:HEX";
  const std::string_view algorithm = d.substr(0, colon);
  const std::string_view hex = d.substr(colon + 1);
  size_t want;
  if (algorithm == "sha256") {
    want = 64;
  } else if (algorithm == "sha512") {
    want = 128;
  } else {
    return "the algorithm must be sha256 or sha512";
  }
  if (hex.size() != want) return absl::StrCat(Sv(algorithm), " takes ", want, " hex digits");
  for (char ch : hex) {
    if (!absl::ascii_isdigit(ch) && !(ch >= 'a' && ch <= 'f')) {
      return "the hex digits must be 0-9 and a-f";
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<std::string> NormalizeImageReference(std::string_view ref) {
  if (ref.empty()) return absl::InvalidArgumentError("image reference is empty");
  if (ref.size() > kMaxImageReferenceBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("image reference is longer than ", kMaxImageReferenceBytes, " characters"));
  }
  std::string_view rest = ref;
  std::string_view digest;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (std::string problem = DigestProblem(digest); !problem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("image reference ", QuoteForError(ref),
                                                     " has a malformed digest: ", problem));
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
            absl::StrCat("image reference ", QuoteForError(ref), " has a malformed registry host"));
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
          absl::StrCat("image reference ", QuoteForError(ref), " has a malformed tag"));
    }
  }
  if (rest.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("image reference ", QuoteForError(ref), " has no repository"));
  }
  for (size_t start = 0;;) {
    size_t end = rest.find('/', start);
    std::string_view component = rest.substr(start, end - start);
    if (!IsPathComponent(component)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "image reference ", QuoteForError(ref), " has an invalid repository component ",
          QuoteForError(component), " (lowercase letters, digits and . _ - only)"));
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
  // The limit holds for the form that is stored and given to containerd, so that the
  // result is accepted again as it is (found by fuzzing).
  if (out.size() > kMaxImageReferenceBytes) {
    return absl::InvalidArgumentError(absl::StrCat("image reference ", QuoteForError(ref),
                                                   " is longer than ", kMaxImageReferenceBytes,
                                                   " characters in full (", out.size(), ")"));
  }
  return out;
}

}  // namespace fsb
