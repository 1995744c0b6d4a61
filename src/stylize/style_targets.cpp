#include <stylize/errors.hpp>
#include <stylize/layer_plan.hpp>
#include <stylize/losses.hpp>
#include <stylize/masks.hpp>
#include <stylize/style_targets.hpp>
#include <stylize/vgg_features.hpp>

#include <torch/torch.h>

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

}  // namespace

StyleTargets compute_style_targets(VggFeatures& model, const LayerPlan& plan,
                                   const c10::Device& device,
                                   const std::vector<at::Tensor>& styles_rgb01,
                                   const std::vector<double>& blend, StyleLossKind loss,
                                   const std::vector<at::Tensor>& regions) {
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
    const auto features = model.extract(styles_rgb01[s].to(device), indices);
    const double share = weights[s] / sum;
    const at::Tensor region = regions.empty() ? at::Tensor() : regions[s];
    for (std::size_t l = 0; l < features.size(); ++l) {
      WeightedStatistics statistics;
      if (region.defined()) {
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
