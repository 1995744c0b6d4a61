#include <stylize/colour.hpp>

#include <ATen/ATen.h>

namespace stylize {
namespace {

/// Applies a 3x3 matrix to the channels of [N,3,H,W] and adds offset [3].
at::Tensor mix_channels(const at::Tensor& image, const at::Tensor& matrix,
                        const at::Tensor& offset) {
  const auto m = matrix.to(image.options());
  const auto o = offset.to(image.options()).view({1, 3, 1, 1});
  return at::einsum("ij,njhw->nihw", {m, image}) + o;
}

at::Tensor ycbcr_matrix() {
  return at::tensor({0.299F, 0.587F, 0.114F,            //
                     -0.168736F, -0.331264F, 0.5F,      //
                     0.5F, -0.418688F, -0.081312F})
      .view({3, 3});
}

/// Mean [3] and covariance [3,3] of the pixels of [1,3,H,W].
std::pair<at::Tensor, at::Tensor> colour_moments(const at::Tensor& image) {
  const auto pixels = image.reshape({3, -1}).to(at::kDouble);
  const auto mean = pixels.mean(1);
  const auto centred = pixels - mean.unsqueeze(1);
  const auto cov = at::mm(centred, centred.t()) / static_cast<double>(pixels.size(1));
  return {mean, cov + at::eye(3, cov.options()) * 1e-5};  // keeps flat images invertible
}

/// Symmetric matrix power via the eigendecomposition.
at::Tensor matrix_power_sym(const at::Tensor& matrix, double power) {
  const auto [values, vectors] = at::linalg_eigh(matrix);
  return at::mm(vectors * values.clamp_min(1e-10).pow(power).unsqueeze(0), vectors.t());
}

}  // namespace

at::Tensor rgb_to_ycbcr(const at::Tensor& rgb01) {
  return mix_channels(rgb01, ycbcr_matrix(), at::tensor({0.0F, 0.5F, 0.5F}));
}

at::Tensor ycbcr_to_rgb(const at::Tensor& ycbcr) {
  const auto inverse = at::linalg_inv(ycbcr_matrix().to(at::kDouble)).to(at::kFloat);
  const auto centred = ycbcr - at::tensor({0.0F, 0.5F, 0.5F}, ycbcr.options()).view({1, 3, 1, 1});
  return mix_channels(centred, inverse, at::zeros({3}));
}

at::Tensor keep_content_colours(const at::Tensor& stylized_rgb01,
                                const at::Tensor& content_rgb01) {
  auto mixed = rgb_to_ycbcr(content_rgb01.to(stylized_rgb01.options()));
  mixed.select(1, 0).copy_(rgb_to_ycbcr(stylized_rgb01).select(1, 0));
  return ycbcr_to_rgb(mixed).clamp(0.0, 1.0);
}

at::Tensor match_colour_statistics(const at::Tensor& source_rgb01,
                                   const at::Tensor& reference_rgb01) {
  const auto [source_mean, source_cov] = colour_moments(source_rgb01);
  const auto [reference_mean, reference_cov] = colour_moments(reference_rgb01);
  const auto transform =
      at::mm(matrix_power_sym(reference_cov, 0.5), matrix_power_sym(source_cov, -0.5));
  const auto offset = reference_mean - at::mv(transform, source_mean);
  return mix_channels(source_rgb01, transform.to(at::kFloat), offset.to(at::kFloat))
      .clamp(0.0, 1.0);
}

at::Tensor match_colour_statistics(const at::Tensor& source_rgb01,
                                   const std::vector<at::Tensor>& references_rgb01) {
  std::vector<at::Tensor> pixels;
  for (const auto& reference : references_rgb01) pixels.push_back(reference.reshape({1, 3, 1, -1}));
  return match_colour_statistics(source_rgb01, at::cat(pixels, 3));
}

}  // namespace stylize
