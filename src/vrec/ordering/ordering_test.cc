// Unit tests for what the scenario files cannot express well: option validation, inputs outside
// the catalog, the empty promo predicate, and a brute-force check of the diversity rule. The
// rules themselves are covered by testdata/*.scenario (scenario_test.cc).
#include "vrec/ordering/ordering.h"

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <random>

#include "vrec/common/strings.h"

namespace vrec::ordering {
namespace {

TEST(OrderingOptions, DefaultsAreValid) { EXPECT_TRUE(Validate(OrderingOptions()).ok()); }

TEST(OrderingOptions, ValidateReportsEveryBadFieldAtOnce) {
  OrderingOptions o;
  o.max_per_category = -1;
  o.diversity_window = -2;
  o.freshness_boost = std::numeric_limits<double>::quiet_NaN();
  o.freshness_half_life_hours = 0;
  o.promos = {{VideoId{1}, 0}, {VideoId{2}, 3}, {VideoId{3}, 3}, {VideoId{2}, 4}};
  const Status st = Validate(o);
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument);
  for (const char* part :
       {"max_per_category", "diversity_window", "freshness_boost", "freshness_half_life_hours",
        "promo 1: position must be >= 1", "promo 3: position 3 is taken twice", "promo 2 is listed twice"}) {
    EXPECT_NE(st.message().find(part), std::string::npos) << part << " missing from: " << st.message();
  }
}

data::Dataset Catalog(int n, int categories) {
  data::Dataset ds;
  for (int c = 0; c < categories; ++c) ds.InternCategory(StrCat("c", c));
  for (int i = 0; i < n; ++i) {
    data::Video v;
    v.id = VideoId{static_cast<uint64_t>(1000 + i)};
    v.categories = {static_cast<uint16_t>(i % categories)};
    EXPECT_TRUE(ds.AddVideo(v).ok());
  }
  return ds;
}

TEST(Order, DropsCandidatesOutsideTheCatalog) {
  const data::Dataset catalog = Catalog(3, 1);
  const auto out = Order({{5, 0.9f}, {1, 0.5f}, {3, 0.7f}}, 10, catalog, 0, OrderingOptions(), nullptr);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], (OrderedItem{1, 0.5f, OrderedItem::kRanked}));
}

TEST(Order, AnEmptyPredicateAllowsEveryPromo) {
  const data::Dataset catalog = Catalog(3, 1);
  OrderingOptions o;
  o.promos = {{VideoId{1002}, 1}};
  const auto out = Order({{0, 0.9f}}, 10, catalog, 0, o, PromoAllowed());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], (OrderedItem{2, 0.0f, OrderedItem::kPromoted}));
}

TEST(Order, NegativeCountGivesNothing) {
  const data::Dataset catalog = Catalog(3, 1);
  OrderingOptions o;
  o.promos = {{VideoId{1002}, 1}};
  EXPECT_TRUE(Order({{0, 0.9f}}, -1, catalog, 0, o, nullptr).empty());
}

// The greedy rule restated naively: slot by slot, the best remaining candidate whose category is
// not full; compared with Order on random lists.
TEST(Order, DiversityMatchesANaiveGreedyOnRandomLists) {
  std::mt19937 rng(11);
  for (int round = 0; round < 300; ++round) {
    const int categories = 1 + static_cast<int>(rng() % 5);
    const data::Dataset catalog = Catalog(60, categories);
    std::vector<Candidate> ranked;
    for (uint32_t v = 0; v < 60; ++v) {
      if (rng() % 2 == 0) ranked.push_back({v, static_cast<float>(rng() % 1000)});
    }
    OrderingOptions o;
    o.max_per_category = 1 + static_cast<int>(rng() % 3);
    o.diversity_window = static_cast<int>(rng() % 12);
    const auto out = Order(ranked, 100, catalog, 0, o, nullptr);

    std::vector<Candidate> rest = ranked;
    std::stable_sort(rest.begin(), rest.end(),
                     [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
    std::vector<uint32_t> want;
    std::map<uint16_t, int> used;
    while (static_cast<int>(want.size()) < o.diversity_window) {
      auto it = std::find_if(rest.begin(), rest.end(), [&](const Candidate& c) {
        return used[catalog.videos[c.video].categories[0]] < o.max_per_category;
      });
      if (it == rest.end()) break;
      ++used[catalog.videos[it->video].categories[0]];
      want.push_back(it->video);
      rest.erase(it);
    }
    for (const Candidate& c : rest) want.push_back(c.video);

    std::vector<uint32_t> got;
    for (const OrderedItem& item : out) got.push_back(item.video);
    ASSERT_EQ(got, want) << "round " << round;
  }
}

}  // namespace
}  // namespace vrec::ordering
