#ifndef FSB_CLI_PROMETHEUS_TEXT_H_
#define FSB_CLI_PROMETHEUS_TEXT_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace fsb::cli {

// One sample line of a /metrics page: `name{label="value",...} value [timestamp]`.
struct MetricSample {
  std::string name;                           // as written, with any _bucket/_sum/_count suffix
  std::map<std::string, std::string> labels;  // values unescaped
  double value = 0;                           // +Inf, -Inf and NaN included
};

// Parses the Prometheus text exposition format (version 0.0.4) into its samples, in page
// order. Comment lines (`# HELP`, `# TYPE`, any other `#`) and blank lines are skipped;
// an optional timestamp after the value is read and dropped; label values are unescaped
// (`\\`, `\"`, `\n`); a trailing comma inside the braces is allowed. A pure function.
//
// Returns INVALID_ARGUMENT naming the line number and what is wrong for any line that is
// not a comment, blank or a well-formed sample (bad metric or label name, unterminated
// label value, missing or malformed value, a label repeated within a sample).
absl::StatusOr<std::vector<MetricSample>> ParsePrometheusText(std::string_view text);

}  // namespace fsb::cli

#endif  // FSB_CLI_PROMETHEUS_TEXT_H_
