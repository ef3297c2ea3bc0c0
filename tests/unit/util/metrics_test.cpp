#include "util/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>

namespace stowage {
namespace {

TEST(Metrics, RendersCountersAndGaugesExactly) {
  MetricsRegistry registry;
  auto backups = registry.counter("stowage_backups_total", "Backups finished, by phase.", {"schedule", "phase"});
  ASSERT_TRUE(backups.ok());
  auto in_progress = registry.gauge("stowage_backups_in_progress", "Backups running now.");
  ASSERT_TRUE(in_progress.ok());

  (*(*backups)->with({"nightly", "Completed"}))->increment();
  (*(*backups)->with({"nightly", "Completed"}))->increment(2);
  (*(*backups)->with({"nightly", "Failed"}))->increment(0.5);
  (*(*backups)->with({"adhoc", "Completed"}))->increment(1e6);
  (*(*in_progress)->with({}))->set(3);
  (*(*in_progress)->with({}))->add(-1.25);

  EXPECT_EQ(registry.render(),
            "# HELP stowage_backups_in_progress Backups running now.\n"
            "# TYPE stowage_backups_in_progress gauge\n"
            "stowage_backups_in_progress 1.75\n"
            "# HELP stowage_backups_total Backups finished, by phase.\n"
            "# TYPE stowage_backups_total counter\n"
            "stowage_backups_total{schedule=\"adhoc\",phase=\"Completed\"} 1e+06\n"
            "stowage_backups_total{schedule=\"nightly\",phase=\"Completed\"} 3\n"
            "stowage_backups_total{schedule=\"nightly\",phase=\"Failed\"} 0.5\n");
}

TEST(Metrics, AFamilyWithoutLabelsStartsAtZeroAndOneWithLabelsIsHiddenUntilUsed) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry.counter("restores_total", "Restores.").ok());
  ASSERT_TRUE(registry.counter("errors_total", "Errors.", {"kind"}).ok());
  EXPECT_EQ(registry.render(),
            "# HELP restores_total Restores.\n"
            "# TYPE restores_total counter\n"
            "restores_total 0\n");
}

TEST(Metrics, EscapesHelpAndLabelValues) {
  MetricsRegistry registry;
  auto family = registry.gauge("weird", "Help with \\ backslash\nand \"quotes\".", {"path"});
  ASSERT_TRUE(family.ok());
  (*(*family)->with({"C:\\dir \"x\"\nnext"}))->set(-2);
  EXPECT_EQ(registry.render(),
            "# HELP weird Help with \\\\ backslash\\nand \"quotes\".\n"
            "# TYPE weird gauge\n"
            "weird{path=\"C:\\\\dir \\\"x\\\"\\nnext\"} -2\n");
}

TEST(Metrics, RendersHistogramsWithCumulativeBuckets) {
  MetricsRegistry registry;
  auto durations = registry.histogram("stowage_backup_duration_seconds", "Backup durations.", {0.5, 1, 2.5},
                                      {"schedule"});
  ASSERT_TRUE(durations.ok());
  Histogram* nightly = *(*durations)->with({"nightly"});
  for (double seconds : {0.1, 0.5, 0.7, 2.0, 30.0}) nightly->observe(seconds);
  auto plain = registry.histogram("sizes", "Sizes.", {1024});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(registry.render(),
            "# HELP sizes Sizes.\n"
            "# TYPE sizes histogram\n"
            "sizes_bucket{le=\"1024\"} 0\n"
            "sizes_bucket{le=\"+Inf\"} 0\n"
            "sizes_sum 0\n"
            "sizes_count 0\n"
            "# HELP stowage_backup_duration_seconds Backup durations.\n"
            "# TYPE stowage_backup_duration_seconds histogram\n"
            "stowage_backup_duration_seconds_bucket{schedule=\"nightly\",le=\"0.5\"} 2\n"
            "stowage_backup_duration_seconds_bucket{schedule=\"nightly\",le=\"1\"} 3\n"
            "stowage_backup_duration_seconds_bucket{schedule=\"nightly\",le=\"2.5\"} 4\n"
            "stowage_backup_duration_seconds_bucket{schedule=\"nightly\",le=\"+Inf\"} 5\n"
            "stowage_backup_duration_seconds_sum{schedule=\"nightly\"} 33.3\n"
            "stowage_backup_duration_seconds_count{schedule=\"nightly\"} 5\n");
}

