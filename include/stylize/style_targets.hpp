#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <stylize/config.hpp>

#include <cstddef>
#include <vector>

namespace stylize {

class VggFeatures;
struct LayerPlan;

/// The style side of the optimisation, computed once and reusable for any content image: per
/// style layer, the blended statistics that `loss` compares and their normalisers. Several style
/// images blend as a mixture: weighted means and second moments (Gram matrices); covariances
/// follow from those. Only the statistics the loss needs are filled in; grams always are.
struct StyleTargets {
  StyleLossKind loss = StyleLossKind::kGram;
  std::vector<at::Tensor> grams;              ///< [1,C,C] second moments F F^T / (H W)
  std::vector<at::Tensor> gram_mean_squares;  ///< gram: normalisers of the Gram loss
  std::vector<at::Tensor> means;              ///< mean-cov, w2: [1,C] channel means
  std::vector<at::Tensor> mean_mean_squares;  ///< mean-cov
  std::vector<at::Tensor> covariances;        ///< mean-cov, w2: [1,C,C]
  std::vector<at::Tensor> covariance_mean_squares;  ///< mean-cov
  std::vector<at::Tensor> covariance_sqrts;         ///< w2
  std::vector<at::Tensor> second_moment_traces;     ///< w2: tr(G), the distance of zero features
};

/// Reading a large style image window by window (compute_style_targets).
struct StyleWindows {
  int tile_px = 0;  ///< 0: the whole image at once
  int margin_px = 0;
};

/// The targets of one or more style images ([1,3,H,W] RGB [0,1], any sizes) at the plan's style
/// layers, blended by blend (normalised to sum 1; empty: equal weights). Computed without
/// autograd on device. regions: empty, or per style image a mask [1,1,H,W] (any size; undefined:
/// the whole image) whose weighted statistics (weighted_statistics) are that style's. A style
/// image whose longest side exceeds windows.tile_px (when set) is read window by window, in
/// bounded memory: the statistics are sums over pixels, so the windows' cores add up to the
/// whole image's (exactly where a layer's receptive field fits in windows.margin_px). Throws
/// ConfigError when styles is empty.
StyleTargets compute_style_targets(VggFeatures& model, const LayerPlan& plan,
                                   const c10::Device& device,
                                   const std::vector<at::Tensor>& styles_rgb01,
                                   const std::vector<double>& blend, StyleLossKind loss,
                                   const std::vector<at::Tensor>& regions = {},
                                   const StyleWindows& windows = {});

/// Style layer i's loss (docs/architecture.md "Losses") from the Gram matrix of its features
/// (gram_matrix or weighted_statistics) and, for mean-cov and w2, their channel means (unused,
/// and may be undefined, for gram). Each kind is 1 to 2 when the features are all zero, so style
/// weights mean about the same for every kind.
at::Tensor style_layer_loss(const at::Tensor& gram, const at::Tensor& mean,
                            const StyleTargets& targets, std::size_t i);

}  // namespace stylize
