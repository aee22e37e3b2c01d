// Stage-1 latency benchmark: the user tower at request time (one user, its latest history) and the
// whole retrieval step (user tower + ANN top-N) on one thread, with a two-tower model of production
// shapes (random weights: latency does not depend on their values). Prints `metric=value` lines.
//
//   OPENBLAS_NUM_THREADS=1 retrieval_bench [--videos 1000000] [--users 100000] [--history 50]
//                                          [--top 500] [--requests 2000] [--index ivf|exact]
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "vrec/common/strings.h"
#include "vrec/common/sys.h"
#include "vrec/retrieval/retriever.h"
#include "vrec/retrieval/two_tower_model_testing.h"

namespace {

using namespace vrec;
using namespace vrec::retrieval;

struct Flags {
  int64_t videos = 1'000'000;
  int64_t users = 100'000;
  int history = 50;
  int top = 500;
  int requests = 2000;
  std::string index = "ivf";
};

Flags Parse(int argc, char** argv) {
  Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--videos")
      f.videos = std::atoll(v);
    else if (k == "--users")
      f.users = std::atoll(v);
    else if (k == "--history")
      f.history = std::atoi(v);
    else if (k == "--top")
      f.top = std::atoi(v);
    else if (k == "--requests")
      f.requests = std::atoi(v);
    else if (k == "--index")
      f.index = v;
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      std::exit(2);
    }
  }
  return f;
}

using vrec::bench::Percentile;

std::vector<VideoInput> Catalog(int64_t n, std::mt19937_64& rng) {
  static constexpr std::string_view kWords[] = {"live", "cover",    "funny",  "recipe",
                                                "goal", "tutorial", "travel", "review"};
  std::vector<VideoInput> out(static_cast<size_t>(n));
  for (int64_t v = 0; v < n; ++v) {
    VideoInput& x = out[static_cast<size_t>(v)];
    x.id = VideoId{static_cast<uint64_t>(v + 1)};
    x.categories = {StrCat("c", rng() % 20)};
    x.language = "en";
    x.duration_s = static_cast<float>(5 + rng() % 600);
    x.upload_time = 1767225600 - static_cast<int64_t>(rng() % (30 * 86400));
    x.title = StrCat(kWords[rng() % 8], " ", kWords[rng() % 8], " ", v % 1000);
    x.tags = {std::string(kWords[rng() % 8])};
    x.positives = static_cast<int64_t>(rng() % 1000);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const Flags f = Parse(argc, argv);
  omp_set_num_threads(2);  // index build; queries below run on one thread
  std::mt19937_64 rng(7);
  Stopwatch clock;
  testing::RandomModelShape shape;
  shape.num_users = f.users;
  shape.num_videos = f.videos;
  const TwoTowerModel model = testing::RandomTwoTowerModel(shape, 1);
  std::printf("videos=%lld users=%lld history=%d top=%d index=%s model_s=%.2f\n",
              static_cast<long long>(f.videos), static_cast<long long>(f.users), f.history, f.top,
              f.index.c_str(), clock.Seconds());

  const std::vector<VideoInput> catalog = Catalog(f.videos, rng);
  AnnIndexOptions options;
  options.kind = f.index == "exact" ? AnnIndexOptions::Kind::kExact : AnnIndexOptions::Kind::kIvf;
  clock.Reset();
  auto index = BuildVideoIndex(model, catalog, options);
  if (!index.ok()) {
    std::fprintf(stderr, "error: %s\n", index.status().message().c_str());
    return 1;
  }
  const double build_s = clock.Seconds();
  // Item tower alone over the catalog (what a full re-embed costs).
  clock.Reset();
  std::vector<float> emb(static_cast<size_t>(model.dimension()));
  const int64_t sample = std::min<int64_t>(f.videos, 100'000);
  for (int64_t v = 0; v < sample; ++v) model.EmbedVideo(catalog[static_cast<size_t>(v)], emb);
  const double video_tower_us = clock.Seconds() * 1e6 / static_cast<double>(sample);
  // 1M videos x N microseconds each = N seconds.
  std::printf("index_build_s=%.2f video_tower_us=%.2f video_tower_1m_videos_s=%.2f\n", build_s,
              video_tower_us, video_tower_us);

  omp_set_num_threads(1);
  Retriever retriever(model, **index);
  std::vector<double> tower_us, retrieve_us;
  for (int r = 0; r < f.requests; ++r) {
    UserInput user;
    user.id = UserId{1 + rng() % static_cast<uint64_t>(f.users)};
    user.age = 18 + static_cast<int>(rng() % 50);
    user.country = "US";
    user.language = "en";
    for (int h = 0; h < f.history; ++h) {
      user.history.emplace_back(VideoId{1 + rng() % static_cast<uint64_t>(f.videos)},
                                1.0f + (rng() % 4) * 0.5f);
    }
    Stopwatch t;
    model.EmbedUser(user, emb);
    tower_us.push_back(t.Seconds() * 1e6);
    t.Reset();
    auto got = retriever.Retrieve(user, f.top);
    retrieve_us.push_back(t.Seconds() * 1e6);
    if (!got.ok() || got->empty()) {
      std::fprintf(stderr, "error: retrieval failed\n");
      return 1;
    }
  }
  std::printf("user_tower_p50_us=%.1f user_tower_p99_us=%.1f\n", Percentile(tower_us, 0.5),
              Percentile(tower_us, 0.99));
  std::printf("retrieve_top%d_p50_ms=%.3f retrieve_top%d_p99_ms=%.3f\n", f.top,
              Percentile(retrieve_us, 0.5) / 1e3, f.top, Percentile(retrieve_us, 0.99) / 1e3);
  std::printf("peak_rss_mb=%.0f\n", static_cast<double>(PeakRssBytes()) / (1 << 20));
  return 0;
}
