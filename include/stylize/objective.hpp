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
  double content = 0.0;     ///< weighted content loss
  double style = 0.0;       ///< weighted style loss
  double tv = 0.0;          ///< weighted total-variation loss
  double activation = 0.0;  ///< ChannelObjective: minus the channel's mean activation
  double total = 0.0;
  bool has_activation = false;  ///< set by ChannelObjective (its activation may be 0)
  double temporal = 0.0;        ///< weighted temporal loss (a video frame with TemporalTarget)
};

/// The loss terms of one evaluation as tensors on the device, already weighted; a term an
/// objective does not have is undefined (0 on the host).
struct LossTerms {
  at::Tensor content;
  at::Tensor style;
  at::Tensor tv;
  at::Tensor activation;
  at::Tensor temporal;
  at::Tensor total;
  /// The values in one device-to-host copy (one sync on a GPU, not five). When grad is given,
  /// *grad_finite says whether all of it is finite, read in the same copy.
  [[nodiscard]] LossBreakdown to_host(const at::Tensor& grad = {},
                                      bool* grad_finite = nullptr) const;
};

/// What the optimiser minimises over an image's pixels: style transfer's Objective, or another
/// (ChannelObjective). Evaluations are differentiable when grad mode is on.
class LossFunction {
 public:
  virtual ~LossFunction() = default;
  [[nodiscard]] virtual LossTerms evaluate(const at::Tensor& image) const = 0;
  /// True when evaluate is random (jitter): L-BFGS's line search would not hold.
  [[nodiscard]] virtual bool stochastic() const { return false; }
};

/// One set of style targets and where in the image they apply (spatial control, Gatys et al.
/// 2017): its loss at each style layer compares the guided statistics of the region (the
/// features weighted by the mask brought to the layer's size, normalised by the region's area)
/// with the targets, and counts in proportion to the region's area, so every pixel's push is
/// its mask value x weight whatever the region's size. Pixels no guide covers feel only the
/// content and TV losses.
struct StyleGuide {
  const StyleTargets* targets = nullptr;
  /// Weights [1,1,H,W] in [0,1], any size (resized to the image, then to each layer, by
  /// resize_mask); undefined: 1 everywhere.
  at::Tensor mask01;
  double weight = 1.0;  ///< multiplies this guide's style loss
};

/// The rest of the image around a window (StyleTransfer::run_tiled): the objective of a window
/// is then the whole image's, its other pixels held fixed. Per style layer, the whole image's
/// Gram matrix (and channel means) is rest + share x the window's, where rest is the whole
/// image's sum without the window's start, divided by the whole layer's pixel count, and share
/// the window's pixels over the whole layer's; the content loss is normalised by the whole
/// content's mean squares; content and total variation count by the window's share of pixels.
/// So a pixel's gradient is the one the untiled objective would give it, where the layers'
/// reach from it stays inside the window (not with normalize_gradients, which normalises each
/// window's gradient on its own).
struct WindowContext {
  std::vector<at::Tensor> gram_rest;   ///< per style layer, [1,C,C]
  std::vector<at::Tensor> mean_rest;   ///< per style layer, [1,C]; empty for the Gram loss
  std::vector<double> layer_share;     ///< per style layer
  std::vector<at::Tensor> content_mean_squares;  ///< per content layer, the whole content's
  double pixel_share = 1.0;
};

/// Temporal consistency of a video frame (Ruder, Dosovitskiy and Brox 2016): earlier frames'
/// stylized images warped into this frame by the optical flow, each with per-pixel weights (0
/// where the flow is not trusted, stylize/optical_flow.hpp). The loss is weight x the sum over
/// them of sum(c (x - warp)^2) / (3 H W): squared differences of RGB in [0,1], weighted by c,
/// over the frame's element count (Ruder et al.'s 1/D).
/// Where several earlier frames are given, the caller makes their weights disjoint (the nearest
/// frame's first).
struct TemporalTarget {
  std::vector<at::Tensor> warped_rgb01;  ///< [1,3,H,W] each
  std::vector<at::Tensor> weights01;     ///< [1,1,H,W] each
  double weight = 0.0;
};

/// Gatys et al.'s objective for one content image at one size: content_weight x the relative
/// feature error at the content layers + style_weight x the style layers' losses + tv_weight x
/// total variation. The content targets are computed once, in the constructor; model and
/// style_targets must outlive the objective.
class Objective : public LossFunction {
 public:
  Objective(VggFeatures& model, const LayerPlan& plan, const at::Tensor& content_on_device,
            const StyleTargets& style_targets, const StyleConfig& config);
  /// The style loss is the sum over guides (each guide's targets must outlive the objective).
  /// window: the rest of the image around content_on_device (one unmasked guide only).
  /// temporal: a video frame's temporal term (copied to the device once, here).
  Objective(VggFeatures& model, const LayerPlan& plan, const at::Tensor& content_on_device,
            std::vector<StyleGuide> guides, const StyleConfig& config,
            const WindowContext* window = nullptr, const TemporalTarget* temporal = nullptr);

  /// The loss terms of image ([1,3,H,W] on the device); differentiable when grad mode is on.
  /// Each layer's loss is built as soon as its layer has run (VggFeatures::extract's callback),
  /// so its gradient is computed when the backward pass reaches the layer.
  [[nodiscard]] LossTerms evaluate(const at::Tensor& image) const override;

 private:
  [[nodiscard]] at::Tensor loss_input(const at::Tensor& features) const;
  /// Each masked guide's mask at each style layer's size, and the layer's share in the region.
  void prepare_masks(const at::Tensor& content_on_device);
  /// Style layer i's loss summed over the guides, from its features.
  [[nodiscard]] at::Tensor guided_style_loss(const at::Tensor& features, std::size_t i) const;

  VggFeatures& model_;
  LayerPlan plan_;
  std::vector<StyleGuide> guides_;
  /// One guide without mask or weight: the plain (and faster) Gram path.
  bool unguided_ = true;
  /// [guide][style layer]: the mask at the layer's size as a region_distribution, on the device
  std::vector<std::vector<at::Tensor>> layer_masks_;
  std::vector<std::vector<double>> layer_areas_;      ///< [guide][style layer]: mean of the mask
  std::vector<int> indices_;  ///< content layers, then style layers
  std::vector<at::Tensor> content_targets_;
  std::vector<at::Tensor> content_mean_squares_;
  std::vector<double> content_layer_weights_;
  std::vector<double> style_layer_weights_;
  double content_weight_;
  double style_weight_;
  double tv_weight_;
  bool normalize_gradients_;
  bool tileable_;
  const WindowContext* window_ = nullptr;
  std::vector<at::Tensor> temporal_warped_;   ///< on the device
  std::vector<at::Tensor> temporal_weights_;  ///< on the device, divided by the pixel count
  double temporal_weight_ = 0.0;
};

}  // namespace stylize
