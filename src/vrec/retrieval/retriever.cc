#include "vrec/retrieval/retriever.h"

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <random>

#include "vrec/common/strings.h"
#include "vrec/registry/manifest.h"

namespace vrec::retrieval {

namespace {
constexpr const char* kIndexFile = "videos.index";
}  // namespace

StatusOr<std::vector<Candidate>> Retriever::Retrieve(const UserInput& user, int n) const {
  if (n <= 0) return InvalidArgumentError(StrCat("retrieve: n must be positive, got ", n));
  const int dim = model_.dimension();
  if (dim != index_.dimension()) {
    return InvalidArgumentError(
        StrCat("retrieve: model dimension ", dim, " differs from index dimension ", index_.dimension()));
  }
  std::vector<float> query(static_cast<size_t>(dim));
  model_.EmbedUser(user, query);
  return Nearest(query, n);
}

StatusOr<std::vector<Candidate>> Retriever::Nearest(std::span<const float> query, int n) const {
  if (n <= 0) return InvalidArgumentError(StrCat("retrieve: n must be positive, got ", n));
  const int dim = index_.dimension();
  if (query.size() != static_cast<size_t>(dim)) {
    return InvalidArgumentError(
        StrCat("retrieve: query dimension ", query.size(), " differs from index dimension ", dim));
  }
  VREC_ASSIGN_OR_RETURN(std::vector<AnnResult> hits, index_.Search(query, n));
  if (fresh_ != nullptr && fresh_->size() > 0) {
    if (fresh_->dimension() != dim) {
      return InvalidArgumentError(
          StrCat("retrieve: fresh index dimension ", fresh_->dimension(), " differs"));
    }
    VREC_ASSIGN_OR_RETURN(std::vector<AnnResult> fresh, fresh_->Search(query, n));
    // The fresh embedding of an updated video replaces the index's stale one.
    std::vector<uint64_t> fresh_ids;
    fresh_ids.reserve(fresh.size());
    for (const AnnResult& f : fresh) fresh_ids.push_back(f.id);
    std::sort(fresh_ids.begin(), fresh_ids.end());
    std::erase_if(hits, [&](const AnnResult& h) {
      return std::binary_search(fresh_ids.begin(), fresh_ids.end(), h.id);
    });
    hits.insert(hits.end(), fresh.begin(), fresh.end());
    std::stable_sort(hits.begin(), hits.end(),
                     [](const AnnResult& a, const AnnResult& b) { return a.score > b.score; });
    if (hits.size() > static_cast<size_t>(n)) hits.resize(static_cast<size_t>(n));
  }
  std::vector<Candidate> out;
  out.reserve(hits.size());
  for (const AnnResult& h : hits) out.push_back({VideoId{h.id}, h.score, CandidateSource::kTwoTower});
  return out;
}

namespace {

// Embeds videos[i] for i in `which` into a row-major matrix.
std::vector<float> EmbedAll(const TwoTowerModel& model, std::span<const VideoInput> videos,
                            std::span<const size_t> which) {
  const auto dim = static_cast<size_t>(model.dimension());
  std::vector<float> out(which.size() * dim);
  for (size_t k = 0; k < which.size(); ++k) {
    model.EmbedVideo(videos[which[k]], std::span<float>(out.data() + k * dim, dim));
  }
  return out;
}

}  // namespace

Status AddVideos(const TwoTowerModel& model, std::span<const VideoInput> videos, AnnIndex& index) {
  std::vector<uint64_t> ids;
  ids.reserve(videos.size());
  for (size_t i = 0; i < videos.size(); ++i) {
    if (!videos[i].id) return InvalidArgumentError(StrCat("add videos: video ", i, " has no id"));
    ids.push_back(videos[i].id->value);
  }
  std::vector<size_t> all(videos.size());
  std::iota(all.begin(), all.end(), 0);
  return index.Add(ids, EmbedAll(model, videos, all));
}

StatusOr<std::unique_ptr<AnnIndex>> BuildVideoIndex(const TwoTowerModel& model,
                                                    std::span<const VideoInput> videos,
                                                    AnnIndexOptions options, int64_t max_train) {
  options.dimension = model.dimension();
  if (AnnIndexOptions::IsIvf(options.kind) && options.expected_num_vectors == 0) {
    options.expected_num_vectors = static_cast<int64_t>(videos.size());
  }
  VREC_ASSIGN_OR_RETURN(std::unique_ptr<AnnIndex> index, MakeAnnIndex(options));
  if (!index->trained()) {
    std::vector<size_t> sample(videos.size());
    std::iota(sample.begin(), sample.end(), 0);
    if (static_cast<int64_t>(sample.size()) > max_train) {
      std::mt19937_64 rng(42);
      std::shuffle(sample.begin(), sample.end(), rng);
      sample.resize(static_cast<size_t>(max_train));
      std::sort(sample.begin(), sample.end());
    }
    VREC_RETURN_IF_ERROR(index->Train(EmbedAll(model, videos, sample)));
  }
  VREC_RETURN_IF_ERROR(AddVideos(model, videos, *index));
  return index;
}

StatusOr<std::unique_ptr<AnnIndex>> BuildCatalogIndex(const TwoTowerModel& model,
                                                      const data::Dataset& catalog,
                                                      std::span<const int64_t> positives,
                                                      std::string_view kind) {
  AnnIndexOptions options;
  options.kind =
      catalog.videos.size() < 100'000 ? AnnIndexOptions::Kind::kExact : AnnIndexOptions::Kind::kIvf;
  if (kind != "auto") {
    bool known = false;
    for (auto k : {AnnIndexOptions::Kind::kExact, AnnIndexOptions::Kind::kIvf, AnnIndexOptions::Kind::kIvfSq8,
                   AnnIndexOptions::Kind::kHnsw}) {
      if (kind == AnnIndexKindName(k)) options.kind = k, known = true;
    }
    if (!known) {
      return InvalidArgumentError(
          StrCat("video index kind '", kind, "': expected auto, exact, ivf, ivf_sq8 or hnsw"));
    }
  }
  std::vector<VideoInput> videos;
  videos.reserve(catalog.videos.size());
  for (uint32_t v = 0; v < catalog.videos.size(); ++v)
    videos.push_back(VideoInputFrom(catalog, v, positives[v]));
  return BuildVideoIndex(model, videos, options);
}

std::vector<float> EmbedSampleUsers(const TwoTowerModel& model, const data::Dataset& catalog, int n,
                                    uint64_t seed) {
  std::vector<std::vector<std::pair<uint32_t, float>>> history(catalog.users.size());
  for (const data::Interaction& x : catalog.interactions) {
    const float w = data::PreferenceWeight(x);
    if (w > 0) history[x.user].emplace_back(x.video, w);
  }
  std::vector<uint32_t> users;
  for (uint32_t u = 0; u < catalog.users.size(); ++u) {
    if (!history[u].empty()) users.push_back(u);
  }
  std::mt19937_64 rng(seed);
  std::shuffle(users.begin(), users.end(), rng);
  users.resize(std::min(users.size(), static_cast<size_t>(std::max(n, 0))));
  const auto d = static_cast<size_t>(model.dimension());
  std::vector<float> out(users.size() * d);
  for (size_t i = 0; i < users.size(); ++i) {
    auto& h = history[users[i]];
    std::sort(h.begin(), h.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : a.second > b.second;
    });
    h.erase(std::unique(h.begin(), h.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
            h.end());
    model.EmbedUser(UserInputFrom(catalog, users[i], h), std::span<float>(out).subspan(i * d, d));
  }
  return out;
}

Status RetrievalBundle::Save(const std::string& dir, const std::string& training_data_hash,
                             const std::map<std::string, double>& metrics) const {
  if (index == nullptr) return FailedPreconditionError("retrieval bundle: no index to save");
  VREC_RETURN_IF_ERROR(model.Save(dir, training_data_hash, metrics));
  VREC_RETURN_IF_ERROR(index->Save((std::filesystem::path(dir) / kIndexFile).string()));
  VREC_ASSIGN_OR_RETURN(registry::Manifest m, registry::ReadManifest(dir));
  m.files["index"] = kIndexFile;
  return registry::WriteManifest(dir, m);
}

StatusOr<RetrievalBundle> RetrievalBundle::Load(const std::string& dir, const AnnLoadOptions& index_options) {
  RetrievalBundle b;
  VREC_ASSIGN_OR_RETURN(b.model, TwoTowerModel::Load(dir));
  VREC_ASSIGN_OR_RETURN(registry::Manifest m, registry::ReadManifest(dir));
  auto it = m.files.find("index");
  if (it == m.files.end()) return NotFoundError(StrCat(dir, ": the manifest lists no video index"));
  VREC_ASSIGN_OR_RETURN(b.index,
                        LoadAnnIndex((std::filesystem::path(dir) / it->second).string(), index_options));
  if (b.index->dimension() != b.model.dimension()) {
    return FailedPreconditionError(StrCat(dir, ": index dimension ", b.index->dimension(),
                                          " differs from the model's ", b.model.dimension()));
  }
  return b;
}

}  // namespace vrec::retrieval
