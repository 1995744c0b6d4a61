#include <stylize/errors.hpp>
#include <stylize/quality.hpp>
#include <stylize/vgg_features.hpp>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "test_support.hpp"

namespace stylize {
namespace {

class QualityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    model_ = std::make_unique<VggFeatures>(
        VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU)));
    content_ = torch::linspace(0, 1, 48).view({1, 1, 1, 48}).expand({1, 3, 40, 48}).clone();
    style_ = torch::rand({1, 3, 36, 36});
  }
  QualityScores measure(const at::Tensor& image, int size_px = 32) {
    return measure_quality(*model_, c10::Device(c10::kCPU), content_, {style_}, {}, image,
                           size_px);
  }
  std::unique_ptr<VggFeatures> model_;
  at::Tensor content_;
  at::Tensor style_;
};

TEST_F(QualityTest, the_photo_itself_has_zero_content_distance_and_style_ratio_one) {
  const auto scores = measure(content_);
  EXPECT_NEAR(scores.content_distance, 0.0, 1e-9);
  EXPECT_GT(scores.style_distance, 0.0);
  EXPECT_DOUBLE_EQ(scores.style_distance, scores.photo_style_distance);
  EXPECT_DOUBLE_EQ(scores.style_ratio(), 1.0);
}

TEST_F(QualityTest, the_style_image_scores_as_stylized_and_farther_in_content) {
  // The style itself, stretched to the photo's shape: its Gram matrices are (nearly) the
  // target's, its content is far from the photo's.
  const auto stretched = at::upsample_bilinear2d(style_, {40, 48}, false);
  const auto scores = measure(stretched);
  EXPECT_LT(scores.style_ratio(), 0.5);
  const auto near = measure(0.9 * content_ + 0.1 * stretched);
  EXPECT_GT(scores.content_distance, near.content_distance);
  EXPECT_GT(near.content_distance, 0.0);
}

TEST_F(QualityTest, a_larger_copy_of_an_image_scores_the_same) {
  // Measured at a fixed size: an output made at 2x scores like the 1x one.
  const auto image = 0.5 * content_ + 0.5 * at::upsample_bilinear2d(style_, {40, 48}, false);
  const auto small = measure(image);
  const auto large = measure(at::upsample_bilinear2d(image, {80, 96}, false));
  EXPECT_NEAR(large.style_distance, small.style_distance, 0.05 * small.style_distance);
  EXPECT_NEAR(large.content_distance, small.content_distance, 0.05 * small.content_distance);
}

TEST_F(QualityTest, measure_size_is_checked) {
  try {
    measure(content_, 8);
    FAIL() << "size 8 accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "invalid measure size 8: must be at least 16 px");
  }
}

TEST_F(QualityTest, an_image_measured_against_itself_is_zero_at_every_size) {
  const auto painting = torch::rand({1, 3, 64, 80});
  const auto scores = measure_quality(*model_, c10::Device(c10::kCPU), painting, {painting}, {},
                                      painting, 64);
  EXPECT_NEAR(scores.multiscale_style_ratio, 0.0, 1e-9);
  EXPECT_NEAR(scores.style_ratio(), 0.0, 1e-9);
  EXPECT_NEAR(scores.content_ratio(), 0.0, 1e-9);
}

TEST_F(QualityTest, the_multiscale_ratio_averages_the_ratios_at_a_quarter_a_half_and_the_size) {
  EXPECT_EQ(measure_sizes_px(512), (std::vector<int>{128, 256, 512}));
  EXPECT_EQ(measure_sizes_px(40), (std::vector<int>{20, 40}));  // 10 px is too small to measure
  const auto image = 0.5 * content_ + 0.5 * at::upsample_bilinear2d(style_, {40, 48}, false);
  const auto full = measure(image, 96);
  double sum = 0.0;
  for (int side : {24, 48, 96}) sum += measure(image, side).style_ratio();
  EXPECT_EQ(full.multiscale_sizes_px, (std::vector<int>{24, 48, 96}));
  EXPECT_NEAR(full.multiscale_style_ratio, sum / 3, 1e-9);
  EXPECT_NE(full.multiscale_style_ratio, full.style_ratio());
  // At 64 px a quarter would leave the 40x48 photo 13 px high: not measured.
  EXPECT_EQ(measure(image, 64).multiscale_sizes_px, (std::vector<int>{32, 64}));
}

TEST_F(QualityTest, the_content_ratio_is_one_for_the_painting_and_zero_for_the_photo) {
  const auto painting = torch::rand({1, 3, 40, 48});  // the photo's shape: resized alike
  auto ratio = [&](const at::Tensor& image) {
    return measure_quality(*model_, c10::Device(c10::kCPU), content_, {painting}, {}, image, 32)
        .content_ratio();
  };
  EXPECT_NEAR(ratio(painting), 1.0, 1e-6);
  EXPECT_NEAR(ratio(content_), 0.0, 1e-9);
  EXPECT_GT(ratio(0.5 * content_ + 0.5 * painting), 0.05);
  EXPECT_LT(ratio(0.5 * content_ + 0.5 * painting), 0.95);
}

}  // namespace
}  // namespace stylize
