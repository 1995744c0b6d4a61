#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>

namespace stylize {

/// The smallest side, in pixels, any loaded or resized image may have.
inline constexpr int kMinImageSidePx = 16;

/// width x height scaled so the longest side is max_side_px (0: unchanged), each at least 1.
std::pair<int, int> longest_side_size(int width, int height, int max_side_px);

/// Resizes a [1,3,H,W] image tensor so its longest side is max_side_px: area averaging when
/// shrinking (antialiased), bicubic (clamped to [0,1]) when growing.
at::Tensor resize_longest_side(const at::Tensor& image_rgb01, int max_side_px);

/// Bicubic resize of an RGB [1,3,H,W] image in [0,1] to exactly height x width, clamped to
/// [0,1] (bicubic overshoots).
at::Tensor upsample_to(const at::Tensor& image_rgb01, std::int64_t height, std::int64_t width);

}  // namespace stylize
