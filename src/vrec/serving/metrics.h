// A small Prometheus metrics registry: counters, gauges (set or computed at scrape) and histograms,
// rendered in the text exposition format 0.0.4 for GET /metrics. Written here because
// prometheus-cpp is not packaged in Debian (docs/dependencies.md).
//
// Usage: register each metric once (at start-up, or lazily on the first request of a route) and
// keep the returned reference; the hot path (Inc, Set, Add, Observe) is then a few relaxed atomic
// operations with no lock and no allocation.
//
//   MetricsRegistry registry;
//   Histogram& latency = registry.histogram("vrec_request_seconds", "Request latency.",
//                                           {{"route", "/recommend"}}, DefaultLatencyBuckets());
//   latency.Observe(0.0021);
//   response.body = registry.Render();  // content type: kPrometheusContentType
//
// Names must be valid Prometheus names and a family (one name) must keep one type, one help text,
// one set of label names and, for histograms, one bucket list. Breaking these rules is a bug in
// the calling code (metric names are constants), not an input error: the registry prints the
// reason to stderr and aborts, in every build type.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vrec::serving {

// Content-Type of Render()'s output.
inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// Label name/value pairs of one metric, in the order they are rendered.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Histogram upper bounds in seconds for request latencies from 50 us to 2 s (15 buckets; +Inf is
// implicit). Steps of about 2-2.5x keep the quantile error of histogram_quantile under ~25 %.
const std::vector<double>& DefaultLatencyBuckets();

// A monotonically increasing value. Thread-safe; owned by its MetricsRegistry.
class Counter {
 public:
  // Adds `v` (must be >= 0; negative values are ignored, since a counter never decreases).
  void Inc(double v = 1.0) {
    if (v > 0) value_.fetch_add(v, std::memory_order_relaxed);
  }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A value that goes up and down. Thread-safe; owned by its MetricsRegistry.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Counts observations into fixed buckets and keeps their sum. Thread-safe: Observe is a binary
// search and two relaxed atomic adds. Owned by its MetricsRegistry.
class Histogram {
 public:
  // `bounds`: strictly increasing, finite upper bounds (the +Inf bucket is implicit).
  explicit Histogram(std::vector<double> bounds);

  // Records one observation (for latencies: in seconds). NaN is ignored.
  void Observe(double v);

  // The upper bounds given at registration, without +Inf.
  const std::vector<double>& bounds() const { return bounds_; }
  // Observations per bucket, not cumulative: size bounds().size() + 1, the last is (max bound, +Inf].
  std::vector<uint64_t> BucketCounts() const;
  // Total number of observations and their sum. Under concurrent Observe calls these are read
  // separately, so a snapshot may be off by the observations in flight.
  uint64_t count() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // size bounds_.size() + 1
  std::atomic<double> sum_{0.0};
};

// The set of metric families of one process. Thread-safe: registration and Render take an internal
// mutex; the metric objects it hands out are updated with atomics only. Metric references stay
// valid for the registry's lifetime. Not copyable.
class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Returns the counter `name`{labels}, creating the family and/or the labelled child on first use;
  // later calls with the same name and label values return the same object. `help` is taken from
  // the first registration of the family. Aborts (see the file comment) on an invalid name or
  // label name, a family registered with another type or other label names.
  // Prometheus convention: counter names end in "_total".
  Counter& counter(std::string_view name, std::string_view help, const MetricLabels& labels = {});

  // Same as counter(), for a gauge that the caller sets.
  Gauge& gauge(std::string_view name, std::string_view help, const MetricLabels& labels = {});

  // Registers a gauge whose value is `fn()` evaluated at each Render (e.g. open connections, cache
  // size). `fn` is called from the thread calling Render, without the registry's lock held (so it
  // may itself use the registry), and must stay callable for the registry's lifetime. Registering
  // the same name and label values again replaces the callback. Aborts like counter().
  void gauge_callback(std::string_view name, std::string_view help, const MetricLabels& labels,
                      std::function<double()> fn);

  // Registers a counter whose value is `fn()` at each Render: a monotonic count kept elsewhere
  // (e.g. the response cache's hits). Same rules as gauge_callback; `fn` must never decrease.
  void counter_callback(std::string_view name, std::string_view help, const MetricLabels& labels,
                        std::function<double()> fn);

  // Same as counter(), for a histogram with upper `bounds` (strictly increasing, finite; +Inf is
  // implicit). Aborts also when the bounds are invalid or differ from the family's first
  // registration.
  Histogram& histogram(std::string_view name, std::string_view help, const MetricLabels& labels,
                       const std::vector<double>& bounds);

  // Every family in registration order (children in registration order too), in the Prometheus
  // text format 0.0.4: "# HELP" and "# TYPE" once per family, label values escaped, histograms as
  // cumulative _bucket{le="..."} lines ending with le="+Inf", then _sum and _count. A family whose
  // children are all callback gauges is rendered like any gauge. Thread-safe; may run concurrently
  // with updates (each value is read atomically; a histogram's lines may straddle an Observe).
  std::string Render() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Child;
  struct Family;

  // Finds or creates the child; aborts on a rule violation. Called with mu_ held.
  Child& GetChild(std::string_view name, std::string_view help, Type type, const MetricLabels& labels,
                  const std::vector<double>* bounds);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;  // append-only, so Render can snapshot pointers
  std::unordered_map<std::string, Family*> by_name_;
};

}  // namespace vrec::serving
