#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <stylize/config.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace stylize {

class VggFeatures;

/// One layer chosen for a loss: its name, index in the model, and normalised weight.
struct PlannedLayer {
  std::string name;
  int index = 0;
  double weight = 1.0;
};

/// The layers a run uses, resolved against a model's layer names.
struct LayerPlan {
  std::vector<PlannedLayer> content;
  std::vector<PlannedLayer> style;
  bool used_model_defaults = false;   ///< true when the config named no layers
  bool fell_back_to_shallower = false;  ///< the model lacks relu4_2/relu5_1 (truncated model)
  [[nodiscard]] int deepest_index() const;
  [[nodiscard]] std::string describe() const;  ///< e.g. "content relu4_2; style relu1_1 ..."
};

/// The classic defaults (content relu4_2; style relu1_1..relu5_1) where the model has them; for
/// a truncated model, the deepest comparable layers it has (content reluB_2 of the deepest block
/// B <= 4 that has one, style reluK_1 for every block K <= 5). Weights are normalised to sum to 1
/// per loss. Throws ConfigError listing the available layers when a requested one is missing.
LayerPlan plan_layers(const std::vector<std::string>& layer_names, const StyleConfig& config);

/// The weights a run gives its layers: the plan's, or with normalize_weights each divided by the
/// layer's channel count (neural-style-pt's -normalize_weights), renormalised to sum 1.
std::vector<double> effective_layer_weights(const std::vector<PlannedLayer>& layers,
                                            const std::vector<std::int64_t>& channels,
                                            bool normalize_weights);

/// The style side of the optimisation, computed once and reusable for any content image and
/// any style loss: per style layer, the blended statistics and their normalisers. Several style
/// images blend as a mixture: weighted means and second moments (Gram matrices); covariances
/// follow from those.
struct StyleTargets {
  std::vector<at::Tensor> grams;              ///< [1,C,C] second moments F F^T / (H W)
  std::vector<at::Tensor> gram_mean_squares;  ///< normalisers of the Gram loss
  std::vector<at::Tensor> means;              ///< [1,C] channel means
  std::vector<at::Tensor> mean_mean_squares;
  std::vector<at::Tensor> covariances;        ///< [1,C,C]
  std::vector<at::Tensor> covariance_mean_squares;
  std::vector<at::Tensor> covariance_sqrts;   ///< for the W2 loss
  std::vector<at::Tensor> second_moment_traces;  ///< tr(G): W2 distance of all-zero features
};

struct LossBreakdown {
  double content = 0.0;  ///< weighted content loss
  double style = 0.0;    ///< weighted style loss
  double tv = 0.0;       ///< weighted total-variation loss
  double total = 0.0;
};

/// What the engine reports after every iteration. losses is set every report_every_iters
/// iterations and at the last one (reading them forces a device sync); snapshot_rgb01 (CPU,
/// [1,3,H,W]) is set every snapshot_every_iters iterations.
struct IterationReport {
  int iteration = 0;  ///< 1-based, within the current scale
  int total_iterations = 0;  ///< of the current scale
  int scale_index = 0;  ///< 0-based position in the coarse-to-fine ladder
  int scale_count = 1;
  int width_px = 0;   ///< of the current scale
  int height_px = 0;
  double elapsed_s = 0.0;
  std::optional<LossBreakdown> losses;
  at::Tensor snapshot_rgb01;
  std::string notice;  ///< non-empty when the engine recovered from a problem (worth a warning)
};

using ProgressCallback = std::function<void(const IterationReport&)>;

/// Bias-corrected exponential moving average of optimiser iterates: after updates x1..xk,
/// value() = sum_i d^(k-i) (1-d) x_i / (1 - d^k). decay 0 keeps just the last iterate.
class IterateAverage {
 public:
  explicit IterateAverage(double decay);
  void update(const at::Tensor& x);
  [[nodiscard]] bool defined() const { return sum_.defined(); }
  [[nodiscard]] at::Tensor value() const;

 private:
  double decay_;
  double weight_ = 0.0;
  at::Tensor sum_;
};

