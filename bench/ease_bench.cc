// EASE at catalog scale: what the fit costs and what it covers for several K (videos modelled), on a
// synthetic platform of the given size. Prints name=value lines only.
//
//   OPENBLAS_NUM_THREADS=1 ease_bench [--users 100000] [--videos 1000000] [--interactions 10000000]
//                                     [--k 4096,8192] [--budget_mb 256]
//
// K = 0 in the list means "chosen from the budget" (EaseOptions::max_videos = 0, max_weight_bytes =
// budget_mb). For each K: fit seconds, the share of training positives on modelled videos, the
// serving bytes of the weights, the share of users with a modelled video among their 20 latest
// positives, and the process's peak RSS so far.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "vrec/common/strings.h"
#include "vrec/common/sys.h"
#include "vrec/data/synth.h"
#include "vrec/retrieval/ease.h"

int main(int argc, char** argv) {
  using namespace vrec;
  data::SynthConfig sc;
  sc.num_users = 100'000;
  sc.num_videos = 1'000'000;
  sc.num_interactions = 10'000'000;
  sc.quiet = true;
  std::vector<int> ks = {4096, 8192};
  uint64_t budget_mb = 256;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--users") {
      sc.num_users = std::stoll(v);
    } else if (k == "--videos") {
      sc.num_videos = std::stoll(v);
    } else if (k == "--interactions") {
      sc.num_interactions = std::stoll(v);
    } else if (k == "--k") {
      ks.clear();
      for (std::string_view part : SplitNonEmpty(v, ',')) ks.push_back(std::stoi(std::string(part)));
    } else if (k == "--budget_mb") {
      budget_mb = std::stoull(v);
    } else {
      std::fprintf(stderr, "ease_bench: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  Stopwatch clock;
  auto ds = data::GenerateSynthetic(sc);
  if (!ds.ok()) {
    std::fprintf(stderr, "ease_bench: %s\n", ds.status().ToString().c_str());
    return 1;
  }
  std::vector<int64_t> positives(ds->videos.size(), 0);
  for (const data::Interaction& x : ds->interactions)
    positives[x.video] += data::PreferenceWeight(x) > 0 ? 1 : 0;
  const auto with_positives =
      std::count_if(positives.begin(), positives.end(), [](int64_t p) { return p > 0; });
  std::printf("users=%lld videos=%lld interactions=%lld videos_with_positives=%lld generate_s=%.1f\n",
              static_cast<long long>(sc.num_users), static_cast<long long>(sc.num_videos),
              static_cast<long long>(sc.num_interactions), static_cast<long long>(with_positives),
              clock.Seconds());
  for (int k : ks) {
    retrieval::EaseOptions o;
    o.max_videos = k;
    o.max_weight_bytes = budget_mb << 20;
    retrieval::EaseScorer ease(o);
    clock.Reset();
    const Status fit = ease.Fit(*ds, ds->interactions);
    const double fit_s = clock.Seconds();
    if (!fit.ok()) {
      std::fprintf(stderr, "ease_bench: K=%d: %s\n", k, fit.ToString().c_str());
      return 1;
    }
    // Users whose recent positives include a modelled video: the ones the feature can say anything about.
    int64_t reached = 0, active = 0;
    for (uint32_t u = 0; u < ds->users.size(); ++u) {
      const auto h = ease.History(u);
      if (h.empty()) continue;
      ++active;
      const size_t n = std::min<size_t>(h.size(), 20);
      reached += std::any_of(h.begin(), h.begin() + static_cast<ptrdiff_t>(n),
                             [&](uint32_t v) { return ease.Modelled(v); })
                     ? 1
                     : 0;
    }
    std::printf(
        "k_requested=%d videos_modelled=%zu fit_s=%.1f positive_coverage=%.4f users_reached=%.4f "
        "weights_mb=%.0f "
        "peak_rss_mb=%.0f\n",
        k, ease.modelled_videos(), fit_s, ease.positive_coverage(),
        active > 0 ? static_cast<double>(reached) / static_cast<double>(active) : 0.0,
        static_cast<double>(ease.bytes()) / (1 << 20), static_cast<double>(PeakRssBytes()) / (1 << 20));
  }
  return 0;
}
