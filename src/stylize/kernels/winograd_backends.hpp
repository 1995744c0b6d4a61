#pragma once

// The backends of WinogradConv3x3 (winograd_conv.cpp chooses): oneDNN's
// (winograd_conv_onednn.cpp, or winograd_conv_unavailable.cpp in a build without it) and
// stylize's own F(4x4, 3x3) for AVX2 (winograd_f4x4.cpp).
#include "kernels/winograd_conv.hpp"

namespace stylize {

/// Why oneDNN's Winograd kernels cannot run (no oneDNN in this build, or none for this CPU at
/// the current cap); empty when they can.
std::string onednn_winograd_unavailable_reason();
/// "oneDNN X.Y.Z", or empty in a build without oneDNN.
std::string onednn_version();
/// Weights checked by the caller (suits, fp32, CPU, contiguous).
std::shared_ptr<WinogradConv3x3> make_onednn_winograd(at::Tensor weight, at::Tensor bias);
std::shared_ptr<WinogradConv3x3> make_f4x4_winograd(at::Tensor weight, at::Tensor bias);

}  // namespace stylize
