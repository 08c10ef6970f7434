#include "cli/bench_stats.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <numeric>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "internal/strings.h"

namespace fsb::cli {

double Percentile(const std::vector<double>& sorted, double q) {
  const double position = q * static_cast<double>(sorted.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  const double fraction = position - static_cast<double>(below);
  return sorted[below] + (sorted[above] - sorted[below]) * fraction;
}

LatencyStats Summarize(std::vector<double> values) {
  LatencyStats stats;
  if (values.empty()) return stats;
  std::sort(values.begin(), values.end());
  stats.count = static_cast<int64_t>(values.size());
  stats.min = values.front();
  stats.max = values.back();
  stats.p50 = Percentile(values, 0.5);
  stats.p90 = Percentile(values, 0.9);
  stats.p99 = Percentile(values, 0.99);
  stats.mean = std::accumulate(values.begin(), values.end(), 0.0) / values.size();
  return stats;
}

std::map<std::string, Histogram> CollectHistograms(const std::vector<MetricSample>& samples,
                                                   std::string_view name, std::string_view by) {
  std::map<std::string, Histogram> histograms;
  for (const MetricSample& sample : samples) {
    const absl::string_view sample_name = sample.name;
    if (!absl::StartsWith(sample_name, Sv(name))) continue;
    const absl::string_view suffix = sample_name.substr(name.size());
    if (suffix != "_bucket" && suffix != "_sum" && suffix != "_count") continue;
    std::string key;
    if (!by.empty()) {
      auto label = sample.labels.find(std::string(by));
      if (label == sample.labels.end()) continue;
      key = label->second;
    }
    Histogram& histogram = histograms[key];
    if (suffix == "_sum") {
      histogram.sum += sample.value;
    } else if (suffix == "_count") {
      histogram.count += sample.value;
    } else if (auto le = sample.labels.find("le"); le != sample.labels.end()) {
      double bound = 0;
      if (le->second == "+Inf") {
        bound = std::numeric_limits<double>::infinity();
      } else if (!absl::SimpleAtod(le->second, &bound)) {
        continue;
      }
      histogram.buckets[bound] += sample.value;
    }
  }
  return histograms;
}

Histogram HistogramDelta(const Histogram& after, const Histogram& before) {
  if (after.count < before.count) return after;
  Histogram delta = after;
  delta.sum -= before.sum;
  delta.count -= before.count;
  for (auto& [bound, cumulative] : delta.buckets) {
    if (auto it = before.buckets.find(bound); it != before.buckets.end()) {
      cumulative -= it->second;
    }
  }
  return delta;
}

std::optional<double> HistogramQuantile(const Histogram& histogram, double q) {
  const std::map<double, double>& buckets = histogram.buckets;
  if (buckets.empty()) return std::nullopt;
  const double total = std::prev(buckets.end())->second;
  if (!(total > 0)) return std::nullopt;
  const double rank = std::clamp(q, 0.0, 1.0) * total;
  // Found: the last bucket holds every observation, so its count is >= rank.
  const auto it = std::find_if(buckets.begin(), buckets.end(),
                               [rank](const auto& bucket) { return bucket.second >= rank; });
  const auto& [upper, cumulative] = *it;
  if (std::isinf(upper)) {
    if (it == buckets.begin()) return std::nullopt;
    return std::prev(it)->first;
  }
  if (it == buckets.begin() && upper <= 0) return upper;
  const double lower = it == buckets.begin() ? 0 : std::prev(it)->first;
  const double below = it == buckets.begin() ? 0 : std::prev(it)->second;
  if (cumulative <= below) return upper;
  return lower + (upper - lower) * (rank - below) / (cumulative - below);
}

}  // namespace fsb::cli
