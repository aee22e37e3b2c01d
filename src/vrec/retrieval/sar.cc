#include "vrec/retrieval/sar.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <thread>
#include <unordered_map>

#include "vrec/common/check.h"
#include "vrec/common/strings.h"

namespace vrec::retrieval {

double SarScorer::Csr::Get(uint32_t row, uint32_t c) const {
  // In size_t: row + 1 in uint32_t wraps to 0 for the largest index.
  if (static_cast<size_t>(row) + 1 >= ptr.size()) return 0.0;
  auto begin = col.begin() + static_cast<ptrdiff_t>(ptr[row]);
  auto end = col.begin() + static_cast<ptrdiff_t>(ptr[row + 1]);
  auto it = std::lower_bound(begin, end, c);
  return (it != end && *it == c) ? val[static_cast<size_t>(it - col.begin())] : 0.0;
}

int NeighboursForBudget(size_t num_videos, uint64_t budget_bytes) {
  constexpr uint64_t kBytesPerNeighbour = sizeof(uint32_t) + sizeof(double);
  constexpr int kMinNeighbours = 50;
  if (num_videos == 0 || num_videos * num_videos * kBytesPerNeighbour <= budget_bytes) return 0;
  const uint64_t k = budget_bytes / (num_videos * kBytesPerNeighbour);
  return static_cast<int>(std::clamp<uint64_t>(k, kMinNeighbours, num_videos));
}

Status SarScorer::Fit(const data::Dataset& ds, std::span<const data::Interaction> train) {
  if (train.empty()) return InvalidArgumentError("sar: no training rows");
  num_videos_ = ds.videos.size();
  neighbours_ = options_.max_neighbours >= 0
                    ? options_.max_neighbours
                    : NeighboursForBudget(num_videos_, options_.max_similarity_bytes);
  const size_t num_users = ds.users.size();
  int64_t t_now = std::numeric_limits<int64_t>::min();
  for (const data::Interaction& x : train) t_now = std::max(t_now, x.timestamp);
  const double half_life_s = options_.half_life_days * 86400.0;

  // 1. Affinity: decayed weights summed per (user, video); positives only.
  std::vector<std::vector<std::pair<uint32_t, double>>> per_user(num_users);
  std::vector<std::vector<int64_t>> last_seen(num_users);  // for max_items_per_user
  {
    std::vector<std::unordered_map<uint32_t, uint32_t>> slot(num_users);
    for (const data::Interaction& x : train) {
      const double w = data::PreferenceWeight(x);
      if (w <= 0) continue;
      const double decay =
          half_life_s > 0 ? std::pow(0.5, static_cast<double>(t_now - x.timestamp) / half_life_s) : 1.0;
      auto [it, inserted] = slot[x.user].try_emplace(x.video, static_cast<uint32_t>(per_user[x.user].size()));
      if (inserted) {
        per_user[x.user].emplace_back(x.video, 0.0);
        last_seen[x.user].push_back(x.timestamp);
      }
      per_user[x.user][it->second].second += w * decay;
      last_seen[x.user][it->second] = std::max(last_seen[x.user][it->second], x.timestamp);
    }
  }
  std::vector<uint64_t> affinity_ptr(num_users + 1, 0);
  std::vector<uint32_t> affinity_col;
  std::vector<double> affinity_val;
  std::vector<std::vector<uint32_t>> items_of_user(num_users);
  for (size_t u = 0; u < num_users; ++u) {
    auto& row = per_user[u];
    std::vector<uint32_t> order(row.size());
    std::iota(order.begin(), order.end(), 0);
    if (options_.max_items_per_user > 0 && row.size() > static_cast<size_t>(options_.max_items_per_user)) {
      std::stable_sort(order.begin(), order.end(),
                       [&](uint32_t a, uint32_t b) { return last_seen[u][a] > last_seen[u][b]; });
      order.resize(options_.max_items_per_user);
    }
    for (uint32_t k : order) items_of_user[u].push_back(row[k].first);
    std::sort(items_of_user[u].begin(), items_of_user[u].end());
    std::sort(row.begin(), row.end());
    for (auto [v, a] : row) {
      affinity_col.push_back(v);
      affinity_val.push_back(a);
    }
    affinity_ptr[u + 1] = affinity_col.size();
    row = {};
  }
  affinity_ = Csr{FlatArray<uint64_t>(std::move(affinity_ptr)), FlatArray<uint32_t>(std::move(affinity_col)),
                  FlatArray<double>(std::move(affinity_val))};

  // 2. Co-occurrence rows, one video at a time with a dense scratch counter per thread.
  std::vector<std::vector<uint32_t>> users_of_video(num_videos_);
  for (uint32_t u = 0; u < num_users; ++u) {
    for (uint32_t v : items_of_user[u]) users_of_video[v].push_back(u);
  }
  std::vector<uint32_t> diag(num_videos_);
  for (size_t v = 0; v < num_videos_; ++v) diag[v] = static_cast<uint32_t>(users_of_video[v].size());

  std::vector<std::vector<std::pair<uint32_t, double>>> rows(num_videos_);
  const int threads = std::max(1, options_.threads);
  auto work = [&](int t) {
    std::vector<uint32_t> count(num_videos_, 0);
    std::vector<uint32_t> touched;
    // Every co-occurring video of row i, in a scratch row that keeps its capacity from row to
    // row; the kept neighbours are then copied into a row of their exact size (a truncated row
    // would keep the capacity of all its co-occurrences: ~13 GB at 1M videos / 10M events).
    std::vector<std::pair<uint32_t, double>> row;
    for (size_t i = t; i < num_videos_; i += threads) {
      touched.clear();
      row.clear();
      for (uint32_t u : users_of_video[i]) {
        for (uint32_t j : items_of_user[u]) {
          if (count[j]++ == 0) touched.push_back(j);
        }
      }
      std::sort(touched.begin(), touched.end());
      for (uint32_t j : touched) {
        const double c = count[j];
        count[j] = 0;
        if (c < options_.cooccurrence_threshold) continue;
        double s = c;
        switch (options_.similarity) {
          case SarOptions::Similarity::kJaccard:
            s = c / (diag[i] + diag[j] - c);
            break;
          case SarOptions::Similarity::kLift:
            s = c / (static_cast<double>(diag[i]) * diag[j]);
            break;
          case SarOptions::Similarity::kCooccurrence:
            break;
        }
        row.emplace_back(j, s);
      }
      // The strongest neighbours only (ties by index), kept in column order for lookups.
      if (neighbours_ > 0 && row.size() > static_cast<size_t>(neighbours_)) {
        const auto keep = static_cast<ptrdiff_t>(neighbours_);
        std::nth_element(row.begin(), row.begin() + keep, row.end(), [](const auto& a, const auto& b) {
          return a.second != b.second ? a.second > b.second : a.first < b.first;
        });
        row.resize(static_cast<size_t>(keep));
        std::sort(row.begin(), row.end());
      }
      rows[i].assign(row.begin(), row.end());
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();

  std::vector<uint64_t> ptr(num_videos_ + 1, 0);
  for (size_t i = 0; i < num_videos_; ++i) ptr[i + 1] = ptr[i] + rows[i].size();
  std::vector<uint32_t> col(ptr.back());
  std::vector<double> val(ptr.back());
  for (size_t i = 0; i < num_videos_; ++i) {
    size_t k = ptr[i];
    for (auto [j, sim] : rows[i]) {
      col[k] = j;
      val[k++] = sim;
    }
    rows[i] = {};
  }
  similarity_ = Csr{FlatArray<uint64_t>(std::move(ptr)), FlatArray<uint32_t>(std::move(col)),
                    FlatArray<double>(std::move(val))};
  return OkStatus();
}

Status SarScorer::Save(ArtifactWriter& out, std::string_view prefix) const {
  const double meta[] = {static_cast<double>(num_videos_), options_.half_life_days,
                         static_cast<double>(options_.similarity), static_cast<double>(neighbours_)};
  VREC_RETURN_IF_ERROR(out.Add<double>(StrCat(prefix, ".meta"), meta));
  VREC_RETURN_IF_ERROR(out.Add<uint64_t>(StrCat(prefix, ".ptr"), similarity_.ptr.span()));
  VREC_RETURN_IF_ERROR(out.Add<uint32_t>(StrCat(prefix, ".col"), similarity_.col.span()));
  return out.Add<double>(StrCat(prefix, ".val"), similarity_.val.span());
}

StatusOr<std::shared_ptr<const SarScorer>> SarScorer::Load(const std::shared_ptr<const MappedArtifact>& in,
                                                           std::string_view prefix, size_t num_videos) {
  VREC_ASSIGN_OR_RETURN(std::span<const double> meta, in->Get<double>(StrCat(prefix, ".meta")));
  VREC_ASSIGN_OR_RETURN(std::span<const uint64_t> ptr, in->Get<uint64_t>(StrCat(prefix, ".ptr")));
  VREC_ASSIGN_OR_RETURN(std::span<const uint32_t> col, in->Get<uint32_t>(StrCat(prefix, ".col")));
  VREC_ASSIGN_OR_RETURN(std::span<const double> val, in->Get<double>(StrCat(prefix, ".val")));
  const auto bad = [&](std::string_view what) {
    return DataLossError(StrCat(in->path(), ": item-item neighbours '", prefix, "': ", what));
  };
  if (meta.size() != 4 || meta[0] != static_cast<double>(num_videos)) return bad("not for this catalog");
  if (ptr.size() != num_videos + 1 || ptr.front() != 0 || ptr.back() != col.size() ||
      val.size() != col.size()) {
    return bad("offsets do not span the rows");
  }
  // Offsets are checked here (8 bytes a video); the rows themselves are not read at load (that is
  // the point of mapping them): their checksum is verified before a version becomes production,
  // and lookups never index memory with a column they did not bound-check.
  for (size_t r = 0; r < num_videos; ++r) {
    if (ptr[r + 1] < ptr[r]) return bad("offsets decrease");
  }
  SarOptions options;
  options.half_life_days = meta[1];
  options.similarity = static_cast<SarOptions::Similarity>(static_cast<int>(meta[2]));
  options.max_neighbours = static_cast<int>(meta[3]);
  auto s = std::make_shared<SarScorer>(options);
  s->num_videos_ = num_videos;
  s->neighbours_ = options.max_neighbours;
  s->similarity_ =
      Csr{FlatArray<uint64_t>(ptr, in), FlatArray<uint32_t>(col, in), FlatArray<double>(val, in)};
  return std::shared_ptr<const SarScorer>(std::move(s));
}

uint64_t SarScorer::bytes() const {
  return similarity_.ptr.size() * 8 + similarity_.col.size() * 4 + similarity_.val.size() * 8 +
         affinity_.ptr.size() * 8 + affinity_.col.size() * 4 + affinity_.val.size() * 8;
}

void SarScorer::ScoreAll(uint32_t user, std::span<double> scores) const {
  std::fill(scores.begin(), scores.end(), 0.0);
  if (static_cast<size_t>(user) + 1 >= affinity_.ptr.size()) return;
  for (uint64_t k = affinity_.ptr[user]; k < affinity_.ptr[user + 1]; ++k) {
    const uint32_t i = affinity_.col[k];
    const double a = affinity_.val[k];
    for (uint64_t m = similarity_.ptr[i]; m < similarity_.ptr[i + 1]; ++m) {
      scores[similarity_.col[m]] += a * similarity_.val[m];
    }
  }
}

void SarScorer::ScoreVideos(std::span<const std::pair<uint32_t, double>> affinity,
                            std::span<const uint32_t> videos, std::span<double> out) const {
  VREC_CHECK(out.size() == videos.size(), out.size(), " outputs for ", videos.size(), " videos");
  std::fill(out.begin(), out.end(), 0.0);
  // Candidates in ascending video order, so each history row is intersected with them in one
  // forward pass: short rows are walked (sequential reads, a candidate's position looked up in
  // `slot`), long rows are searched with galloping steps from the previous match.
  thread_local std::vector<int32_t> slot;
  thread_local std::vector<uint32_t> order;
  if (slot.size() < num_videos_) slot.assign(num_videos_, -1);
  order.clear();
  for (size_t k = 0; k < videos.size(); ++k) {
    if (videos[k] >= num_videos_) continue;
    slot[videos[k]] = static_cast<int32_t>(k);
    order.push_back(videos[k]);
  }
  std::sort(order.begin(), order.end());
  const uint64_t walk_limit = 8 * order.size();
  for (auto [i, a] : affinity) {
    if (static_cast<size_t>(i) + 1 >= similarity_.ptr.size()) continue;
    const auto row_begin = similarity_.col.begin() + static_cast<ptrdiff_t>(similarity_.ptr[i]);
    const auto row_end = similarity_.col.begin() + static_cast<ptrdiff_t>(similarity_.ptr[i + 1]);
    if (static_cast<uint64_t>(row_end - row_begin) <= walk_limit) {
      for (auto it = row_begin; it != row_end; ++it) {
        if (*it >= num_videos_) continue;  // only a corrupt mapped row can hold one
        const int32_t k = slot[*it];
        if (k >= 0)
          out[static_cast<size_t>(k)] +=
              a * similarity_.val[static_cast<size_t>(it - similarity_.col.begin())];
      }
      continue;
    }
    auto it = row_begin;
    for (uint32_t v : order) {
      // Gallop: double the step until past v, then binary search that last step.
      size_t step = 1;
      auto hi = it;
      while (hi != row_end && *hi < v) {
        it = hi;
        hi = (static_cast<size_t>(row_end - hi) > step) ? hi + static_cast<ptrdiff_t>(step) : row_end;
        step *= 2;
      }
      it = std::lower_bound(it, hi, v);
      if (it == row_end) break;
      if (*it == v) {
        out[static_cast<size_t>(slot[v])] +=
            a * similarity_.val[static_cast<size_t>(it - similarity_.col.begin())];
      }
    }
  }
  for (uint32_t v : order) slot[v] = -1;
}

double SarScorer::Similarity(uint32_t a, uint32_t b) const { return similarity_.Get(a, b); }

std::vector<std::pair<uint32_t, double>> SarScorer::TopSimilar(uint32_t video, size_t k) const {
  std::vector<std::pair<uint32_t, double>> out;
  if (static_cast<size_t>(video) + 1 >= similarity_.ptr.size() || k == 0) return out;
  for (uint64_t i = similarity_.ptr[video]; i < similarity_.ptr[video + 1]; ++i) {
    if (similarity_.col[i] != video && similarity_.val[i] > 0)
      out.emplace_back(similarity_.col[i], similarity_.val[i]);
  }
  const auto better = [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  if (out.size() > k) {
    std::partial_sort(out.begin(), out.begin() + static_cast<ptrdiff_t>(k), out.end(), better);
    out.resize(k);
  } else {
    std::sort(out.begin(), out.end(), better);
  }
  return out;
}
double SarScorer::Affinity(uint32_t user, uint32_t video) const { return affinity_.Get(user, video); }

}  // namespace vrec::retrieval
