#include <stylize/colour.hpp>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace stylize {
namespace {

TEST(colour_test, ycbcr_round_trip_and_known_values) {
  const auto image = at::rand({1, 3, 8, 9});
  EXPECT_TRUE(at::allclose(ycbcr_to_rgb(rgb_to_ycbcr(image)), image, 1e-5, 1e-5));
  auto white = at::ones({1, 3, 1, 1});
  const auto y = rgb_to_ycbcr(white);
  EXPECT_NEAR(y[0][0].item<float>(), 1.0F, 1e-5);
  EXPECT_NEAR(y[0][1].item<float>(), 0.5F, 1e-5);  // grey has no chroma
  EXPECT_NEAR(y[0][2].item<float>(), 0.5F, 1e-5);
}

TEST(colour_test, luminance_mode_keeps_the_contents_chroma) {
  // Mid-range values, so the recombined colours need no clamping.
  const auto content = at::rand({1, 3, 16, 16}) * 0.4 + 0.3;
  const auto stylized = at::rand({1, 3, 16, 16}) * 0.4 + 0.3;
  const auto result = keep_content_colours(stylized, content);
  const auto r = rgb_to_ycbcr(result);
  const auto c = rgb_to_ycbcr(content);
  const auto s = rgb_to_ycbcr(stylized);
  EXPECT_LT((r.slice(1, 1, 3) - c.slice(1, 1, 3)).abs().max().item<float>(), 0.02F);
  EXPECT_LT((r.select(1, 0) - s.select(1, 0)).abs().max().item<float>(), 0.02F);
}

TEST(colour_test, statistics_mode_matches_mean_and_covariance) {
  auto source = at::rand({1, 3, 32, 32}) * 0.3;  // dark, uncorrelated
  auto reference = at::rand({1, 1, 32, 32}).expand({1, 3, 32, 32}) * 0.5 + 0.25;
  reference = reference + at::rand({1, 3, 32, 32}) * 0.05;  // bright, strongly correlated
  const auto result = match_colour_statistics(source, reference);
  auto moments = [](const at::Tensor& t) {
    const auto p = t.reshape({3, -1});
    const auto mean = p.mean(1);
    const auto c = p - mean.unsqueeze(1);
    return std::make_pair(mean, at::mm(c, c.t()) / p.size(1));
  };
  const auto [rm, rc] = moments(result);
  const auto [fm, fc] = moments(reference);
  EXPECT_TRUE(at::allclose(rm, fm, 1e-2, 1e-2)) << rm << fm;
  EXPECT_TRUE(at::allclose(rc, fc, 5e-2, 2e-3)) << rc << fc;
}

TEST(colour_test, statistics_of_several_references_are_pooled) {
  const auto source = at::rand({1, 3, 16, 16});
  auto patch = [](float r, float g, float b, int64_t h, int64_t w) {
    return at::tensor({r, g, b}).view({1, 3, 1, 1}) + 0.05 * at::rand({1, 3, h, w});
  };
  // Same pixel count each, so the pooled mean is the average: (0.4, 0.3, 0.4) + 0.025 noise.
  const auto mean =
      match_colour_statistics(source, {patch(0.6F, 0.3F, 0.3F, 8, 8), patch(0.2F, 0.3F, 0.5F, 4, 16)})
          .mean({0, 2, 3});
  EXPECT_NEAR(mean[0].item<double>(), 0.425, 0.01);
  EXPECT_NEAR(mean[1].item<double>(), 0.325, 0.01);
  EXPECT_NEAR(mean[2].item<double>(), 0.425, 0.01);
}

}  // namespace
}  // namespace stylize
