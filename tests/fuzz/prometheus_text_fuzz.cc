// Fuzzes the CLI's reader of /metrics pages (cli/prometheus_text.h: `fsb bench`, `fsb
// agents` read the daemons' metrics) against the writer the daemons use
// (internal/metrics).
//
// Input: a metrics page.
//
// Invariants:
//  * the parser never crashes and fails with INVALID_ARGUMENT only;
//  * what it reads, set as gauges of a metrics::Registry and written by it, reads back
//    as the same samples (names, unescaped label values, values bit for bit; NaN as NaN).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "cli/prometheus_text.h"
#include "internal/metrics/metrics.h"
#include "tests/fuzz/fuzz_check.h"

namespace fsb::fuzz {
namespace {

using Key = std::pair<std::string, metrics::Labels>;

bool SameValue(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}

void TestOneInput(std::string_view input) {
  absl::StatusOr<std::vector<cli::MetricSample>> samples = cli::ParsePrometheusText(input);
  if (!samples.ok()) {
    FSB_FUZZ_CHECK(absl::IsInvalidArgument(samples.status()));
    return;
  }
  // The last value of each sample, as a registry holds it. Labels starting with "__" are
  // reserved: the registry refuses them (a programmer error, CHECKed), so they are left
  // out.
  std::map<Key, double> want;
  for (const cli::MetricSample& s : *samples) {
    bool reserved = false;
    for (const auto& [name, value] : s.labels) reserved = reserved || name.rfind("__", 0) == 0;
    if (!reserved) want[{s.name, s.labels}] = s.value;
  }
  metrics::Registry registry;
  std::map<std::string, metrics::Family<metrics::Gauge>*> families;
  for (const auto& [key, value] : want) {
    auto [it, added] = families.try_emplace(key.first, nullptr);
    if (added) it->second = &registry.AddGauge(key.first, "fuzz");
    it->second->Add(key.second).Set(value);
  }
  absl::StatusOr<std::vector<cli::MetricSample>> back =
      cli::ParsePrometheusText(registry.Serialize());
  FSB_FUZZ_CHECK(back.ok());
  FSB_FUZZ_CHECK(back->size() == want.size());
  for (const cli::MetricSample& s : *back) {
    auto it = want.find({s.name, s.labels});
    FSB_FUZZ_CHECK(it != want.end());
    FSB_FUZZ_CHECK(SameValue(it->second, s.value));
  }
}

}  // namespace
}  // namespace fsb::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fsb::fuzz::TestOneInput(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
