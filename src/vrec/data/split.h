// Train/test splits for offline evaluation.
#pragma once

#include <cstdint>
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

}  // namespace vrec::data
