#pragma once

#include <ATen/core/Tensor.h>

namespace stylize {

/// A 3x3 convolution (stride 1, padding 1) of an image with few channels, such as VGG's conv1_1
/// (3 input channels), as an autograd function that computes the input gradient only. oneDNN's
/// input-gradient kernels do poorly with 3 channels (35 ms at 512x341 px with 64 outputs, for
/// 0.6 GFLOP); this one is one matrix product, the weights' transpose times the output gradient
/// (a column per pixel), and a sum of the nine shifted planes per input channel (about 10 ms).
/// The forward pass is ATen's. Suits frozen fp32 weights [O, C, 3, 3] with C <= 4 on the CPU;
/// anything else (or weights that need a gradient) runs ATen's convolution and its autograd.
at::Tensor conv3x3_few_channels(const at::Tensor& x, const at::Tensor& weight,
                                const at::Tensor& bias);

}  // namespace stylize
