#pragma once

#include <ATen/core/Tensor.h>

#include <utility>

namespace stylize {

/// Gram matrix of features [N,C,H,W]: [N,C,C] = F F^T / (H*W), with F the features reshaped to
/// [N,C,H*W]. Dividing by the pixel count (rather than Gatys' 1/(4 N^2 M^2) in the loss) keeps the
/// Gram matrix of a style image comparable across image sizes.
at::Tensor gram_matrix(const at::Tensor& features);

/// gram_matrix(features) together with a tensor equal to features for the rest of the network:
/// {pass_on, gram}. Continuing the network from pass_on lets the backward pass add the Gram
/// matrix's gradient into the network's gradient inside the one matrix product that computes it
/// (G's backward, (dG + dG^T) F / hw, accumulated onto the gradient arriving at pass_on),
/// instead of autograd computing it apart and summing two activation-sized gradients. pass_on
/// shares features' memory and the backward pass reads it: neither may be changed in place.
std::pair<at::Tensor, at::Tensor> gram_tap(const at::Tensor& features);

/// Mean square of a tensor, floored at a tiny epsilon: the normaliser of the relative losses.
at::Tensor mean_square(const at::Tensor& target);

/// Relative squared error: mean((x - target)^2) / target_mean_square. Used for content features
/// and for Gram matrices alike, so each layer's loss is about 1 when x is "as far from the
/// target as zero is".
at::Tensor relative_mse(const at::Tensor& x, const at::Tensor& target,
                        const at::Tensor& target_mean_square);

/// Channel means of features [N,C,H,W]: [N,C].
at::Tensor channel_mean(const at::Tensor& features);

/// The Gram matrix and channel means of features [N,C,H,W] over a weighted region (the guided
/// Gram matrix of Gatys et al. 2017, "Controlling Perceptual Factors", normalised by the region's
/// area): gram = sum_p w_p F_p F_p^T / sum_p w_p, mean = sum_p w_p F_p / sum_p w_p, with weights
/// [1,1,H,W] in [0,1] at the features' size. Weights of one give gram_matrix and channel_mean.
/// The mean is computed only when with_mean is set (undefined otherwise).
struct WeightedStatistics {
  at::Tensor gram;
  at::Tensor mean;
};
WeightedStatistics weighted_statistics(const at::Tensor& features, const at::Tensor& weights,
                                       bool with_mean);

/// weights [1,1,H,W] divided by their sum: the distribution region_statistics takes. Computed
/// once per mask and layer, outside the optimisation loop.
at::Tensor region_distribution(const at::Tensor& weights);

/// weighted_statistics from a region_distribution (no sum over the weights per evaluation).
WeightedStatistics region_statistics(const at::Tensor& features, const at::Tensor& distribution,
                                     bool with_mean);

/// Covariance [N,C,C] from the second-moment matrix gram_matrix(F) and the channel means:
/// G - mu mu^T.
at::Tensor covariance(const at::Tensor& gram, const at::Tensor& mean);

/// Square root of symmetric positive semi-definite matrices [N,C,C] by eigendecomposition
/// (negative rounding-error eigenvalues clamped to 0). Not for autograd: used for the targets.
at::Tensor psd_sqrt(const at::Tensor& matrix);

/// Differentiable trace of sqrt(M) for symmetric PSD matrices [N,C,C]; returns [N].
/// Newton-Schulz: coupled iteration on M/||M||_F, matrix products only (fast on a GPU, no host
/// sync; the gradient stays bounded where an eigendecomposition's would blow up). On a CPU its
/// products sink into subnormal floats for the nearly low-rank matrices deep layers give, which
/// x86 computes ~100x slower, so...
at::Tensor trace_sqrt_newton_schulz(const at::Tensor& matrix, int iterations = 15);

/// ...on the CPU: eigendecomposition in double precision; the backward pass is
/// 1/2 V diag(1/sqrt(max(lambda, 1e-6 lambda_max))) V^T, bounded like Newton-Schulz's.
at::Tensor trace_sqrt_eigh(const at::Tensor& matrix);

/// trace_sqrt_eigh on the CPU, trace_sqrt_newton_schulz elsewhere.
at::Tensor trace_sqrt(const at::Tensor& matrix);

/// Squared Wasserstein-2 distance between the Gaussians N(mean, cov) and N(target_mean,
/// target_cov), summed over the batch: |mu - mu_t|^2 + tr(S) + tr(S_t) - 2 tr sqrt(S_t^1/2 S S_t^1/2).
/// target_cov_sqrt = psd_sqrt(target_cov).
at::Tensor gaussian_w2(const at::Tensor& mean, const at::Tensor& cov, const at::Tensor& target_mean,
                       const at::Tensor& target_cov, const at::Tensor& target_cov_sqrt);

/// Identity in the forward pass; in the backward pass the incoming gradient is divided by its L1
/// norm (plus 1e-8), as in neural-style's -normalize_gradients: every loss term then pushes with
/// a gradient of the same size, its weight.
at::Tensor normalize_gradient(const at::Tensor& x);

/// Total variation of an image [N,C,H,W]: mean squared horizontal plus mean squared vertical
/// neighbour difference.
at::Tensor total_variation(const at::Tensor& image);

}  // namespace stylize
