#ifndef FSB_INTERNAL_STRINGS_H_
#define FSB_INTERNAL_STRINGS_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace fsb {

// Debian's Abseil is built with its own absl::string_view, distinct from
// std::string_view; fsb's APIs use std::string_view and bridge here when calling
// absl::StrCat and friends.
inline absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace fsb

#endif  // FSB_INTERNAL_STRINGS_H_
