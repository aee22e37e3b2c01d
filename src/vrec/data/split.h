// Train/test splits for offline evaluation.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "vrec/data/dataset.h"

namespace vrec::data {

struct Split {
  std::vector<Interaction> train;
  std::vector<Interaction> test;
};

// numpy's legacy global generator (np.random.seed(s); np.random.rand()): MT19937 seeded with
// init_genrand(s), doubles with 53 random bits.
class NumpyLegacyRandom {
 public:
  explicit NumpyLegacyRandom(uint32_t seed) : mt_(seed) {}
  double Rand() {
    uint32_t a = mt_() >> 5, b = mt_() >> 6;
    return (a * 67108864.0 + b) / 9007199254740992.0;
  }

 private:
  std::mt19937 mt_;
};

enum class StratifyBy { kUser, kItem };

// Microsoft Recommenders' python_stratified_split(ratio, min_rating=1, filter_by, seed): draws one
// numpy random number per row in input order, sorts rows by (group, random), and puts the first
// round-half-to-even(ratio * group size) rows of every group into train. The ML-100K benchmark uses
// filter_by="item" (group = item), ratio 0.75, seed 42. Rows keep their input order in each part.
Split StratifiedSplit(const std::vector<Interaction>& rows, double ratio, StratifyBy by, uint32_t seed);

// Each user's last `n` interactions by time (ties broken by input order) go to test, the rest to
// train; users with n or fewer interactions stay wholly in train so that every test user has a
// history. Test rows whose video never occurs in train are dropped (no model can score them).
Split TemporalSplit(const std::vector<Interaction>& rows, int n);

// The default share of TimeCutSplit: the last 20% of the interactions by time, a common protocol
// for a global temporal split.
inline constexpr double kDefaultTimeCutTestFraction = 0.2;

// The cut time of TimeCutSplit: the latest time t such that at least test_fraction * rows.size()
// rows (rounded half away from zero; at least one) have timestamp >= t. Equal timestamps fall on
// the same side, so the test share can exceed test_fraction by the rows tied at the cut. When that
// t is the earliest time of all (no row would be before it), the cut moves to the next later time,
// so that there is a past to train on. nullopt when there is no such time: `rows` is empty or every
// row has the same time. test_fraction is in (0, 1); callers validate it.
std::optional<int64_t> TimeCut(const std::vector<Interaction>& rows, double test_fraction);

// A global time cut: rows before TimeCut(rows, test_fraction) go to train, rows at or after it to
// test, the way a model trained on everything up to one day is judged on what came after. Test rows
// whose user or video has no train row are dropped (no model can score them), so the test share is
// below test_fraction by those. Without a cut (empty input, a single time) every row is in train and
// test is empty. Rows keep their input order in each part.
Split TimeCutSplit(const std::vector<Interaction>& rows, double test_fraction = kDefaultTimeCutTestFraction);

}  // namespace vrec::data
