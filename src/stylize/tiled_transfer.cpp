#include "start_image.hpp"

#include <stylize/errors.hpp>
#include <stylize/masks.hpp>
#include <stylize/style_transfer.hpp>
#include <stylize/tiles.hpp>
#include <stylize/vgg_features.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

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

}  // namespace

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
  const auto iterations =
      pass_iterations(config.iterations, static_cast<std::size_t>(config.tile_passes));
  const auto start = Clock::now();
  const auto content = content_rgb01.to(at::kCPU, at::kFloat).contiguous();
  at::Tensor image = initial_image(content, config, init_rgb01, at::kCPU).detach().contiguous();
  std::vector<at::Tensor> masks;
  for (const auto& guide : guides) {
    masks.push_back(guide.mask01.defined()
                        ? resize_mask(guide.mask01.to(at::kCPU, at::kFloat), height, width)
                        : at::Tensor());
  }
  int total_evaluations = 0;
  int tile_count = 0;
  for (std::size_t p = 0; p < passes.size(); ++p) {
    total_evaluations += iterations[p] * static_cast<int>(passes[p].size());
    tile_count += static_cast<int>(passes[p].size());
  }
  StyleTransferResult result;
  int tile_index = 0;
  int done = 0;  // evaluations of finished tiles
  int next_snapshot = config.snapshot_every_iters;
  for (std::size_t p = 0; p < passes.size() && !result.cancelled; ++p) {
    StyleConfig tile_config = config;
    tile_config.iterations = iterations[p];
    tile_config.init = InitKind::kImage;
    tile_config.snapshot_every_iters = 0;  // whole-image snapshots are taken here
    tile_config.report_every_iters = std::min(config.report_every_iters, iterations[p]);
    LossBreakdown pass_losses;
    double pass_area = 0.0;
    for (const auto& tile : passes[p]) {
      ProgressCallback tile_progress;
      if (on_progress) {
        tile_progress = [&](const IterationReport& report) {
          IterationReport r = report;
          r.iteration = done + report.iteration;
          r.total_iterations = total_evaluations;
          r.width_px = static_cast<int>(width);
          r.height_px = static_cast<int>(height);
          r.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
          r.tile_index = tile_index;
          r.tile_count = tile_count;
          on_progress(r);
        };
      }
      auto tile_result = run(crop(content, tile), guides_in(guides, masks, tile), tile_config,
                             crop(image, tile), tile_progress, cancel);
      blend_in(image, tile_result.image_rgb01, tile);
      done += tile_result.iterations_run;
      result.iterations_run += tile_result.iterations_run;
      result.recoveries += tile_result.recoveries;
      result.notices.insert(result.notices.end(), tile_result.notices.begin(),
                            tile_result.notices.end());
      const double area = static_cast<double>(tile.y.window_px()) * tile.x.window_px();
      const auto& l = tile_result.final_losses;
      for (auto [sum, value] : {std::pair{&pass_losses.content, l.content},
                                {&pass_losses.style, l.style},
                                {&pass_losses.tv, l.tv},
                                {&pass_losses.total, l.total}}) {
        *sum += value * area;
      }
      pass_area += area;
      ++tile_index;
      result.cancelled = tile_result.cancelled;
      if (on_progress && next_snapshot > 0 && done >= next_snapshot && !result.cancelled) {
        IterationReport r;
        r.iteration = done;
        r.total_iterations = total_evaluations;
        r.width_px = static_cast<int>(width);
        r.height_px = static_cast<int>(height);
        r.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
        r.tile_index = tile_index - 1;
        r.tile_count = tile_count;
        r.snapshot_rgb01 = image.clamp(0.0, 1.0);
        on_progress(r);
        while (next_snapshot <= done) next_snapshot += config.snapshot_every_iters;
      }
      if (result.cancelled) break;
    }
    for (double* sum : {&pass_losses.content, &pass_losses.style, &pass_losses.tv,
                        &pass_losses.total}) {
      *sum /= pass_area;
    }
    result.final_losses = pass_losses;
  }
  result.image_rgb01 = image.clamp_(0.0, 1.0);
  result.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

}  // namespace stylize
