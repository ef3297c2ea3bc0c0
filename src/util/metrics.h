// Metrics: counters, gauges and histograms with labels, kept in a registry
// that renders them in the Prometheus text exposition format 0.0.4 for the
// /metrics endpoint (Debian has no prometheus-cpp). All operations are
// thread-safe; a metric handle stays valid as long as its registry.
//
//   MetricsRegistry registry;
//   auto* backups = TRY(registry.counter("stowage_backups_total", "Backups finished, by phase.", {"phase"}));
//   TRY(backups->with({"Completed"}))->increment();
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "util/result.h"

namespace stowage {

// A value that only goes up (or back to zero when the process restarts).
class Counter {
 public:
  // Adds `amount`, which must not be negative (a negative amount is ignored).
  void increment(double amount = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void set(double value) { value_.store(value, std::memory_order_relaxed); }
  void add(double amount);  // negative to subtract
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into buckets by upper bound ("le": less or equal),
// with their sum and count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;           // without +Inf
    std::vector<uint64_t> cumulative_counts;    // one per bound, then one for +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  const std::vector<double> upper_bounds_;
  mutable std::mutex mutex_;
  std::vector<uint64_t> bucket_counts_;  // not cumulative; the last is the +Inf bucket
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Prometheus' default buckets, for durations in seconds: 0.005 … 10.
std::vector<double> default_histogram_buckets();
// start, start*factor, … (`count` bounds).
std::vector<double> exponential_histogram_buckets(double start, double factor, int count);

enum class MetricType { kCounter, kGauge, kHistogram };

// What the registry keeps of every family, whatever its metric type.
class MetricFamilyBase {
 public:
  MetricFamilyBase(std::string name, std::string help, MetricType type, std::vector<std::string> label_names,
                   std::vector<double> upper_bounds);
  virtual ~MetricFamilyBase() = default;
  const std::string& name() const { return name_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }
  // Appends the HELP and TYPE lines and one sample line per series (none
  // when the family has labels and no series yet).
  virtual void render(std::string& out) const = 0;

 protected:
  Status check_label_values(const std::vector<std::string>& label_values) const;

  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
  const std::vector<double> upper_bounds_;  // histograms only
};

// All series of one metric name: one per combination of label values.
template <class Metric>
class MetricFamily : public MetricFamilyBase {
 public:
  using MetricFamilyBase::MetricFamilyBase;
  // The series with these label values (in the order of label_names()),
  // created at zero on first use. kInvalidArgument when the number of values
  // differs from the number of label names.
  Result<Metric*> with(const std::vector<std::string>& label_values);
  void render(std::string& out) const override;

 private:
  Metric& series_locked(const std::vector<std::string>& label_values);

  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> series_;
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

class MetricsRegistry {
 public:
  // Registers a family, or returns the one already registered under `name`
  // with the same type, labels (and buckets). kInvalidArgument for a name or
  // label name Prometheus does not accept; kAlreadyExists when `name` is
  // registered differently. A family without labels starts with its one
  // series at zero, so it is rendered from the start.
  Result<CounterFamily*> counter(const std::string& name, const std::string& help,
                                 std::vector<std::string> label_names = {});
  Result<GaugeFamily*> gauge(const std::string& name, const std::string& help,
                             std::vector<std::string> label_names = {});
  // `upper_bounds` strictly increasing and finite; +Inf is implied.
  Result<HistogramFamily*> histogram(const std::string& name, const std::string& help,
                                     std::vector<double> upper_bounds, std::vector<std::string> label_names = {});

  // Every family, sorted by name, in the text exposition format 0.0.4.
  std::string render() const;

 private:
  template <class Metric>
  Result<MetricFamily<Metric>*> add(const std::string& name, const std::string& help, MetricType type,
                                    std::vector<std::string> label_names, std::vector<double> upper_bounds);

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<MetricFamilyBase>> families_;
};

// The Content-Type of render()'s output.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// A sample value as Prometheus writes it: "1", "0.25", "1e+06", "+Inf", "NaN".
std::string format_metric_value(double value);

}  // namespace stowage
