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

}  // namespace stylize