TEST(Metrics, FormatsValuesAsPrometheusReadsThem) {
  EXPECT_EQ(format_metric_value(0), "0");
  EXPECT_EQ(format_metric_value(42), "42");
  EXPECT_EQ(format_metric_value(-0.25), "-0.25");
  EXPECT_EQ(format_metric_value(1073741824), "1073741824");
  EXPECT_EQ(format_metric_value(1e21), "1e+21");
  EXPECT_EQ(format_metric_value(0.1), "0.1");
  EXPECT_EQ(format_metric_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_metric_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_metric_value(std::nan("")), "NaN");
}

TEST(Metrics, RegistrationIsCheckedAndIdempotent) {
  MetricsRegistry registry;
  auto first = registry.counter("jobs_total", "Jobs.", {"kind"});
  ASSERT_TRUE(first.ok());
  auto again = registry.counter("jobs_total", "Jobs.", {"kind"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*first, *again);

  auto as_gauge = registry.gauge("jobs_total", "Jobs.", {"kind"});
  ASSERT_FALSE(as_gauge.ok());
  EXPECT_EQ(as_gauge.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(as_gauge.error().message(), "metric 'jobs_total' is already registered as a counter with labels (kind)");
  EXPECT_FALSE(registry.counter("jobs_total", "Jobs.", {"kind", "phase"}).ok());

  auto bad_name = registry.counter("2fast", "x");
  ASSERT_FALSE(bad_name.ok());
  EXPECT_EQ(bad_name.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad_name.error().message(), "registering metric '2fast': not a valid metric name");
  EXPECT_FALSE(registry.counter("has-dash", "x").ok());
  EXPECT_FALSE(registry.counter("", "x").ok());
  EXPECT_TRUE(registry.counter("ns:sub_total", "x").ok());
  EXPECT_EQ(registry.gauge("g", "x", {"__reserved"}).error().message(),
            "registering metric 'g': label '__reserved' is not a valid label name");
  EXPECT_EQ(registry.gauge("g", "x", {"a", "a"}).error().message(), "registering metric 'g': label 'a' is given twice");
  EXPECT_EQ(registry.histogram("h", "x", {1}, {"le"}).error().message(),
            "registering metric 'h': label 'le' is reserved for histogram buckets");
  EXPECT_EQ(registry.histogram("h", "x", {1, 1}).error().message(),
            "registering metric 'h': bucket bounds must be finite and strictly increasing");
  EXPECT_FALSE(registry.histogram("h", "x", {1, std::numeric_limits<double>::infinity()}).ok());

  auto wrong_count = (*first)->with({"a", "b"});
  ASSERT_FALSE(wrong_count.ok());
  EXPECT_EQ(wrong_count.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(wrong_count.error().message(), "metric jobs_total has 1 labels (kind) but 2 values were given (a,b)");
}

TEST(Metrics, CountersIgnoreNegativeAmounts) {
  Counter counter;
  counter.increment(2);
  counter.increment(-1);
  EXPECT_EQ(counter.value(), 2);
}

TEST(Metrics, CountsEveryIncrementFromManyThreads) {
  MetricsRegistry registry;
  auto family = registry.counter("hits_total", "Hits.", {"thread"});
  auto histograms = registry.histogram("latency", "L.", default_histogram_buckets());
  ASSERT_TRUE(family.ok() && histograms.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; i++) {
        (*(*family)->with({std::to_string(t % 2)}))->increment();
        (*(*histograms)->with({}))->observe(0.01);
        if (i % 1000 == 0) (void)registry.render();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ((*(*family)->with({"0"}))->value(), 20000);
  EXPECT_EQ((*(*family)->with({"1"}))->value(), 20000);
  Histogram::Snapshot snapshot = (*(*histograms)->with({}))->snapshot();
  EXPECT_EQ(snapshot.count, 40000u);
  EXPECT_EQ(snapshot.cumulative_counts[0], 0u);      // le 0.005
  EXPECT_EQ(snapshot.cumulative_counts[1], 40000u);  // le 0.01
}

TEST(Metrics, ExponentialBuckets) {
  EXPECT_EQ(exponential_histogram_buckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
}

}  // namespace
}  // namespace stowage
