#pragma once

#include <ATen/core/Tensor.h>

namespace stylize {

/// Gram matrix of features [N,C,H,W]: [N,C,C] = F F^T / (H*W), with F the features reshaped to
/// [N,C,H*W]. Dividing by the pixel count (rather than Gatys' 1/(4 N^2 M^2) in the loss) keeps the
/// Gram matrix of a style image comparable across image sizes.
at::Tensor gram_matrix(const at::Tensor& features);

/// Mean square of a tensor, floored at a tiny epsilon: the normaliser of the relative losses.
at::Tensor mean_square(const at::Tensor& target);

/// Relative squared error: mean((x - target)^2) / target_mean_square. Used for content features
/// and for Gram matrices alike, so each layer's loss is about 1 when x is "as far from the
/// target as zero is".
at::Tensor relative_mse(const at::Tensor& x, const at::Tensor& target,
                        const at::Tensor& target_mean_square);

/// Total variation of an image [N,C,H,W]: mean squared horizontal plus mean squared vertical
/// neighbour difference.
at::Tensor total_variation(const at::Tensor& image);

}  // namespace stylize
