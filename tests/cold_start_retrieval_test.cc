// A video uploaded after training, with no interactions, is retrieved for the users who like its
// kind of content: the video tower embeds it from its category, title and tags alone.
// Trains a small two-tower model on the synthetic platform (a few seconds).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "vrec/data/synth.h"
#include "vrec/retrieval/brute_force_ann_index.h"
#include "vrec/retrieval/retriever.h"
#include "vrec/retrieval/two_tower.h"

namespace vrec {
namespace {

using retrieval::VideoInput;

TEST(ColdStartRetrieval, NewVideoIsRetrievedForUsersWhoLikeItsContent) {
  data::SynthConfig sc;
  sc.num_users = 1500;
  sc.num_videos = 3000;
  sc.num_interactions = 120'000;
  sc.quiet = true;
  auto ds = data::GenerateSynthetic(sc);
  ASSERT_TRUE(ds.ok()) << ds.status().message();

  retrieval::TwoTowerOptions o;
  o.max_epochs = 6;
  o.validation_fraction = 0;
  o.verbose = false;
  retrieval::TwoTowerScorer scorer(o);
  ASSERT_TRUE(scorer.Fit(*ds, ds->interactions).ok());
  const retrieval::TwoTowerModel& model = scorer.model();

  // Catalog index of everything trained on.
  std::vector<VideoInput> catalog;
  for (uint32_t v = 0; v < ds->videos.size(); ++v) {
    catalog.push_back(retrieval::VideoInputFrom(*ds, v, scorer.video_positives()[v]));
  }
  auto index = retrieval::BruteForceAnnIndex::Create(model.dimension());
  ASSERT_TRUE(index.ok());
  ASSERT_TRUE(retrieval::AddVideos(model, catalog, **index).ok());

  // Each user's positives and favourite primary category.
  std::vector<std::vector<std::pair<uint32_t, float>>> history(ds->users.size());
  std::vector<std::map<uint16_t, int>> per_category(ds->users.size());
  for (const data::Interaction& x : ds->interactions) {
    const float w = data::PreferenceWeight(x);
    if (w <= 0 || ds->videos[x.video].categories.empty()) continue;
    history[x.user].emplace_back(x.video, w);
    ++per_category[x.user][ds->videos[x.video].categories[0]];
  }
  // The most played video: a new upload copies its content (not its id, not its popularity).
  uint32_t popular = 0;
  for (uint32_t v = 0; v < ds->videos.size(); ++v) {
    if (scorer.video_positives()[v] > scorer.video_positives()[popular]) popular = v;
  }
  const uint16_t category = ds->videos[popular].categories[0];
  VideoInput clone = retrieval::VideoInputFrom(*ds, popular, 0);
  clone.id = VideoId{900001};
  // A control upload of another category.
  uint32_t other = 0;
  while (ds->videos[other].categories.empty() || ds->videos[other].categories[0] == category) ++other;
  VideoInput control = retrieval::VideoInputFrom(*ds, other, 0);
  control.id = VideoId{900002};
  ASSERT_TRUE(retrieval::AddVideos(model, std::vector<VideoInput>{clone, control}, **index).ok());

  retrieval::Retriever retriever(model, **index);
  int fans = 0, clone_hits = 0, control_hits = 0;
  for (uint32_t u = 0; u < ds->users.size(); ++u) {
    if (per_category[u].empty()) continue;
    auto fav = std::max_element(per_category[u].begin(), per_category[u].end(),
                                [](auto& a, auto& b) { return a.second < b.second; });
    if (fav->first != category) continue;
    ++fans;
    auto got = retriever.Retrieve(retrieval::UserInputFrom(*ds, u, history[u]), 100);
    ASSERT_TRUE(got.ok());
    for (const retrieval::Candidate& c : *got) {
      clone_hits += c.video == *clone.id;
      control_hits += c.video == *control.id;
    }
  }
  ASSERT_GT(fans, 20);
  const double clone_rate = static_cast<double>(clone_hits) / fans;
  const double control_rate = static_cast<double>(control_hits) / fans;
  std::printf("fans=%d clone_rate=%.3f control_rate=%.3f\n", fans, clone_rate, control_rate);
  // 100 of 3002 videos are retrieved (3.3%): by chance the clone would be in ~3% of the lists.
  EXPECT_GT(clone_rate, 0.3) << "fans=" << fans << " control_rate=" << control_rate;
  EXPECT_GT(clone_rate, 3 * control_rate + 0.05);
}

}  // namespace
}  // namespace vrec
