#include <stylize/resize.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace stylize {

std::pair<int, int> longest_side_size(int width, int height, int max_side_px) {
  if (max_side_px <= 0) return {width, height};
  const double scale = static_cast<double>(max_side_px) / std::max(width, height);
  return {std::max(1, static_cast<int>(std::lround(width * scale))),
          std::max(1, static_cast<int>(std::lround(height * scale)))};
}

at::Tensor resize_longest_side(const at::Tensor& image_rgb01, int max_side_px) {
  const auto height = static_cast<int>(image_rgb01.size(2));
  const auto width = static_cast<int>(image_rgb01.size(3));
  const auto [new_width, new_height] = longest_side_size(width, height, max_side_px);
  if (new_width == width && new_height == height) return image_rgb01;
  if (new_width < width) {
    return at::adaptive_avg_pool2d(image_rgb01, {new_height, new_width});
  }
  return upsample_to(image_rgb01, new_height, new_width);
}

at::Tensor upsample_to(const at::Tensor& image_rgb01, std::int64_t height, std::int64_t width) {
  return at::upsample_bicubic2d(image_rgb01, {height, width}, /*align_corners=*/false)
      .clamp(0.0, 1.0);
}

}  // namespace stylize
