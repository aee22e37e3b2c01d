#include "vrec/offline/two_stage.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <functional>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>

#include "vrec/common/check.h"
#include "vrec/common/parallel.h"
#include "vrec/common/progress.h"
#include "vrec/common/strings.h"
#include "vrec/common/sys.h"
#include "vrec/common/top_k.h"

namespace vrec::offline {
namespace {

// Label of a held-out positive: 2 for strong feedback (rating >= 4, like/share/comment, a play
// watched to the end), 1 for other positives.
float Grade(const data::Interaction& x) {
  if (!data::IsMissing(x.rating)) return x.rating >= 4 ? 2.0f : 1.0f;
  return data::PreferenceWeight(x) >= 2.0f ? 2.0f : 1.0f;
}

std::vector<std::vector<uint32_t>> SeenByUser(size_t num_users, std::span<const data::Interaction> rows) {
  std::vector<std::vector<uint32_t>> seen(num_users);
  for (const data::Interaction& x : rows) seen[x.user].push_back(x.video);
  for (auto& s : seen) {
    std::sort(s.begin(), s.end());
    s.erase(std::unique(s.begin(), s.end()), s.end());
  }
  return seen;
}

// What a label-slice row tells the objective heads about its video: the seconds played, a play
// to the end, a like.
struct HeadLabel {
  float watch_s = 0, complete = 0, like = 0;
};
HeadLabel HeadLabelOf(const data::Interaction& x) {
  HeadLabel h;
  if (x.type == data::EventType::kPlay) {
    if (!data::IsMissing(x.watch_time_s)) h.watch_s = std::max(0.0f, x.watch_time_s);
    if (!data::IsMissing(x.watch_ratio) && x.watch_ratio >= 1.0f) h.complete = 1;
  } else if (x.type == data::EventType::kLike) {
    h.like = 1;
  }
  return h;
}

using HeadColumns = std::array<std::vector<float>, ranking::kNumObjectives>;

// Appends the heads' labels of one group's `videos` to `out`: the seconds of every play summed,
// completion and like 1 when any row says so, 0 for candidates without a label-slice row.
void AppendHeadLabels(std::span<const uint32_t> videos, std::span<const std::pair<uint32_t, HeadLabel>> rows,
                      HeadColumns& out) {
  const size_t begin = out[0].size();
  for (auto& column : out) column.resize(begin + videos.size(), 0.0f);
  for (const auto& [v, h] : rows) {
    auto it = std::find(videos.begin(), videos.end(), v);
    if (it == videos.end()) continue;
    const size_t k = begin + static_cast<size_t>(it - videos.begin());
    out[static_cast<size_t>(ranking::Objective::kWatch)][k] += h.watch_s;
    float& complete = out[static_cast<size_t>(ranking::Objective::kComplete)][k];
    complete = std::max(complete, h.complete);
    float& like = out[static_cast<size_t>(ranking::Objective::kLike)][k];
    like = std::max(like, h.like);
  }
}

// Trains each head whose labels carry a signal (TwoStageOptions::min_head_positives) on the
// ranker's rows `data` (train, valid), its labels swapped in from `labels` for the time of its
// training.
Status TrainHeads(ranking::RankingData (&data)[2], HeadColumns (&labels)[2], const TwoStageOptions& o,
                  ranking::ObjectiveHeads& heads, std::map<std::string, ranking::RankerTrainReport>& reports,
                  const std::function<void(const std::string&)>& say) {
  for (ranking::Objective h : ranking::kObjectives) {
    const size_t c = static_cast<size_t>(h);
    const auto positives = [&](int split) {
      return std::count_if(labels[split][c].begin(), labels[split][c].end(), [](float v) { return v > 0; });
    };
    const int64_t train_positives = positives(0), valid_positives = positives(1);
    if (labels[0][c].size() != data[0].rows() || labels[1][c].size() != data[1].rows() ||
        train_positives < o.min_head_positives || valid_positives * 4 < o.min_head_positives) {
      say(StrCat("head ", ranking::Name(h), ": ", train_positives, " train / ", valid_positives,
                 " valid rows with a signal (needs ", o.min_head_positives, "): not trained"));
      continue;
    }
    ranking::RankerOptions options = o.head;
    options.objective = std::string(ranking::TrainingObjective(h));
    ranking::RankerTrainReport report;
    for (int split = 0; split < 2; ++split) std::swap(data[split].labels, labels[split][c]);
    StatusOr<std::unique_ptr<ranking::Ranker>> head =
        ranking::TrainXGBoostRanker(data[0], data[1], options, &report);
    for (int split = 0; split < 2; ++split) std::swap(data[split].labels, labels[split][c]);
    if (!head.ok()) return head.status();
    say(StrCat("head ", ranking::Name(h), ": ", train_positives, " train rows with a signal, best_iteration ",
               report.best_iteration, " valid ", report.metric, " ", report.valid_metric, " valid_auc ",
               report.valid_auc));
    heads.Set(h, std::move(head).value());
    reports[std::string(ranking::Name(h))] = report;
  }
  return OkStatus();
}

int64_t LatestTime(std::span<const data::Interaction> rows) {
  int64_t t = 0;
  for (const data::Interaction& x : rows) t = std::max(t, x.timestamp);
  return t;
}

}  // namespace

RankerLabelSplit SplitRankerLabels(std::span<const data::Interaction> train, size_t num_users,
                                   double fraction, int min_positives, uint64_t seed, int fold) {
  std::vector<std::vector<uint32_t>> positive_rows(num_users);
  for (uint32_t i = 0; i < train.size(); ++i) {
    if (data::PreferenceWeight(train[i]) > 0) positive_rows[train[i].user].push_back(i);
  }
  std::mt19937_64 rng(seed);
  std::vector<bool> is_label(train.size(), false);
  for (auto& rows : positive_rows) {
    if (static_cast<int>(rows.size()) < min_positives) continue;
    std::shuffle(rows.begin(), rows.end(), rng);
    const auto n = static_cast<size_t>(std::lround(fraction * static_cast<double>(rows.size())));
    const size_t begin = std::min(rows.size(), n * static_cast<size_t>(fold));
    for (size_t k = begin; k < std::min(rows.size(), begin + n); ++k) is_label[rows[k]] = true;
  }
  RankerLabelSplit split;
  for (uint32_t i = 0; i < train.size(); ++i)
    (is_label[i] ? split.label_rows : split.retrieval_rows).push_back(i);
  return split;
}

TwoStageScorer::TwoStageScorer(TwoStageOptions options) : options_(std::move(options)) {}
TwoStageScorer::~TwoStageScorer() = default;

// Users whose retrieval scores are computed together (ItemScorer::ScoreUsers).
constexpr size_t kUserBatch = 16;

template <typename Fn>
void TwoStageScorer::ForEachUser(std::span<const uint32_t> users, int threads, const std::string& label,
                                 const Fn& fn) const {
  const size_t nv = ds_->videos.size();
  Progress progress(label, static_cast<int64_t>(users.size()), label.empty(), 10.0, "users",
                    /*final_line=*/false);
  std::atomic<size_t> next{0};
  auto work = [&] {
    std::vector<double> scores;
    for (size_t begin; (begin = next.fetch_add(kUserBatch)) < users.size();) {
      const size_t end = std::min(users.size(), begin + kUserBatch);
      const std::span<const uint32_t> batch = users.subspan(begin, end - begin);
      scores.resize(batch.size() * nv);
      sources_.two_tower->ScoreUsers(batch, scores);
      for (size_t i = 0; i < batch.size(); ++i) {
        fn(begin + i, batch[i], std::span<const double>(scores).subspan(i * nv, nv));
      }
      progress.Add(static_cast<int64_t>(batch.size()));
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, threads); ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
}

void TwoStageScorer::Candidates(uint32_t user, std::span<const uint32_t> seen,
                                std::span<const double> retrieval, std::vector<uint32_t>& videos,
                                std::vector<ranking::CandidateSignals>& signals) const {
  const size_t nv = ds_->videos.size();
  // The best `candidates` unseen catalog videos: a selection over the scores, no catalog-sized list.
  thread_local TopK top;
  top.Reset(static_cast<size_t>(std::max(0, options_.candidates)));
  size_t s = 0;
  for (uint32_t v = 0; v < nv; ++v) {
    if (!sources_.in_catalog[v]) continue;
    while (s < seen.size() && seen[s] < v) ++s;
    if (s < seen.size() && seen[s] == v) continue;
    top.Push(retrieval[v], v);
  }
  top.Finish(videos);
  const size_t retrieved = videos.size();
  if (options_.ease_candidates > 0) {
    thread_local std::vector<uint32_t> more;
    sources_.ease->Top(sources_.ease->History(user), static_cast<size_t>(options_.ease_candidates), seen,
                       more);
    for (uint32_t v : more) {
      if (std::find(videos.begin(), videos.begin() + static_cast<ptrdiff_t>(retrieved), v) ==
          videos.begin() + static_cast<ptrdiff_t>(retrieved)) {
        videos.push_back(v);
      }
    }
  }
  const size_t n = videos.size();
  // Item-item similarity to the user's history, ranked within the candidates: SAR's ScoreAll terms
  // for these videos only, summed in the same order (the user's positives by index).
  thread_local std::vector<std::pair<uint32_t, double>> affinity;
  affinity.clear();
  for (uint32_t v : seen) {
    const double a = sources_.sar->Affinity(user, v);
    if (a != 0) affinity.emplace_back(v, a);
  }
  std::vector<double> sim(n);
  sources_.sar->ScoreVideos(affinity, videos, sim);
  std::vector<uint32_t> by_sim(n);
  std::iota(by_sim.begin(), by_sim.end(), 0);
  std::sort(by_sim.begin(), by_sim.end(),
            [&](uint32_t a, uint32_t b) { return sim[a] != sim[b] ? sim[a] > sim[b] : a < b; });
  signals.assign(n, {});
  for (size_t r = 0; r < n; ++r) {
    if (r < retrieved) {  // the other source's candidates have no retrieval score or rank
      signals[r].retrieval_score = static_cast<float>(retrieval[videos[r]]);
      signals[r].retrieval_rank = static_cast<int>(r);
    }
    signals[r].similarity_score = static_cast<float>(sim[r]);
  }
  for (size_t r = 0; r < n; ++r) signals[by_sim[r]].similarity_rank = static_cast<int>(r);
  // EASE's regression score vs the history (its most recent positives, as serving reads them): the
  // terms of EaseScorer::ScoreAll for these videos only, in its order.
  const std::span<const uint32_t> history = sources_.ease->History(user);
  for (size_t r = 0; r < n; ++r) {
    if (!sources_.ease->Modelled(videos[r])) continue;
    double sum = 0.0;
    for (uint32_t h : history) {
      if (sources_.ease->Modelled(h)) sum += sources_.ease->Weight(h, videos[r]);
    }
    signals[r].ease_score = static_cast<float>(sum);
  }
}

Status TwoStageScorer::Fit(const data::Dataset& ds, std::span<const data::Interaction> train) {
  ds_ = &ds;
  const size_t nu = ds.users.size();
  const auto say = [&](const std::string& s) {
    if (options_.verbose) std::fprintf(stderr, "two-stage: %s\n", s.c_str());
  };

  // 2. Retrieval, similarity and aggregates on the given rows; each part's seconds go to
  // fit_seconds_ under `step` ("fold0.two_tower", "refit.sar", ...). The refit runs beside the
  // ranker, so its timings are written under a lock.
  std::mutex seconds_mu;
  auto timed = [&](const std::string& step, double seconds) {
    std::lock_guard<std::mutex> lock(seconds_mu);
    fit_seconds_[step] = seconds;
    say(StrCat(step, ": ", FormatDuration(seconds)));
  };
  auto fit_sources = [&](std::span<const data::Interaction> rows, const std::string& step,
                         retrieval::TwoTowerOptions two_tower_options, Sources& out) -> Status {
    Stopwatch clock;
    out.two_tower = std::make_unique<retrieval::TwoTowerScorer>(std::move(two_tower_options));
    VREC_RETURN_IF_ERROR(out.two_tower->Fit(ds, rows));
    timed(step + ".two_tower", clock.Seconds());
    clock.Reset();
    out.sar = std::make_unique<retrieval::SarScorer>(options_.sar);
    VREC_RETURN_IF_ERROR(out.sar->Fit(ds, rows));
    timed(step + ".sar", clock.Seconds());
    clock.Reset();
    out.ease = std::make_unique<retrieval::EaseScorer>(options_.ease);
    VREC_RETURN_IF_ERROR(out.ease->Fit(ds, rows));
    timed(step + ".ease", clock.Seconds());
    clock.Reset();
    // The offline split is not temporal: every fitted row is "the past" of the request.
    out.as_of = LatestTime(rows) + 1;
    out.features = std::make_unique<ranking::FeatureAggregates>(
        ranking::FeatureAggregates::FromRows(ds, rows, std::numeric_limits<int64_t>::max()));
    out.seen = SeenByUser(nu, rows);
    out.in_catalog.assign(ds.videos.size(), false);
    for (const data::Interaction& x : rows) out.in_catalog[x.video] = true;
    timed(step + ".aggregates", clock.Seconds());
    return OkStatus();
  };

  // 4. The final retrieval fit on every row (as in production: sources refitted on everything, the
  // ranker applied to their outputs) depends on nothing the folds or the ranker produce, so it runs
  // beside them from the start. A two-tower epoch keeps about one core busy whatever its thread
  // count (two threads were slower than one on ML-100K: 53 s against 42 s), so the two
  // concurrent two-tower fits share the threads instead of oversubscribing the cores.
  retrieval::TwoTowerOptions fold_two_tower = options_.two_tower;
  Sources refit_sources;
  Status refit_status;
  std::thread refit;
  if (options_.refit_on_full) {
    fold_two_tower.threads = std::max(1, options_.two_tower.threads / 2);
    retrieval::TwoTowerOptions refit_two_tower = options_.two_tower;
    refit_two_tower.threads = std::max(1, options_.two_tower.threads - fold_two_tower.threads);
    refit = std::thread([&, refit_two_tower] {
      Stopwatch clock;
      refit_status = fit_sources(train, "refit", refit_two_tower, refit_sources);
      timed("retrieval", clock.Seconds());
    });
  }
  // Joins the refit on every return below.
  struct JoinOnExit {
    std::thread& t;
    ~JoinOnExit() {
      if (t.joinable()) t.join();
    }
  } join_refit{refit};

  // Validation users are fixed across folds, so no user has groups on both sides.
  std::vector<bool> is_valid_user(nu);
  {
    std::mt19937_64 rng(options_.seed + 1);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    for (size_t u = 0; u < nu; ++u) is_valid_user[u] = unit(rng) < options_.valid_user_fraction;
  }
  Stopwatch folds_clock;
  ranking::RankingData data[2];  // train, valid
  for (auto& d : data) d.feature_names = ranking::RankingFeatureNames();
  HeadColumns head_labels[2];  // train, valid: the heads' labels of data's rows
  folds_used_ = 0;
  for (int fold = 0; fold < options_.label_folds; ++fold) {
    ++folds_used_;
    // 1. The label slice, which the retrieval model of this fold never sees.
    const RankerLabelSplit split = SplitRankerLabels(train, nu, options_.label_fraction,
                                                     options_.min_positives_to_label, options_.seed, fold);
    std::vector<data::Interaction> retrieval_rows;
    retrieval_rows.reserve(split.retrieval_rows.size());
    for (uint32_t i : split.retrieval_rows) retrieval_rows.push_back(train[i]);
    std::vector<std::vector<std::pair<uint32_t, float>>> labels(nu);  // (video, grade)
    for (uint32_t i : split.label_rows) {
      labels[train[i].user].emplace_back(train[i].video, options_.binary_labels ? 1.0f : Grade(train[i]));
    }
    std::vector<std::vector<std::pair<uint32_t, HeadLabel>>> head_rows(options_.heads ? nu : 0);
    for (uint32_t i :
         options_.heads ? std::span<const uint32_t>(split.label_rows) : std::span<const uint32_t>()) {
      head_rows[train[i].user].emplace_back(train[i].video, HeadLabelOf(train[i]));
    }
    // Users with a label slice; a fixed random sample of them beyond max_label_users.
    std::vector<uint32_t> labelled;
    for (uint32_t u = 0; u < nu; ++u) {
      if (!labels[u].empty()) labelled.push_back(u);
    }
    const size_t all_labelled = labelled.size();
    if (options_.max_label_users > 0 && labelled.size() > static_cast<size_t>(options_.max_label_users)) {
      std::mt19937_64 rng(options_.seed + 2 + static_cast<uint64_t>(fold));
      std::shuffle(labelled.begin(), labelled.end(), rng);
      labelled.resize(static_cast<size_t>(options_.max_label_users));
      std::sort(labelled.begin(), labelled.end());
    }
    say(StrCat("fold ", fold, ": retrieval rows ", retrieval_rows.size(), ", label rows ",
               split.label_rows.size(), ", ranker groups from ", labelled.size(), " of ", all_labelled,
               " labelled users"));
    {
      Sources fold_sources;
      VREC_RETURN_IF_ERROR(fit_sources(retrieval_rows, StrCat("fold", fold), fold_two_tower, fold_sources));
      sources_ = std::move(fold_sources);
    }

    // 3. Ranking data: each labelled user's candidates, labelled by the label slice. Users are
    // scored in parallel batches and their groups appended in user order, as a sequential loop would.
    Stopwatch candidates_clock;
    const ranking::RequestContext request{.time = sources_.as_of, .known_time_of_day = false};
    struct Group {
      bool kept = false;
      std::vector<float> features, grades;
      HeadColumns heads;
    };
    std::vector<Group> groups(labelled.size());
    ForEachUser(labelled, options_.threads,
                options_.verbose ? StrCat("two-stage: fold ", fold, " candidates") : "",
                [&](size_t i, uint32_t u, std::span<const double> retrieval) {
                  thread_local std::vector<uint32_t> videos;
                  thread_local std::vector<ranking::CandidateSignals> signals;
                  Candidates(u, sources_.seen[u], retrieval, videos, signals);
                  Group& g = groups[i];
                  g.grades.assign(videos.size(), 0.0f);
                  for (auto [v, grade] : labels[u]) {
                    auto it = std::find(videos.begin(), videos.end(), v);
                    if (it != videos.end()) {
                      g.grades[it - videos.begin()] = std::max(g.grades[it - videos.begin()], grade);
                      g.kept = true;
                    }
                  }
                  if (!g.kept) return;  // no positive among the candidates: nothing to rank
                  if (options_.heads) AppendHeadLabels(videos, head_rows[u], g.heads);
                  sources_.features->Assemble(u, request, videos, signals, g.features);
                });
    for (size_t i = 0; i < labelled.size(); ++i) {
      Group& g = groups[i];
      if (!g.kept) continue;
      ranking::RankingData& d = data[is_valid_user[labelled[i]] ? 1 : 0];
      d.features.insert(d.features.end(), g.features.begin(), g.features.end());
      d.labels.insert(d.labels.end(), g.grades.begin(), g.grades.end());
      d.group_sizes.push_back(static_cast<uint32_t>(g.grades.size()));
      if (options_.heads) {
        HeadColumns& h = head_labels[is_valid_user[labelled[i]] ? 1 : 0];
        for (size_t c = 0; c < h.size(); ++c) h[c].insert(h[c].end(), g.heads[c].begin(), g.heads[c].end());
      }
      g = Group{};
    }
    timed(StrCat("fold", fold, ".candidates"), candidates_clock.Seconds());
    // Another fold costs a whole retrieval fit for more ranker groups; once one fold had more
    // labelled users than max_label_users (large platforms) the ranker has its share of groups.
    if (options_.max_label_users > 0 && all_labelled > static_cast<size_t>(options_.max_label_users) &&
        fold + 1 < options_.label_folds) {
      say(StrCat("fold ", fold, " had ", all_labelled, " labelled users (> max_label_users ",
                 options_.max_label_users, "): no further fold"));
      break;
    }
  }
  if (data[0].group_sizes.empty() || data[1].group_sizes.empty()) {
    return InvalidArgumentError("two-stage: too few users with held-out positives among their candidates");
  }
  train_groups_ = static_cast<int64_t>(data[0].group_sizes.size());
  train_rows_ = static_cast<int64_t>(data[0].rows());
  say(StrCat("ranker data: ", train_groups_, " groups / ", train_rows_, " rows train, ",
             data[1].group_sizes.size(), " groups valid"));

  // The yardstick: the validation groups in plain retrieval order.
  {
    const auto& names = ranking::RankingFeatureNames();
    const size_t width = names.size();
    const size_t rank_col =
        static_cast<size_t>(std::find(names.begin(), names.end(), "retrieval_rank") - names.begin());
    std::vector<float> retrieval_order(data[1].rows());
    for (size_t r = 0; r < retrieval_order.size(); ++r) {
      const float rank = data[1].features[r * width + rank_col];
      retrieval_order[r] = std::isnan(rank) ? -1e9f : -rank;  // other sources' candidates last
    }
    retrieval_valid_ndcg_ =
        ranking::MeanNdcgAtK(retrieval_order, data[1].labels, data[1].group_sizes, options_.ranker.eval_at);
    retrieval_valid_auc_ = ranking::MeanGroupAuc(retrieval_order, data[1].labels, data[1].group_sizes);
  }

  fit_seconds_["label_folds"] = folds_clock.Seconds();

  // 5. The ranker (and the heads) on the fold data, while the refit finishes.
  Stopwatch ranker_clock;
  StatusOr<std::unique_ptr<ranking::Ranker>> ranker =
      ranking::TrainXGBoostRanker(data[0], data[1], options_.ranker, &report_);
  const double ranker_seconds = ranker_clock.Seconds();
  Stopwatch heads_clock;
  const Status heads_status = ranker.ok() && options_.heads
                                  ? TrainHeads(data, head_labels, options_, heads_, head_reports_, say)
                                  : OkStatus();
  const double heads_seconds = heads_clock.Seconds();
  if (refit.joinable()) refit.join();
  fit_seconds_["ranker"] = ranker_seconds;
  if (options_.heads) fit_seconds_["heads"] = heads_seconds;
  if (!ranker.ok()) return ranker.status();
  VREC_RETURN_IF_ERROR(heads_status);
  ranker_ = std::move(ranker).value();
  say(StrCat("ranker: best_iteration ", report_.best_iteration, " valid_ndcg ", report_.valid_ndcg,
             " valid_auc ", report_.valid_auc));
  VREC_RETURN_IF_ERROR(refit_status);
  if (options_.refit_on_full) {
    sources_ = std::move(refit_sources);
  } else {
    sources_.seen = SeenByUser(nu, train);
    sources_.features = std::make_unique<ranking::FeatureAggregates>(
        ranking::FeatureAggregates::FromRows(ds, train, std::numeric_limits<int64_t>::max()));
    sources_.as_of = LatestTime(train) + 1;
    for (const data::Interaction& x : train) sources_.in_catalog[x.video] = true;
  }
  return OkStatus();
}

HeldOutRanking TwoStageScorer::EvaluateHeldOut(std::span<const data::Interaction> heldout, int threads,
                                               std::span<const uint32_t> users) const {
  std::vector<std::vector<uint32_t>> positives(sources_.seen.size());
  for (const data::Interaction& x : heldout) {
    if (x.user < positives.size() && data::PreferenceWeight(x) > 0) positives[x.user].push_back(x.video);
  }
  std::vector<uint32_t> counted;
  for (uint32_t u = 0; u < positives.size(); ++u) {
    if (positives[u].empty()) continue;
    if (!users.empty() && !std::binary_search(users.begin(), users.end(), u)) continue;
    std::sort(positives[u].begin(), positives[u].end());
    counted.push_back(u);
  }
  // Per user: the ranker's scores and the labels of its candidates, in retrieval order (empty when
  // the user is not counted). Concatenated in user order below, so the figure is independent of
  // the thread count.
  struct Group {
    std::vector<float> scores, labels;
  };
  std::vector<Group> groups(counted.size());
  ForEachUser(counted, threads, options_.verbose ? "two-stage: held-out ranking" : "",
              [&](size_t i, uint32_t u, std::span<const double> retrieval) {
                thread_local std::vector<uint32_t> videos;
                thread_local std::vector<ranking::CandidateSignals> signals;
                thread_local std::vector<float> features;
                const std::vector<uint32_t>& p = positives[u];
                Candidates(u, sources_.seen[u], retrieval, videos, signals);
                const size_t n = videos.size();
                std::vector<float> labels(n);
                size_t hits = 0;
                for (size_t k = 0; k < n; ++k) {
                  labels[k] = std::binary_search(p.begin(), p.end(), videos[k]) ? 1.0f : 0.0f;
                  hits += labels[k] > 0 ? 1 : 0;
                }
                if (hits == 0 || hits == n) return;  // AUC needs both kinds
                features.clear();
                sources_.features->Assemble(
                    u, ranking::RequestContext{.time = sources_.as_of, .known_time_of_day = false}, videos,
                    signals, features);
                std::vector<float> out(n);
                if (!ranker_->Score(features, n, out).ok()) return;  // sizes are ours: cannot fail
                groups[i] = {std::move(out), std::move(labels)};
              });
  std::vector<float> ranker_scores, retrieval_order, labels;
  std::vector<uint32_t> sizes;
  for (const Group& g : groups) {
    if (g.labels.empty()) continue;
    ranker_scores.insert(ranker_scores.end(), g.scores.begin(), g.scores.end());
    labels.insert(labels.end(), g.labels.begin(), g.labels.end());
    for (size_t i = 0; i < g.labels.size(); ++i) retrieval_order.push_back(-static_cast<float>(i));
    sizes.push_back(static_cast<uint32_t>(g.labels.size()));
  }
  return {.ranker_auc = ranking::MeanGroupAuc(ranker_scores, labels, sizes),
          .retrieval_order_auc = ranking::MeanGroupAuc(retrieval_order, labels, sizes),
          .groups = static_cast<int64_t>(sizes.size())};
}

void TwoStageScorer::RankInto(uint32_t user, std::span<double> scores) const {
  if (user >= sources_.seen.size()) {
    for (double& s : scores) s -= 1000.0;
    return;
  }
  thread_local std::vector<uint32_t> videos;
  thread_local std::vector<ranking::CandidateSignals> signals;
  thread_local std::vector<float> features, ranked;
  Candidates(user, sources_.seen[user], scores, videos, signals);
  for (double& s : scores) s -= 1000.0;
  if (videos.empty()) return;
  features.clear();
  sources_.features->Assemble(user,
                              ranking::RequestContext{.time = sources_.as_of, .known_time_of_day = false},
                              videos, signals, features);
  ranked.resize(videos.size());
  if (!ranker_->Score(features, videos.size(), ranked).ok()) return;  // sizes are ours: cannot fail
  for (size_t i = 0; i < videos.size(); ++i) scores[videos[i]] = 1000.0 + ranked[i];
}

CandidateScores TwoStageScorer::ScoreCandidates(uint32_t user) const {
  CandidateScores out;
  if (user >= sources_.seen.size()) return out;
  std::vector<double> retrieval(ds_->videos.size());
  sources_.two_tower->ScoreAll(user, retrieval);
  std::vector<ranking::CandidateSignals> signals;
  Candidates(user, sources_.seen[user], retrieval, out.videos, signals);
  const size_t n = out.videos.size();
  if (n == 0) return out;
  std::vector<float> features;
  sources_.features->Assemble(user,
                              ranking::RequestContext{.time = sources_.as_of, .known_time_of_day = false},
                              out.videos, signals, features);
  out.ranker.resize(n);
  // Sizes are ours: neither can fail.
  VREC_CHECK(ranker_->Score(features, n, out.ranker).ok(), "ranker scores");
  VREC_CHECK(heads_.Score(features, n, out.heads).ok(), "head scores");
  return out;
}

void TwoStageScorer::ScoreAll(uint32_t user, std::span<double> scores) const {
  sources_.two_tower->ScoreAll(user, scores);
  RankInto(user, scores);
}

void TwoStageScorer::ScoreUsers(std::span<const uint32_t> users, std::span<double> scores) const {
  sources_.two_tower->ScoreUsers(users, scores);
  if (users.empty()) return;
  const size_t n = scores.size() / users.size();
  for (size_t r = 0; r < users.size(); ++r) RankInto(users[r], scores.subspan(r * n, n));
}

}  // namespace vrec::offline
