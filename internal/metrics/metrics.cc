#include "internal/metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "glog/logging.h"

namespace fsb::metrics {
namespace {

bool IsValidName(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Go's strconv-compatible float text: shortest round-trip form, +Inf/-Inf/NaN.
void AppendDouble(double v, std::string* out) {
  if (std::isnan(v)) {
    *out += "NaN";
  } else if (std::isinf(v)) {
    *out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    out->append(buf, end);
  }
}

void AppendEscaped(std::string_view s, bool quote_too, std::string* out) {
  for (char c : s) {
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '\n') {
      *out += "\\n";
    } else if (quote_too && c == '"') {
      *out += "\\\"";
    } else {
      out->push_back(c);
    }
  }
}

// Appends `{a="x",b="y"}` with `extra` (e.g. le) last; nothing when there are no labels.
void AppendLabels(const Labels& labels, std::string_view extra_name, std::string_view extra_value,
                  std::string* out) {
  if (labels.empty() && extra_name.empty()) return;
  out->push_back('{');
  bool first = true;
  auto one = [&](std::string_view k, std::string_view v) {
    if (!first) out->push_back(',');
    first = false;
    out->append(k);
    *out += "=\"";
    AppendEscaped(v, /*quote_too=*/true, out);
    out->push_back('"');
  };
  for (const auto& [k, v] : labels) one(k, v);
  if (!extra_name.empty()) one(extra_name, extra_value);
  out->push_back('}');
}

void AppendSample(std::string_view name, std::string_view suffix, const Labels& labels,
                  std::string_view extra_name, std::string_view extra_value, double value,
                  std::string* out) {
  out->append(name);
  out->append(suffix);
  AppendLabels(labels, extra_name, extra_value, out);
  out->push_back(' ');
  AppendDouble(value, out);
  out->push_back('\n');
}

}  // namespace

uint64_t AtomicDouble::ToBits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof(b));
  return b;
}

double AtomicDouble::FromBits(uint64_t b) {
  double v;
  std::memcpy(&v, &b, sizeof(v));
  return v;
}

void AtomicDouble::Add(double v) {
  uint64_t old = bits_.load(std::memory_order_relaxed);
  while (!bits_.compare_exchange_weak(old, ToBits(FromBits(old) + v), std::memory_order_relaxed)) {
  }
}

void Counter::Increment(double v) {
  CHECK_GE(v, 0) << "counters only increase";
  value_.Add(v);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i + 1 < bounds_.size(); ++i) {
    CHECK_LT(bounds_[i], bounds_[i + 1]) << "histogram bounds must increase strictly";
  }
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.Add(v);
}

Histogram::Snapshot Histogram::Collect() const {
  Snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  s.count = total;
  s.sum = sum_.Get();
  return s;
}

std::vector<double> LatencyBuckets() {
  return {0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::string ResultLabel(const absl::Status& status) {
  return status.ok() ? "ok" : absl::StatusCodeToString(status.code());
}

template <typename T>
T& Family<T>::Add(const Labels& labels) {
  for (const auto& [k, v] : labels) {
    CHECK(IsValidName(k, /*allow_colon=*/false) && k.rfind("__", 0) != 0)
        << "invalid label name \"" << k << "\" on " << name_;
  }
  absl::MutexLock lock(&mu_);
  std::unique_ptr<T>& child = children_[labels];
  if (child == nullptr) {
    if constexpr (std::is_same_v<T, Histogram>) {
      child = std::make_unique<Histogram>(bounds_);
    } else {
      child = std::make_unique<T>();
    }
  }
  return *child;
}

template <typename T>
void Family<T>::Serialize(Type type, std::string* out) const {
  *out += "# HELP ";
  *out += name_;
  out->push_back(' ');
  AppendEscaped(help_, /*quote_too=*/false, out);
  *out += "\n# TYPE ";
  *out += name_;
  *out += type == Type::kCounter ? " counter\n"
          : type == Type::kGauge ? " gauge\n"
                                 : " histogram\n";
  absl::MutexLock lock(&mu_);
  for (const auto& [labels, child] : children_) {
    if constexpr (std::is_same_v<T, Histogram>) {
      Histogram::Snapshot snap = child->Collect();
      std::string le;
      for (size_t i = 0; i < snap.cumulative.size(); ++i) {
        le.clear();
        AppendDouble(i < bounds_.size() ? bounds_[i] : INFINITY, &le);
        AppendSample(name_, "_bucket", labels, "le", le, static_cast<double>(snap.cumulative[i]),
                     out);
      }
      AppendSample(name_, "_sum", labels, "", "", snap.sum, out);
      AppendSample(name_, "_count", labels, "", "", static_cast<double>(snap.count), out);
    } else {
      AppendSample(name_, "", labels, "", "", child->Value(), out);
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Registry::Entry& Registry::NewEntry(std::string_view name, Type type) {
  CHECK(IsValidName(name, /*allow_colon=*/true)) << "invalid metric name \"" << name << "\"";
  auto [it, inserted] = families_.try_emplace(std::string(name));
  CHECK(inserted) << "metric \"" << name << "\" registered twice";
  it->second.type = type;
  return it->second;
}

Family<Counter>& Registry::AddCounter(std::string_view name, std::string_view help) {
  absl::MutexLock lock(&mu_);
  Entry& e = NewEntry(name, Type::kCounter);
  e.counter.reset(new Family<Counter>(std::string(name), std::string(help)));
  return *e.counter;
}

Family<Gauge>& Registry::AddGauge(std::string_view name, std::string_view help) {
  absl::MutexLock lock(&mu_);
  Entry& e = NewEntry(name, Type::kGauge);
  e.gauge.reset(new Family<Gauge>(std::string(name), std::string(help)));
  return *e.gauge;
}

Family<Histogram>& Registry::AddHistogram(std::string_view name, std::string_view help,
                                          std::vector<double> bounds) {
  absl::MutexLock lock(&mu_);
  Entry& e = NewEntry(name, Type::kHistogram);
  e.histogram.reset(new Family<Histogram>(std::string(name), std::string(help), std::move(bounds)));
  return *e.histogram;
}

std::string Registry::Serialize() const {
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, e] : families_) {
    switch (e.type) {
      case Type::kCounter:
        e.counter->Serialize(e.type, &out);
        break;
      case Type::kGauge:
        e.gauge->Serialize(e.type, &out);
        break;
      case Type::kHistogram:
        e.histogram->Serialize(e.type, &out);
        break;
    }
  }
  return out;
}

}  // namespace fsb::metrics
