#include <stylize/masks.hpp>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace stylize {
namespace {

/// A [1,1,h,w] mask: 1 in the left `left_columns` columns, 0 elsewhere.
at::Tensor left_mask(std::int64_t h, std::int64_t w, std::int64_t left_columns) {
  auto mask = at::zeros({1, 1, h, w});
  mask.narrow(3, 0, left_columns).fill_(1.0);
  return mask;
}

float at_column(const at::Tensor& mask, std::int64_t column) {
  return mask[0][0][0][column].item<float>();
}

TEST(masks_test, weights_come_from_alpha_when_it_is_not_opaque_else_from_brightness) {
  auto rgb = at::zeros({1, 3, 2, 2});
  rgb[0][0].fill_(1.0);  // pure red: luminance 0.299
  auto alpha = at::ones({1, 1, 2, 2});
  EXPECT_NEAR(mask_weights(rgb, alpha).max().item<float>(), 0.299F, 1e-6F) << "opaque alpha";
  EXPECT_NEAR(mask_weights(rgb, {}).min().item<float>(), 0.299F, 1e-6F);
  alpha[0][0][0][0] = 0.25;
  const auto from_alpha = mask_weights(rgb, alpha);
  EXPECT_FLOAT_EQ(from_alpha[0][0][0][0].item<float>(), 0.25F);
  EXPECT_FLOAT_EQ(from_alpha[0][0][1][1].item<float>(), 1.0F);
  EXPECT_EQ(from_alpha.sizes(), (at::IntArrayRef{1, 1, 2, 2}));
}

TEST(masks_test, resizing_averages_areas_when_shrinking_and_interpolates_when_growing) {
  const auto shrunk = resize_mask(left_mask(4, 8, 4), 2, 4);
  EXPECT_EQ(shrunk.sizes(), (at::IntArrayRef{1, 1, 2, 4}));
  EXPECT_TRUE(at::equal(shrunk, left_mask(2, 4, 2)));
  // A boundary inside a cell gives that cell the share of its area in the region.
  EXPECT_FLOAT_EQ(at_column(resize_mask(left_mask(2, 6, 3), 1, 2), 0), 1.0F);
  EXPECT_NEAR(at_column(resize_mask(left_mask(2, 6, 2), 1, 2), 0), 2.0F / 3.0F, 1e-6F);
  const auto grown = resize_mask(left_mask(2, 4, 2), 5, 9);
  EXPECT_EQ(grown.sizes(), (at::IntArrayRef{1, 1, 5, 9}));
  EXPECT_GE(grown.min().item<float>(), 0.0F);
  EXPECT_LE(grown.max().item<float>(), 1.0F);
  EXPECT_FLOAT_EQ(at_column(grown, 0), 1.0F);
  EXPECT_FLOAT_EQ(at_column(grown, 8), 0.0F);
  // Mixed: one side shrinks, the other grows.
  EXPECT_EQ(resize_mask(left_mask(8, 2, 1), 4, 6).sizes(), (at::IntArrayRef{1, 1, 4, 6}));
}

TEST(masks_test, aspect_ratios_more_than_one_percent_apart_differ) {
  EXPECT_FALSE(aspect_differs(at::zeros({1, 1, 50, 100}), 200, 100));
  EXPECT_FALSE(aspect_differs(at::zeros({1, 1, 100, 199}), 200, 100));
  EXPECT_TRUE(aspect_differs(at::zeros({1, 1, 100, 197}), 200, 100));
  EXPECT_TRUE(aspect_differs(at::zeros({1, 1, 60, 100}), 200, 100));
}

TEST(masks_test, feathering_softens_the_edge_over_the_feather_width) {
  const auto hard = left_mask(8, 64, 32);
  EXPECT_TRUE(at::equal(feather_mask(hard, 0.0), hard));
  const auto soft = feather_mask(hard, 8.0);
  EXPECT_EQ(soft.sizes(), hard.sizes());
  // Pixel centres: column 31 is 0.5 px inside the edge, 32 is 0.5 px outside.
  EXPECT_NEAR(at_column(soft, 31) + at_column(soft, 32), 1.0F, 1e-5F);
  EXPECT_GT(at_column(soft, 31), 0.5F);
  EXPECT_GE(at_column(soft, 32 - 8), 0.97F) << "a feather width inside";
  EXPECT_LE(at_column(soft, 31 + 8), 0.03F) << "a feather width outside";
  EXPECT_FLOAT_EQ(at_column(soft, 0), 1.0F) << "edges replicated, not faded";
  EXPECT_FLOAT_EQ(at_column(soft, 63), 0.0F);
}

TEST(masks_test, composite_takes_the_stylized_image_where_alpha_is_one) {
  const auto stylized = at::full({1, 3, 2, 4}, 0.8);
  const auto photo = at::full({1, 3, 2, 4}, 0.2);
  auto alpha = left_mask(2, 4, 2);
  alpha[0][0][0][2] = 0.5;
  const auto out = composite(stylized, photo, alpha);
  EXPECT_FLOAT_EQ(out[0][1][1][0].item<float>(), 0.8F);
  EXPECT_FLOAT_EQ(out[0][1][1][3].item<float>(), 0.2F);
  EXPECT_FLOAT_EQ(out[0][2][0][2].item<float>(), 0.5F);
}

TEST(masks_test, pixels_where_picks_the_region_and_falls_back_to_the_whole_image) {
  auto image = at::zeros({1, 3, 2, 3});
  image[0][0][0][0] = 1.0;  // red at (0,0)
  image[0][2][1][2] = 1.0;  // blue at (1,2)
  auto mask = at::zeros({1, 1, 2, 3});
  mask[0][0][0][0] = 1.0;
  mask[0][0][1][1] = 0.6;
  const auto pixels = pixels_where(image, mask);
  EXPECT_EQ(pixels.sizes(), (at::IntArrayRef{1, 3, 1, 2}));
  EXPECT_FLOAT_EQ(pixels[0][0][0][0].item<float>(), 1.0F);
  EXPECT_FLOAT_EQ(pixels.select(1, 2).sum().item<float>(), 0.0F) << "the blue pixel is outside";
  EXPECT_TRUE(at::equal(pixels_where(image, at::zeros({1, 1, 2, 3})), image));
}

TEST(masks_test, blending_by_masks_fills_each_region_and_leaves_the_rest_to_the_background) {
  const auto a = at::full({1, 3, 1, 4}, 1.0);
  const auto b = at::full({1, 3, 1, 4}, 0.5);
  const auto background = at::zeros({1, 3, 1, 4});
  auto mask_a = left_mask(1, 4, 2);
  auto mask_b = at::zeros({1, 1, 1, 4});
  mask_b[0][0][0][1] = 1.0;  // overlaps a's region: averaged
  mask_b[0][0][0][2] = 0.5;  // half b, half background
  const auto out = blend_by_masks({a, b}, {mask_a, mask_b}, background)[0][0][0];
  EXPECT_FLOAT_EQ(out[0].item<float>(), 1.0F);
  EXPECT_FLOAT_EQ(out[1].item<float>(), 0.75F);
  EXPECT_FLOAT_EQ(out[2].item<float>(), 0.25F);
  EXPECT_FLOAT_EQ(out[3].item<float>(), 0.0F);
}

}  // namespace
}  // namespace stylize
