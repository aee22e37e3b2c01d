#include "vrec/experiments/ledger.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

namespace vrec::experiments {
namespace {

using Named = std::vector<std::pair<std::string, std::vector<double>>>;

// What the store does with the ledger's flushes: adds them up by name.
struct FakeStore {
  std::map<std::string, std::vector<double>> sums;
  void Add(const Named& delta) {
    for (const auto& [name, values] : delta) {
      auto& s = sums[name];
      if (s.size() < values.size()) s.resize(values.size());
      for (size_t i = 0; i < values.size(); ++i) s[i] += values[i];
    }
  }
  Named All() const { return {sums.begin(), sums.end()}; }
};

// Simulated traffic: `users` users, each shown 20 items per request on `requests` requests, playing
// each with probability `ctr` (times a per-user factor), into arm (version, variant).
void Simulate(Ledger& ledger, const std::string& version, const std::string& variant, uint64_t first_user,
              int users, double ctr, std::mt19937_64& rng, double latency_s = 0.002, double error_rate = 0) {
  std::gamma_distribution<double> taste(4.0, 0.25);  // mean 1
  std::uniform_real_distribution<double> u(0, 1);
  for (uint64_t user = first_user; user < first_user + static_cast<uint64_t>(users); ++user) {
    const double p = std::min(1.0, ctr * taste(rng));
    Sums s;
    s.impressions = 20;
    for (int i = 0; i < 20; ++i) s.plays += u(rng) < p;
    s.completions = std::floor(s.plays / 2);
    s.watch_s = 30 * s.plays;
    ledger.Count({"e", version, variant, "home"}, user, s);
    ledger.Request({"e", version, variant, ""}, latency_s, u(rng) < error_rate);
  }
}

TEST(LedgerTest, CountsSurviveAFlushAndARestoreAndNamesAreEscaped) {
  Ledger ledger;
  FakeStore store;
  EXPECT_TRUE(ledger.empty());
  ledger.Count({"e", "v000001", "a/b%c", "home"}, 7, {.impressions = 10, .plays = 2, .watch_s = 60});
  ledger.Count({"e", "v000001", "a/b%c", "home"}, 7, {.impressions = 5, .plays = 1});
  ledger.Request({"e", "v000001", "a/b%c", ""}, 0.003, false);
  ledger.Request({"e", "v000001", "a/b%c", ""}, 0.2, true);
  Named taken = ledger.Take();
  EXPECT_TRUE(ledger.empty());
  ASSERT_EQ(taken.size(), 2u);
  ledger.Restore(taken);  // a failed flush: added again with the next one
  ledger.Count({"e", "v000001", "a/b%c", "home"}, 7, {.impressions = 1});
  store.Add(ledger.Take());
  for (const auto& [name, values] : store.sums) {
    EXPECT_EQ(name.find("a/b%c"), std::string::npos) << "escaped: " << name;
  }
  auto data = ParseLedger(store.All());
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  ASSERT_EQ(data->arms.size(), 1u);
  const auto& [key, arm] = *data->arms.begin();
  EXPECT_EQ(key, (ArmKey{"e", "v000001", "a/b%c", "home"}));
  EXPECT_EQ(data->Epochs(), std::vector<std::string>{"e"});
  const Sums total = arm.Total();
  EXPECT_EQ(total.impressions, 16);
  EXPECT_EQ(total.plays, 3);
  EXPECT_EQ(total.watch_s, 60);
  EXPECT_EQ(arm.buckets[static_cast<size_t>(BucketOf(7))].impressions, 16) << "one user, one bucket";
  const Guardrails& g = data->guardrails.at(ArmKey{"e", "v000001", "a/b%c", ""});
  EXPECT_EQ(g.requests, 2);
  EXPECT_DOUBLE_EQ(g.ErrorRate(), 0.5);
  EXPECT_GT(g.LatencyQuantile(0.99), 0.1);
  EXPECT_LT(g.LatencyQuantile(0.25), 0.005);

  for (const Named& bad :
       {Named{{"exp/x/e/v1/a", {1}}}, Named{{"exp/a/e/v1/a/home", {1}}}, Named{{"exp/a/e/v1/a/home/64", {1}}},
        Named{{"exp/a/e/v1/a/home/1", std::vector<double>(8)}}, Named{{"exp/a/e/v1/a%2/home/1", {1}}},
        Named{{"exp/g/e/v1", {1}}}}) {
    EXPECT_EQ(ParseLedger(bad).status().code(), StatusCode::kDataLoss) << bad[0].first;
  }
}

TEST(LedgerTest, ComparesVariantsOfAVersionAndVersionsPooledOverTheRest) {
  Ledger ledger;
  std::mt19937_64 rng(7);
  Simulate(ledger, "v1", "control", 0, 3000, 0.10, rng);
  Simulate(ledger, "v1", "bold", 3000, 3000, 0.13, rng);
  Simulate(ledger, "v2", "control", 6000, 3000, 0.10, rng);
  FakeStore store;
  store.Add(ledger.Take());
  auto data = ParseLedger(store.All());
  ASSERT_TRUE(data.ok());

  auto variants = Compare(*data, "e", Grouping::kVariantsOfVersion, "v1", "control", "", {});
  ASSERT_TRUE(variants.ok()) << variants.status().ToString();
  ASSERT_EQ(variants->arms.size(), 2u);
  EXPECT_EQ(variants->arms[0].name, "control");
  EXPECT_EQ(variants->arms[1].name, "bold");
  const Comparison& c = variants->arms[1].vs_control.at(Metric::kCtr);
  EXPECT_TRUE(c.significant);
  EXPECT_NEAR(c.relative, 0.3, 0.08);
  EXPECT_EQ(variants->guardrails[1].requests, 3000);

  auto versions = Compare(*data, "e", Grouping::kVersions, "", "v1", "", {});
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->arms.size(), 2u);
  EXPECT_EQ(versions->arms[0].total.impressions, 6000 * 20) << "v1 pools both variants";
  EXPECT_EQ(versions->guardrails[0].requests, 6000);
  EXPECT_EQ(Compare(*data, "e", Grouping::kVersions, "", "v9", "", {}).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(Compare(*data, "e", Grouping::kVersions, "", "v1", "up_next", {}).status().code(),
            StatusCode::kNotFound)
      << "no data on that surface";
  EXPECT_EQ(Compare(*data, "other", Grouping::kVersions, "", "v1", "", {}).status().code(),
            StatusCode::kNotFound)
      << "no data in that epoch";

  const auto json = nlohmann::json::parse(ReportJson(*variants));
  EXPECT_EQ(json["control"], "control");
  EXPECT_EQ(json["arms"][1]["vs_control"]["ctr"]["significant"], true);
  EXPECT_FALSE(json["arms"][0].contains("vs_control"));
  EXPECT_NEAR(json["arms"][0]["metrics"]["ctr"]["value"].get<double>(), 0.10, 0.01);
  EXPECT_NE(ReportText(*variants).find("bold: impressions=60000"), std::string::npos)
      << ReportText(*variants);
}

TEST(LedgerTest, CanaryUsersAreTheirShareAndChangeWithTheVersion) {
  int in = 0, both = 0;
  for (uint64_t u = 0; u < 100'000; ++u) {
    const bool a = InCanary(u, "v000002", 0.05);
    in += a;
    both += a && InCanary(u, "v000003", 0.05);
    EXPECT_EQ(a, InCanary(u, "v000002", 0.05));
    if (a) {
      EXPECT_TRUE(InCanary(u, "v000002", 0.2)) << "a larger share keeps the users of a smaller one";
    }
  }
  EXPECT_NEAR(in, 5000, 300);
  EXPECT_NEAR(both, 250, 60) << "another version draws other users";
  EXPECT_FALSE(InCanary(1, "v000002", 0));
  EXPECT_TRUE(InCanary(1, "v000002", 1));
}

TEST(LedgerTest, ACanaryIsPromotedWhenNotWorseAndRolledBackWhenWorseOrFailing) {
  const CanaryPolicy policy{.window_s = 600, .min_impressions = 10'000};
  const auto decide = [&](double canary_ctr, int64_t elapsed, int canary_users = 10'000,
                          double latency = 0.002, double errors = 0) {
    Ledger ledger;
    std::mt19937_64 rng(11);
    Simulate(ledger, "prod", "default", 0, 40'000, 0.10, rng);
    Simulate(ledger, "cand", "default", 20'000, canary_users, canary_ctr, rng, latency, errors);
    FakeStore store;
    store.Add(ledger.Take());
    return DecideCanary(*ParseLedger(store.All()), "e", "cand", "prod", elapsed, policy);
  };
  using V = CanaryDecision::Verdict;
  EXPECT_EQ(decide(0.10, 300).verdict, V::kWait) << "the window has not passed";
  EXPECT_EQ(decide(0.10, 900, 100).verdict, V::kWait) << "2000 impressions of 10000";
  const CanaryDecision same = decide(0.10, 900);
  EXPECT_EQ(same.verdict, V::kPromote) << same.reason;
  EXPECT_NE(same.reason.find("ctr"), std::string::npos);
  EXPECT_EQ(decide(0.12, 900).verdict, V::kPromote);
  EXPECT_EQ(decide(0.10, 900, 2000).verdict, V::kWait) << "+/-4% is too wide to tell a 5% drop";
  const CanaryDecision worse = decide(0.09, 900);
  EXPECT_EQ(worse.verdict, V::kRollBack);
  EXPECT_NE(worse.reason.find("ctr -"), std::string::npos) << worse.reason;
  // Guardrails act before the window ends.
  const CanaryDecision failing = decide(0.10, 60, 1500, 0.002, 0.05);
  EXPECT_EQ(decide(0.10, 60, 1500, 0.002, 0.005).verdict, V::kWait) << "within the allowed error rate";
  EXPECT_EQ(failing.verdict, V::kRollBack);
  EXPECT_NE(failing.reason.find("error rate"), std::string::npos) << failing.reason;
  EXPECT_EQ(decide(0.10, 60, 500, 0.2).verdict, V::kWait) << "500 requests: too few for a p99";
  const CanaryDecision slow = decide(0.10, 60, 1500, 0.2);
  EXPECT_EQ(slow.verdict, V::kRollBack);
  EXPECT_NE(slow.reason.find("p99"), std::string::npos) << slow.reason;
  // Starved of traffic for three windows: ended, it cannot be judged.
  EXPECT_EQ(decide(0.10, 1800, 100).verdict, V::kRollBack);
}

}  // namespace
}  // namespace vrec::experiments
