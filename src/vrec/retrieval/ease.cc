#include "vrec/retrieval/ease.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include "vrec/common/check.h"
#include "vrec/common/strings.h"
#include "vrec/common/top_k.h"

// LAPACK (Fortran ABI; the trailing length is gfortran's hidden length of the `uplo` string).
extern "C" {
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info, size_t uplo_len);
void dpotri_(const char* uplo, const int* n, double* a, const int* lda, int* info, size_t uplo_len);
}

namespace vrec::retrieval {

Status EaseScorer::Fit(const data::Dataset& ds, std::span<const data::Interaction> train) {
  if (!(options_.lambda > 0) || options_.max_videos < 0 || options_.max_history < 0 ||
      (options_.max_videos == 0 && options_.max_weight_bytes < 4)) {
    return InvalidArgumentError(StrCat("ease: lambda ", options_.lambda, " (> 0), max_videos ",
                                       options_.max_videos, " (>= 0), max_history ", options_.max_history,
                                       " (>= 0), max_weight_bytes ", options_.max_weight_bytes, " (>= 4)"));
  }
  const size_t nv = ds.videos.size(), nu = ds.users.size();
  // Positives per video; the K most popular get weights.
  std::vector<int64_t> positives(nv, 0);
  std::vector<std::vector<std::pair<int64_t, uint32_t>>> by_user(nu);  // (time, video)
  for (const data::Interaction& x : train) {
    if (data::PreferenceWeight(x) <= 0) continue;
    ++positives[x.video];
    by_user[x.user].emplace_back(x.timestamp, x.video);
  }
  std::vector<uint32_t> order;
  for (uint32_t v = 0; v < nv; ++v) {
    if (positives[v] > 0) order.push_back(v);
  }
  if (order.empty()) return InvalidArgumentError("ease: no positive feedback to learn from");
  const size_t k = ModelledVideos(order.size(), options_);
  std::partial_sort(order.begin(), order.begin() + static_cast<ptrdiff_t>(k), order.end(),
                    [&](uint32_t a, uint32_t b) {
                      return positives[a] != positives[b] ? positives[a] > positives[b] : a < b;
                    });
  order.resize(k);
  std::vector<int32_t> slot(nv, -1);
  int64_t all_positives = 0, modelled_positives = 0;
  for (int64_t p : positives) all_positives += p;
  for (size_t s = 0; s < k; ++s) {
    slot[order[s]] = static_cast<int32_t>(s);
    modelled_positives += positives[order[s]];
  }
  coverage_ = static_cast<double>(modelled_positives) / static_cast<double>(all_positives);
  slot_ = FlatArray<int32_t>(std::move(slot));
  modelled_ = k;
  InvertSlots();

  // Each user's distinct positives: newest first for scoring, all modelled ones for the Gram matrix.
  histories_.assign(nu, {});
  std::vector<double> gram(k * k, 0.0);
  std::vector<int32_t> slots;
  for (size_t u = 0; u < nu; ++u) {
    auto& rows = by_user[u];
    std::sort(rows.begin(), rows.end(), std::greater<>());
    std::vector<uint32_t>& h = histories_[u];
    slots.clear();
    for (const auto& [time, video] : rows) {
      if (std::find(h.begin(), h.end(), video) != h.end()) continue;
      if (options_.max_history == 0 || h.size() < static_cast<size_t>(options_.max_history))
        h.push_back(video);
      if (slot_[video] >= 0) slots.push_back(slot_[video]);
    }
    std::sort(slots.begin(), slots.end());
    slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
    for (const int32_t a : slots) {
      double* row = &gram[static_cast<size_t>(a) * k];
      for (const int32_t b : slots) row[b] += 1.0;
    }
    std::vector<std::pair<int64_t, uint32_t>>().swap(rows);
  }
  for (size_t s = 0; s < k; ++s) gram[s * k + s] += options_.lambda;

  // P = G^-1 by Cholesky. G is symmetric, so row- and column-major agree; dpotri fills one
  // triangle, mirrored below.
  const int n = static_cast<int>(k);
  int info = 0;
  dpotrf_("L", &n, gram.data(), &n, &info, 1);
  if (info == 0) dpotri_("L", &n, gram.data(), &n, &info, 1);
  if (info != 0) {
    return InternalError(StrCat("ease: LAPACK Cholesky inverse failed (info ", info, ") for ", k, " videos"));
  }
  // Column-major lower triangle = row-major upper triangle: P[i][j] (i <= j) is gram[i * k + j].
  auto p = [&](size_t i, size_t j) { return i <= j ? gram[i * k + j] : gram[j * k + i]; };
  std::vector<float> weights(k * k, 0.0f);
  for (size_t i = 0; i < k; ++i) {
    for (size_t j = 0; j < k; ++j) {
      if (i != j) weights[i * k + j] = static_cast<float>(-p(i, j) / p(j, j));
    }
  }
  weights_ = FlatArray<float>(std::move(weights));
  modelled_ = k;
  return OkStatus();
}

size_t EaseScorer::ModelledVideos(size_t videos_with_positives, const EaseOptions& options) {
  size_t cap = static_cast<size_t>(options.max_videos);
  if (cap == 0) {
    cap = 1;
    while ((cap + 1) * (cap + 1) * sizeof(float) <= options.max_weight_bytes) ++cap;
  }
  return std::min(videos_with_positives, cap);
}

Status EaseScorer::Save(ArtifactWriter& out, std::string_view prefix) const {
  const double meta[] = {static_cast<double>(slot_.size()), static_cast<double>(modelled_), options_.lambda,
                         static_cast<double>(options_.max_history), coverage_};
  VREC_RETURN_IF_ERROR(out.Add<double>(StrCat(prefix, ".meta"), meta));
  VREC_RETURN_IF_ERROR(out.Add<int32_t>(StrCat(prefix, ".slot"), slot_.span()));
  return out.Add<float>(StrCat(prefix, ".weights"), weights_.span());
}

StatusOr<std::shared_ptr<const EaseScorer>> EaseScorer::Load(const std::shared_ptr<const MappedArtifact>& in,
                                                             std::string_view prefix, size_t num_videos) {
  VREC_ASSIGN_OR_RETURN(std::span<const double> meta, in->Get<double>(StrCat(prefix, ".meta")));
  VREC_ASSIGN_OR_RETURN(std::span<const int32_t> slot, in->Get<int32_t>(StrCat(prefix, ".slot")));
  VREC_ASSIGN_OR_RETURN(std::span<const float> weights, in->Get<float>(StrCat(prefix, ".weights")));
  const auto bad = [&](std::string_view what) {
    return DataLossError(StrCat(in->path(), ": EASE weights '", prefix, "': ", what));
  };
  if (meta.size() != 5 || meta[0] != static_cast<double>(num_videos) || slot.size() != num_videos) {
    return bad("not for this catalog");
  }
  const auto k = static_cast<size_t>(meta[1]);
  if (static_cast<double>(k) != meta[1] || weights.size() != k * k) return bad("not a K x K matrix");
  for (int32_t s : slot) {
    if (s < -1 || s >= static_cast<int64_t>(k)) return bad("a slot is out of range");
  }
  EaseOptions options;
  options.lambda = meta[2];
  options.max_history = static_cast<int>(meta[3]);
  options.max_videos = static_cast<int>(k);
  auto e = std::make_shared<EaseScorer>(options);
  e->modelled_ = k;
  e->coverage_ = meta[4];
  e->slot_ = FlatArray<int32_t>(slot, in);
  e->InvertSlots();
  if (std::count(e->video_of_slot_.begin(), e->video_of_slot_.end(), kNoVideo) != 0) {
    return bad("a row of B has no video");
  }
  e->weights_ = FlatArray<float>(weights, in);
  return std::shared_ptr<const EaseScorer>(std::move(e));
}

void EaseScorer::ScoreAll(uint32_t user, std::span<double> scores) const {
  std::fill(scores.begin(), scores.end(), 0.0);
  if (user >= histories_.size()) return;
  std::vector<double> sum(modelled_, 0.0);
  for (const uint32_t h : histories_[user]) {
    if (!Modelled(h)) continue;
    const float* row = &weights_[static_cast<size_t>(slot_[h]) * modelled_];
    for (size_t j = 0; j < modelled_; ++j) sum[j] += row[j];
  }
  for (uint32_t v = 0; v < scores.size() && v < slot_.size(); ++v) {
    if (slot_[v] >= 0) scores[v] = sum[static_cast<size_t>(slot_[v])];
  }
}

std::vector<int32_t> EaseScorer::RowsOf(std::span<const uint32_t> history) const {
  std::vector<int32_t> rows;
  rows.reserve(history.size());
  for (const uint32_t h : history) {
    if (Modelled(h)) rows.push_back(slot_[h]);
  }
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}

void EaseScorer::ScoreVideos(std::span<const uint32_t> history, std::span<const uint32_t> videos,
                             std::span<double> out) const {
  VREC_CHECK(out.size() == videos.size(), out.size(), " outputs for ", videos.size(), " videos");
  const std::vector<int32_t> rows = RowsOf(history);
  // The modelled candidates' columns, looked up once. The reads of B are what costs: one cache miss
  // per (history row, candidate) at serving sizes, which the CPU overlaps across candidates.
  std::vector<std::pair<uint32_t, uint32_t>> columns;  // (column, position in videos)
  columns.reserve(videos.size());
  for (size_t c = 0; c < videos.size(); ++c) {
    if (Modelled(videos[c])) {
      columns.emplace_back(static_cast<uint32_t>(slot_[videos[c]]), static_cast<uint32_t>(c));
      out[c] = 0.0;
    } else {
      out[c] = std::numeric_limits<double>::quiet_NaN();
    }
  }
  for (const int32_t r : rows) {
    const float* row = &weights_[static_cast<size_t>(r) * modelled_];
    for (const auto& [column, position] : columns) out[position] += row[column];
  }
}

void EaseScorer::InvertSlots() {
  video_of_slot_.assign(modelled_, kNoVideo);
  for (uint32_t v = 0; v < slot_.size(); ++v) {
    if (slot_[v] >= 0) video_of_slot_[static_cast<size_t>(slot_[v])] = v;
  }
}

void EaseScorer::Top(std::span<const uint32_t> history, size_t k, std::span<const uint32_t> exclude,
                     std::vector<uint32_t>& videos, std::vector<double>* scores) const {
  thread_local std::vector<double> sum;
  sum.assign(modelled_, 0.0);
  const std::vector<int32_t> rows = RowsOf(history);
  for (const int32_t r : rows) {
    const float* row = &weights_[static_cast<size_t>(r) * modelled_];
    for (size_t j = 0; j < modelled_; ++j) sum[j] += row[j];
  }
  thread_local TopK top;
  top.Reset(k);
  for (size_t j = 0; j < modelled_; ++j) {
    const uint32_t v = video_of_slot_[j];
    if (!std::binary_search(exclude.begin(), exclude.end(), v)) top.Push(sum[j], v);
  }
  top.Finish(videos);
  if (scores != nullptr) {
    scores->resize(videos.size());
    for (size_t i = 0; i < videos.size(); ++i) (*scores)[i] = sum[static_cast<size_t>(slot_[videos[i]])];
  }
}

double EaseScorer::Weight(uint32_t from, uint32_t to) const {
  if (!Modelled(from) || !Modelled(to)) return 0.0;
  return weights_[static_cast<size_t>(slot_[from]) * modelled_ + static_cast<size_t>(slot_[to])];
}

}  // namespace vrec::retrieval
