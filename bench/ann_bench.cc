// ANN benchmark: exact (FAISS flat) vs the IVF settings vrec ships, on a synthetic catalog shaped
// like trained video embeddings (clustered, L2-normalised). Prints `metric=value` lines only.
//
//   OPENBLAS_NUM_THREADS=1 ann_bench [--n 1000000] [--queries 500] [--k 500] [--d 64]
//                                    [--clusters 2000] [--train_per_list 39] [--seed 1]
//
// Queries are single-threaded (omp_set_num_threads(1)), one query per call, as in serving. Index
// builds use all OpenMP threads. recall_at_k is |ANN top-k ∩ exact top-k| / k averaged over queries.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "bench/bench_util.h"
#include "vrec/common/sys.h"
#include "vrec/retrieval/ann_index.h"
#include "vrec/retrieval/ann_testing.h"

namespace {

using vrec::retrieval::AnnIndex;
using vrec::retrieval::AnnIndexOptions;
using vrec::retrieval::AnnResult;
using Clock = std::chrono::steady_clock;

struct Flags {
  int64_t n = 1'000'000;
  int queries = 500;
  int k = 500;
  int d = 64;
  int clusters = 2000;
  int train_per_list = 39;
  uint32_t seed = 1;
};

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

double CurrentRssMb() {
  long pages_total = 0, pages_resident = 0;
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
  std::fclose(f);
  return static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

double PeakRssMb() { return static_cast<double>(vrec::PeakRssBytes()) / (1 << 20); }

using vrec::retrieval::testing::Normalize;

// Topical structure like trained video embeddings: `clusters` sub-topics grouped under
// `clusters / 40` genres. A sub-topic centre is its genre centre plus noise, a video is its
// sub-topic centre plus noise (all normalised), so a user's nearest videos beyond their sub-topic
// are in related sub-topics of the same genre, not random. Sub-topics have uneven sizes (log-normal
// weights: a few big ones and a long tail) and uneven spread.
class Catalog {
 public:
  Catalog(int clusters, int d, uint32_t seed) : d_(d), rng_(seed) {
    std::normal_distribution<float> normal;
    std::lognormal_distribution<double> size(0.0, 1.0);
    std::uniform_real_distribution<float> spread(0.45f, 0.75f);
    const float sigma = 1.0f / std::sqrt(static_cast<float>(d));  // noise of norm ~1 per unit
    const int genres = std::max(1, clusters / 40);
    std::vector<float> genre_centers(static_cast<size_t>(genres) * d);
    for (auto& x : genre_centers) x = normal(rng_);
    for (int g = 0; g < genres; ++g) Normalize(&genre_centers[static_cast<size_t>(g) * d], d);
    centers_.resize(static_cast<size_t>(clusters) * d);
    std::vector<double> weights(clusters);
    spreads_.resize(clusters);
    for (int c = 0; c < clusters; ++c) {
      const float* g = &genre_centers[static_cast<size_t>(c % genres) * d];
      float* center = &centers_[static_cast<size_t>(c) * d];
      for (int j = 0; j < d; ++j) center[j] = g[j] + 0.8f * sigma * normal(rng_);
      Normalize(center, d);
      weights[c] = size(rng_);
      spreads_[c] = spread(rng_) * sigma;  // per-dimension sigma of the videos around the centre
    }
    pick_ = std::discrete_distribution<int>(weights.begin(), weights.end());
  }

  // `spread_scale` < 1 draws points nearer the centres (user embeddings sit near the interests
  // they watch most).
  std::vector<float> Sample(int64_t n, float spread_scale) {
    std::normal_distribution<float> normal;
    std::vector<float> out(static_cast<size_t>(n) * d_);
    for (int64_t i = 0; i < n; ++i) {
      const int c = pick_(rng_);
      const float* center = &centers_[static_cast<size_t>(c) * d_];
      float* v = &out[static_cast<size_t>(i) * d_];
      for (int j = 0; j < d_; ++j) v[j] = center[j] + spread_scale * spreads_[c] * normal(rng_);
      Normalize(v, d_);
    }
    return out;
  }

 private:
  int d_;
  std::mt19937_64 rng_;
  std::vector<float> centers_;
  std::vector<float> spreads_;
  std::discrete_distribution<int> pick_;
};

[[noreturn]] void Die(const std::string& what, const vrec::Status& status) {
  std::fprintf(stderr, "ann_bench: %s: %s\n", what.c_str(), status.ToString().c_str());
  std::exit(1);
}

template <typename T>
T Check(vrec::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) Die(what, v.status());
  return std::move(v).value();
}

void Check(const vrec::Status& s, const std::string& what) {
  if (!s.ok()) Die(what, s);
}

using vrec::bench::Percentile;

struct SearchRun {
  std::vector<std::vector<AnnResult>> results;
  double p50_ms = 0, p99_ms = 0, mean_ms = 0;
};

SearchRun RunQueries(const AnnIndex& index, const std::vector<float>& queries, int d, int k) {
  SearchRun run;
  const size_t nq = queries.size() / d;
  std::vector<double> ms;
  for (size_t i = 0; i < nq; ++i) {
    std::span<const float> q(queries.data() + i * d, d);
    const auto start = Clock::now();
    auto r = index.Search(q, k);
    ms.push_back(Seconds(start) * 1e3);
    run.results.push_back(Check(std::move(r), "search"));
  }
  run.p50_ms = Percentile(ms, 0.50);
  run.p99_ms = Percentile(ms, 0.99);
  for (double x : ms) run.mean_ms += x / static_cast<double>(ms.size());
  return run;
}

double Recall(const SearchRun& got, const SearchRun& truth, int k) {
  double sum = 0;
  for (size_t i = 0; i < truth.results.size(); ++i) {
    std::unordered_set<uint64_t> want;
    for (const AnnResult& r : truth.results[i]) want.insert(r.id);
    size_t hits = 0;
    for (const AnnResult& r : got.results[i]) hits += want.count(r.id);
    sum += static_cast<double>(hits) / std::min<double>(k, static_cast<double>(truth.results[i].size()));
  }
  return sum / static_cast<double>(truth.results.size());
}

uintmax_t SavedBytes(const AnnIndex& index, const std::string& path, double& save_s) {
  const auto start = Clock::now();
  Check(index.Save(path), "save");
  save_s = Seconds(start);
  const uintmax_t bytes = std::filesystem::file_size(path);
  std::filesystem::remove(path);
  return bytes;
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    }
    if (arg == "--n")
      f.n = std::stoll(value);
    else if (arg == "--queries")
      f.queries = std::stoi(value);
    else if (arg == "--k")
      f.k = std::stoi(value);
    else if (arg == "--d")
      f.d = std::stoi(value);
    else if (arg == "--clusters")
      f.clusters = std::stoi(value);
    else if (arg == "--train_per_list")
      f.train_per_list = std::stoi(value);
    else if (arg == "--seed")
      f.seed = static_cast<uint32_t>(std::stoul(value));
    else {
      std::fprintf(stderr, "ann_bench: unknown flag %s\n", arg.c_str());
      std::exit(2);
    }
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  const int d = flags.d;
  const int build_threads = omp_get_max_threads();
  const char* blas_threads = std::getenv("OPENBLAS_NUM_THREADS");
  std::printf(
      "n=%lld d=%d clusters=%d queries=%d k=%d build_threads=%d query_threads=1 openblas_threads=%s\n",
      static_cast<long long>(flags.n), d, flags.clusters, flags.queries, flags.k, build_threads,
      blas_threads != nullptr ? blas_threads : "unset");

