#pragma once

#include <ATen/core/Tensor.h>
#include <stylize/config.hpp>
#include <stylize/layer_plan.hpp>

#include <vector>

namespace stylize {

class VggFeatures;
struct StyleTargets;

/// The weighted loss terms of one image.
struct LossBreakdown {
  double content = 0.0;  ///< weighted content loss
  double style = 0.0;    ///< weighted style loss
  double tv = 0.0;       ///< weighted total-variation loss
  double total = 0.0;
};

/// The three loss terms of one evaluation as tensors on the device, already weighted.
struct LossTerms {
  at::Tensor content;
  at::Tensor style;
  at::Tensor tv;
  at::Tensor total;
  /// The four values in one device-to-host copy (one sync on a GPU, not four). When grad is
  /// given, *grad_finite says whether all of it is finite, read in the same copy.
  [[nodiscard]] LossBreakdown to_host(const at::Tensor& grad = {},
                                      bool* grad_finite = nullptr) const;
};

/// Gatys et al.'s objective for one content image at one size: content_weight x the relative
/// feature error at the content layers + style_weight x the style layers' losses + tv_weight x
/// total variation. The content targets are computed once, in the constructor; model and
/// style_targets must outlive the objective.
class Objective {
 public:
  Objective(VggFeatures& model, const LayerPlan& plan, const at::Tensor& content_on_device,
            const StyleTargets& style_targets, const StyleConfig& config);

  /// The loss terms of image ([1,3,H,W] on the device); differentiable when grad mode is on.
  /// Each layer's loss is built as soon as its layer has run (VggFeatures::extract's callback),
  /// so its gradient is computed when the backward pass reaches the layer.
  [[nodiscard]] LossTerms evaluate(const at::Tensor& image) const;

 private:
  [[nodiscard]] at::Tensor loss_input(const at::Tensor& features) const;

  VggFeatures& model_;
  LayerPlan plan_;
  const StyleTargets& style_targets_;
  std::vector<int> indices_;  ///< content layers, then style layers
  std::vector<at::Tensor> content_targets_;
  std::vector<at::Tensor> content_mean_squares_;
  std::vector<double> content_layer_weights_;
  std::vector<double> style_layer_weights_;
  double content_weight_;
  double style_weight_;
  double tv_weight_;
  bool normalize_gradients_;
};

}  // namespace stylize
