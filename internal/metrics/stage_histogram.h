#ifndef FSB_INTERNAL_METRICS_STAGE_HISTOGRAM_H_
#define FSB_INTERNAL_METRICS_STAGE_HISTOGRAM_H_

#include <array>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "internal/metrics/metrics.h"

namespace fsb::metrics {

// How long each stage of one operation took (zero for a stage it did not reach). `Stage`
// is an enum whose values are 0 to `kStages` - 1.
template <typename Stage, int kStages>
struct StageTimings {
  std::array<absl::Duration, kStages> stage{};
  absl::Duration& operator[](Stage s) { return stage[static_cast<int>(s)]; }
  absl::Duration operator[](Stage s) const { return stage[static_cast<int>(s)]; }
};

// The histogram family `name`{stage} of an operation's stages, on LatencyBuckets(). Every
// stage's child is created up front (so every stage is exposed from the first scrape on)
// and held, so recording looks nothing up. Thread-safe; the registry must outlive it.
template <typename Stage, int kStages>
class StageHistogram {
 public:
  // `stage_name` gives each stage's label value.
  StageHistogram(Registry* registry, std::string_view name, std::string_view help,
                 std::string_view (*stage_name)(Stage)) {
    Family<Histogram>& family = registry->AddHistogram(name, help, LatencyBuckets());
    for (int i = 0; i < kStages; ++i) {
      stages_[i] = &family.Add({{"stage", std::string(stage_name(static_cast<Stage>(i)))}});
    }
  }

  // Observes every stage that took time; the others are left alone.
  void Record(const StageTimings<Stage, kStages>& timings) {
    for (int i = 0; i < kStages; ++i) {
      if (timings.stage[i] > absl::ZeroDuration()) {
        stages_[i]->Observe(absl::ToDoubleSeconds(timings.stage[i]));
      }
    }
  }

 private:
  std::array<Histogram*, kStages> stages_;
};

}  // namespace fsb::metrics

#endif  // FSB_INTERNAL_METRICS_STAGE_HISTOGRAM_H_
