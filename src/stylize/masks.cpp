#include <stylize/masks.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace stylize {

at::Tensor mask_weights(const at::Tensor& rgb01, const at::Tensor& alpha01) {
  if (alpha01.defined() && alpha01.min().item<float>() < 1.0F) {
    return alpha01.to(at::kFloat).clamp(0.0, 1.0);
  }
  const auto rgb = rgb01.to(at::kFloat);
  return (rgb.select(1, 0) * 0.299 + rgb.select(1, 1) * 0.587 + rgb.select(1, 2) * 0.114)
      .unsqueeze(1)
      .clamp(0.0, 1.0);
}

at::Tensor resize_mask(const at::Tensor& mask01, std::int64_t height, std::int64_t width) {
  at::Tensor mask = mask01;
  // Shrinking sides first (area), then growing ones (bilinear): each axis gets its own rule.
  const auto shrunk_h = std::min(height, mask.size(2));
  const auto shrunk_w = std::min(width, mask.size(3));
  if (shrunk_h != mask.size(2) || shrunk_w != mask.size(3)) {
    mask = at::adaptive_avg_pool2d(mask, {shrunk_h, shrunk_w});
  }
  if (height != mask.size(2) || width != mask.size(3)) {
    mask = at::upsample_bilinear2d(mask, {height, width}, /*align_corners=*/false);
  }
  return mask.clamp(0.0, 1.0);
}

bool aspect_differs(const at::Tensor& mask01, int width_px, int height_px) {
  const double mask_aspect = static_cast<double>(mask01.size(3)) / mask01.size(2);
  const double aspect = static_cast<double>(width_px) / height_px;
  return std::abs(mask_aspect / aspect - 1.0) > 0.01;
}

at::Tensor feather_mask(const at::Tensor& mask01, double feather_px) {
  if (feather_px <= 0.0) return mask01;
  const double sigma = feather_px / 2.0;
  const auto radius = static_cast<std::int64_t>(std::ceil(3.0 * sigma));
  const auto taps = at::arange(-radius, radius + 1, mask01.options().dtype(at::kFloat));
  auto kernel = at::exp(-(taps * taps) / (2.0 * sigma * sigma));
  kernel = kernel / kernel.sum();
  // Separable: rows, then columns, each with the edge pixels replicated outwards.
  auto blurred = at::replication_pad2d(mask01.to(at::kFloat), {radius, radius, radius, radius});
  blurred = at::conv2d(blurred, kernel.view({1, 1, 1, -1}));
  blurred = at::conv2d(blurred, kernel.view({1, 1, -1, 1}));
  return blurred.clamp(0.0, 1.0);
}

at::Tensor composite(const at::Tensor& stylized_rgb01, const at::Tensor& photo_rgb01,
                     const at::Tensor& alpha01) {
  const auto alpha = alpha01.to(stylized_rgb01.device(), stylized_rgb01.scalar_type());
  return stylized_rgb01 * alpha + photo_rgb01.to(stylized_rgb01.device()) * (1.0 - alpha);
}

at::Tensor pixels_where(const at::Tensor& image_rgb01, const at::Tensor& mask01) {
  const auto selected = mask01.reshape({-1}) >= 0.5;
  if (!selected.any().item<bool>()) return image_rgb01;
  const auto pixels = image_rgb01.reshape({3, -1}).index({at::indexing::Slice(), selected});
  return pixels.reshape({1, 3, 1, -1});
}

at::Tensor blend_by_masks(const std::vector<at::Tensor>& images,
                          const std::vector<at::Tensor>& masks, const at::Tensor& background) {
  at::Tensor sum = at::zeros_like(background);
  at::Tensor coverage = at::zeros_like(background.select(1, 0).unsqueeze(1));
  for (std::size_t k = 0; k < images.size(); ++k) {
    sum += images[k] * masks.at(k);
    coverage += masks.at(k);
  }
  sum += background * (1.0 - coverage).clamp_min(0.0);
  return sum / coverage.clamp_min(1.0);
}

}  // namespace stylize
