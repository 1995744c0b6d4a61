#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stylize/errors.hpp>

#include "kernels/blocked_layout.hpp"
#include "kernels/winograd_conv.hpp"
#include "test_support.hpp"

namespace stylize {
namespace {

/// Skips the test where this build or CPU has no Winograd convolutions.
#define SKIP_WITHOUT_WINOGRAD()                                                       \
  do {                                                                                \
    if (const auto reason = WinogradConv3x3::unavailable_reason(); !reason.empty()) { \
      GTEST_SKIP() << reason;                                                         \
    }                                                                                 \
  } while (false)

float max_relative_error(const at::Tensor& got, const at::Tensor& expected) {
  return ((got - expected).abs().max() / expected.abs().max()).item<float>();
}

TEST(winograd_conv_test, forward_matches_atens_convolution) {
  SKIP_WITHOUT_WINOGRAD();
  torch::manual_seed(3);
  const auto weight = torch::randn({48, 32, 3, 3}) * 0.1;
  const auto bias = torch::randn({48});
  const auto x = torch::randn({2, 32, 37, 30});  // batch of two, odd size, not a tile multiple
  const auto conv = WinogradConv3x3::create(weight, bias);
  const auto got = conv->forward(x);
  const auto expected = at::conv2d(x, weight, bias, 1, 1);
  ASSERT_EQ(got.sizes(), expected.sizes());
  EXPECT_LT(max_relative_error(got, expected), 1e-5F);
  EXPECT_FALSE(got.requires_grad()) << "no graph for an input without gradient";
  // The Winograd kernels computed it, not ATen's fallback: the same input wanting a gradient
  // gets their backward node, which only the kernels' path attaches, and the same numbers.
  const auto tracked = conv->forward(x.clone().requires_grad_(true));
  ASSERT_TRUE(tracked.requires_grad());
  EXPECT_EQ(tracked.grad_fn()->name(), "WinogradConv3x3Backward");
  EXPECT_TRUE(torch::equal(tracked.detach(), got));
  const auto other_size = torch::randn({1, 32, 40, 27});  // a second plan in the same object
  EXPECT_LT(
      max_relative_error(conv->forward(other_size), at::conv2d(other_size, weight, bias, 1, 1)),
      1e-5F);
}

TEST(winograd_conv_test, input_gradient_matches_autograd_of_atens_convolution) {
  SKIP_WITHOUT_WINOGRAD();
  torch::manual_seed(4);
  const auto weight = torch::randn({32, 64, 3, 3}) * 0.1;
  const auto bias = torch::randn({32});
  const auto image = torch::randn({1, 64, 33, 34});
  const auto upstream = torch::randn({1, 32, 33, 34});
  auto ours = image.clone().requires_grad_(true);
  auto theirs = image.clone().requires_grad_(true);
  const auto out = WinogradConv3x3::create(weight, bias)->forward(ours * 2.0);
  ASSERT_TRUE(out.requires_grad());
  EXPECT_EQ(out.grad_fn()->name(), "WinogradConv3x3Backward");
  (out * upstream).sum().backward();
  (at::conv2d(theirs * 2.0, weight, bias, 1, 1) * upstream).sum().backward();
  ASSERT_TRUE(ours.grad().defined());
  EXPECT_LT(max_relative_error(ours.grad(), theirs.grad()), 1e-5F);
}

TEST(winograd_conv_test, blocked_inputs_and_outputs_give_the_same_numbers) {
  SKIP_WITHOUT_WINOGRAD();
  torch::manual_seed(7);
  const auto weight = torch::randn({32, 16, 3, 3}) * 0.1;
  const auto bias = torch::randn({32});
  const auto conv = WinogradConv3x3::create(weight, bias);
  // 40x36 runs the kernels, 30x30 ATen's convolution (through the layout conversions).
  for (const auto& image : {torch::randn({1, 16, 40, 36}), torch::randn({1, 16, 30, 30})}) {
    const auto upstream = torch::randn({1, 32, image.size(2), image.size(3)});
    auto plain_input = image.clone().requires_grad_(true);
    const auto plain = conv->forward(plain_input);
    (plain * upstream).sum().backward();
    for (const bool blocked_in : {false, true}) {
      for (const bool blocked_out : {false, true}) {
        auto input = (blocked_in ? to_blocked(image) : image.clone()).requires_grad_(true);
        const auto out = conv->forward(input, blocked_out);
        ASSERT_EQ(is_blocked(out), blocked_out);
        const auto out_plain = blocked_out ? from_blocked(out) : out;
        (out_plain * upstream).sum().backward();
        ASSERT_EQ(is_blocked(input.grad()), blocked_in) << "the gradient in the input's layout";
        const auto grad = blocked_in ? from_blocked(input.grad()) : input.grad();
        const auto where = "blocked in " + std::to_string(blocked_in) + ", out " +
                           std::to_string(blocked_out) + ", " + std::to_string(image.size(2));
        EXPECT_TRUE(torch::equal(out_plain, plain)) << where;
        EXPECT_TRUE(torch::equal(grad, plain_input.grad())) << where;
      }
    }
  }
}

// Wide layers sum over more channels: F(4x4, 3x3) in fp32 differs from ATen's direct
// convolution by ~2e-5 of the largest value at 256-512 channels (ATen's own error against fp64
// is ~2e-6 there; stylize_conv_bench prints both passes' for every VGG-19 layer).
TEST(winograd_conv_test, wide_layers_agree_in_both_passes) {
  SKIP_WITHOUT_WINOGRAD();
  torch::manual_seed(5);
  const auto weight = torch::randn({256, 512, 3, 3}) * 0.02;
  const auto bias = torch::randn({256});
  const auto image = torch::randn({1, 512, 36, 36});
  const auto upstream = torch::randn({1, 256, 36, 36});
  auto ours = image.clone().requires_grad_(true);
  auto theirs = image.clone().requires_grad_(true);
  const auto got = WinogradConv3x3::create(weight, bias)->forward(ours);
  const auto expected = at::conv2d(theirs, weight, bias, 1, 1);
  EXPECT_LT(max_relative_error(got.detach(), expected.detach()), 4e-5F);
  (got * upstream).sum().backward();
  (expected * upstream).sum().backward();
  EXPECT_LT(max_relative_error(ours.grad(), theirs.grad()), 4e-5F);
}

TEST(winograd_conv_test, small_feature_maps_go_to_atens_convolution) {
  SKIP_WITHOUT_WINOGRAD();
  torch::manual_seed(6);
  const auto weight = torch::randn({16, 16, 3, 3});
  const auto bias = torch::randn({16});
  const auto conv = WinogradConv3x3::create(weight, bias);
  const int64_t least = conv->min_feature_pixels();
  const auto x = torch::randn({1, 16, 3, (least - 1) / 3}).requires_grad_(true);  // just below
  const auto out = conv->forward(x);
  EXPECT_TRUE(torch::equal(out, at::conv2d(x, weight, bias, 1, 1)));
  EXPECT_NE(out.grad_fn()->name(), "WinogradConv3x3Backward");
  const auto enough = torch::randn({1, 16, 3, (least + 2) / 3}).requires_grad_(true);
  EXPECT_EQ(conv->forward(enough).grad_fn()->name(), "WinogradConv3x3Backward");
}

TEST(winograd_conv_test, rejects_weights_it_cannot_run) {
  SKIP_WITHOUT_WINOGRAD();
  EXPECT_ERROR_MSG(WinogradConv3x3::create(torch::zeros({64, 3, 3, 3}), torch::zeros({64})),
                   ConfigError,
                   "Winograd convolution needs weights [O,I,3,3] with O and I multiples of 16 "
                   "(got [64, 3, 3, 3])");
  EXPECT_ERROR_MSG(WinogradConv3x3::create(torch::zeros({16, 16, 3, 3}), torch::zeros({8})),
                   ConfigError, "Winograd convolution needs a bias of 16 values (got [8])");
  EXPECT_ERROR_MSG(
      WinogradConv3x3::create(torch::zeros({16, 16, 3, 3}, torch::kDouble), torch::zeros({16})),
      ConfigError, "Winograd convolution runs on fp32 CPU tensors only");
  EXPECT_FALSE(WinogradConv3x3::suits(torch::zeros({64, 64, 5, 5})));
  EXPECT_TRUE(WinogradConv3x3::suits(torch::zeros({512, 256, 3, 3})));
}

}  // namespace
}  // namespace stylize
