#include <stylize/losses.hpp>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

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

TEST(losses_test, gram_matrix_gradient_matches_autograd_of_the_product) {
  // gram_matrix has a hand-written backward; autograd through the plain product is the reference.
  // The upstream gradient is deliberately not symmetric.
  const auto features = at::rand({2, 5, 3, 4});
  const auto upstream = at::randn({2, 5, 5});
  const auto ours = features.clone().requires_grad_(true);
  (gram_matrix(ours) * upstream).sum().backward();
  const auto reference = features.clone().requires_grad_(true);
  const auto flat = reference.reshape({2, 5, 12});
  ((at::bmm(flat, flat.transpose(1, 2)) / 12.0) * upstream).sum().backward();
  EXPECT_TRUE(at::allclose(ours.grad(), reference.grad(), 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(
      gram_matrix(features),
      at::bmm(features.reshape({2, 5, 12}), features.reshape({2, 5, 12}).transpose(1, 2)) / 12.0));
}

TEST(losses_test, gram_tap_passes_features_on_and_sums_both_gradients) {
  const auto features = at::rand({1, 6, 4, 5});
  const auto upstream_gram = at::randn({1, 6, 6});
  const auto upstream_pass = at::randn({1, 6, 4, 5});
  auto ours = features.clone().requires_grad_(true);
  auto [pass_on, gram] = gram_tap(ours);
  EXPECT_TRUE(at::equal(pass_on, features));
  EXPECT_TRUE(at::allclose(gram, gram_matrix(features)));
  // The network after the tap: a product, whose backward hands the tap a fresh gradient.
  ((pass_on * upstream_pass).sum() + (gram * upstream_gram).sum()).backward();
  auto reference = features.clone().requires_grad_(true);
  ((reference * upstream_pass).sum() + (gram_matrix(reference) * upstream_gram).sum()).backward();
  EXPECT_TRUE(at::allclose(ours.grad(), reference.grad(), 1e-5, 1e-6));
  // Only one of the two outputs used: each gradient alone.
  for (const bool use_gram : {false, true}) {
    auto x = features.clone().requires_grad_(true);
    auto [p, g] = gram_tap(x);
    (use_gram ? (g * upstream_gram).sum() : (p * upstream_pass).sum()).backward();
    auto y = features.clone().requires_grad_(true);
    (use_gram ? (gram_matrix(y) * upstream_gram).sum() : (y * upstream_pass).sum()).backward();
    EXPECT_TRUE(at::allclose(x.grad(), y.grad(), 1e-5, 1e-6)) << "use_gram " << use_gram;
  }
  // A gradient arriving at the pass-through that something else still holds is not overwritten.
  auto x = features.clone().requires_grad_(true);
  auto [p, g] = gram_tap(x);
  const auto shared = upstream_pass.clone();
  torch::autograd::backward({p, g}, {shared, upstream_gram});
  EXPECT_TRUE(at::equal(shared, upstream_pass));
  EXPECT_TRUE(at::allclose(x.grad(), reference.grad(), 1e-5, 1e-6));
}

TEST(losses_test, relative_mse_matches_hand_computation) {
  const auto target = at::tensor({1.0F, -1.0F, 2.0F, 0.0F});
  const auto x = at::tensor({2.0F, -1.0F, 0.0F, 1.0F});
  // mean((x-t)^2) = (1 + 0 + 4 + 1) / 4 = 1.5; mean(t^2) = (1 + 1 + 4 + 0) / 4 = 1.5
  const auto loss = relative_mse(x, target, mean_square(target));
  EXPECT_FLOAT_EQ(loss.item<float>(), 1.0F);
  EXPECT_FLOAT_EQ(relative_mse(target, target, mean_square(target)).item<float>(), 0.0F);
}

TEST(losses_test, one_pass_losses_match_atens_expressions_and_gradients) {
  // Content-sized features (the one-pass CPU path, several threads' chunks and a ragged end)
  // and an image with odd sizes for the total variation; double precision ATen as reference.
  at::manual_seed(9);
  const auto features = at::randn({1, 32, 37, 53});
  const auto target = at::randn({1, 32, 37, 53});
  const auto mean_sq = mean_square(target);
  auto x = features.clone().requires_grad_(true);
  const auto loss = relative_mse(x, target, mean_sq);
  loss.backward();
  auto xd = features.to(at::kDouble).requires_grad_(true);
  const auto expected = (xd - target.to(at::kDouble)).square().mean() / mean_sq.to(at::kDouble);
  expected.backward();
  EXPECT_NEAR(loss.item<double>(), expected.item<double>(), 1e-6 * expected.item<double>());
  EXPECT_TRUE(at::allclose(x.grad(), xd.grad().to(at::kFloat), 1e-5, 1e-9));

  const auto image = at::rand({2, 3, 19, 26});
  auto im = image.clone().requires_grad_(true);
  const auto tv = total_variation(im);
  (tv * 3.0).backward();
  auto imd = image.to(at::kDouble).requires_grad_(true);
  using at::indexing::None;
  using at::indexing::Slice;
  const auto dx = imd.index({Slice(), Slice(), Slice(), Slice(1, None)}) -
                  imd.index({Slice(), Slice(), Slice(), Slice(None, -1)});
  const auto dy = imd.index({Slice(), Slice(), Slice(1, None), Slice()}) -
                  imd.index({Slice(), Slice(), Slice(None, -1), Slice()});
  const auto tv_expected = dx.square().mean() + dy.square().mean();
  (tv_expected * 3.0).backward();
  EXPECT_NEAR(tv.item<double>(), tv_expected.item<double>(), 1e-6 * tv_expected.item<double>());
  EXPECT_TRUE(at::allclose(im.grad(), imd.grad().to(at::kFloat), 1e-5, 1e-9));
  // NaN anywhere makes both losses NaN (how a diverged run is noticed).
  auto bad = features.clone();
  bad[0][3][5][7] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(relative_mse(bad, target, mean_sq).item<float>()));
  auto bad_image = image.clone();
  bad_image[1][2][18][25] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(total_variation(bad_image).item<float>()));
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