  Catalog catalog(flags.clusters, d, flags.seed);
  auto gen_start = Clock::now();
  const std::vector<float> data = catalog.Sample(flags.n, 1.0f);
  const std::vector<float> queries = catalog.Sample(flags.queries, 0.5f);
  std::vector<uint64_t> ids(static_cast<size_t>(flags.n));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = i;
  std::printf("generate_s=%.2f rss_mb=%.0f\n", Seconds(gen_start), CurrentRssMb());
  const std::string tmp = std::filesystem::temp_directory_path() / ("ann_bench_" + std::to_string(getpid()));

  // Exact reference.
  AnnIndexOptions exact_options;
  exact_options.kind = AnnIndexOptions::Kind::kExact;
  exact_options.dimension = d;
  SearchRun truth;
  {
    double rss0 = CurrentRssMb();
    auto start = Clock::now();
    auto exact = Check(vrec::retrieval::MakeAnnIndex(exact_options), "make exact");
    Check(exact->Add(ids, data), "exact add");
    const double build_s = Seconds(start);
    const double rss_delta = CurrentRssMb() - rss0;
    double save_s = 0;
    const uintmax_t bytes = SavedBytes(*exact, tmp, save_s);
    omp_set_num_threads(1);
    truth = RunQueries(*exact, queries, d, flags.k);
    omp_set_num_threads(build_threads);
    std::printf(
        "index=exact build_s=%.2f index_bytes=%ju rss_delta_mb=%.0f p50_ms=%.3f p99_ms=%.3f mean_ms=%.3f "
        "recall_at_%d=1.0000\n",
        build_s, bytes, rss_delta, truth.p50_ms, truth.p99_ms, truth.mean_ms, flags.k);
  }

