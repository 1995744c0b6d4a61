#pragma once

#include <ATen/core/Tensor.h>
#include <stylize/config.hpp>  // ColourMode

#include <vector>

namespace stylize {

/// Combines the luminance (BT.601 Y) of stylized_rgb01 with the chroma (Cb, Cr) of
/// content_rgb01; both [1,3,H,W] in [0,1] of the same size. Result clamped to [0,1].
at::Tensor keep_content_colours(const at::Tensor& stylized_rgb01, const at::Tensor& content_rgb01);

/// Affinely recolours source_rgb01 ([1,3,H,W]) so that its RGB mean and covariance equal those of
/// reference_rgb01 (any size): x' = Cr^1/2 Cs^-1/2 (x - ms) + mr, then clamped to [0,1].
at::Tensor match_colour_statistics(const at::Tensor& source_rgb01,
                                   const at::Tensor& reference_rgb01);

/// As above, with the statistics of all the references' pixels together (any sizes).
at::Tensor match_colour_statistics(const at::Tensor& source_rgb01,
                                   const std::vector<at::Tensor>& references_rgb01);

/// RGB [1,3,H,W] in [0,1] to YCbCr (BT.601, full range, Cb/Cr centred on 0.5), and back.
at::Tensor rgb_to_ycbcr(const at::Tensor& rgb01);
at::Tensor ycbcr_to_rgb(const at::Tensor& ycbcr);

}  // namespace stylize
