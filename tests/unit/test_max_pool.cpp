#include "kernels/blocked_layout.hpp"
#include "kernels/max_pool.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <utility>

namespace stylize {
namespace {

/// Output and input gradient of pooling x with an upstream gradient grad.
std::pair<at::Tensor, at::Tensor> run(const at::Tensor& x, const at::Tensor& grad, bool ours) {
  auto input = x.clone().requires_grad_(true);
  auto out = ours ? max_pool_2x2(input) : at::max_pool2d(input, {2, 2}, {2, 2});
  out.backward(grad);
  return {out.detach(), input.grad()};
}

void expect_same_as_aten(const at::Tensor& x) {
  const auto grad = at::randn({x.size(0), x.size(1), x.size(2) / 2, x.size(3) / 2});
  const auto [out, grad_in] = run(x, grad, true);
  const auto [aten_out, aten_grad_in] = run(x, grad, false);
  EXPECT_TRUE(at::equal(out, aten_out)) << "sizes " << x.sizes();
  EXPECT_TRUE(at::equal(grad_in, aten_grad_in)) << "sizes " << x.sizes();
}

TEST(max_pool_test, values_and_gradient_match_aten_bit_for_bit) {
  at::manual_seed(3);
  expect_same_as_aten(at::randn({2, 3, 8, 10}));
  expect_same_as_aten(at::randn({1, 16, 64, 48}));
}

TEST(max_pool_test, odd_sizes_drop_the_last_row_and_column_like_aten) {
  at::manual_seed(4);
  const auto x = at::randn({1, 2, 7, 9});
  expect_same_as_aten(x);
  const auto [out, grad_in] = run(x, at::ones({1, 2, 3, 4}), true);
  EXPECT_EQ(out.sizes(), (at::IntArrayRef{1, 2, 3, 4}));
  EXPECT_EQ(grad_in.narrow(2, 6, 1).abs().sum().item<float>(), 0.0F);
  EXPECT_EQ(grad_in.narrow(3, 8, 1).abs().sum().item<float>(), 0.0F);
}

TEST(max_pool_test, ties_send_the_gradient_to_the_first_maximum_only) {
  // After a ReLU whole windows are 0: the gradient goes to one value per window, not four.
  auto x = at::zeros({1, 1, 4, 4});
  x[0][0][2][3] = 5.0F;
  x[0][0][3][2] = 5.0F;  // a tie in the bottom right window: the earlier (row-major) wins
  const auto [out, grad_in] = run(x, at::full({1, 1, 2, 2}, 2.0F), true);
  EXPECT_EQ(grad_in.sum().item<float>(), 8.0F) << "each window's gradient counted once";
  EXPECT_EQ(grad_in[0][0][0][0].item<float>(), 2.0F) << "the first of four zeros";
  EXPECT_EQ(grad_in[0][0][2][3].item<float>(), 2.0F);
  EXPECT_EQ(grad_in[0][0][3][2].item<float>(), 0.0F);
  expect_same_as_aten(x);
}

TEST(max_pool_test, nan_is_the_maximum_as_in_aten) {
  auto x = at::arange(16, at::kFloat).reshape({1, 1, 4, 4});
  x[0][0][1][0] = std::numeric_limits<float>::quiet_NaN();
  const auto [out, grad_in] = run(x, at::ones({1, 1, 2, 2}), true);
  EXPECT_TRUE(std::isnan(out[0][0][0][0].item<float>()));
  EXPECT_EQ(grad_in[0][0][1][0].item<float>(), 1.0F);
  EXPECT_EQ(out[0][0][1][1].item<float>(), 15.0F);
}

TEST(max_pool_test, other_dtypes_and_layouts_run_atens) {
  at::manual_seed(5);
  const auto x = at::randn({1, 2, 6, 6}, at::kDouble);
  const auto grad = at::randn({1, 2, 3, 3}, at::kDouble);
  const auto [out, grad_in] = run(x, grad, true);
  const auto [aten_out, aten_grad_in] = run(x, grad, false);
  EXPECT_TRUE(at::equal(out, aten_out));
  EXPECT_TRUE(at::equal(grad_in, aten_grad_in));
  const auto strided = at::randn({1, 2, 6, 12}).narrow(3, 0, 6);  // not contiguous
  EXPECT_TRUE(at::equal(max_pool_2x2(strided), at::max_pool2d(strided, {2, 2}, {2, 2})));
}

/// relu_max_pool_2x2_blocked against relu() then max_pool_2x2() on NCHW: values and input
/// gradients, bit for bit.
void expect_blocked_relu_pool_matches(const at::Tensor& x) {
  const auto grad = at::randn({x.size(0), x.size(1), x.size(2) / 2, x.size(3) / 2});
  auto blocked_input = to_blocked(x).requires_grad_(true);
  const auto blocked_out = relu_max_pool_2x2_blocked(blocked_input);
  blocked_out.backward(to_blocked(grad));
  auto input = x.clone().requires_grad_(true);
  const auto out = max_pool_2x2(at::relu(input));
  out.backward(grad);
  EXPECT_TRUE(at::equal(from_blocked(blocked_out.detach()), out.detach())) << "sizes " << x.sizes();
  EXPECT_TRUE(at::equal(from_blocked(blocked_input.grad()), input.grad())) << "sizes " << x.sizes();
}

TEST(max_pool_test, blocked_relu_and_pooling_match_relu_then_pooling) {
  at::manual_seed(6);
  expect_blocked_relu_pool_matches(at::randn({1, 16, 8, 10}));
  expect_blocked_relu_pool_matches(at::randn({2, 48, 33, 47}));  // odd sizes, a batch
  // Mostly negative: whole windows are 0 after the ReLU and get no gradient.
  expect_blocked_relu_pool_matches(at::randn({1, 32, 12, 12}) - 1.5);
  auto ties = at::zeros({1, 16, 4, 4});
  ties[0][3][2][3] = 5.0F;
  ties[0][3][3][2] = 5.0F;  // a tie: the earlier (row-major) takes the gradient
  expect_blocked_relu_pool_matches(ties);
  const auto [out, grad_in] = [&] {
    auto input = to_blocked(ties).requires_grad_(true);
    auto pooled = relu_max_pool_2x2_blocked(input);
    pooled.backward(at::ones_like(pooled));
    return std::make_pair(from_blocked(pooled.detach()), from_blocked(input.grad()));
  }();
  EXPECT_EQ(out.sizes(), (at::IntArrayRef{1, 16, 2, 2}));
  EXPECT_EQ(grad_in.sum().item<float>(), 1.0F) << "one window above zero, its first maximum";
  EXPECT_EQ(grad_in[0][3][2][3].item<float>(), 1.0F);
}

TEST(max_pool_test, blocked_relu_and_pooling_keep_nan) {
  auto x = at::randn({1, 16, 4, 4});
  x[0][5][1][0] = std::numeric_limits<float>::quiet_NaN();
  const auto out = from_blocked(relu_max_pool_2x2_blocked(to_blocked(x)));
  EXPECT_TRUE(std::isnan(out[0][5][0][0].item<float>()));
  EXPECT_EQ(out.isnan().sum().item<int64_t>(), 1);
}

}  // namespace
}  // namespace stylize
