#include "vrec/retrieval/rank_fusion.h"

#include <gtest/gtest.h>

namespace vrec::retrieval {
namespace {

class Fixed final : public ItemScorer {
 public:
  explicit Fixed(std::vector<double> s) : s_(std::move(s)) {}
  std::string_view Name() const override { return "fixed"; }
  Status Fit(const data::Dataset&, std::span<const data::Interaction>) override { return OkStatus(); }
  void ScoreAll(uint32_t, std::span<double> out) const override {
    std::copy(s_.begin(), s_.end(), out.begin());
  }

 private:
  std::vector<double> s_;
};

TEST(RankFusion, SumsWeightedReciprocalRanks) {
  std::vector<RankFusionScorer::Part> parts;
  parts.push_back({std::make_unique<Fixed>(std::vector<double>{0.9, 0.5, 0.1}), 1.0});  // ranks 1 2 3
  parts.push_back({std::make_unique<Fixed>(std::vector<double>{10, 30, 20}), 0.5});     // ranks 3 1 2
  RankFusionScorer fused("blend", std::move(parts), 10.0);
  data::Dataset ds;
  ASSERT_TRUE(fused.Fit(ds, {}).ok());
  std::vector<double> s(3);
  fused.ScoreAll(0, s);
  EXPECT_DOUBLE_EQ(s[0], 1.0 / 11 + 0.5 / 13);
  EXPECT_DOUBLE_EQ(s[1], 1.0 / 12 + 0.5 / 11);
  EXPECT_DOUBLE_EQ(s[2], 1.0 / 13 + 0.5 / 12);
  EXPECT_EQ(fused.Name(), "blend");
}

TEST(RankFusion, NeedsParts) {
  RankFusionScorer empty("none", {});
  data::Dataset ds;
  EXPECT_EQ(empty.Fit(ds, {}).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vrec::retrieval
