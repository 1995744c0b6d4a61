#include "feature_sums.hpp"
#include "start_image.hpp"

#include <stylize/errors.hpp>
#include <stylize/masks.hpp>
#include <stylize/objective.hpp>
#include <stylize/style_transfer.hpp>
#include <stylize/tiles.hpp>
#include <stylize/vgg_features.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <optional>

namespace stylize {
namespace {

using Clock = std::chrono::steady_clock;

/// image[..., window] as a contiguous tensor.
at::Tensor crop(const at::Tensor& image, const Tile& tile) {
  return image.slice(2, tile.y.window_begin, tile.y.window_end)
      .slice(3, tile.x.window_begin, tile.x.window_end)
      .contiguous();
}

/// Writes the optimised window into the image with the tile's blend weights (in place).
void blend_in(at::Tensor& image, const at::Tensor& window_rgb01, const Tile& tile) {
  torch::NoGradGuard no_grad;
  const auto rows = span_blend_weights(tile.y);
  const auto columns = span_blend_weights(tile.x);
  const auto options = at::TensorOptions().dtype(at::kFloat);
  const auto row_weights =
      at::from_blob(const_cast<float*>(rows.data()),  // NOLINT: read only, copied by the product
                    {1, 1, static_cast<std::int64_t>(rows.size()), 1}, options);
  const auto column_weights =
      at::from_blob(const_cast<float*>(columns.data()),  // NOLINT: as above
                    {1, 1, 1, static_cast<std::int64_t>(columns.size())}, options);
  const auto alpha = row_weights * column_weights;
  auto target = image.slice(2, tile.y.window_begin, tile.y.window_end)
                    .slice(3, tile.x.window_begin, tile.x.window_end);
  target.add_((window_rgb01.to(at::kCPU, at::kFloat) - target) * alpha);
}

/// The guides for one window: each mask brought to the image's size once (masks), cropped.
std::vector<StyleGuide> guides_in(const std::vector<StyleGuide>& guides,
                                  const std::vector<at::Tensor>& masks, const Tile& tile) {
  std::vector<StyleGuide> cropped = guides;
  for (std::size_t g = 0; g < guides.size(); ++g) {
    if (masks[g].defined()) cropped[g].mask01 = crop(masks[g], tile);
  }
  return cropped;
}

/// Iterations of each pass: config.iterations split evenly, the remainder to the first.
std::vector<int> pass_iterations(int iterations, std::size_t passes) {
  const int count = std::max(1, std::min(iterations, static_cast<int>(passes)));
  std::vector<int> split(static_cast<std::size_t>(count), iterations / count);
  split.front() += iterations % count;
  return split;
}

/// total - entry + fresh, and entry = fresh: one core's part of the whole image's sums renewed.
void renew(FeatureSums& total, FeatureSums& entry, FeatureSums fresh) {
  add_sums(total, entry, -1.0);
  add_sums(total, fresh);
  entry = std::move(fresh);
}

/// The whole image's statistics around one window: see WindowContext.
struct WholeImage {
  std::vector<int> style_indices;
  std::vector<int> style_steps;
  bool with_means = false;
  std::vector<at::Tensor> content_mean_squares;
  FeatureSums style_sums;  ///< of the image so far: the sum of cores
  std::vector<FeatureSums> cores;  ///< this pass's cores' sums, each renewed as it changes
};

}  // namespace

/// One tiled scale: passes over grids of windows, each window an ordinary run (with the whole
/// image's statistics around it when the style is one unmasked guide), blended in.
class TiledRun {
 public:
  TiledRun(const StyleTransfer& engine, const at::Tensor& content_rgb01,
           const std::vector<StyleGuide>& guides, const StyleConfig& config,
           std::vector<std::vector<Tile>> passes, const ProgressCallback& on_progress,
           const std::atomic<bool>* cancel)
      : engine_(engine),
        content_(content_rgb01.to(at::kCPU, at::kFloat).contiguous()),
        guides_(guides),
        config_(config),
        passes_(std::move(passes)),
        iterations_(pass_iterations(config.iterations, passes_.size())),
        on_progress_(on_progress),
        cancel_(cancel) {
    for (const auto& guide : guides) {
      masks_.push_back(guide.mask01.defined() ? resize_mask(guide.mask01.to(at::kCPU, at::kFloat),
                                                            height(), width())
                                              : at::Tensor());
    }
    for (std::size_t p = 0; p < passes_.size(); ++p) {
      total_evaluations_ += iterations_[p] * static_cast<int>(passes_[p].size());
      tile_count_ += static_cast<int>(passes_[p].size());
    }
    whole_ = guides.size() == 1 && !guides.front().mask01.defined() &&
             guides.front().weight == 1.0;
    if (whole_) prepare_whole_image();
  }

