#include "kernels/first_conv.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <utility>

namespace stylize {
namespace {

/// Output and input gradient for upstream gradient grad, through ours or ATen's convolution.
std::pair<at::Tensor, at::Tensor> run(const at::Tensor& x, const at::Tensor& weight,
                                      const at::Tensor& bias, const at::Tensor& grad, bool ours) {
  auto input = x.clone().requires_grad_(true);
  auto out = ours ? conv3x3_few_channels(input, weight, bias) : at::conv2d(input, weight, bias, 1, 1);
  out.backward(grad);
  return {out.detach(), input.grad()};
}

void expect_like_aten(int64_t batch, int64_t channels, int64_t outputs, int64_t h, int64_t w) {
  const auto x = at::randn({batch, channels, h, w});
  const auto weight = at::randn({outputs, channels, 3, 3});
  const auto bias = at::randn({outputs});
  const auto grad = at::randn({batch, outputs, h, w});
  const auto [out, grad_in] = run(x, weight, bias, grad, true);
  const auto [aten_out, aten_grad_in] = run(x, weight, bias, grad, false);
  EXPECT_TRUE(at::equal(out, aten_out)) << "the forward pass is ATen's";
  const double scale = aten_grad_in.abs().max().item<double>();
  EXPECT_LT((grad_in - aten_grad_in).abs().max().item<double>(), 1e-5 * scale)
      << batch << "x" << channels << "x" << h << "x" << w;
}

TEST(first_conv_test, input_gradient_matches_atens) {
  at::manual_seed(11);
  expect_like_aten(1, 3, 64, 34, 51);  // conv1_1's shape, odd sizes
  expect_like_aten(2, 3, 8, 5, 7);     // a batch
  expect_like_aten(1, 1, 4, 3, 3);     // the smallest map: every pixel is on the border
  expect_like_aten(1, 4, 16, 9, 2);
}

TEST(first_conv_test, a_hand_computed_gradient) {
  // One input channel, one output, the weight picks the left neighbour (kw = 0 reads x - 1):
  // y[p] = x[p - 1], so dL/dx[q] = g[q + 1], and the last column gets nothing.
  auto weight = at::zeros({1, 1, 3, 3});
  weight[0][0][1][0] = 1.0F;
  const auto x = at::zeros({1, 1, 2, 3});
  const auto grad = at::arange(1, 7, at::kFloat).reshape({1, 1, 2, 3});
  const auto [out, grad_in] = run(x, weight, at::zeros({1}), grad, true);
  const auto expected = at::tensor({2.0F, 3.0F, 0.0F, 5.0F, 6.0F, 0.0F}).reshape({1, 1, 2, 3});
  EXPECT_TRUE(at::equal(grad_in, expected)) << grad_in;
}

TEST(first_conv_test, more_channels_or_trainable_weights_run_atens_convolution) {
  at::manual_seed(12);
  const auto x = at::randn({1, 8, 6, 6});
  const auto weight = at::randn({4, 8, 3, 3});
  const auto grad = at::randn({1, 4, 6, 6});
  const auto [out, grad_in] = run(x, weight, at::Tensor(), grad, true);
  const auto [aten_out, aten_grad_in] = run(x, weight, at::Tensor(), grad, false);
  EXPECT_TRUE(at::equal(grad_in, aten_grad_in)) << "ATen's arithmetic, bit for bit";

  auto trainable = at::randn({2, 3, 3, 3}).requires_grad_(true);
  conv3x3_few_channels(at::randn({1, 3, 5, 5}), trainable, at::Tensor()).sum().backward();
  ASSERT_TRUE(trainable.grad().defined()) << "a weight that wants a gradient gets one";
}

}  // namespace
}  // namespace stylize
