#include <stylize/losses.hpp>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace stylize {
namespace {

TEST(losses_test, gram_matrix_matches_hand_computation) {
  // Two channels over a 1x2 image: f0 = (1, 2), f1 = (3, 4).
  const auto features = at::tensor({1.0F, 2.0F, 3.0F, 4.0F}).reshape({1, 2, 1, 2});
  const auto gram = gram_matrix(features);
  ASSERT_EQ(gram.sizes(), (at::IntArrayRef{1, 2, 2}));
  // G = F F^T / (H*W): [[1+4, 3+8], [3+8, 9+16]] / 2
  EXPECT_FLOAT_EQ(gram[0][0][0].item<float>(), 2.5F);
  EXPECT_FLOAT_EQ(gram[0][0][1].item<float>(), 5.5F);
  EXPECT_FLOAT_EQ(gram[0][1][0].item<float>(), 5.5F);
  EXPECT_FLOAT_EQ(gram[0][1][1].item<float>(), 12.5F);
}

TEST(losses_test, gram_matrix_is_independent_of_image_size) {
  const auto small = at::rand({1, 4, 3, 5});
  const auto tiled = small.repeat({1, 1, 2, 2});  // same statistics, 4x the pixels
  EXPECT_TRUE(at::allclose(gram_matrix(small), gram_matrix(tiled), 1e-5, 1e-6));
}

TEST(losses_test, relative_mse_matches_hand_computation) {
  const auto target = at::tensor({1.0F, -1.0F, 2.0F, 0.0F});
  const auto x = at::tensor({2.0F, -1.0F, 0.0F, 1.0F});
  // mean((x-t)^2) = (1 + 0 + 4 + 1) / 4 = 1.5; mean(t^2) = (1 + 1 + 4 + 0) / 4 = 1.5
  const auto loss = relative_mse(x, target, mean_square(target));
  EXPECT_FLOAT_EQ(loss.item<float>(), 1.0F);
  EXPECT_FLOAT_EQ(relative_mse(target, target, mean_square(target)).item<float>(), 0.0F);
}

TEST(losses_test, relative_mse_is_scale_invariant) {
  const auto target = at::rand({10});
  const auto x = at::rand({10});
  const auto base = relative_mse(x, target, mean_square(target)).item<float>();
  const auto scaled = relative_mse(x * 255, target * 255, mean_square(target * 255)).item<float>();
  EXPECT_NEAR(base, scaled, 1e-4 * base);
}

TEST(losses_test, mean_square_of_zeros_is_floored) {
  EXPECT_GT(mean_square(at::zeros({3})).item<float>(), 0.0F);
}

TEST(losses_test, total_variation_matches_hand_computation) {
  // 1x1x2x2 image [[0, 1], [2, 4]]: dx = (1, 2), dy = (2, 3)
  const auto image = at::tensor({0.0F, 1.0F, 2.0F, 4.0F}).reshape({1, 1, 2, 2});
  // mean(dx^2) = (1 + 4) / 2 = 2.5; mean(dy^2) = (4 + 9) / 2 = 6.5
  EXPECT_FLOAT_EQ(total_variation(image).item<float>(), 9.0F);
  EXPECT_FLOAT_EQ(total_variation(at::ones({1, 3, 4, 4})).item<float>(), 0.0F);
}

}  // namespace
}  // namespace stylize
