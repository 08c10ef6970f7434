#ifndef FSB_TESTS_FUZZ_FUZZ_CHECK_H_
#define FSB_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <string_view>
#include <vector>

// Shared by the fuzz targets of tests/fuzz. Each target's LLVMFuzzerTestOneInput runs
// under libFuzzer (FSB_FUZZ=ON) and under replay_main.cc (every build), so a violated
// invariant must stop the process the same way in both: a message, then a trap.

// Traps with a message naming the invariant when `cond` is false.
#define FSB_FUZZ_CHECK(cond)                                                                     \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      std::fprintf(stderr, "fuzz invariant violated at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      __builtin_trap();                                                                          \
    }                                                                                            \
  } while (0)

namespace fsb::fuzz {

// Separates the parts of a multi-part input (a request, an image config, ...). A line of
// its own, so that hand-written seeds stay readable text.
inline constexpr std::string_view kPartSeparator = "\n-----\n";

// `input` cut at each kPartSeparator into exactly `n` parts: missing parts are empty,
// and the last part keeps any further separators.
inline std::vector<std::string_view> SplitParts(std::string_view input, size_t n) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < n) {
    size_t at = input.find(kPartSeparator);
    if (at == std::string_view::npos) break;
    parts.push_back(input.substr(0, at));
    input.remove_prefix(at + kPartSeparator.size());
  }
  parts.push_back(input);
  parts.resize(n);
  return parts;
}

}  // namespace fsb::fuzz

#endif  // FSB_TESTS_FUZZ_FUZZ_CHECK_H_
