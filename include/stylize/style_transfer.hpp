#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/util/Exception.h>
#include <stylize/config.hpp>
#include <stylize/layer_plan.hpp>
#include <stylize/objective.hpp>
#include <stylize/optimizers.hpp>
#include <stylize/style_targets.hpp>
#include <stylize/tiles.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace stylize {

class VggFeatures;
class TiledRun;

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
  std::string snapshot_path;  ///< set by Stylizer when it wrote snapshot_rgb01 to this file
  /// reconstruct, visualize: which of the run's images (layer, channel) this report is about.
  int image_index = 0;
  /// Tiled scales (run_tiled): the tile being optimised (0-based, over all passes) and the
  /// scale's tile count over all passes; iteration and total_iterations then count the
  /// evaluations of the whole scale, over all its tiles.
  int tile_index = 0;
  int tile_count = 1;
  /// The whole run: the share of its work done (pixels x iterations over every scale) and the
  /// seconds since it began, for an ETA of the whole run.
  double run_done_fraction = 0.0;
  double run_elapsed_s = 0.0;
  /// A video (Stylizer::run_video): the frame being made, 1-based; 0 for an image.
  int frame = 0;
};

using ProgressCallback = std::function<void(const IterationReport&)>;

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

  /// The targets of `loss` for one or more style images (see the free compute_style_targets).
  StyleTargets compute_style_targets(const std::vector<at::Tensor>& styles_rgb01,
                                     const std::vector<double>& blend,
                                     StyleLossKind loss = StyleLossKind::kGram) const;
  [[nodiscard]] const LayerPlan& plan() const { return plan_; }

  /// Runs the optimisation for content_rgb01 ([1,3,H,W] RGB [0,1]). init_rgb01 must have the
  /// content's shape when config.init is kImage or kStyleColours (kAuto: the start is init_rgb01
  /// when given, else the content). cancel, when given and raised, stops the run at
  /// the next iteration boundary; the result then holds the best image so far. A NaN or
  /// infinite loss or gradient restarts from the best image (L-BFGS with a 10x smaller step,
  /// then Adam); if that fails too, the best image so far is returned. The returned image is
  /// always the lowest-loss image evaluated. A device out-of-memory error becomes MemoryError.
  StyleTransferResult run(const at::Tensor& content_rgb01, const StyleTargets& targets,
                          const StyleConfig& config, const at::Tensor& init_rgb01 = {},
                          const ProgressCallback& on_progress = {},
                          const std::atomic<bool>* cancel = nullptr) const;
  /// As above, with the style loss summed over guides: styles confined to regions (masks).
  StyleTransferResult run(const at::Tensor& content_rgb01, const std::vector<StyleGuide>& guides,
                          const StyleConfig& config, const at::Tensor& init_rgb01 = {},
                          const ProgressCallback& on_progress = {},
                          const std::atomic<bool>* cancel = nullptr) const;

  /// run for a frame of a video: one scale, the style loss plus temporal's term, which pulls the
  /// image toward the earlier frames' results warped into this frame.
  StyleTransferResult run_frame(const at::Tensor& content_rgb01,
                                const std::vector<StyleGuide>& guides, const StyleConfig& config,
                                const at::Tensor& init_rgb01, const TemporalTarget& temporal,
                                const ProgressCallback& on_progress = {},
                                const std::atomic<bool>* cancel = nullptr) const;

  /// Minimises any loss over the pixels of init_rgb01 ([1,3,H,W] RGB [0,1]) with config's
  /// optimiser, iterations, reporting, cancellation and recovery, as run does for style
  /// transfer (texture synthesis, reconstructions, feature visualisation).
  StyleTransferResult optimise(const LossFunction& objective, const at::Tensor& init_rgb01,
                               const StyleConfig& config, const ProgressCallback& on_progress = {},
                               const std::atomic<bool>* cancel = nullptr) const;

  /// One scale of a ladder: the result of optimising at height x width from init (undefined at
  /// the first scale), with scale_config's iterations.
  using ScaleRun = std::function<StyleTransferResult(
      std::int64_t height, std::int64_t width, const StyleConfig& scale_config,
      const at::Tensor& init_rgb01, const ProgressCallback& on_progress)>;
  /// The coarse-to-fine ladder of config (scale_ladder, sides too small for the plan's
  /// deepest layer skipped) over an image of full_height x full_width: run_scale at each side,
  /// each starting from the previous result upsampled. The result is at full size.
  StyleTransferResult run_ladder(std::int64_t full_height, std::int64_t full_width,
                                 const StyleConfig& config, const ScaleRun& run_scale,
                                 const ProgressCallback& on_progress = {}) const;

  /// The style guides for a style side in px (style_side_px of each scale): their targets at
  /// that side (the caller may cache them) and their masks at any size.
  using GuidesForSide = std::function<std::vector<StyleGuide>(int style_side_px)>;

  /// Coarse-to-fine (Gatys et al. 2017): runs `run` at each size of scale_ladder(config), each
  /// scale starting from the previous result upsampled, config.initial_iterations at the first
  /// scale and config.iterations at the others. content_rgb01 is at full size (longest side
  /// config.size_px); reports carry the scale. With one scale this is exactly `run`. The result
  /// is always at full size (a run cancelled at a coarse scale is upsampled) and its losses are
  /// those of the last scale reached.
  ///
  /// A scale whose longest side exceeds config.tile_size_px (when set) runs tile by tile
  /// (run_tiled).
  StyleTransferResult run_coarse_to_fine(const at::Tensor& content_rgb01,
                                         const GuidesForSide& guides_for_side,
                                         const StyleConfig& config,
                                         const at::Tensor& init_rgb01 = {},
                                         const ProgressCallback& on_progress = {},
                                         const std::atomic<bool>* cancel = nullptr) const;

  /// As run, for an image larger than memory allows whole: config.tile_passes passes over a
  /// grid of overlapping windows of at most config.tile_size_px a side (tile_grid, each pass's
  /// grid shifted), each window optimised by run with the same global style targets, its
  /// content cropped from content_rgb01 and its start from the image so far, then blended in
  /// (span_blend_weights). Every pixel gets about config.iterations evaluations. Only a window
  /// is on the device at a time; the image stays on the CPU. Reports count iterations over the
  /// whole scale and carry the tile; snapshots (config.snapshot_every_iters) are of the whole
  /// image, after the tile that reached them. Cancelled, the result is the image so far with
  /// the current tile's best in it. final_losses: the last pass's windows' content and TV
  /// (per window pixel) averaged by window area, and the whole image's style loss, evaluated
  /// on the result (per-window style losses averaged, with masked guides). One window covering
  /// the image is exactly run.
  StyleTransferResult run_tiled(const at::Tensor& content_rgb01,
                                const std::vector<StyleGuide>& guides, const StyleConfig& config,
                                const at::Tensor& init_rgb01 = {},
                                const ProgressCallback& on_progress = {},
                                const std::atomic<bool>* cancel = nullptr) const;

  /// The grids of config's tiled passes over a height_px x width_px image (tile_grid, pass p
  /// offset by p/passes of a core), aligned to the plan's deepest pooling. Throws ConfigError
  /// when config's tile size leaves no core.
  [[nodiscard]] std::vector<std::vector<Tile>> tile_passes(std::int64_t height_px,
                                                           std::int64_t width_px,
                                                           const StyleConfig& config) const;

 private:
  friend class TiledRun;  // run_tiled's state: runs windows through run_with

  /// run, for a window of a larger image when window is given (WindowContext), with a video
  /// frame's temporal term when temporal is given.
  StyleTransferResult run_with(const at::Tensor& content_rgb01,
                               const std::vector<StyleGuide>& guides, const StyleConfig& config,
                               const at::Tensor& init_rgb01, const ProgressCallback& on_progress,
                               const std::atomic<bool>* cancel, const WindowContext* window,
                               const TemporalTarget* temporal = nullptr) const;

  /// e as a MemoryError naming the device and image size when it is an out-of-memory error,
  /// else e itself.
  [[noreturn]] void rethrow_out_of_memory(const c10::Error& e, const at::Tensor& image) const;

  /// A scale's share of a run's work: pixels x iterations, over every window and pass of a
  /// tiled scale.
  [[nodiscard]] double scale_work(std::int64_t height, std::int64_t width,
                                  const StyleConfig& config) const;

  /// The smallest image side the layer plan accepts: one pixel left after every pooling.
  [[nodiscard]] std::int64_t min_side_px() const;

  void check_inputs(const at::Tensor& content_rgb01, const std::vector<StyleGuide>& guides,
                    const StyleConfig& config) const;

  VggFeatures& model_;
  LayerPlan plan_;
  c10::Device device_;
};

}  // namespace stylize
