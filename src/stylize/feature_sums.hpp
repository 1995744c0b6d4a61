#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <stylize/tiles.hpp>

#include <vector>

namespace stylize {

class VggFeatures;

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

/// into + sign x part, layer by layer (a layer part lacks is left alone).
void add_sums(FeatureSums& into, const FeatureSums& part, double sign = 1.0);

/// The sums of one tile's core from its window's features (steps: the layers' strides).
/// weights: as add_feature_sums', over the window's features.
FeatureSums core_sums_from(const std::vector<at::Tensor>& features, const std::vector<int>& steps,
                           const Tile& tile, bool with_first,
                           const std::vector<at::Tensor>& weights = {});

/// The sums at the layers `indices` over the cores of tiles (a partition of image, on any
/// device), each core's features computed on device from its window without autograd: exact
/// where a layer's reach fits in the margins. layer_weights: empty, or per layer weights
/// [1,1,H/stride,W/stride] of the whole image. per_tile, when given, gets each core's own sums.
FeatureSums core_sums(VggFeatures& model, const std::vector<int>& indices, const at::Tensor& image,
                      const std::vector<Tile>& tiles, const c10::Device& device, bool with_first,
                      const std::vector<at::Tensor>& layer_weights = {},
                      std::vector<FeatureSums>* per_tile = nullptr);

/// Each layer's stride in px: 2 to the poolings before it.
std::vector<int> layer_strides(const VggFeatures& model, const std::vector<int>& indices);

}  // namespace stylize
