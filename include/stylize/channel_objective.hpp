#pragma once

#include <stylize/objective.hpp>

#include <cstdint>
#include <random>

namespace stylize {

class VggFeatures;

/// Feature visualisation (Olah et al. 2017, "Feature Visualization"): the loss is minus the mean
/// activation of one channel of one layer, in units of the layer's mean activation on a reference
/// image (so the weights mean the same for every layer and model), plus tv_weight x total
/// variation, less contrast_weight x the layer's mean activation (so the image excites this
/// channel rather than the whole layer). Before each evaluation the image is shifted circularly by a random offset of up
/// to jitter_px in each direction (drawn from seed), so the optimisation cannot rely on
/// pixel-exact patterns: what survives is what the channel responds to wherever it appears.
class ChannelObjective : public LossFunction {
 public:
  /// The activation unit is the layer's mean activation on reference_rgb01 (the same reference
  /// for every scale of a run keeps the unit). model must outlive the objective.
  ChannelObjective(VggFeatures& model, int layer_index, std::int64_t channel,
                   const at::Tensor& reference_rgb01, double tv_weight, int jitter_px,
                   std::uint64_t seed, double contrast_weight = 0.0);

  [[nodiscard]] LossTerms evaluate(const at::Tensor& image) const override;
  [[nodiscard]] bool stochastic() const override { return jitter_px_ > 0; }

  /// The channel's mean activation for image, in the objective's unit (no contrast, no jitter,
  /// no grad).
  [[nodiscard]] double activation(const at::Tensor& image) const;

 private:
  /// The channel's mean activation in the unit, less contrast_weight x the layer's if asked.
  [[nodiscard]] at::Tensor channel_mean(const at::Tensor& image, bool with_contrast) const;

  VggFeatures& model_;
  int layer_index_;
  std::int64_t channel_;
  double unit_ = 1.0;
  double tv_weight_;
  int jitter_px_;
  double contrast_weight_;
  mutable std::mt19937_64 random_;  ///< the jitter: evaluate is logically const
};

}  // namespace stylize
