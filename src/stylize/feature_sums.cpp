#include "feature_sums.hpp"

#include <stylize/vgg_features.hpp>

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

void add_sums(FeatureSums& into, const FeatureSums& part, double sign) {
  into.second.resize(part.second.size());
  into.first.resize(part.first.size());
  into.weight.resize(part.weight.size(), 0.0);
  for (std::size_t l = 0; l < part.second.size(); ++l) {
    if (!part.second[l].defined()) continue;
    const auto second = part.second[l] * sign;
    into.second[l] = into.second[l].defined() ? into.second[l] + second : second;
    if (part.first[l].defined()) {
      const auto first = part.first[l] * sign;
      into.first[l] = into.first[l].defined() ? into.first[l] + first : first;
    }
    into.weight[l] += sign * part.weight[l];
  }
}

FeatureSums core_sums_from(const std::vector<at::Tensor>& features, const std::vector<int>& steps,
                           const Tile& tile, bool with_first,
                           const std::vector<at::Tensor>& weights) {
  FeatureSums sums;
  add_feature_sums(sums, features, steps, tile.y.core_begin - tile.y.window_begin,
                   tile.y.core_end - tile.y.window_begin, tile.x.core_begin - tile.x.window_begin,
                   tile.x.core_end - tile.x.window_begin, with_first, 1.0, weights);
  return sums;
}

std::vector<int> layer_strides(const VggFeatures& model, const std::vector<int>& indices) {
  std::vector<int> strides;
  for (int index : indices) strides.push_back(1 << model.pools_before(index));
  return strides;
}

FeatureSums core_sums(VggFeatures& model, const std::vector<int>& indices, const at::Tensor& image,
                      const std::vector<Tile>& tiles, const c10::Device& device, bool with_first,
                      const std::vector<at::Tensor>& layer_weights,
                      std::vector<FeatureSums>* per_tile) {
  torch::NoGradGuard no_grad;
  const auto steps = layer_strides(model, indices);
  FeatureSums sums;
  for (const auto& tile : tiles) {
    const auto window = image.slice(2, tile.y.window_begin, tile.y.window_end)
                            .slice(3, tile.x.window_begin, tile.x.window_end)
                            .contiguous();
    const auto features = model.extract(window.to(device), indices);
    std::vector<at::Tensor> weights;  // the whole image's weights under this window
    for (std::size_t l = 0; l < layer_weights.size(); ++l) {
      const auto y0 = tile.y.window_begin / steps[l];
      const auto x0 = tile.x.window_begin / steps[l];
      weights.push_back(layer_weights[l]
                            .slice(2, y0, y0 + features[l].size(2))
                            .slice(3, x0, x0 + features[l].size(3)));
    }
    auto core = core_sums_from(features, steps, tile, with_first, weights);
    add_sums(sums, core);
    if (per_tile != nullptr) per_tile->push_back(std::move(core));
  }
  return sums;
}

}  // namespace stylize
