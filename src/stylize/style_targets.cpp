#include "feature_sums.hpp"

#include <stylize/errors.hpp>
#include <stylize/layer_plan.hpp>
#include <stylize/losses.hpp>
#include <stylize/masks.hpp>
#include <stylize/style_targets.hpp>
#include <stylize/tiles.hpp>
#include <stylize/vgg_features.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <numeric>

namespace stylize {
namespace {

/// Fills in the normalisers and derived statistics the loss needs, from grams and means.
void derive_statistics(StyleTargets& targets) {
  for (std::size_t l = 0; l < targets.grams.size(); ++l) {
    const auto& gram = targets.grams[l];
    switch (targets.loss) {
      case StyleLossKind::kGram:
        targets.gram_mean_squares.push_back(mean_square(gram));
        break;
      case StyleLossKind::kMeanCov: {
        const auto cov = covariance(gram, targets.means[l]);
        targets.mean_mean_squares.push_back(mean_square(targets.means[l]));
        targets.covariances.push_back(cov);
        targets.covariance_mean_squares.push_back(mean_square(cov));
        break;
      }
      case StyleLossKind::kW2: {
        const auto cov = covariance(gram, targets.means[l]);
        targets.covariances.push_back(cov);
        targets.covariance_sqrts.push_back(psd_sqrt(cov));
        targets.second_moment_traces.push_back(gram.diagonal(0, 1, 2).sum().clamp_min(1e-8));
        break;
      }
    }
  }
}

/// The statistics of one style image at each of indices' layers, computed window by window
/// (core_sums over a tile_grid with margin_px of context) when its longest side exceeds
/// tile_px. region: weights (undefined: 1).
std::vector<WeightedStatistics> tiled_statistics(VggFeatures& model, const std::vector<int>& indices,
                                                 const at::Tensor& image_rgb01,
                                                 const at::Tensor& region, int tile_px,
                                                 int margin_px, bool needs_means) {
  const auto height = image_rgb01.size(2);
  const auto width = image_rgb01.size(3);
  const auto steps = layer_strides(model, indices);
  std::vector<at::Tensor> layer_masks;  // the region at each layer's size, whole image
  for (int step : steps) {
    if (!region.defined()) break;
    layer_masks.push_back(
        resize_mask(region.to(at::kCPU, at::kFloat), height / step, width / step)
            .to(image_rgb01.device()));
  }
  const int align = *std::max_element(steps.begin(), steps.end());
  const auto sums = core_sums(
      model, indices, image_rgb01,
      tile_grid(static_cast<int>(height), static_cast<int>(width), tile_px, margin_px, 0, align),
      image_rgb01.device(), needs_means, layer_masks);
  std::vector<WeightedStatistics> statistics;
  for (std::size_t l = 0; l < sums.second.size(); ++l) {
    const double total = std::max(sums.weight[l], 1e-8);
    statistics.push_back({sums.second[l] / total, needs_means ? sums.first[l] / total : at::Tensor()});
  }
  return statistics;
}

}  // namespace

StyleTargets compute_style_targets(VggFeatures& model, const LayerPlan& plan,
                                   const c10::Device& device,
                                   const std::vector<at::Tensor>& styles_rgb01,
                                   const std::vector<double>& blend, StyleLossKind loss,
                                   const std::vector<at::Tensor>& regions,
                                   const StyleWindows& windows) {
  if (styles_rgb01.empty()) throw ConfigError("no style image given");
  if (!regions.empty() && regions.size() != styles_rgb01.size()) {
    throw ConfigError("got " + std::to_string(regions.size()) + " style regions for " +
                      std::to_string(styles_rgb01.size()) + " style images");
  }
  const std::vector<double> weights =
      blend.empty() ? std::vector<double>(styles_rgb01.size(), 1.0) : blend;
  const double sum = std::accumulate(weights.begin(), weights.end(), 0.0);
  torch::NoGradGuard no_grad;
  std::vector<int> indices;
  for (const auto& layer : plan.style) indices.push_back(layer.index);
  StyleTargets targets;
  targets.loss = loss;
  const bool needs_means = loss != StyleLossKind::kGram;
  for (std::size_t s = 0; s < styles_rgb01.size(); ++s) {
    const double share = weights[s] / sum;
    const at::Tensor region = regions.empty() ? at::Tensor() : regions[s];
    const auto& style = styles_rgb01[s];
    const bool tiled = windows.tile_px > 0 && std::max(style.size(2), style.size(3)) > windows.tile_px;
    std::vector<at::Tensor> features;
    std::vector<WeightedStatistics> tiled_layers;
    if (tiled) {
      tiled_layers = tiled_statistics(model, indices, style.to(device), region, windows.tile_px,
                                      windows.margin_px, needs_means);
    } else {
      features = model.extract(style.to(device), indices);
    }
    for (std::size_t l = 0; l < indices.size(); ++l) {
      WeightedStatistics statistics;
      if (tiled) {
        statistics = tiled_layers[l];
      } else if (region.defined()) {
        const auto mask = resize_mask(region.to(at::kCPU, at::kFloat), features[l].size(2),
                                      features[l].size(3));
        statistics = weighted_statistics(features[l], mask.to(device), needs_means);
      } else {
        statistics.gram = gram_matrix(features[l]);
        if (needs_means) statistics.mean = channel_mean(features[l]);
      }
      auto gram = statistics.gram * share;
      if (s == 0) {
        targets.grams.push_back(gram);
      } else {
        targets.grams[l] += gram;
      }
      if (!needs_means) continue;
      auto mean = statistics.mean * share;
      if (s == 0) {
        targets.means.push_back(mean);
      } else {
        targets.means[l] += mean;
      }
    }
  }
  derive_statistics(targets);
  return targets;
}

at::Tensor style_layer_loss(const at::Tensor& gram, const at::Tensor& mean,
                            const StyleTargets& targets, std::size_t i) {
  if (targets.loss == StyleLossKind::kGram) {
    return relative_mse(gram, targets.grams[i], targets.gram_mean_squares[i]);
  }
  const auto cov = covariance(gram, mean);
  if (targets.loss == StyleLossKind::kMeanCov) {
    return relative_mse(mean, targets.means[i], targets.mean_mean_squares[i]) +
           relative_mse(cov, targets.covariances[i], targets.covariance_mean_squares[i]);
  }
  return gaussian_w2(mean, cov, targets.means[i], targets.covariances[i],
                     targets.covariance_sqrts[i]) /
         targets.second_moment_traces[i];
}

}  // namespace stylize
