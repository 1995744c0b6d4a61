#pragma once

#include <ATen/core/Tensor.h>

namespace stylize {

/// oneDNN's blocked layout for feature maps, in which the Winograd convolutions compute:
/// [N, C, H, W] is stored as [N, C/16, H, W, 16] (channel c at [n, c/16, y, x, c%16]). Activations
/// that pass from one Winograd convolution through ReLU and pooling to the next stay in it
/// (VggFeatures::extract), which saves reordering them to NCHW and back.
inline constexpr int64_t kBlockLanes = 16;

/// x [N, C, H, W] with C a multiple of 16 -> [N, C/16, H, W, 16], contiguous; differentiable.
at::Tensor to_blocked(const at::Tensor& x);

/// The inverse of to_blocked: [N, C/16, H, W, 16] -> [N, C, H, W], contiguous; differentiable.
at::Tensor from_blocked(const at::Tensor& x);

/// Whether x has the blocked layout's shape (5 dimensions, the last one 16).
inline bool is_blocked(const at::Tensor& x) { return x.dim() == 5 && x.size(4) == kBlockLanes; }

}  // namespace stylize
