#include <stylize/errors.hpp>
#include <stylize/optical_flow.hpp>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "test_support.hpp"

namespace stylize {
namespace {

cv::Mat texture(int width, int height) { return test::smooth_texture(width, height, 1, 7); }

/// image shifted so that out(x) = image(x + (dx, dy)), edges replicated.
cv::Mat shifted(const cv::Mat& image, float dx, float dy) {
  cv::Mat flow(image.size(), CV_32FC2, cv::Scalar(dx, dy));
  return warp_by_flow(image, flow);
}

class FlowMethods : public ::testing::TestWithParam<FlowMethod> {};

TEST_P(FlowMethods, recover_a_known_shift_in_the_direction_documented) {
  const cv::Mat to = texture(96, 80);
  const cv::Mat from = shifted(to, 3.0F, -2.0F);  // from(x) = to(x + (3, -2))
  const cv::Mat flow = compute_flow(from, to, GetParam());
  ASSERT_EQ(flow.type(), CV_32FC2);
  const cv::Scalar mean = cv::mean(flow(cv::Rect(16, 16, 64, 48)));
  EXPECT_NEAR(mean[0], 3.0, 0.3);
  EXPECT_NEAR(mean[1], -2.0, 0.3);
}

INSTANTIATE_TEST_SUITE_P(All, FlowMethods,
                         ::testing::Values(FlowMethod::kDis, FlowMethod::kDeepFlow,
                                           FlowMethod::kFarneback),
                         [](const ::testing::TestParamInfo<FlowMethod>& p) { return name_of(p.param); });

TEST(OpticalFlow, frames_of_different_sizes_are_refused) {
  EXPECT_ERROR_MSG(compute_flow(texture(32, 32), texture(32, 30), FlowMethod::kDis), ConfigError,
                   "optical flow needs two frames of one size");
}

TEST(OpticalFlow, warping_by_a_whole_pixel_flow_moves_the_image) {
  const cv::Mat image = texture(20, 10);
  const cv::Mat out = shifted(image, 2.0F, 1.0F);
  EXPECT_EQ(out.at<std::uint8_t>(3, 4), image.at<std::uint8_t>(4, 6));
  EXPECT_EQ(out.at<std::uint8_t>(9, 19), image.at<std::uint8_t>(9, 19));  // replicated edge
}

TEST(OpticalFlow, consistent_flows_are_trusted_except_what_enters_the_picture) {
  const cv::Size size(40, 30);
  const cv::Mat backward(size, CV_32FC2, cv::Scalar(3.0F, 0.0F));  // frame t-1 is 3 px right
  const cv::Mat forward(size, CV_32FC2, cv::Scalar(-3.0F, 0.0F));
  const cv::Mat weights = flow_consistency(backward, forward);
  ASSERT_EQ(weights.type(), CV_32F);
  EXPECT_EQ(weights.at<float>(15, 10), 1.0F);
  EXPECT_EQ(weights.at<float>(15, 36), 1.0F);  // 36 + 3 = 39: still inside
  EXPECT_EQ(weights.at<float>(15, 37), 0.0F);  // comes from outside frame t-1
  EXPECT_DOUBLE_EQ(cv::sum(weights)[0], 37.0 * 30.0);
}

TEST(OpticalFlow, flows_that_do_not_come_back_and_motion_boundaries_are_not_trusted) {
  const cv::Size size(40, 30);
  const cv::Mat backward(size, CV_32FC2, cv::Scalar(3.0F, 0.0F));
  const cv::Mat same_way(size, CV_32FC2, cv::Scalar(3.0F, 0.0F));  // an occlusion's signature
  EXPECT_EQ(cv::countNonZero(flow_consistency(backward, same_way)), 0);
  cv::Mat split = backward.clone();  // left half still, right half moving: a motion boundary
  split(cv::Rect(0, 0, 20, 30)).setTo(cv::Scalar(0.0F, 0.0F));
  cv::Mat back_split = -split;
  const cv::Mat weights = flow_consistency(split, back_split);
  EXPECT_EQ(weights.at<float>(15, 5), 1.0F);
  EXPECT_EQ(weights.at<float>(15, 19), 0.0F);
  EXPECT_EQ(weights.at<float>(15, 20), 0.0F);
}

}  // namespace
}  // namespace stylize
