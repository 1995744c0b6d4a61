#include <stylize/losses.hpp>

#include <ATen/ATen.h>

namespace stylize {
namespace {
// Floors the normaliser so an all-zero target (e.g. a dead ReLU layer) cannot divide by zero.
constexpr double kMinMeanSquare = 1e-8;
}  // namespace

at::Tensor gram_matrix(const at::Tensor& features) {
  const auto n = features.size(0);
  const auto c = features.size(1);
  const auto hw = features.size(2) * features.size(3);
  const auto flat = features.reshape({n, c, hw});
  return at::bmm(flat, flat.transpose(1, 2)) / static_cast<double>(hw);
}

at::Tensor mean_square(const at::Tensor& target) {
  return target.square().mean().clamp_min(kMinMeanSquare);
}

at::Tensor relative_mse(const at::Tensor& x, const at::Tensor& target,
                        const at::Tensor& target_mean_square) {
  return (x - target).square().mean() / target_mean_square;
}

at::Tensor total_variation(const at::Tensor& image) {
  using at::indexing::None;
  using at::indexing::Slice;
  const auto dx = image.index({Slice(), Slice(), Slice(), Slice(1, None)}) -
                  image.index({Slice(), Slice(), Slice(), Slice(None, -1)});
  const auto dy = image.index({Slice(), Slice(), Slice(1, None), Slice()}) -
                  image.index({Slice(), Slice(), Slice(None, -1), Slice()});
  return dx.square().mean() + dy.square().mean();
}

}  // namespace stylize