/// A covariance-like PSD matrix [1,n,n] with eigenvalues spread over four decades.
at::Tensor spread_psd(int n) {
  torch::manual_seed(3);
  const auto q = std::get<0>(at::linalg_qr(at::randn({n, n}, at::kDouble)));
  const auto eigen = at::logspace(-4, 0, n, 10.0, at::kDouble);
  return at::matmul(q * eigen.unsqueeze(0), q.t()).unsqueeze(0).to(at::kFloat);
}

TEST(losses_test, channel_mean_and_covariance_match_hand_computation) {
  // f0 = (1, 3), f1 = (2, 2): means (2, 2); cov = [[1, 0], [0, 0]]
  const auto features = at::tensor({1.0F, 3.0F, 2.0F, 2.0F}).reshape({1, 2, 1, 2});
  const auto mean = channel_mean(features);
  EXPECT_TRUE(at::allclose(mean, at::tensor({2.0F, 2.0F}).view({1, 2})));
  const auto cov = covariance(gram_matrix(features), mean);
  EXPECT_TRUE(at::allclose(cov, at::tensor({1.0F, 0.0F, 0.0F, 0.0F}).view({1, 2, 2}), 1e-6,
                           1e-6));
}

TEST(losses_test, weighted_statistics_of_a_region_are_those_of_its_features_alone) {
  const auto features = at::rand({1, 5, 6, 8});
  const auto all = weighted_statistics(features, at::ones({1, 1, 6, 8}), true);
  EXPECT_TRUE(at::allclose(all.gram, gram_matrix(features), 1e-5, 1e-7));
  EXPECT_TRUE(at::allclose(all.mean, channel_mean(features), 1e-5, 1e-7));
  auto left = at::zeros({1, 1, 6, 8});
  left.narrow(3, 0, 3).fill_(1.0);
  const auto region = weighted_statistics(features, left, true);
  const auto cropped = features.narrow(3, 0, 3).contiguous();
  EXPECT_TRUE(at::allclose(region.gram, gram_matrix(cropped), 1e-5, 1e-7));
  EXPECT_TRUE(at::allclose(region.mean, channel_mean(cropped), 1e-5, 1e-7));
  EXPECT_FALSE(weighted_statistics(features, left, false).mean.defined());
  // Grey weights count pixels in part: half weight everywhere is the same distribution.
  const auto half = weighted_statistics(features, at::full({1, 1, 6, 8}, 0.5), true);
  EXPECT_TRUE(at::allclose(half.gram, all.gram, 1e-5, 1e-7));
}

TEST(losses_test, psd_sqrt_squares_back_to_the_matrix) {
  const auto m = spread_psd(24);
  const auto root = psd_sqrt(m);
  EXPECT_TRUE(at::allclose(at::bmm(root, root), m, 1e-4, 1e-5));
}