  [[nodiscard]] const at::Tensor& content() const { return content_; }

  StyleTransferResult run(at::Tensor image) {
    image_ = image.contiguous();
    for (std::size_t p = 0; p < passes_.size() && !result_.cancelled; ++p) run_pass(p);
    image_.clamp_(0.0, 1.0);
    if (whole_ && result_.iterations_run > 0) {
      result_.final_losses.style = whole_style_loss();
      result_.final_losses.total = result_.final_losses.content + result_.final_losses.style +
                                   result_.final_losses.tv;
    }
    result_.image_rgb01 = image_;
    result_.elapsed_s = seconds();
    return std::move(result_);
  }

 private:
  [[nodiscard]] std::int64_t height() const { return content_.size(2); }
  [[nodiscard]] std::int64_t width() const { return content_.size(3); }
  [[nodiscard]] double seconds() const {
    return std::chrono::duration<double>(Clock::now() - start_).count();
  }

  /// The content's mean squares over the whole image, and the style layers' strides.
  void prepare_whole_image() {
    const auto& plan = engine_.plan();
    std::vector<int> content_indices;
    for (const auto& layer : plan.content) content_indices.push_back(layer.index);
    for (const auto& layer : plan.style) context_.style_indices.push_back(layer.index);
    context_.style_steps = layer_strides(engine_.model_, context_.style_indices);
    context_.with_means = guides_.front().targets->loss != StyleLossKind::kGram;
    const auto sums = core_sums(engine_.model_, content_indices, content_, passes_.front(),
                                engine_.device_, false);
    for (std::size_t l = 0; l < sums.second.size(); ++l) {
      const auto channels = static_cast<double>(sums.second[l].size(1));
      context_.content_mean_squares.push_back(
          (sums.second[l].diagonal(0, 1, 2).sum() / (channels * sums.weight[l])).clamp_min(1e-8));
    }
  }

  /// The style loss of the whole image as it is: its statistics gathered afresh over the last
  /// grid's cores, evaluated by an objective that sees them alone (no window share).
  double whole_style_loss() const {
    const auto sums = core_sums(engine_.model_, context_.style_indices, image_, passes_.back(),
                                engine_.device_, context_.with_means);
    WindowContext context;
    for (std::size_t l = 0; l < sums.second.size(); ++l) {
      context.gram_rest.push_back(sums.second[l] / sums.weight[l]);
      if (context_.with_means) context.mean_rest.push_back(sums.first[l] / sums.weight[l]);
      context.layer_share.push_back(0.0);
    }
    context.content_mean_squares = context_.content_mean_squares;
    context.pixel_share = 0.0;
    const auto& tile = passes_.back().front();
    const Objective objective(engine_.model_, engine_.plan(), crop(content_, tile).to(engine_.device_),
                              guides_, config_, &context);
    torch::NoGradGuard no_grad;
    return objective.evaluate(crop(image_, tile).to(engine_.device_)).to_host().style;
  }

