#include "feature_sums.hpp"

#include <torch/torch.h>

#include <algorithm>

namespace stylize {

void add_feature_sums(FeatureSums& sums, const std::vector<at::Tensor>& features,
                      const std::vector<int>& steps, int y0, int y1, int x0, int x1,
                      bool with_first, double sign, const std::vector<at::Tensor>& weights) {
  torch::NoGradGuard no_grad;
  sums.second.resize(features.size());
  sums.first.resize(features.size());
  sums.weight.resize(features.size(), 0.0);
  for (std::size_t l = 0; l < features.size(); ++l) {
    const auto& f = features[l];
    const std::int64_t step = steps[l];
    const auto r0 = std::min<std::int64_t>(y0 / step, f.size(2));
    const auto r1 = std::min<std::int64_t>(y1 / step, f.size(2));
    const auto c0 = std::min<std::int64_t>(x0 / step, f.size(3));
    const auto c1 = std::min<std::int64_t>(x1 / step, f.size(3));
    if (r1 <= r0 || c1 <= c0) continue;
    const auto part = f.slice(2, r0, r1).slice(3, c0, c1);
    const auto flat = part.reshape({1, part.size(1), -1});
    at::Tensor weighted = flat;
    double weight = static_cast<double>(flat.size(2));
    if (!weights.empty() && weights[l].defined()) {
      const auto w = weights[l].slice(2, r0, r1).slice(3, c0, c1).reshape({1, 1, -1});
      weighted = flat * w;
      weight = w.sum().item<double>();
    }
    auto second = at::bmm(weighted, flat.transpose(1, 2)) * sign;
    sums.second[l] = sums.second[l].defined() ? sums.second[l] + second : second;
    if (with_first) {
      auto first = weighted.sum(2) * sign;
      sums.first[l] = sums.first[l].defined() ? sums.first[l] + first : first;
    }
    sums.weight[l] += sign * weight;
  }
}

}  // namespace stylize
