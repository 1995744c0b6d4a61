#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace stylize {

/// A mask's weights from a decoded image: its alpha channel when it has one that is not opaque
/// everywhere, else its luminance (Rec. 601). rgb01 [1,3,H,W], alpha01 [1,1,H,W] or undefined.
/// Returns [1,1,H,W] in [0,1]: 1 (white) applies fully, 0 (black) not at all, grey partly.
at::Tensor mask_weights(const at::Tensor& rgb01, const at::Tensor& alpha01);

/// Weights [1,1,h,w] resized to height x width: area averaging where a side shrinks (so a
/// layer's weight is the share of its receptive pixels in the region), bilinear where it grows.
at::Tensor resize_mask(const at::Tensor& mask01, std::int64_t height, std::int64_t width);

/// True when the mask's aspect ratio differs from width_px / height_px by more than 1 %.
bool aspect_differs(const at::Tensor& mask01, int width_px, int height_px);

/// The mask with a soft edge: a Gaussian blur with sigma feather_px / 2, edges replicated, so
/// the transition from 1 to 0 takes about feather_px pixels each side of the boundary
/// (0.977 at feather_px inside, 0.023 at feather_px outside). feather_px 0: unchanged.
at::Tensor feather_mask(const at::Tensor& mask01, double feather_px);

/// alpha01 x stylized + (1 - alpha01) x photo, for images [1,3,H,W] and alpha [1,1,H,W].
at::Tensor composite(const at::Tensor& stylized_rgb01, const at::Tensor& photo_rgb01,
                     const at::Tensor& alpha01);

/// The pixels of image ([1,3,H,W]) where mask01 ([1,1,H,W]) is at least one half, as
/// [1,3,1,N] (colour statistics of a region); the whole image when the mask selects none.
at::Tensor pixels_where(const at::Tensor& image_rgb01, const at::Tensor& mask01);

/// images[k] where masks[k] is white: sum_k m_k images_k plus background where the masks leave
/// room (1 - sum_k m_k), divided by max(1, sum_k m_k) where they overlap. Images [1,3,H,W],
/// masks [1,1,H,W] at the same size.
at::Tensor blend_by_masks(const std::vector<at::Tensor>& images,
                          const std::vector<at::Tensor>& masks, const at::Tensor& background);

}  // namespace stylize