  /// The window's context: the whole image's sums without the window's start, per pixel.
  WindowContext context_for(const std::vector<at::Tensor>& start_features, const Tile& tile) const {
    FeatureSums window;
    add_feature_sums(window, start_features, context_.style_steps, 0, tile.y.window_px(), 0,
                     tile.x.window_px(), context_.with_means);
    WindowContext context;
    const auto& whole = context_.style_sums;
    for (std::size_t l = 0; l < whole.second.size(); ++l) {
      context.gram_rest.push_back((whole.second[l] - window.second[l]) / whole.weight[l]);
      if (context_.with_means) {
        context.mean_rest.push_back((whole.first[l] - window.first[l]) / whole.weight[l]);
      }
      context.layer_share.push_back(window.weight[l] / whole.weight[l]);
    }
    context.content_mean_squares = context_.content_mean_squares;
    context.pixel_share = static_cast<double>(tile.y.window_px()) * tile.x.window_px() /
                          (static_cast<double>(height()) * static_cast<double>(width()));
    return context;
  }

  void run_pass(std::size_t p) {
    StyleConfig tile_config = config_;
    tile_config.iterations = iterations_[p];
    tile_config.init = InitKind::kImage;
    tile_config.snapshot_every_iters = 0;  // whole-image snapshots are taken here
    tile_config.report_every_iters = std::min(config_.report_every_iters, iterations_[p]);
    if (whole_) {
      context_.cores.clear();
      context_.style_sums = core_sums(engine_.model_, context_.style_indices, image_, passes_[p],
                                      engine_.device_, context_.with_means, {}, &context_.cores);
    }
    LossBreakdown pass_losses;
    double pass_area = 0.0;
    for (std::size_t k = 0; k < passes_[p].size(); ++k) {
      const auto& tile = passes_[p][k];
      const auto losses = run_tile(tile, k, tile_config);
      const double area = static_cast<double>(tile.y.window_px()) * tile.x.window_px();
      pass_losses.content += losses.content * area;
      pass_losses.tv += losses.tv * area;
      pass_losses.style = whole_ ? losses.style : pass_losses.style + losses.style * area;
      pass_area += area;
      snapshot_if_due();
      if (result_.cancelled) break;
    }
    pass_losses.content /= pass_area;
    pass_losses.tv /= pass_area;
    if (!whole_) pass_losses.style /= pass_area;
    pass_losses.total = pass_losses.content + pass_losses.style + pass_losses.tv;
    result_.final_losses = pass_losses;
  }

  /// Optimises window k of the pass and blends it in; its final losses, content and TV per
  /// window pixel. The whole image's sums follow its core: renewed from the window as it is
  /// (earlier windows blended into its edges) and again once it is written.
  LossBreakdown run_tile(const Tile& tile, std::size_t k, StyleConfig tile_config) {
    const auto start = crop(image_, tile);
    std::optional<WindowContext> context;
    auto features_of = [&](const at::Tensor& window) {
      torch::NoGradGuard no_grad;
      return engine_.model_.extract(window.to(engine_.device_), context_.style_indices);
    };
    auto renew_core = [&](const std::vector<at::Tensor>& features) {
      renew(context_.style_sums, context_.cores[k],
            core_sums_from(features, context_.style_steps, tile, context_.with_means));
    };
    if (whole_) {
      const auto features = features_of(start);
      renew_core(features);
      context = context_for(features, tile);
      // The window moves the whole image's loss by about its share: --tolerance scaled to it.
      tile_config.tolerance *= context->pixel_share;
    }
    const double share = context ? context->pixel_share : 1.0;
    ProgressCallback progress;
    if (on_progress_) {
      progress = [&](const IterationReport& report) {
        IterationReport r = report;
        r.iteration = done_ + report.iteration;
        r.total_iterations = total_evaluations_;
        r.width_px = static_cast<int>(width());
        r.height_px = static_cast<int>(height());
        r.elapsed_s = seconds();
        r.tile_index = tile_index_;
        r.tile_count = tile_count_;
        if (r.losses) r.losses = per_window_pixel(*r.losses, share);
        on_progress_(r);
      };
    }
    auto result = engine_.run_with(crop(content_, tile), guides_in(guides_, masks_, tile),
                                   tile_config, start, progress, cancel_,
                                   context ? &*context : nullptr);
    blend_in(image_, result.image_rgb01, tile);
    if (whole_) renew_core(features_of(crop(image_, tile)));
    done_ += result.iterations_run;
    ++tile_index_;
    result_.iterations_run += result.iterations_run;
    result_.recoveries += result.recoveries;
    result_.notices.insert(result_.notices.end(), result.notices.begin(), result.notices.end());
    result_.cancelled = result.cancelled;
    return per_window_pixel(result.final_losses, share);
  }

