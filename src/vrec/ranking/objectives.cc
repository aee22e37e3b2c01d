#include "vrec/ranking/objectives.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <system_error>

#include "vrec/common/check.h"
#include "vrec/common/strings.h"

namespace vrec::ranking {
namespace {

namespace fs = std::filesystem;

// Mean and population standard deviation of `x`, in double.
std::pair<double, double> MeanSd(std::span<const float> x) {
  if (x.empty()) return {0.0, 0.0};
  double sum = 0;
  for (float v : x) sum += v;
  const double mean = sum / static_cast<double>(x.size());
  double sq = 0;
  for (float v : x) sq += (v - mean) * (v - mean);
  return {mean, std::sqrt(sq / static_cast<double>(x.size()))};
}

}  // namespace

std::string_view Name(Objective o) {
  switch (o) {
    case Objective::kWatch:
      return "watch";
    case Objective::kComplete:
      return "complete";
    case Objective::kLike:
      return "like";
  }
  return "?";
}

std::optional<Objective> ParseObjective(std::string_view name) {
  for (Objective o : kObjectives) {
    if (Name(o) == name) return o;
  }
  return std::nullopt;
}

std::string_view TrainingObjective(Objective o) {
  return o == Objective::kWatch ? "reg:squarederror" : "binary:logistic";
}

bool ObjectiveHeads::empty() const {
  for (const auto& h : heads_) {
    if (h) return false;
  }
  return true;
}

Status ObjectiveHeads::Save(const std::string& dir) const {
  for (Objective o : kObjectives) {
    if (const Ranker* h = get(o)) VREC_RETURN_IF_ERROR(h->Save((fs::path(dir) / Name(o)).string()));
  }
  return OkStatus();
}

StatusOr<ObjectiveHeads> ObjectiveHeads::Load(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return NotFoundError(StrCat("objective heads: no folder ", dir));
  ObjectiveHeads heads;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::optional<Objective> o = ParseObjective(name);
    if (!o) {
      return DataLossError(
          StrCat("objective heads: ", dir, " holds '", name,
                 "', not a head this build knows (watch, complete, like): a newer build's model?"));
    }
    StatusOr<std::unique_ptr<Ranker>> head = LoadRanker(it->path().string());
    if (!head.ok()) {
      const Status& s = head.status();
      return s.code() == StatusCode::kInternal ? s : DataLossError(StrCat("objective heads: ", s.message()));
    }
    if ((*head)->objective() != TrainingObjective(*o)) {
      return DataLossError(StrCat("objective heads: ", it->path().string(), " was trained with ",
                                  (*head)->objective(), ", expected ", TrainingObjective(*o)));
    }
    heads.Set(*o, std::move(head).value());
  }
  if (ec) return InternalError(StrCat("objective heads: cannot list ", dir, ": ", ec.message()));
  return heads;
}

Status ObjectiveHeads::Score(std::span<const float> features, size_t rows,
                             std::array<std::vector<float>, kNumObjectives>& out) const {
  for (Objective o : kObjectives) {
    std::vector<float>& scores = out[static_cast<size_t>(o)];
    const Ranker* h = get(o);
    if (h == nullptr) {
      scores.clear();
      continue;
    }
    scores.resize(rows);
    VREC_RETURN_IF_ERROR(h->Score(features, rows, scores));
  }
  return OkStatus();
}

double BlendWeights::head(Objective o) const { return const_cast<BlendWeights&>(*this).head(o); }

double& BlendWeights::head(Objective o) {
  switch (o) {
    case Objective::kWatch:
      return watch;
    case Objective::kComplete:
      return complete;
    case Objective::kLike:
      break;
  }
  return like;
}

const BlendWeights& BlendOptions::For(std::string_view surface) const {
  auto it = surfaces.find(surface);
  return it != surfaces.end() ? it->second : defaults;
}

Status Validate(const BlendOptions& options) {
  std::vector<std::string> errors;
  const auto check = [&](const std::string& where, const BlendWeights& w) {
    double sum = 0;
    const auto one = [&](std::string_view name, double v) {
      if (!(std::isfinite(v) && v >= 0 && v <= 1000)) {
        errors.push_back(StrCat(where, ".", name, " = ", v, " must be in [0, 1000]"));
      } else {
        sum += v;
      }
    };
    one("ranker", w.ranker);
    for (Objective o : kObjectives) one(Name(o), w.head(o));
    if (sum <= 0) errors.push_back(StrCat(where, ": every weight is 0 (weight the ranker or a head)"));
  };
  check("ranking.blend", options.defaults);
  for (const auto& [surface, w] : options.surfaces) {
    if (surface.empty()) {
      errors.push_back("ranking.blend.surface: a surface name must not be empty");
      continue;
    }
    check(StrCat("ranking.blend.surface.", surface), w);
  }
  if (errors.empty()) return OkStatus();
  return InvalidArgumentError(StrJoin(errors, "; "));
}

bool BlendUsesHeads(const BlendWeights& weights,
                    const std::array<std::vector<float>, kNumObjectives>& heads) {
  for (Objective o : kObjectives) {
    if (weights.head(o) > 0 && !heads[static_cast<size_t>(o)].empty()) return true;
  }
  return false;
}

void Blend(const BlendWeights& weights, std::span<const float> ranker,
           const std::array<std::vector<float>, kNumObjectives>& heads, std::span<float> out) {
  const size_t n = ranker.size();
  VREC_CHECK(out.size() == n, out.size(), " outputs for ", n, " candidates");
  if (!BlendUsesHeads(weights, heads)) {
    if (out.data() != ranker.data()) std::copy(ranker.begin(), ranker.end(), out.begin());
    return;
  }
  std::vector<double> sum(n, 0.0);
  double total = 0;
  const auto add = [&](double w, std::span<const float> x) {
    if (!(w > 0)) return;
    VREC_CHECK(x.size() == n, x.size(), " head scores for ", n, " candidates");
    total += w;
    const auto [mean, sd] = MeanSd(x);
    if (sd == 0) return;  // no spread: says nothing about the order
    for (size_t i = 0; i < n; ++i) sum[i] += w * (x[i] - mean) / sd;
  };
  const auto [ranker_mean, ranker_sd] = MeanSd(ranker);
  add(weights.ranker, ranker);
  for (Objective o : kObjectives) {
    const std::vector<float>& h = heads[static_cast<size_t>(o)];
    if (!h.empty()) add(weights.head(o), h);
  }
  const double scale = ranker_sd > 0 ? ranker_sd : 1.0;
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(ranker_mean + scale * sum[i] / total);
}

}  // namespace vrec::ranking
