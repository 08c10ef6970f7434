#ifndef FSB_INTERNAL_METRICS_METRICS_H_
#define FSB_INTERNAL_METRICS_METRICS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

// Prometheus-style metrics, written to the text exposition format 0.0.4.
//
// The API follows prometheus-cpp's shape: a Registry owns Families; a Family hands out
// one child per label set; children are updated lock-free.
//
//   Registry registry;
//   auto& creates = registry.AddCounter("fsb_creates_total", "Creates by result.");
//   Counter& ok = creates.Add({{"result", "ok"}});   // once, off the hot path
//   ok.Increment();                                  // hot path: one atomic op
//
// Thread-safety: everything is thread-safe. Family::Add takes the family's mutex;
// Counter/Gauge/Histogram updates are lock-free atomics (relaxed ordering: a scrape
// may see a histogram's count and buckets from slightly different instants, as in
// every Prometheus client). Children and families live as long as their Registry;
// references to them stay valid.
namespace fsb::metrics {

using Labels = std::map<std::string, std::string>;

// Adds atomically to a double stored as its bit pattern.
class AtomicDouble {
 public:
  void Add(double v);
  void Set(double v) { bits_.store(ToBits(v), std::memory_order_relaxed); }
  double Get() const { return FromBits(bits_.load(std::memory_order_relaxed)); }

 private:
  static uint64_t ToBits(double v);
  static double FromBits(uint64_t b);
  std::atomic<uint64_t> bits_{0};
};

class Counter {
 public:
  // `v` must be >= 0 (CHECKed): counters only go up.
  void Increment(double v = 1.0);
  double Value() const { return value_.Get(); }

 private:
  AtomicDouble value_;
};

class Gauge {
 public:
  void Set(double v) { value_.Set(v); }
  void Increment(double v = 1.0) { value_.Add(v); }
  void Decrement(double v = 1.0) { value_.Add(-v); }
  double Value() const { return value_.Get(); }

 private:
  AtomicDouble value_;
};

class Histogram {
 public:
  // `bounds` are the buckets' upper bounds, strictly increasing (CHECKed); +Inf is
  // implicit.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Collect() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1 buckets
  AtomicDouble sum_;
};

// Buckets from 0.25 ms to 10 s, in seconds: fsb's stage latency buckets.
std::vector<double> LatencyBuckets();

// The `result` label value of an operation's outcome: "ok", or the canonical code's name
// ("NOT_FOUND").
std::string ResultLabel(const absl::Status& status);

enum class Type { kCounter, kGauge, kHistogram };

// The metrics of one name: one child per distinct label set.
template <typename T>
class Family {
 public:
  // Returns the child for `labels`, creating it on first use. Label names must be
  // valid Prometheus label names (CHECKed: a programmer error).
  T& Add(const Labels& labels);

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<double> bounds = {})
      : name_(std::move(name)), help_(std::move(help)), bounds_(std::move(bounds)) {}
  void Serialize(Type type, std::string* out) const;

  const std::string name_;
  const std::string help_;
  const std::vector<double> bounds_;  // histograms only
  mutable absl::Mutex mu_;
  std::map<Labels, std::unique_ptr<T>> children_ ABSL_GUARDED_BY(mu_);
};

// Owns the metric families of one process (or one component in tests). Injected into
// components; there is no global registry.
class Registry {
 public:
  // Names must be valid Prometheus metric names and unique in the registry (CHECKed).
  Family<Counter>& AddCounter(std::string_view name, std::string_view help);
  Family<Gauge>& AddGauge(std::string_view name, std::string_view help);
  Family<Histogram>& AddHistogram(std::string_view name, std::string_view help,
                                  std::vector<double> bounds);

  // Every family in the text exposition format 0.0.4, sorted by name.
  std::string Serialize() const;

 private:
  struct Entry {
    Type type;
    std::unique_ptr<Family<Counter>> counter;
    std::unique_ptr<Family<Gauge>> gauge;
    std::unique_ptr<Family<Histogram>> histogram;
  };
  Entry& NewEntry(std::string_view name, Type type);

  mutable absl::Mutex mu_;
  std::map<std::string, Entry> families_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::metrics

#endif  // FSB_INTERNAL_METRICS_METRICS_H_