  /// A window's losses with content and TV per window pixel (as a whole image's would read).
  static LossBreakdown per_window_pixel(LossBreakdown losses, double share) {
    losses.content /= share;
    losses.tv /= share;
    losses.total = losses.content + losses.style + losses.tv;
    return losses;
  }

  void snapshot_if_due() {
    if (!on_progress_ || next_snapshot_ <= 0 || done_ < next_snapshot_ || result_.cancelled) {
      return;
    }
    IterationReport r;
    r.iteration = done_;
    r.total_iterations = total_evaluations_;
    r.width_px = static_cast<int>(width());
    r.height_px = static_cast<int>(height());
    r.elapsed_s = seconds();
    r.tile_index = tile_index_ - 1;
    r.tile_count = tile_count_;
    r.snapshot_rgb01 = image_.clamp(0.0, 1.0);
    on_progress_(r);
    while (next_snapshot_ <= done_) next_snapshot_ += config_.snapshot_every_iters;
  }

  const StyleTransfer& engine_;
  at::Tensor content_;
  const std::vector<StyleGuide>& guides_;
  const StyleConfig& config_;
  std::vector<std::vector<Tile>> passes_;
  std::vector<int> iterations_;
  const ProgressCallback& on_progress_;
  const std::atomic<bool>* cancel_;
  const Clock::time_point start_ = Clock::now();
  std::vector<at::Tensor> masks_;  ///< each guide's mask at the image's size
  bool whole_ = false;             ///< windows see the whole image's statistics (WindowContext)
  WholeImage context_;
  at::Tensor image_;
  StyleTransferResult result_;
  int total_evaluations_ = 0;
  int tile_count_ = 0;
  int tile_index_ = 0;
  int done_ = 0;  ///< evaluations of finished tiles
  int next_snapshot_ = config_.snapshot_every_iters;
};

std::vector<std::vector<Tile>> StyleTransfer::tile_passes(std::int64_t height_px,
                                                          std::int64_t width_px,
                                                          const StyleConfig& config) const {
  const int align = static_cast<int>(min_side_px());
  const int tile = config.tile_size_px;
  const int margin = (config.tile_overlap_px + align - 1) / align * align;
  const int core = std::max(align, (tile - 2 * margin) / align * align);
  std::vector<std::vector<Tile>> passes;
  const auto iterations = pass_iterations(config.iterations, static_cast<std::size_t>(
                                                                 std::max(1, config.tile_passes)));
  for (std::size_t p = 0; p < iterations.size(); ++p) {
    const int offset = static_cast<int>(p) * core / static_cast<int>(iterations.size());
    passes.push_back(tile_grid(static_cast<int>(height_px), static_cast<int>(width_px), tile,
                               config.tile_overlap_px, offset, align));
  }
  return passes;
}

StyleTransferResult StyleTransfer::run_tiled(const at::Tensor& content_rgb01,
                                             const std::vector<StyleGuide>& guides,
                                             const StyleConfig& config,
                                             const at::Tensor& init_rgb01,
                                             const ProgressCallback& on_progress,
                                             const std::atomic<bool>* cancel) const {
  check_inputs(content_rgb01, guides, config);
  const auto height = content_rgb01.size(2);
  const auto width = content_rgb01.size(3);
  const auto passes = tile_passes(height, width, config);
  if (passes.front().size() == 1) {
    return run(content_rgb01, guides, config, init_rgb01, on_progress, cancel);
  }
  try {
    TiledRun tiled(*this, content_rgb01, guides, config, passes, on_progress, cancel);
    return tiled.run(initial_image(tiled.content(), config, init_rgb01, at::kCPU).detach());
  } catch (const c10::Error& e) {  // the whole image's sums, between windows
    rethrow_out_of_memory(e, content_rgb01);
  }
}

}  // namespace stylize
