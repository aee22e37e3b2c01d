#include "vrec/retrieval/two_tower_model_testing.h"

#include <random>

#include "vrec/common/strings.h"
#include "vrec/retrieval/two_tower_features.h"

namespace vrec::retrieval::testing {

TwoTowerModel RandomTwoTowerModel(const RandomModelShape& s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  auto table = [&](int64_t rows, int dim) {
    TwoTowerModel::Table t;
    t.rows = static_cast<int>(rows);
    t.dim = dim;
    std::vector<float> data(static_cast<size_t>(rows) * dim);
    for (float& x : data) x = normal(rng);
    t.data = FlatArray<float>(std::move(data));
    return t;
  };
  auto mlp = [&](int in) {
    std::vector<TwoTowerModel::Layer> layers;
    for (int out : {s.hidden1, s.hidden2, s.output_dim}) {
      TwoTowerModel::Layer l;
      l.in = in;
      l.out = out;
      l.weight.resize(static_cast<size_t>(in) * out);
      for (float& x : l.weight) x = normal(rng);
      l.bias.resize(out);
      for (float& x : l.bias) x = normal(rng);
      layers.push_back(std::move(l));
      in = out;
    }
    return layers;
  };
  const TwoTowerShape f = FeatureShape(s.text_buckets);
  TwoTowerModel::Weights w;
  w.user_id = table(s.num_users + 1, s.id_dim);
  w.age = table(f.age_buckets, s.feature_dim);
  w.gender = table(f.gender_buckets, s.feature_dim);
  w.country = table(f.language_buckets, s.feature_dim);
  w.user_language = table(f.language_buckets, s.feature_dim);
  w.history = table(s.num_videos + 1, s.id_dim);
  w.video_id = table(s.num_videos + 1, s.id_dim);
  w.categories = table(s.num_categories + 1, s.feature_dim);
  w.video_language = table(f.language_buckets, s.feature_dim);
  w.duration = table(f.duration_buckets, s.feature_dim);
  w.year = table(f.year_buckets, s.feature_dim);
  w.popularity = table(f.popularity_buckets, s.feature_dim);
  w.text = table(s.text_buckets, s.text_dim);
  w.user_mlp = mlp(2 * s.id_dim + 4 * s.feature_dim);
  w.video_mlp = mlp(s.id_dim + 5 * s.feature_dim + s.text_dim);
  std::unordered_map<uint64_t, int64_t> users, videos;
  std::unordered_map<std::string, int64_t> categories;
  for (int64_t u = 1; u <= s.num_users; ++u) users[static_cast<uint64_t>(u)] = u;
  for (int64_t v = 1; v <= s.num_videos; ++v) videos[static_cast<uint64_t>(v)] = v;
  for (int c = 0; c < s.num_categories; ++c) categories[StrCat("c", c)] = c + 1;
  TwoTowerModel m;
  m.Set(TwoTowerModel::Config{.text_buckets = s.text_buckets, .weight_history_by_preference = true},
        std::move(w), std::move(users), std::move(videos), std::move(categories));
  return m;
}

}  // namespace vrec::retrieval::testing
