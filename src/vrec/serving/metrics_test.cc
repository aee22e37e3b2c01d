#include "vrec/serving/metrics.h"

#include <gtest/gtest.h>

#include <limits>
#include <thread>
#include <vector>

namespace vrec::serving {
namespace {

TEST(MetricsRegistry, RendersTheExpositionFormatExactly) {
  MetricsRegistry registry;
  Counter& ok =
      registry.counter("vrec_requests_total", "Requests served.", {{"route", "/recommend"}, {"code", "200"}});
  Counter& bad = registry.counter("vrec_requests_total", "ignored: help of the first registration wins",
                                  {{"route", "/recommend"}, {"code", "400"}});
  Gauge& loaded = registry.gauge("vrec_model_loaded", "Whether a model is loaded.");
  int calls = 0;
  registry.gauge_callback("vrec_open_connections", "Open HTTP connections.", {}, [&calls] {
    ++calls;
    return 7.0;
  });
  Histogram& latency = registry.histogram("vrec_latency_seconds", "Latency.\nSecond line \\ backslash.",
                                          {{"route", "/recommend"}}, {0.001, 0.01, 0.1});

  ok.Inc();
  ok.Inc(2);
  bad.Inc();
  loaded.Set(1);
  loaded.Add(-0.5);
  // Powers of two, so that the sum is exact in binary.
  latency.Observe(0.0009765625);
  latency.Observe(0.0078125);
  latency.Observe(0.0625);
  latency.Observe(4.0);  // only in +Inf

  const std::string expected =
      "# HELP vrec_requests_total Requests served.\n"
      "# TYPE vrec_requests_total counter\n"
      "vrec_requests_total{route=\"/recommend\",code=\"200\"} 3\n"
      "vrec_requests_total{route=\"/recommend\",code=\"400\"} 1\n"
      "# HELP vrec_model_loaded Whether a model is loaded.\n"
      "# TYPE vrec_model_loaded gauge\n"
      "vrec_model_loaded 0.5\n"
      "# HELP vrec_open_connections Open HTTP connections.\n"
      "# TYPE vrec_open_connections gauge\n"
      "vrec_open_connections 7\n"
      "# HELP vrec_latency_seconds Latency.\\nSecond line \\\\ backslash.\n"
      "# TYPE vrec_latency_seconds histogram\n"
      "vrec_latency_seconds_bucket{route=\"/recommend\",le=\"0.001\"} 1\n"
      "vrec_latency_seconds_bucket{route=\"/recommend\",le=\"0.01\"} 2\n"
      "vrec_latency_seconds_bucket{route=\"/recommend\",le=\"0.1\"} 3\n"
      "vrec_latency_seconds_bucket{route=\"/recommend\",le=\"+Inf\"} 4\n"
      "vrec_latency_seconds_sum{route=\"/recommend\"} 4.0712890625\n"
      "vrec_latency_seconds_count{route=\"/recommend\"} 4\n";
  EXPECT_EQ(registry.Render(), expected);
  EXPECT_EQ(calls, 1);
}

TEST(Histogram, BucketsAreUpperInclusive) {
  Histogram h({0.001, 0.01});
  h.Observe(0.001);
  h.Observe(0.0010001);
  h.Observe(0.01);
  h.Observe(std::numeric_limits<double>::quiet_NaN());  // ignored
  EXPECT_EQ(h.BucketCounts(), (std::vector<uint64_t>{1, 2, 0}));
  EXPECT_EQ(h.count(), 3u);
}

TEST(MetricsRegistry, SameNameAndLabelsReturnTheSameMetric) {
  MetricsRegistry registry;
  Counter& a = registry.counter("c_total", "h", {{"k", "v"}});
  Counter& b = registry.counter("c_total", "h", {{"k", "v"}});
  Counter& other = registry.counter("c_total", "h", {{"k", "w"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &other);
  Histogram& h1 = registry.histogram("h_seconds", "h", {}, DefaultLatencyBuckets());
  Histogram& h2 = registry.histogram("h_seconds", "h", {}, DefaultLatencyBuckets());
  EXPECT_EQ(&h1, &h2);
}

TEST(MetricsRegistry, EscapesLabelValues) {
  MetricsRegistry registry;
  registry.counter("c_total", "h", {{"path", "a\"b\\c\nd"}}).Inc();
  EXPECT_EQ(registry.Render(),
            "# HELP c_total h\n"
            "# TYPE c_total counter\n"
            "c_total{path=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricsRegistry, RendersSpecialValuesInGoSpelling) {
  MetricsRegistry registry;
  registry.gauge("g", "h", {{"k", "inf"}}).Set(std::numeric_limits<double>::infinity());
  registry.gauge("g", "h", {{"k", "ninf"}}).Set(-std::numeric_limits<double>::infinity());
  registry.gauge("g", "h", {{"k", "nan"}}).Set(std::numeric_limits<double>::quiet_NaN());
  registry.gauge("g", "h", {{"k", "small"}}).Set(2.5e-05);
  EXPECT_EQ(registry.Render(),
            "# HELP g h\n"
            "# TYPE g gauge\n"
            "g{k=\"inf\"} +Inf\n"
            "g{k=\"ninf\"} -Inf\n"
            "g{k=\"nan\"} NaN\n"
            "g{k=\"small\"} 2.5e-05\n");
}

TEST(MetricsRegistry, CounterIgnoresNegativeIncrements) {
  MetricsRegistry registry;
  Counter& c = registry.counter("c_total", "h");
  c.Inc(5);
  c.Inc(-3);
  EXPECT_EQ(c.value(), 5);
}

TEST(MetricsRegistry, CallbackGaugeMayUseTheRegistry) {
  // Render runs callbacks without its lock: a callback that reads another metric must not deadlock.
  MetricsRegistry registry;
  Counter& c = registry.counter("c_total", "h");
  c.Inc(4);
  registry.gauge_callback("twice", "h", {},
                          [&registry] { return 2 * registry.counter("c_total", "h").value(); });
  EXPECT_NE(registry.Render().find("twice 8\n"), std::string::npos);
}

TEST(MetricsRegistry, ConcurrentUpdatesSumExactly) {
  MetricsRegistry registry;
  Counter& counter = registry.counter("c_total", "h");
  Gauge& gauge = registry.gauge("g", "h");
  Histogram& histogram = registry.histogram("h_seconds", "h", {}, {0.5});
  constexpr int kThreads = 4, kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        counter.Inc();
        gauge.Add(1);
        histogram.Observe(t % 2 == 0 ? 0.25 : 1.0);  // exact in binary, so the sum is exact too
        // Lazy registration racing with updates and rendering.
        if (i % 10000 == 0) {
          registry.counter("lazy_total", "h", {{"t", std::to_string(t)}}).Inc();
          (void)registry.Render();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(counter.value(), kThreads * kPerThread);
  EXPECT_EQ(gauge.value(), kThreads * kPerThread);
  EXPECT_EQ(histogram.count(), static_cast<uint64_t>(kThreads * kPerThread));
  const std::vector<uint64_t> buckets = histogram.BucketCounts();
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_EQ(buckets[0], static_cast<uint64_t>(kThreads / 2 * kPerThread));
  EXPECT_EQ(buckets[1], static_cast<uint64_t>(kThreads / 2 * kPerThread));
  EXPECT_EQ(histogram.sum(), kThreads / 2 * kPerThread * 1.25);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(registry.counter("lazy_total", "h", {{"t", std::to_string(t)}}).value(), kPerThread / 10000);
  }
}

TEST(MetricsRegistry, SpellsBucketBoundsLikeTheGoClient) {
  MetricsRegistry registry;
  registry.histogram("h_seconds", "h", {}, {5e-05, 0.0001, 0.00025, 2.5, 100000});
  const std::string out = registry.Render();
  for (const char* le : {"5e-05", "0.0001", "0.00025", "2.5", "100000", "+Inf"}) {
    EXPECT_NE(out.find(std::string("h_seconds_bucket{le=\"") + le + "\"} 0\n"), std::string::npos)
        << le << "\n"
        << out;
  }
}

TEST(MetricsRegistry, DefaultLatencyBucketsSpan50usTo2s) {
  const std::vector<double>& b = DefaultLatencyBuckets();
  ASSERT_FALSE(b.empty());
  EXPECT_DOUBLE_EQ(b.front(), 50e-6);
  EXPECT_DOUBLE_EQ(b.back(), 2.0);
  for (size_t i = 1; i < b.size(); ++i) {
    EXPECT_GT(b[i], b[i - 1]);
    EXPECT_LE(b[i] / b[i - 1], 2.5 + 1e-9) << "step " << i;
  }
}

TEST(MetricsRegistryDeathTest, RejectsMisuse) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  MetricsRegistry registry;
  registry.counter("c_total", "h", {{"k", "v"}});
  EXPECT_DEATH(registry.gauge("c_total", "h", {{"k", "v"}}), "another metric type");
  EXPECT_DEATH(registry.counter("c_total", "h", {{"other", "v"}}), "label names");
  EXPECT_DEATH(registry.counter("bad-name", "h"), "invalid metric name");
  EXPECT_DEATH(registry.counter("ok_total", "h", {{"__reserved", "v"}}), "invalid label name");
  EXPECT_DEATH(registry.histogram("h_seconds", "h", {}, {0.1, 0.1}), "strictly increasing");
  registry.histogram("h2_seconds", "h", {}, {0.1, 0.2});
  EXPECT_DEATH(registry.histogram("h2_seconds", "h", {}, {0.1, 0.3}), "bucket bounds differ");
  registry.counter_callback("cb_total", "h", {{"k", "v"}}, [] { return 1.0; });
  EXPECT_DEATH(registry.counter("cb_total", "h", {{"k", "v"}}), "callback counter");
  EXPECT_DEATH(registry.counter_callback("c_total", "h", {{"k", "v"}}, [] { return 1.0; }),
               "incremented counter");
}

TEST(MetricsRegistry, CallbackCountersRenderAsCounters) {
  MetricsRegistry registry;
  double hits = 3;
  registry.counter_callback("cache_lookups_total", "Lookups.", {{"result", "hit"}}, [&] { return hits; });
  registry.counter_callback("cache_lookups_total", "Lookups.", {{"result", "miss"}}, [] { return 1.0; });
  hits = 5;
  EXPECT_EQ(registry.Render(),
            "# HELP cache_lookups_total Lookups.\n"
            "# TYPE cache_lookups_total counter\n"
            "cache_lookups_total{result=\"hit\"} 5\n"
            "cache_lookups_total{result=\"miss\"} 1\n");
}

}  // namespace
}  // namespace vrec::serving