TEST(losses_test, trace_sqrt_matches_the_eigenvalues_both_ways) {
  const auto m = spread_psd(64);
  const double exact = at::linalg_eigvalsh(m.to(at::kDouble)).clamp_min(0).sqrt().sum().item<double>();
  EXPECT_NEAR(trace_sqrt_newton_schulz(m).item<double>(), exact, 1e-3 * exact);
  EXPECT_NEAR(trace_sqrt_eigh(m).item<double>(), exact, 1e-5 * exact);
  EXPECT_NEAR(trace_sqrt(m).item<double>(), exact, 1e-5 * exact);
}

TEST(losses_test, trace_sqrt_gradient_is_half_the_inverse_root) {
  // d tr sqrt(M) / dM = M^(-1/2) / 2 for a well-conditioned SPD matrix; both ways agree.
  const auto q = std::get<0>(at::linalg_qr(at::randn({16, 16}, at::kDouble)));
  const auto m = at::matmul(q * at::linspace(0.5, 2.0, 16, at::kDouble).unsqueeze(0), q.t())
                     .unsqueeze(0)
                     .to(at::kFloat);
  const auto expected = at::linalg_inv(psd_sqrt(m)) * 0.5;
  for (int way = 0; way < 2; ++way) {
    auto x = m.clone().requires_grad_(true);
    (way == 0 ? trace_sqrt_eigh(x) : trace_sqrt_newton_schulz(x)).sum().backward();
    EXPECT_TRUE(at::allclose(x.grad(), expected, 1e-3, 1e-4)) << "way " << way;
  }
}

TEST(losses_test, trace_sqrt_eigh_gradient_is_bounded_for_singular_matrices) {
  const auto v = at::randn({1, 32, 2});
  auto x = at::bmm(v, v.transpose(1, 2)).requires_grad_(true);  // rank 2 of 32
  trace_sqrt_eigh(x).sum().backward();
  EXPECT_TRUE(x.grad().isfinite().all().item<bool>());
}

TEST(losses_test, w2_is_zero_for_equal_statistics_and_the_second_moment_for_zero_features) {
  const auto features = at::relu(at::randn({1, 8, 6, 6}) + 0.2);
  const auto gram = gram_matrix(features);
  const auto mean = channel_mean(features);
  const auto cov = covariance(gram, mean);
  const auto root = psd_sqrt(cov);
  const double self = gaussian_w2(mean, cov, mean, cov, root).item<double>();
  const double trace = gram.diagonal(0, 1, 2).sum().item<double>();
  EXPECT_NEAR(self, 0.0, 1e-3 * trace);
  // Zero features: |mu_t|^2 + tr(S_t) = tr(G_t).
  const auto zero_mean = at::zeros_like(mean);
  const auto zero_cov = at::zeros_like(cov);
  EXPECT_NEAR(gaussian_w2(zero_mean, zero_cov, mean, cov, root).item<double>(), trace,
              1e-3 * trace);
}

TEST(losses_test, w2_gradient_is_finite_and_descends) {
  const auto target = at::relu(at::randn({1, 8, 6, 6}) + 0.2);
  const auto t_mean = channel_mean(target);
  const auto t_cov = covariance(gram_matrix(target), t_mean);
  const auto root = psd_sqrt(t_cov);
  auto x = (at::relu(at::randn({1, 8, 6, 6}))).requires_grad_(true);
  auto w2 = [&](const at::Tensor& f) {
    const auto mean = channel_mean(f);
    return gaussian_w2(mean, covariance(gram_matrix(f), mean), t_mean, t_cov, root);
  };
  const auto before = w2(x);
  before.backward();
  ASSERT_TRUE(x.grad().isfinite().all().item<bool>());
  torch::NoGradGuard no_grad;
  const auto after = w2(x - 0.01 * x.grad());
  EXPECT_LT(after.item<double>(), before.item<double>());
}

TEST(losses_test, normalize_gradient_is_identity_forward_and_unit_l1_backward) {
  auto x = at::randn({2, 3, 4, 4}).requires_grad_(true);
  const auto y = normalize_gradient(x);
  EXPECT_TRUE(at::equal(y, x));
  (y * at::randn({2, 3, 4, 4}) * 1000.0).sum().mul(7.0).backward();
  EXPECT_NEAR(x.grad().abs().sum().item<double>(), 1.0, 1e-5);
}

}  // namespace
}  // namespace stylize
