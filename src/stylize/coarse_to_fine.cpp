#include <stylize/resize.hpp>
#include <stylize/style_transfer.hpp>
#include <stylize/vgg_features.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace stylize {

std::vector<int> scale_ladder(int size_px, int min_size_px, double scale_step) {
  std::vector<int> sizes;
  if (min_size_px > 0 && scale_step > 1.0) {
    for (double side = min_size_px; side < size_px * 0.97; side *= scale_step) {
      sizes.push_back(static_cast<int>(std::lround(side)));
    }
  }
  sizes.push_back(size_px);
  return sizes;
}

int style_side_px(int scale_side_px, double style_scale) {
  return std::max(kMinImageSidePx, static_cast<int>(std::lround(scale_side_px * style_scale)));
}

std::int64_t StyleTransfer::min_side_px() const {
  return std::int64_t{1} << model_.pools_before(plan_.deepest_index());
}

namespace {

/// The ladder's sides that leave every layer of the plan at least one pixel (each pooling
/// halves the image); the full size always stays.
std::vector<int> usable_ladder(std::int64_t full_h, std::int64_t full_w, const StyleConfig& config,
                               std::int64_t min_side) {
  const int full_side = static_cast<int>(std::max(full_h, full_w));
  std::vector<int> ladder;
  for (int side : scale_ladder(full_side, config.min_size_px, config.scale_step)) {
    const double scale = static_cast<double>(side) / full_side;
    if (side == full_side ||
        std::lround(static_cast<double>(std::min(full_h, full_w)) * scale) >= min_side) {
      ladder.push_back(side);
    }
  }
  return ladder;
}

void accumulate(StyleTransferResult& total, StyleTransferResult&& scale) {
  total.iterations_run += scale.iterations_run;
  total.elapsed_s += scale.elapsed_s;
  total.recoveries += scale.recoveries;
  total.notices.insert(total.notices.end(), scale.notices.begin(), scale.notices.end());
  total.final_losses = scale.final_losses;
  total.converged = scale.converged;
  total.cancelled = scale.cancelled;
  total.image_rgb01 = std::move(scale.image_rgb01);
}

}  // namespace

double StyleTransfer::scale_work(std::int64_t height, std::int64_t width,
                                 const StyleConfig& config) const {
  if (config.tile_size_px <= 0 || std::max(height, width) <= config.tile_size_px) {
    return static_cast<double>(height * width) * config.iterations;
  }
  // Tiled: every window's pixels, in every pass, for that pass's iterations.
  const auto passes = tile_passes(height, width, config);
  const int per_pass = config.iterations / static_cast<int>(passes.size());
  double work = 0.0;
  for (const auto& pass : passes) {
    for (const auto& tile : pass) {
      work += static_cast<double>(tile.y.window_px()) * tile.x.window_px() * per_pass;
    }
  }
  return work;
}

StyleTransferResult StyleTransfer::run_ladder(std::int64_t full_height, std::int64_t full_width,
                                              const StyleConfig& config,
                                              const ScaleRun& run_scale,
                                              const ProgressCallback& on_progress) const {
  const auto ladder = usable_ladder(full_height, full_width, config, min_side_px());
  const int full_side = static_cast<int>(std::max(full_height, full_width));
  // Each scale's shape, iterations and share of the run's work (pixels x iterations).
  std::vector<StyleConfig> configs;
  std::vector<std::pair<std::int64_t, std::int64_t>> shapes;
  std::vector<double> work{0.0};
  for (std::size_t k = 0; k < ladder.size(); ++k) {
    StyleConfig scale_config = config;
    scale_config.size_px = ladder[k];
    if (k == 0 && config.initial_iterations > 0 && ladder.size() > 1) {
      scale_config.iterations = config.initial_iterations;
    }
    const auto [width, height] = longest_side_size(static_cast<int>(full_width),
                                                   static_cast<int>(full_height), ladder[k]);
    const auto h = ladder[k] == full_side ? full_height : height;
    const auto w = ladder[k] == full_side ? full_width : width;
    configs.push_back(scale_config);
    shapes.emplace_back(h, w);
    work.push_back(work.back() + scale_work(h, w, scale_config));
  }
  const auto start = std::chrono::steady_clock::now();
  StyleTransferResult total;
  for (std::size_t k = 0; k < ladder.size(); ++k) {
    StyleConfig scale_config = configs[k];
    const auto [h, w] = shapes[k];
    at::Tensor init;
    if (total.image_rgb01.defined()) {
      // Each scale starts from the previous result, upsampled to this scale's exact shape.
      init = upsample_to(total.image_rgb01, h, w);
      scale_config.init = InitKind::kImage;
    }
    ProgressCallback scaled;
    if (on_progress) {
      scaled = [&, k, h = h, w = w](const IterationReport& report) {
        IterationReport r = report;
        r.scale_index = static_cast<int>(k);
        r.scale_count = static_cast<int>(ladder.size());
        r.width_px = static_cast<int>(w);
        r.height_px = static_cast<int>(h);
        const double scale_done = static_cast<double>(report.iteration) /
                                  std::max(1, report.total_iterations);
        r.run_done_fraction =
            (work[k] + (work[k + 1] - work[k]) * std::min(1.0, scale_done)) / work.back();
        r.run_elapsed_s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        on_progress(r);
      };
    }
    accumulate(total, run_scale(h, w, scale_config, init, scaled));
    if (total.cancelled) break;
  }
  if (total.image_rgb01.size(2) != full_height || total.image_rgb01.size(3) != full_width) {
    total.image_rgb01 = upsample_to(total.image_rgb01, full_height, full_width);
  }
  return total;
}

StyleTransferResult StyleTransfer::run_coarse_to_fine(const at::Tensor& content_rgb01,
                                                      const GuidesForSide& guides_for_side,
                                                      const StyleConfig& config,
                                                      const at::Tensor& init_rgb01,
                                                      const ProgressCallback& on_progress,
                                                      const std::atomic<bool>* cancel) const {
  const ScaleRun run_scale = [&](std::int64_t /*height*/, std::int64_t /*width*/,
                                 const StyleConfig& scale_config,
                                 const at::Tensor& previous, const ProgressCallback& progress) {
    const at::Tensor content = resize_longest_side(content_rgb01, scale_config.size_px);
    at::Tensor init = previous;
    if (!init.defined() && init_rgb01.defined()) {
      init = resize_longest_side(init_rgb01, scale_config.size_px);
    }
    const auto guides = guides_for_side(style_side_px(scale_config.size_px, config.style_scale));
    if (config.tile_size_px > 0 && std::max(content.size(2), content.size(3)) > config.tile_size_px) {
      return run_tiled(content, guides, scale_config, init, progress, cancel);
    }
    return run(content, guides, scale_config, init, progress, cancel);
  };
  if (config.tile_size_px > 0) {  // a tile size that leaves no core fails before any work
    static_cast<void>(tile_passes(content_rgb01.size(2), content_rgb01.size(3), config));
  }
  return run_ladder(content_rgb01.size(2), content_rgb01.size(3), config, run_scale, on_progress);
}

}  // namespace stylize
