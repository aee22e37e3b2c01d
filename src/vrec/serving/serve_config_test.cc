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

}  // namespace
}  // namespace vrec::serving
