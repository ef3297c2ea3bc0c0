#include "util/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <type_traits>

namespace stowage {

namespace {

void atomic_add(std::atomic<double>& target, double amount) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + amount, std::memory_order_relaxed)) {
  }
}

bool is_metric_name(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); i++) {
    char c = name[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool is_label_name(const std::string& name) {
  if (name.empty() || name.rfind("__", 0) == 0) return false;  // "__" names are reserved for Prometheus
  for (size_t i = 0; i < name.size(); i++) {
    char c = name[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

const char* type_name(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

std::string join(const std::vector<std::string>& parts) {
  std::string joined;
  for (const auto& part : parts) joined += (joined.empty() ? "" : ",") + part;
  return joined;
}

// HELP text escapes backslash and newline.
void append_help(std::string& out, const std::string& help) {
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}

// Label values also escape the double quote.
void append_label_value(std::string& out, const std::string& value) {
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}

// `{a="x",b="y"}`, with an extra `le` pair for histogram buckets; nothing when
// there are no labels at all.
void append_labels(std::string& out, const std::vector<std::string>& names, const std::vector<std::string>& values,
                   const std::string* le = nullptr) {
  if (names.empty() && !le) return;
  out += '{';
  for (size_t i = 0; i < names.size(); i++) {
    if (i) out += ',';
    out += names[i];
    out += "=\"";
    append_label_value(out, values[i]);
    out += '"';
  }
  if (le) {
    if (!names.empty()) out += ',';
    out += "le=\"";
    out += *le;
    out += '"';
  }
  out += '}';
}

void append_header(std::string& out, const std::string& name, const std::string& help, MetricType type) {
  out += "# HELP " + name + " ";
  append_help(out, help);
  out += "\n# TYPE " + name + " " + type_name(type) + "\n";
}

void append_sample(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                   const std::vector<std::string>& label_values, double value) {
  out += name;
  append_labels(out, label_names, label_values);
  out += ' ';
  out += format_metric_value(value);
  out += '\n';
}

}  // namespace

std::string format_metric_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (error != std::errc()) return "NaN";
  return std::string(buffer, end);
}

void Counter::increment(double amount) {
  if (!(amount >= 0)) return;
  atomic_add(value_, amount);
}

void Gauge::add(double amount) { atomic_add(value_, amount); }

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), bucket_counts_(upper_bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  size_t bucket = size_t(std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin());
  if (std::isnan(value)) bucket = upper_bounds_.size();
  std::lock_guard lock(mutex_);
  bucket_counts_[bucket]++;
  sum_ += value;
  count_++;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snapshot;
  snapshot.upper_bounds = upper_bounds_;
  std::lock_guard lock(mutex_);
  uint64_t running = 0;
  for (uint64_t count : bucket_counts_) {
    running += count;
    snapshot.cumulative_counts.push_back(running);
  }
  snapshot.sum = sum_;
  snapshot.count = count_;
  return snapshot;
}

std::vector<double> default_histogram_buckets() { return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}; }

std::vector<double> exponential_histogram_buckets(double start, double factor, int count) {
  std::vector<double> bounds;
  double bound = start;
  for (int i = 0; i < count; i++, bound *= factor) bounds.push_back(bound);
  return bounds;
}

MetricFamilyBase::MetricFamilyBase(std::string name, std::string help, MetricType type,
                                   std::vector<std::string> label_names, std::vector<double> upper_bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      upper_bounds_(std::move(upper_bounds)) {}

Status MetricFamilyBase::check_label_values(const std::vector<std::string>& label_values) const {
  if (label_values.size() == label_names_.size()) return ok_status();
  return Error(ErrorCode::kInvalidArgument,
               "metric " + name_ + " has " + std::to_string(label_names_.size()) + " labels (" + join(label_names_) +
                   ") but " + std::to_string(label_values.size()) + " values were given (" + join(label_values) + ")",
               name_, "pass one value per label, in the order the labels were registered");
}

template <class Metric>
Metric& MetricFamily<Metric>::series_locked(const std::vector<std::string>& label_values) {
  auto& slot = series_[label_values];
  if (!slot) {
    if constexpr (std::is_same_v<Metric, Histogram>)
      slot = std::make_unique<Histogram>(upper_bounds_);
    else
      slot = std::make_unique<Metric>();
  }
  return *slot;
}

template <class Metric>
Result<Metric*> MetricFamily<Metric>::with(const std::vector<std::string>& label_values) {
  TRY_STATUS(check_label_values(label_values));
  std::lock_guard lock(mutex_);
  return &series_locked(label_values);
}

template <class Metric>
void MetricFamily<Metric>::render(std::string& out) const {
  std::lock_guard lock(mutex_);
  if (series_.empty()) return;
  append_header(out, name_, help_, type_);
  for (const auto& [label_values, metric] : series_) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      Histogram::Snapshot snapshot = metric->snapshot();
      for (size_t i = 0; i <= snapshot.upper_bounds.size(); i++) {
        std::string le = i < snapshot.upper_bounds.size() ? format_metric_value(snapshot.upper_bounds[i]) : "+Inf";
        out += name_ + "_bucket";
        append_labels(out, label_names_, label_values, &le);
        out += ' ' + std::to_string(snapshot.cumulative_counts[i]) + '\n';
      }
      append_sample(out, name_ + "_sum", label_names_, label_values, snapshot.sum);
      out += name_ + "_count";
      append_labels(out, label_names_, label_values);
      out += ' ' + std::to_string(snapshot.count) + '\n';
    } else {
      append_sample(out, name_, label_names_, label_values, metric->value());
    }
  }
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

template <class Metric>
Result<MetricFamily<Metric>*> MetricsRegistry::add(const std::string& name, const std::string& help, MetricType type,
                                                   std::vector<std::string> label_names,
                                                   std::vector<double> upper_bounds) {
  auto invalid = [&](const std::string& message, const std::string& hint) {
    return Error(ErrorCode::kInvalidArgument, "registering metric '" + name + "': " + message, name, hint);
  };
  if (!is_metric_name(name))
    return invalid("not a valid metric name", "use letters, digits, '_' and ':', not starting with a digit");
  for (size_t i = 0; i < label_names.size(); i++) {
    const std::string& label = label_names[i];
    if (!is_label_name(label))
      return invalid("label '" + label + "' is not a valid label name",
                     "use letters, digits and '_', not starting with a digit or \"__\"");
    if (std::find(label_names.begin(), label_names.begin() + long(i), label) != label_names.begin() + long(i))
      return invalid("label '" + label + "' is given twice", "name each label once");
    if (type == MetricType::kHistogram && label == "le")
      return invalid("label 'le' is reserved for histogram buckets", "choose another label name");
  }
  for (size_t i = 0; i < upper_bounds.size(); i++) {
    if (!std::isfinite(upper_bounds[i]) || (i > 0 && !(upper_bounds[i] > upper_bounds[i - 1])))
      return invalid("bucket bounds must be finite and strictly increasing",
                     "list the bounds in increasing order; +Inf is added by itself");
  }

  std::lock_guard lock(mutex_);
  auto found = families_.find(name);
  if (found != families_.end()) {
    MetricFamilyBase& existing = *found->second;
    if (existing.type() != type || existing.label_names() != label_names || existing.upper_bounds() != upper_bounds)
      return Error(ErrorCode::kAlreadyExists,
                   "metric '" + name + "' is already registered as a " + type_name(existing.type()) + " with labels (" +
                       join(existing.label_names()) + ")",
                   name, "register each metric name once, with one type and one set of labels");
    return static_cast<MetricFamily<Metric>*>(&existing);
  }
  auto family = std::make_unique<MetricFamily<Metric>>(name, help, type, label_names, std::move(upper_bounds));
  MetricFamily<Metric>* result = family.get();
  if (label_names.empty()) (void)result->with({});  // the one series exists from the start
  families_.emplace(name, std::move(family));
  return result;
}

Result<CounterFamily*> MetricsRegistry::counter(const std::string& name, const std::string& help,
                                                std::vector<std::string> label_names) {
  return add<Counter>(name, help, MetricType::kCounter, std::move(label_names), {});
}

Result<GaugeFamily*> MetricsRegistry::gauge(const std::string& name, const std::string& help,
                                            std::vector<std::string> label_names) {
  return add<Gauge>(name, help, MetricType::kGauge, std::move(label_names), {});
}

Result<HistogramFamily*> MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                                    std::vector<double> upper_bounds,
                                                    std::vector<std::string> label_names) {
  return add<Histogram>(name, help, MetricType::kHistogram, std::move(label_names), std::move(upper_bounds));
}

std::string MetricsRegistry::render() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& [name, family] : families_) family->render(out);
  return out;
}

}  // namespace stowage
