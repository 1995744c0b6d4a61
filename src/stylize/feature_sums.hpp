#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace stylize {

/// Per layer, sums over pixels of w F F^T, w F and w (features F, weights w): statistics of a
/// large image gathered window by window (run_tiled, compute_style_targets). Divided by the
/// weight they give gram_matrix and channel_mean (weighted_statistics with weights).
struct FeatureSums {
  std::vector<at::Tensor> second;  ///< [1,C,C]
  std::vector<at::Tensor> first;   ///< [1,C]; undefined unless asked for
  std::vector<double> weight;
};

/// Adds sign x the sums over rows [y0, y1) and columns [x0, x1) of each layer's features
/// (coordinates in px of the image the features were computed from; layer l's stride is
/// steps[l], a part rounding down at the layer's edge). weights: empty, or per layer weights
/// [1,1,h,w] covering that layer's features.
void add_feature_sums(FeatureSums& sums, const std::vector<at::Tensor>& features,
                      const std::vector<int>& steps, int y0, int y1, int x0, int x1,
                      bool with_first, double sign = 1.0,
                      const std::vector<at::Tensor>& weights = {});

}  // namespace stylize
