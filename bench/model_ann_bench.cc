// Retrieval quality of a trained model: the video index a pipeline shipped (a registry version's
// retrieval/ folder) against exact search over the same vectors, queried with real user-tower
// embeddings of the platform's users. Prints `name=value` lines only.
//
//   OPENBLAS_NUM_THREADS=1 model_ann_bench --model REGISTRY/versions/v000001
//       [--queries 1000] [--k 500] [--nprobe 16,32,64,128] [--ef 500,1000,2000]
//       [--hnsw_m 32] [--hnsw_ef_construction 40] [--hnsw 1] [--sq8 1] [--nlist 1024,16384]
//       [--seed 7]
//
// Steps: load the index plainly and memory-mapped (AnnLoadOptions::map_ivf_lists), each after the
// file is in the page cache, reporting seconds and resident memory; load the catalog (catalog/)
// and embed `queries` random users with history through the shipped user tower (their whole
// positive history, as the server pools it); exact top-k over the index's own vectors (Export) as
// the truth; the shipped IVF settings and an nprobe sweep on the same index; an 8-bit IVF index
// (ivf_sq8) with the same lists at the same nprobe values; with --nlist, flat IVF indexes of other
// list counts over the same vectors, each probed at the same shares of its lists as the nprobe
// sweep (nprobe x nlist / shipped nlist), so they scan about as many vectors; an HNSW index built
// over the same vectors at several efSearch values. Queries run one at a time on one thread, as in
// serving; builds use every OpenMP thread. recall_at_k = |ANN top-k ∩ exact top-k| / k;
// tie_aware_recall_at_k counts results scoring at least the exact k-th score as hits.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "vrec/common/strings.h"
#include "vrec/common/sys.h"
#include "vrec/data/generic_csv.h"
#include "vrec/registry/manifest.h"
#include "vrec/registry/model_layout.h"
#include "vrec/retrieval/ann_index.h"
#include "vrec/retrieval/ann_tuning.h"
#include "vrec/retrieval/retriever.h"
#include "vrec/retrieval/two_tower_model.h"

namespace {

using namespace vrec;
using namespace vrec::retrieval;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

struct Flags {
  std::string model;
  int queries = 1000;
  int k = 500;
  std::vector<int> nprobe = {16, 32, 64, 128};
  std::vector<int> ef = {500, 1000, 2000};
  int hnsw_m = 32;
  int hnsw_ef_construction = 40;
  bool hnsw = true;
  bool sq8 = true;
  std::vector<int> nlist;  // flat IVF indexes of these list counts, beside the shipped one
  uint64_t seed = 7;
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

[[noreturn]] void Die(const std::string& what, const Status& status) {
  std::fprintf(stderr, "model_ann_bench: %s: %s\n", what.c_str(), status.ToString().c_str());
  std::exit(1);
}
template <typename T>
T Check(StatusOr<T> v, const std::string& what) {
  if (!v.ok()) Die(what, v.status());
  return std::move(v).value();
}
void Check(const Status& s, const std::string& what) {
  if (!s.ok()) Die(what, s);
}

std::vector<int> IntList(const std::string& s) {
  std::vector<int> out;
  for (std::string_view part : SplitNonEmpty(s, ',')) out.push_back(std::stoi(std::string(part)));
  return out;
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i], value = argv[i + 1];
    if (arg == "--model") {
      f.model = value;
    } else if (arg == "--queries") {
      f.queries = std::stoi(value);
    } else if (arg == "--k") {
      f.k = std::stoi(value);
    } else if (arg == "--nprobe") {
      f.nprobe = IntList(value);
    } else if (arg == "--ef") {
      f.ef = IntList(value);
    } else if (arg == "--hnsw_m") {
      f.hnsw_m = std::stoi(value);
    } else if (arg == "--hnsw_ef_construction") {
      f.hnsw_ef_construction = std::stoi(value);
    } else if (arg == "--hnsw") {
      f.hnsw = value != "0";
    } else if (arg == "--sq8") {
      f.sq8 = value != "0";
    } else if (arg == "--nlist") {
      f.nlist = IntList(value);
    } else if (arg == "--seed") {
      f.seed = std::stoull(value);
    } else {
      std::fprintf(stderr, "model_ann_bench: unknown flag %s\n", arg.c_str());
      std::exit(2);
    }
  }
  if (f.model.empty()) {
    std::fprintf(stderr, "usage: model_ann_bench --model REGISTRY/versions/VERSION [flags]\n");
    std::exit(2);
  }
  return f;
}

// Reads the whole file once so that both loads below start from the page cache.
void WarmPageCache(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buf(1 << 20);
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
  }
}

struct Run {
  std::vector<std::vector<AnnResult>> results;
  double p50_ms = 0, p99_ms = 0, mean_ms = 0;
};

