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

}  // namespace
}  // namespace stylize
