#include "agent/warm/warm_targets.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "internal/image_ref.h"

namespace fsb::agent {

absl::StatusOr<std::vector<WarmTarget>> ParseWarmTargets(const std::vector<std::string>& values) {
  std::vector<WarmTarget> targets;
  for (const std::string& value : values) {
    for (absl::string_view raw : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      const absl::string_view entry = absl::StripAsciiWhitespace(raw);
      const size_t eq = entry.rfind('=');
      int count = 0;
      if (eq == absl::string_view::npos || !absl::SimpleAtoi(entry.substr(eq + 1), &count) ||
          count < 0 || count > kMaxWarmPerImage) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--warm \"", entry, "\": expected IMAGE=N with N in 0-", kMaxWarmPerImage));
      }
      absl::StatusOr<std::string> image = NormalizeImageReference(std::string(entry.substr(0, eq)));
      if (!image.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--warm \"", entry, "\": ", image.status().message()));
      }
      for (const WarmTarget& t : targets) {
        if (t.image == *image) {
          return absl::InvalidArgumentError(
              absl::StrCat("--warm: ", *image, " is listed more than once"));
        }
      }
      targets.push_back({*std::move(image), count});
    }
  }
  return targets;
}

}  // namespace fsb::agent