Run RunQueries(const AnnIndex& index, const std::vector<float>& queries, int d, int k) {
  Run run;
  std::vector<double> ms;
  for (size_t i = 0; i < queries.size() / static_cast<size_t>(d); ++i) {
    const auto start = Clock::now();
    auto r = index.Search(std::span<const float>(queries).subspan(i * d, d), k);
    ms.push_back(Seconds(start) * 1e3);
    run.results.push_back(Check(std::move(r), "search"));
  }
  run.p50_ms = bench::Percentile(ms, 0.50);
  run.p99_ms = bench::Percentile(ms, 0.99);
  for (double x : ms) run.mean_ms += x / static_cast<double>(ms.size());
  return run;
}

// Share of the exact top k tied with the k-th score: how much room ids have to differ.
double TiedAtK(const Run& truth) {
  double sum = 0;
  for (const auto& r : truth.results) {
    if (r.empty()) continue;
    size_t tied = 0;
    for (const AnnResult& x : r) tied += x.score <= r.back().score + 1e-5f ? 1 : 0;
    sum += static_cast<double>(tied) / static_cast<double>(r.size());
  }
  return sum / static_cast<double>(truth.results.size());
}

void Print(const char* index, const std::string& settings, const Run& run, const Run& truth, int k) {
  std::printf(
      "index=%s %s p50_ms=%.3f p99_ms=%.3f mean_ms=%.3f recall_at_%d=%.4f tie_aware_recall_at_%d=%.4f\n",
      index, settings.c_str(), run.p50_ms, run.p99_ms, run.mean_ms, k,
      IdRecallAtK(run.results, truth.results, k), k, TieAwareRecallAtK(run.results, truth.results, k));
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  const int build_threads = omp_get_max_threads();
  const fs::path dir = fs::path(flags.model) / registry::kRetrievalDir;
  const registry::Manifest manifest = Check(registry::ReadManifest(dir.string()), "manifest");
  const auto index_file = manifest.files.find("index");
  if (index_file == manifest.files.end()) Die("manifest", NotFoundError("no index listed"));
  const std::string index_path = (dir / index_file->second).string();

  // 1. Loading the shipped index: plainly, then mapped; both from the page cache.
  WarmPageCache(index_path);
  std::printf("index_file_mb=%.1f build_threads=%d query_threads=1\n",
              static_cast<double>(fs::file_size(index_path)) / (1 << 20), build_threads);
  std::unique_ptr<AnnIndex> shipped;
  for (const bool mapped : {true, false}) {
    const double rss0 = CurrentRssMb();
    const auto start = Clock::now();
    auto loaded = Check(LoadAnnIndex(index_path, AnnLoadOptions{.map_ivf_lists = mapped}), "load index");
    const double load_s = Seconds(start);
    const double rss_delta = CurrentRssMb() - rss0;
    std::printf("load mapped=%d load_s=%.3f rss_delta_mb=%.0f size=%lld\n", mapped ? 1 : 0, load_s, rss_delta,
                static_cast<long long>(loaded->size()));
    if (!mapped) shipped = std::move(loaded);
  }
  const AnnIndexOptions o = shipped->options();
  const int d = shipped->dimension();
  std::printf("shipped kind=%s ivf_nlist=%d ivf_nprobe=%d rule_nlist=%d rule_nprobe=%d\n",
              AnnIndexKindName(o.kind), o.ivf_nlist, o.ivf_nprobe,
              ChooseIvfNlist(AnnIndexOptions{}, shipped->size()),
              ChooseIvfNprobe(AnnIndexOptions{}, ChooseIvfNlist(AnnIndexOptions{}, shipped->size())));

  // 2. Real queries: the user tower over random users' positive histories.
  auto start = Clock::now();
  const TwoTowerModel model = Check(TwoTowerModel::Load(dir.string()), "two-tower model");
  const data::Dataset catalog =
      Check(data::LoadGenericCsv((fs::path(flags.model) / registry::kCatalogDir).string()), "catalog");
  std::printf("catalog_load_s=%.1f users=%zu videos=%zu rows=%zu\n", Seconds(start), catalog.users.size(),
              catalog.videos.size(), catalog.interactions.size());
  start = Clock::now();
  const std::vector<float> queries = EmbedSampleUsers(model, catalog, flags.queries, flags.seed);
  const size_t num_queries = queries.size() / static_cast<size_t>(d);
  std::printf("queries=%zu k=%d user_tower_mean_ms=%.3f\n", num_queries, flags.k,
              num_queries > 0 ? Seconds(start) * 1e3 / static_cast<double>(num_queries) : 0.0);

  // 3. Exact truth over the index's own vectors.
  std::vector<uint64_t> ids;
  std::vector<float> vectors;
  Check(shipped->Export(ids, vectors), "export");
  AnnIndexOptions exact_options;
  exact_options.kind = AnnIndexOptions::Kind::kExact;
  exact_options.dimension = d;
  auto exact = Check(MakeAnnIndex(exact_options), "exact");
  Check(exact->Add(ids, vectors), "exact add");
  omp_set_num_threads(1);
  const Run truth = RunQueries(*exact, queries, d, flags.k);
  Print("exact", "", truth, truth, flags.k);
  std::printf("exact_tied_at_k_share=%.4f\n", TiedAtK(truth));
  exact.reset();

  // 4. The shipped IVF settings, then other nprobe values on the same index.
  const Run ivf = RunQueries(*shipped, queries, d, flags.k);
  Print(AnnIndexKindName(o.kind), StrCat("shipped=1 nlist=", o.ivf_nlist, " nprobe=", o.ivf_nprobe), ivf,
        truth, flags.k);
  for (int nprobe : flags.nprobe) {
    if (o.kind != AnnIndexOptions::Kind::kIvf || nprobe == o.ivf_nprobe) continue;
    Check(shipped->SetSearchParameters(nprobe, 0), "nprobe");
    const Run run = RunQueries(*shipped, queries, d, flags.k);
    Print("ivf", StrCat("shipped=0 nlist=", o.ivf_nlist, " nprobe=", shipped->options().ivf_nprobe), run,
          truth, flags.k);
  }
  shipped.reset();

  // 5. Other IVF builds over the same vectors, trained like the shipped index (a sample of at most
  // 200k vectors): the 8-bit lists (the ivf_sq8 option) with the same nlist at the same nprobe
  // values, then flat lists of each --nlist count at the same shares of their lists.
  const auto other_ivf = [&](AnnIndexOptions::Kind kind, int nlist, std::vector<int> probes) {
    AnnIndexOptions q;
    q.kind = kind;
    q.dimension = d;
    q.ivf_nlist = nlist;
    q.ivf_nprobe = probes.front();
    omp_set_num_threads(build_threads);
    const double rss0 = CurrentRssMb();
    start = Clock::now();
    const char* name = AnnIndexKindName(kind);
    auto index = Check(MakeAnnIndex(q), name);
    const size_t n = ids.size();
    std::vector<size_t> sample(n);
    std::iota(sample.begin(), sample.end(), size_t{0});
    std::mt19937_64 sample_rng(42);
    std::shuffle(sample.begin(), sample.end(), sample_rng);
    sample.resize(std::min<size_t>(n, 200'000));
    std::vector<float> train;
    train.reserve(sample.size() * d);
    for (size_t i : sample) train.insert(train.end(), vectors.begin() + i * d, vectors.begin() + (i + 1) * d);
    Check(index->Train(train), StrCat(name, " train"));
    Check(index->Add(ids, vectors), StrCat(name, " add"));
    std::printf("index=%s nlist=%d build_s=%.1f rss_delta_mb=%.0f memory_mb=%.0f\n", name, nlist,
                Seconds(start), CurrentRssMb() - rss0, static_cast<double>(index->MemoryBytes()) / (1 << 20));
    omp_set_num_threads(1);
    std::sort(probes.begin(), probes.end());
    probes.erase(std::unique(probes.begin(), probes.end()), probes.end());
    for (int nprobe : probes) {
      Check(index->SetSearchParameters(nprobe, 0), "nprobe");
      const Run run = RunQueries(*index, queries, d, flags.k);
      Print(name, StrCat("shipped=0 nlist=", nlist, " nprobe=", index->options().ivf_nprobe), run, truth,
            flags.k);
    }
  };
  if (flags.sq8 && AnnIndexOptions::IsIvf(o.kind)) {
    std::vector<int> probes = flags.nprobe;
    probes.push_back(o.ivf_nprobe);
    other_ivf(AnnIndexOptions::Kind::kIvfSq8, o.ivf_nlist, probes);
  }
  for (int nlist : flags.nlist) {
    if (!AnnIndexOptions::IsIvf(o.kind) || o.ivf_nlist <= 0) break;
    std::vector<int> probes;
    for (int nprobe : flags.nprobe) {
      probes.push_back(
          std::max(1, static_cast<int>(std::lround(static_cast<double>(nprobe) * nlist / o.ivf_nlist))));
    }
    other_ivf(AnnIndexOptions::Kind::kIvf, nlist, probes);
  }

  // 6. HNSW over the same vectors.
  if (flags.hnsw) {
    AnnIndexOptions h;
    h.kind = AnnIndexOptions::Kind::kHnsw;
    h.dimension = d;
    h.hnsw_m = flags.hnsw_m;
    h.hnsw_ef_construction = flags.hnsw_ef_construction;
    omp_set_num_threads(build_threads);
    const double rss0 = CurrentRssMb();
    start = Clock::now();
    auto hnsw = Check(MakeAnnIndex(h), "hnsw");
    Check(hnsw->Add(ids, vectors), "hnsw add");
    std::printf("index=hnsw m=%d ef_construction=%d build_s=%.1f rss_delta_mb=%.0f\n", h.hnsw_m,
                h.hnsw_ef_construction, Seconds(start), CurrentRssMb() - rss0);
    omp_set_num_threads(1);
    for (int ef : flags.ef) {
      Check(hnsw->SetSearchParameters(0, ef), "ef");
      const Run run = RunQueries(*hnsw, queries, d, flags.k);
      Print("hnsw", StrCat("m=", h.hnsw_m, " ef_search=", ef), run, truth, flags.k);
    }
  }
  std::printf("peak_rss_mb=%.0f\n", static_cast<double>(PeakRssBytes()) / (1 << 20));
  return 0;
}
