#include "vrec/retrieval/two_tower_testing.h"

#include <torch/torch.h>

#include "vrec/common/strings.h"
#include "vrec/retrieval/two_tower_torch.h"

namespace vrec::retrieval::testing {

using two_tower_torch::CollectPositives;
using two_tower_torch::ToTensor;
using two_tower_torch::Trainer;
using two_tower_torch::TwoTowerNet;

Status TorchEmbeddings(const TwoTowerScorer& scorer, const data::Dataset& ds,
                       std::span<const data::Interaction> train, std::span<const uint32_t> users,
                       std::span<const uint32_t> videos, std::vector<float>& user_out,
                       std::vector<float>& video_out) {
  if (scorer.model().dimension() == 0) return FailedPreconditionError("two-tower: not fitted");
  try {
    Trainer trainer(scorer.options(), ds);
    trainer.Prepare(CollectPositives(ds, train));
    TwoTowerNet net = trainer.NewNet();
    const TwoTowerModel::Weights& w = scorer.model().weights();
    torch::NoGradGuard guard;
    auto put = [](torch::Tensor& dst, const TwoTowerModel::Table& t) {
      dst.copy_(ToTensor(t.data.span()).view({t.rows, t.dim}));
    };
    put(net->user_id, w.user_id);
    put(net->age, w.age);
    put(net->gender, w.gender);
    put(net->country, w.country);
    put(net->user_language, w.user_language);
    put(net->history, w.history);
    put(net->video_id, w.video_id);
    put(net->categories, w.categories);
    put(net->video_language, w.video_language);
    put(net->duration, w.duration);
    put(net->year, w.year);
    put(net->popularity, w.popularity);
    put(net->text, w.text);
    auto put_layers = [](torch::nn::Sequential& mlp, const std::vector<TwoTowerModel::Layer>& layers) {
      size_t l = 0;
      for (const auto& child : mlp->children()) {
        auto* linear = child->as<torch::nn::Linear>();
        if (linear == nullptr) continue;
        linear->weight.copy_(ToTensor(layers[l].weight).view({layers[l].out, layers[l].in}));
        linear->bias.copy_(ToTensor(layers[l].bias));
        ++l;
      }
    };
    put_layers(net->user_mlp, w.user_mlp);
    put_layers(net->video_mlp, w.video_mlp);
    net->eval();
    const std::vector<int64_t> us(users.begin(), users.end()), vs(videos.begin(), videos.end());
    const torch::Tensor ue = trainer.Users(net, us).contiguous();
    const torch::Tensor ve = net->VideoTower(trainer.MakeVideoBatch(vs, false)).contiguous();
    user_out.assign(ue.data_ptr<float>(), ue.data_ptr<float>() + ue.numel());
    video_out.assign(ve.data_ptr<float>(), ve.data_ptr<float>() + ve.numel());
    return OkStatus();
  } catch (const c10::Error& e) {
    return InternalError(StrCat("two-tower: torch error: ", e.what_without_backtrace()));
  }
}

Status LazyAdamAndAdam(int rows, int dim, const std::vector<std::vector<int64_t>>& steps, float lr,
                       std::vector<float>& lazy, std::vector<float>& dense) {
  try {
    torch::manual_seed(3);
    const torch::Tensor start = torch::randn({rows, dim});
    torch::Tensor a = start.clone().requires_grad_(true), b = start.clone().requires_grad_(true);
    two_tower_torch::LazyAdam lazy_opt({a}, torch::optim::AdamOptions(lr));
    torch::optim::Adam dense_opt({b}, torch::optim::AdamOptions(lr));
    for (const std::vector<int64_t>& idx : steps) {
      const torch::Tensor i = ToTensor(idx);
      const torch::Tensor target = torch::randn({static_cast<int64_t>(idx.size()), dim});
      lazy_opt.zero_grad();
      dense_opt.zero_grad();
      (TwoTowerNet::Impl::Rows(a, i, /*sparse=*/true) * target).sum().backward();
      (TwoTowerNet::Impl::Rows(b, i, /*sparse=*/false) * target).sum().backward();
      lazy_opt.step();
      dense_opt.step();
    }
    const torch::Tensor ca = a.detach().contiguous(), cb = b.detach().contiguous();
    lazy.assign(ca.data_ptr<float>(), ca.data_ptr<float>() + ca.numel());
    dense.assign(cb.data_ptr<float>(), cb.data_ptr<float>() + cb.numel());
    return OkStatus();
  } catch (const c10::Error& e) {
    return InternalError(StrCat("lazy adam: torch error: ", e.what_without_backtrace()));
  }
}

}  // namespace vrec::retrieval::testing