/// The longest sides a coarse-to-fine run passes through: min_size_px, then times scale_step
/// each time, then size_px. Just {size_px} when min_size_px is 0 or not below size_px.
std::vector<int> scale_ladder(int size_px, int min_size_px, double scale_step);

/// The style image's longest side at a scale: scale side x style_scale, at least 16 px.
int style_side_px(int scale_side_px, double style_scale);

struct StyleTransferResult {
  at::Tensor image_rgb01;  ///< CPU float [1,3,H,W], clamped to [0,1]
  int iterations_run = 0;  ///< over all scales
  LossBreakdown final_losses;
  double elapsed_s = 0.0;
  bool cancelled = false;  ///< stopped early because the cancel flag was raised
  bool converged = false;  ///< stopped early by config.tolerance
  int recoveries = 0;      ///< restarts after the loss or gradient became NaN or infinite
  std::vector<std::string> notices;  ///< what went wrong and what the engine did about it
};

/// Gatys et al. style transfer: optimises the pixels of an image so that its content-layer
/// activations match the content image and its style-layer Gram matrices match the style
/// targets, plus a total-variation smoothness term. The network is never modified.
class StyleTransfer {
 public:
  /// model must outlive this object; plan comes from plan_layers on the same model.
  StyleTransfer(VggFeatures& model, LayerPlan plan, c10::Device device);

  /// Gram targets of one or more style images ([1,3,H,W] RGB [0,1], any sizes), blended by
  /// blend (normalised to sum 1; empty means equal weights). Computed without autograd.
  StyleTargets compute_style_targets(const std::vector<at::Tensor>& styles_rgb01,
                                     const std::vector<double>& blend) const;

  /// Runs the optimisation for content_rgb01 ([1,3,H,W] RGB [0,1]). init_rgb01 must have the
  /// content's shape when config.init is kImage. cancel, when given and raised, stops the run at
  /// the next iteration boundary; the result then holds the best image so far. A NaN or
  /// infinite loss or gradient restarts from the best image (L-BFGS with a 10x smaller step,
  /// then Adam); if that fails too, the best image so far is returned. The returned image is
  /// always the lowest-loss image evaluated. A device out-of-memory error becomes MemoryError.
  StyleTransferResult run(const at::Tensor& content_rgb01, const StyleTargets& targets,
                          const StyleConfig& config, const at::Tensor& init_rgb01 = {},
                          const ProgressCallback& on_progress = {},
                          const std::atomic<bool>* cancel = nullptr) const;

  /// Style targets for a style side in px (style_side_px of each scale); the caller may cache.
  using TargetsForSide = std::function<const StyleTargets&(int style_side_px)>;

  /// Coarse-to-fine (Gatys et al. 2017): runs `run` at each size of scale_ladder(config), each
  /// scale starting from the previous result upsampled, config.initial_iterations at the first
  /// scale and config.iterations at the others. content_rgb01 is at full size (longest side
  /// config.size_px); reports carry the scale. With one scale this is exactly `run`. The result
  /// is always at full size (a run cancelled at a coarse scale is upsampled) and its losses are
  /// those of the last scale reached.
  StyleTransferResult run_coarse_to_fine(const at::Tensor& content_rgb01,
                                         const TargetsForSide& targets_for_side,
                                         const StyleConfig& config,
                                         const at::Tensor& init_rgb01 = {},
                                         const ProgressCallback& on_progress = {},
                                         const std::atomic<bool>* cancel = nullptr) const;

 private:
  /// The smallest image side the layer plan accepts: one pixel left after every pooling.
  [[nodiscard]] std::int64_t min_side_px() const;

  StyleTransferResult run_unchecked(const at::Tensor& content_rgb01, const StyleTargets& targets,
                                    const StyleConfig& config, const at::Tensor& init_rgb01,
                                    const ProgressCallback& on_progress,
                                    const std::atomic<bool>* cancel) const;

  VggFeatures& model_;
  LayerPlan plan_;
  c10::Device device_;
};

}  // namespace stylize