  // The IVF settings we ship: defaults chosen from the catalog size, trained on a sample.
  AnnIndexOptions ivf_options;
  ivf_options.kind = AnnIndexOptions::Kind::kIvf;
  ivf_options.dimension = d;
  ivf_options.expected_num_vectors = flags.n;
  const int nlist_guess = vrec::retrieval::ChooseIvfNlist(ivf_options, flags.n);
  const int64_t train_n = std::min<int64_t>(flags.n, int64_t{flags.train_per_list} * nlist_guess);
  {
    double rss0 = CurrentRssMb();
    auto ivf = Check(vrec::retrieval::MakeAnnIndex(ivf_options), "make ivf");
    // The first train_n vectors are a uniform sample: the catalog is generated i.i.d.
    auto start = Clock::now();
    Check(ivf->Train(std::span<const float>(data.data(), static_cast<size_t>(train_n) * d)), "ivf train");
    const double train_s = Seconds(start);
    start = Clock::now();
    Check(ivf->Add(ids, data), "ivf add");
    const double add_s = Seconds(start);
    const double rss_delta = CurrentRssMb() - rss0;
    double save_s = 0;
    const uintmax_t bytes = SavedBytes(*ivf, tmp, save_s);
    const AnnIndexOptions resolved = ivf->options();

    omp_set_num_threads(1);
    const SearchRun run = RunQueries(*ivf, queries, d, flags.k);
    std::printf(
        "index=ivf ivf_nlist=%d ivf_nprobe=%d train_n=%lld train_s=%.2f add_s=%.2f build_s=%.2f "
        "index_bytes=%ju rss_delta_mb=%.0f save_s=%.2f p50_ms=%.3f p99_ms=%.3f mean_ms=%.3f "
        "recall_at_%d=%.4f\n",
        resolved.ivf_nlist, resolved.ivf_nprobe, static_cast<long long>(train_n), train_s, add_s,
        train_s + add_s, bytes, rss_delta, save_s, run.p50_ms, run.p99_ms, run.mean_ms, flags.k,
        Recall(run, truth, flags.k));

    // Freshness operations on the built index, one thread: add 1000 new videos, upsert 1000
    // present ones, remove 1000.
    const std::vector<float> fresh = catalog.Sample(1000, 1.0f);
    omp_set_num_threads(1);
    std::vector<uint64_t> new_ids(1000), old_ids(1000);
    for (size_t i = 0; i < 1000; ++i) {
      new_ids[i] = static_cast<uint64_t>(flags.n) + i;
      old_ids[i] = i * static_cast<uint64_t>(std::max<int64_t>(1, flags.n / 1000));
    }
    start = Clock::now();
    Check(ivf->Add(new_ids, fresh), "ivf add 1000");
    const double add1000_ms = Seconds(start) * 1e3;
    start = Clock::now();
    Check(ivf->Add(old_ids, fresh), "ivf upsert 1000");
    const double upsert1000_ms = Seconds(start) * 1e3;
    start = Clock::now();
    Check(ivf->Remove(new_ids), "ivf remove 1000");
    const double remove1000_ms = Seconds(start) * 1e3;
    start = Clock::now();
    Check(ivf->Remove(std::span<const uint64_t>(old_ids.data(), 1)), "ivf remove 1");
    const double remove1_ms = Seconds(start) * 1e3;
    std::printf(
        "index=ivf add_1000_ms=%.2f upsert_1000_ms=%.2f remove_1000_ms=%.2f remove_1_ms=%.3f size=%lld\n",
        add1000_ms, upsert1000_ms, remove1000_ms, remove1_ms, static_cast<long long>(ivf->size()));
  }
  std::printf("peak_rss_mb=%.0f\n", PeakRssMb());
  return 0;
}
