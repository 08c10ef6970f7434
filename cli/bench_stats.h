#ifndef FSB_CLI_BENCH_STATS_H_
#define FSB_CLI_BENCH_STATS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/prometheus_text.h"

namespace fsb::cli {

// The statistics of `fsb bench`. Pure functions of their arguments.

// Summary of a set of measurements (any unit; the caller's).
struct LatencyStats {
  int64_t count = 0;
  double min = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double max = 0;
  double mean = 0;
};

// The q-quantile (0 <= q <= 1) of `sorted` (ascending, not empty) by linear interpolation
// between the two closest ranks: position q * (n - 1), as numpy's default and
// Excel's PERCENTILE.INC. q = 0 is the minimum, q = 1 the maximum.
double Percentile(const std::vector<double>& sorted, double q);

// Count, min, p50, p90, p99 (as Percentile), max and mean of `values`; all zero when it is
// empty.
LatencyStats Summarize(std::vector<double> values);

// A cumulative Prometheus histogram.
struct Histogram {
  // Upper bound (`le`) -> number of observations <= it; ascending, +Inf last.
  std::map<double, double> buckets;
  double sum = 0;
  double count = 0;
};

// The histograms of the family `name` (its name_bucket, name_sum and name_count samples)
// in `samples`, one per value of the label `by`; series that differ only in other labels
// are added together. With `by` empty, every series of the family adds into the one
// histogram under the key "". A family without samples gives an empty map.
std::map<std::string, Histogram> CollectHistograms(const std::vector<MetricSample>& samples,
                                                   std::string_view name, std::string_view by);

// The observations made between two scrapes: `after` minus `before`, bucket by bucket (a
// bucket missing from `before` counts as zero). If `after` counted fewer observations
// than `before`, the process restarted in between and `after` is returned as it is.
Histogram HistogramDelta(const Histogram& after, const Histogram& before);

// The q-quantile (q clamped to [0, 1]) estimated from the buckets as Prometheus'
// histogram_quantile does: the bucket holding rank q * count is found and the value is
// interpolated linearly between its lower bound (the previous bucket's `le`, or 0 for the
// first bucket) and its upper bound. If the rank falls in the +Inf bucket, the largest
// finite bound is returned. std::nullopt when there are no observations or no finite
// bucket.
std::optional<double> HistogramQuantile(const Histogram& histogram, double q);

}  // namespace fsb::cli

#endif  // FSB_CLI_BENCH_STATS_H_
