#include <stylize/resize.hpp>
#include <stylize/style_transfer.hpp>
#include <stylize/vgg_features.hpp>

#include <algorithm>
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

StyleTransferResult StyleTransfer::run_coarse_to_fine(const at::Tensor& content_rgb01,
                                                      const GuidesForSide& guides_for_side,
                                                      const StyleConfig& config,
                                                      const at::Tensor& init_rgb01,
                                                      const ProgressCallback& on_progress,
                                                      const std::atomic<bool>* cancel) const {
  const auto full_h = content_rgb01.size(2);
  const auto full_w = content_rgb01.size(3);
  const auto ladder = usable_ladder(full_h, full_w, config, min_side_px());
  StyleTransferResult total;
  for (std::size_t k = 0; k < ladder.size(); ++k) {
    StyleConfig scale_config = config;
    scale_config.size_px = ladder[k];
    if (k == 0 && config.initial_iterations > 0 && ladder.size() > 1) {
      scale_config.iterations = config.initial_iterations;
    }
    const at::Tensor content = resize_longest_side(content_rgb01, ladder[k]);
    at::Tensor init = init_rgb01.defined() ? resize_longest_side(init_rgb01, ladder[k]) : init_rgb01;
    if (total.image_rgb01.defined()) {
      // Each scale starts from the previous result, upsampled to this scale's exact shape.
      init = upsample_to(total.image_rgb01, content.size(2), content.size(3));
      scale_config.init = InitKind::kImage;
    }
    ProgressCallback scaled;
    if (on_progress) {
      scaled = [&, k](const IterationReport& report) {
        IterationReport r = report;
        r.scale_index = static_cast<int>(k);
        r.scale_count = static_cast<int>(ladder.size());
        r.width_px = static_cast<int>(content.size(3));
        r.height_px = static_cast<int>(content.size(2));
        on_progress(r);
      };
    }
    const auto guides = guides_for_side(style_side_px(ladder[k], config.style_scale));
    accumulate(total, run(content, guides, scale_config, init, scaled, cancel));
    if (total.cancelled) break;
  }
  if (total.image_rgb01.size(2) != full_h || total.image_rgb01.size(3) != full_w) {
    total.image_rgb01 = upsample_to(total.image_rgb01, full_h, full_w);
  }
  return total;
}

}  // namespace stylize
