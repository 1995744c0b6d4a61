#pragma once

#include <ATen/core/Tensor.h>

namespace stylize {

/// 2x2 max pooling with stride 2 (floor mode, like VGG's pools) as an autograd function that
/// keeps no indices: it saves its input, which the ReLU before it keeps alive anyway, and finds
/// the maxima again when the gradient arrives (ATen's keeps an int64 index per output, twice the
/// output's size: 63 MB of what autograd holds at 512 px). Same values and gradients as ATen's
/// max_pool2d, ties and NaN included (the first maximum in the window, scanning rows, takes the
/// gradient; NaN counts as the maximum). Contiguous fp32 CPU tensors run a kernel of its own,
/// 2-4x faster than ATen's (README "Performance"); anything else runs ATen's.
at::Tensor max_pool_2x2(const at::Tensor& x);

/// ReLU then 2x2 max pooling (as max_pool_2x2) in one pass, on feature maps in oneDNN's blocked
/// layout: x is [N, C/16, H, W, 16] (channel c at [n, c/16, y, x, c%16]), fp32 on the CPU, and
/// so is the result [N, C/16, H/2, W/2, 16]. This is how the Winograd convolutions around a
/// pooling layer pass activations on without reordering them to NCHW and back (README
/// "Performance"). Values and gradients are those of relu() then max_pool_2x2() on the NCHW
/// equivalent, ties and NaN included: the gradient goes to the window's first maximum when
/// that maximum is above zero. Saves only its input.
at::Tensor relu_max_pool_2x2_blocked(const at::Tensor& x);

}  // namespace stylize
