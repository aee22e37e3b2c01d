#include "vrec/serving/serve_config.h"

#include <gtest/gtest.h>

#include "vrec/config/source.h"

namespace vrec::serving {
namespace {

std::vector<std::string> Bind(std::string_view text, ServeConfig& config) {
  config::Source src;
  src.LoadString(text, "vrec.toml");
  config::Binder b(src);
  BindServeConfig(b, config);
  std::vector<std::string> out;
  for (const config::Problem& p : b.Problems()) out.push_back(p.ToString());
  return out;
}

TEST(ServeConfig, VariantOverridesAndSurfaceAgesAreTyped) {
  ServeConfig c;
  EXPECT_EQ(Bind("[experiment]\n"
                 "name = \"e\"\n"
                 "[experiment.variant.a]\n"
                 "weight = 2\n"
                 "retrieval.candidates = 200\n"
                 "ranking.enabled = false\n"
                 "ordering.freshness_boost = 0.5\n"
                 "[experiment.variant.b]\n"
                 "weight = 0.5\n"
                 "[filtering.max_upload_age_by_surface]\n"
                 "fresh = \"7d\"\n"
                 "trending = \"36h\"\n",
                 c),
            std::vector<std::string>{});
  ASSERT_EQ(c.experiment.variants.size(), 2u);
  const ordering::Variant& a = c.experiment.variants[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.weight, 2.0);
  EXPECT_EQ(a.overrides, (std::map<std::string, std::string>{{"ordering.freshness_boost", "0.5"},
                                                             {"ranking.enabled", "false"},
                                                             {"retrieval.candidates", "200"}}));
  EXPECT_EQ(c.experiment.variants[1].weight, 0.5);
  EXPECT_EQ(c.recommend.filter.max_upload_age_s,
            (std::map<std::string, int64_t, std::less<>>{{"fresh", 7 * 86400}, {"trending", 36 * 3600}}));
  c.registry = "/registry";
  ASSERT_TRUE(FinishServeConfig(c).ok()) << FinishServeConfig(c).ToString();
  ASSERT_EQ(c.variants.size(), 2u);
  EXPECT_EQ(c.variants[0].recommend.retrieve, 200);
  EXPECT_FALSE(c.variants[0].recommend.rank);
  EXPECT_EQ(c.variants[0].recommend.ordering.freshness_boost, 0.5);
}

TEST(ServeConfig, WrongTypesInDynamicSectionsAreProblems) {
  ServeConfig c;
  EXPECT_EQ(
      Bind("[filtering.max_upload_age_by_surface]\n"  // 1
           "fresh = 7\n"                              // 2
           "[experiment.variant.a]\n"                 // 3
           "retrieval.candidates = \"200\"\n"         // 4
           "ranking.enabled = \"no\"\n"               // 5
           "ordering.max_per_category = 1.5\n"        // 6
           "ranking.candidates = true\n"              // 7
           "weight = \"1\"\n",                        // 8
           c),
      (std::vector<std::string>{
          "vrec.toml:2: filtering.max_upload_age_by_surface.fresh: expected a duration string such as "
          "\"250ms\" or \"5s\", got an integer 7 (durations are strings with a unit, e.g. \"7s\")",
          "vrec.toml:4: experiment.variant.a.retrieval.candidates: expected a number or a boolean, got a "
          "string \"200\"",
          "vrec.toml:5: experiment.variant.a.ranking.enabled: expected a number or a boolean, got a string "
          "\"no\"",
          "vrec.toml:6: experiment.variant.a.ordering.max_per_category: ordering.max_per_category: cannot "
          "parse '1.5' as a number",
          "vrec.toml:7: experiment.variant.a.ranking.candidates: 'true' is not an integer",
          "vrec.toml:8: experiment.variant.a.weight: weight must be a number > 0",
      }));
}

TEST(ServeConfig, ExplorationIsOffByDefaultAndItsKeysAreRead) {
  ServeConfig defaults;
  EXPECT_EQ(Bind("", defaults), std::vector<std::string>{});
  EXPECT_EQ(defaults.recommend.ordering.explore.share, 0.0);
  ServeConfig c;
  EXPECT_EQ(Bind("[ordering]\n"
                 "explore_share = 0.1\n"
                 "explore_fresh_hours = 24\n"
                 "explore_candidates = 30\n"
                 "explore_positions = [4, 9]\n"
                 "explore_prior_plays = 2\n"
                 "explore_prior_skips = 0.5\n"
                 "[experiment]\n"
                 "name = \"explore\"\n"
                 "[experiment.variant.control]\n"
                 "ordering.explore_share = 0\n"
                 "[experiment.variant.more]\n"
                 "ordering.explore_share = 0.2\n",
                 c),
            std::vector<std::string>{});
  const ordering::ExploreOptions& x = c.recommend.ordering.explore;
  EXPECT_EQ(x.share, 0.1);
  EXPECT_EQ(x.fresh_hours, 24);
  EXPECT_EQ(x.candidates, 30);
  EXPECT_EQ(x.positions, (std::vector<int>{4, 9}));
  EXPECT_EQ(x.prior_plays, 2);
  EXPECT_EQ(x.prior_skips, 0.5);
  c.registry = "/registry";
  ASSERT_TRUE(FinishServeConfig(c).ok()) << FinishServeConfig(c).ToString();
  ASSERT_EQ(c.variants.size(), 2u);
  EXPECT_EQ(c.variants[0].recommend.ordering.explore.share, 0.0);
  EXPECT_EQ(c.variants[1].recommend.ordering.explore.share, 0.2);
  EXPECT_EQ(c.variants[1].recommend.ordering.explore.positions, (std::vector<int>{4, 9}));
}

TEST(ServeConfig, BadExplorationSettingsAreClearErrors) {
  ServeConfig c;
  EXPECT_EQ(Bind("[ordering]\n"                      // 1
                 "explore_share = 1.5\n"             // 2
                 "explore_candidates = 0\n"          // 3
                 "explore_positions = [0, 3]\n"      // 4
                 "explore_prior_skips = 0\n"         // 5
                 "[experiment.variant.a]\n"          // 6
                 "ordering.explore_share = -0.5\n",  // 7
                 c),
            (std::vector<std::string>{
                "vrec.toml:2: ordering.explore_share: 1.5 is above the maximum 1",
                "vrec.toml:3: ordering.explore_candidates: 0 is below the minimum 1",
                "vrec.toml:4: ordering.explore_positions: 0 is outside [1, 1000]",
                "vrec.toml:5: ordering.explore_prior_skips: must be > 0",
                "vrec.toml:7: experiment.variant.a.ordering.explore_share: ordering.explore_share: invalid "
                "ordering "
                "options: explore_share must be in [0, 1] (0 = off), got -0.5",
            }));
  // Repeated positions pass the binder (each is in range) and fail at the start.
  ServeConfig twice;
  EXPECT_EQ(Bind("[ordering]\nexplore_positions = [3, 3]\n", twice), std::vector<std::string>{});
  twice.registry = "/registry";
  const Status st = FinishServeConfig(twice);
  EXPECT_NE(st.message().find("explore_positions: 3 is listed twice"), std::string::npos) << st.ToString();
}

TEST(ServeConfig, BlendWeightsPerSurfaceInheritTheDefaults) {
  ServeConfig c;
  EXPECT_EQ(Bind("[ranking.blend]\n"
                 "watch = 0.5\n"
                 "[ranking.blend.surface.shorts]\n"
                 "ranker = 0\n"
                 "like = 2\n"
                 "[ranking.blend.surface.tv]\n"
                 "watch = 3\n"
                 "[experiment]\n"
                 "name = \"e\"\n"
                 "[experiment.variant.likes]\n"
                 "ranking.blend.like = 1\n",
                 c),
            std::vector<std::string>{});
  const ranking::BlendOptions& b = c.recommend.blend;
  EXPECT_EQ(b.defaults, (ranking::BlendWeights{.ranker = 1, .watch = 0.5}));
  EXPECT_EQ(b.For("shorts"), (ranking::BlendWeights{.ranker = 0, .watch = 0.5, .like = 2}));
  EXPECT_EQ(b.For("tv"), (ranking::BlendWeights{.ranker = 1, .watch = 3}));
  EXPECT_EQ(b.For("home"), b.defaults);
  c.registry = "/registry";
  ASSERT_TRUE(FinishServeConfig(c).ok()) << FinishServeConfig(c).ToString();
  // A variant's override sets its default weights; surfaces with their own keep them.
  EXPECT_EQ(c.variants[0].recommend.blend.defaults,
            (ranking::BlendWeights{.ranker = 1, .watch = 0.5, .like = 1}));
  EXPECT_EQ(c.variants[0].recommend.blend.For("tv").like, 0.0);
}

TEST(ServeConfig, BadBlendWeightsAreProblemsWithTheirLines) {
  ServeConfig c;
  EXPECT_EQ(
      Bind("[ranking.blend]\n"                 // 1
           "like = -1\n"                       // 2
           "[ranking.blend.surface.shorts]\n"  // 3
           "ranker = 0\n"                      // 4
           "[ranking.blend.surface.tv]\n"      // 5
           "watch = \"lots\"\n"                // 6
           "liek = 1\n",                       // 7
           c),
      (std::vector<std::string>{
          "vrec.toml:2: ranking.blend.like: -1 is below the minimum 0",
          "vrec.toml:4: ranking.blend.surface.shorts.ranker: every weight of the blend is 0 (weight the "
          "ranker or a head)",
          "vrec.toml:6: ranking.blend.surface.tv.watch: expected a number, got a string \"lots\"",
          "vrec.toml:7: unknown key 'ranking.blend.surface.tv.liek' (did you mean "
          "'ranking.blend.surface.tv.like'?)",
      }));
  // An experiment variant's weight is checked when the variants are derived.
  ServeConfig v;
  ASSERT_EQ(Bind("[experiment]\nname = \"e\"\n[experiment.variant.a]\nranking.blend.ranker = 0\n", v),
            std::vector<std::string>{});
  v.registry = "/registry";
  const Status s = FinishServeConfig(v);
  EXPECT_NE(s.message().find("variant a: ranking.blend: every weight is 0"), std::string::npos)
      << s.message();
  RecommendOptions o;
  EXPECT_EQ(ApplyOverride("ranking.blend.share", "1", o).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ApplyOverride("ranking.blend.like", "x", o).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vrec::serving
