#include <stylize/errors.hpp>
#include <stylize/optical_flow.hpp>

#include <opencv2/imgproc.hpp>
#include <opencv2/optflow.hpp>
#include <opencv2/video/tracking.hpp>

namespace stylize {
namespace {

cv::Mat grey(const cv::Mat& image) {
  if (image.channels() == 1) return image;
  cv::Mat out;
  cv::cvtColor(image, out, cv::COLOR_BGR2GRAY);
  return out;
}

/// The sampling map x + flow(x) that cv::remap takes.
cv::Mat sampling_map(const cv::Mat& flow) {
  cv::Mat map(flow.size(), CV_32FC2);
  for (int y = 0; y < flow.rows; ++y) {
    const auto* f = flow.ptr<cv::Vec2f>(y);
    auto* m = map.ptr<cv::Vec2f>(y);
    for (int x = 0; x < flow.cols; ++x) {
      m[x] = cv::Vec2f(static_cast<float>(x) + f[x][0], static_cast<float>(y) + f[x][1]);
    }
  }
  return map;
}

}  // namespace

cv::Mat compute_flow(const cv::Mat& from, const cv::Mat& to, FlowMethod method) {
  if (from.size() != to.size()) throw ConfigError("optical flow needs two frames of one size");
  const cv::Mat a = grey(from);
  const cv::Mat b = grey(to);
  cv::Mat flow;
  switch (method) {
    case FlowMethod::kDis: {
      auto dis = cv::DISOpticalFlow::create(cv::DISOpticalFlow::PRESET_MEDIUM);
      dis->calc(a, b, flow);
      break;
    }
    case FlowMethod::kDeepFlow:
      cv::optflow::createOptFlow_DeepFlow()->calc(a, b, flow);
      break;
    case FlowMethod::kFarneback:
      // Pyramid 0.5 x 5 levels, window 15, as OpenCV's sample for frames of a few hundred px.
      cv::calcOpticalFlowFarneback(a, b, flow, 0.5, 5, 15, 3, 5, 1.2, 0);
      break;
  }
  return flow;
}

cv::Mat warp_by_flow(const cv::Mat& image, const cv::Mat& flow) {
  cv::Mat out;
  cv::remap(image, out, sampling_map(flow), cv::noArray(), cv::INTER_LINEAR,
            cv::BORDER_REPLICATE);
  return out;
}

cv::Mat flow_consistency(const cv::Mat& backward, const cv::Mat& forward) {
  const cv::Mat forward_back = warp_by_flow(forward, backward);  // f at x + b(x)
  cv::Mat dxx, dxy, dyx, dyy;
  cv::Mat parts[2];
  cv::split(backward, parts);
  cv::Sobel(parts[0], dxx, CV_32F, 1, 0, 1, 0.5);  // central differences
  cv::Sobel(parts[0], dxy, CV_32F, 0, 1, 1, 0.5);
  cv::Sobel(parts[1], dyx, CV_32F, 1, 0, 1, 0.5);
  cv::Sobel(parts[1], dyy, CV_32F, 0, 1, 1, 0.5);
  cv::Mat weights(backward.size(), CV_32F);
  for (int y = 0; y < backward.rows; ++y) {
    const auto* b = backward.ptr<cv::Vec2f>(y);
    const auto* f = forward_back.ptr<cv::Vec2f>(y);
    auto* w = weights.ptr<float>(y);
    for (int x = 0; x < backward.cols; ++x) {
      const cv::Vec2f sum = f[x] + b[x];
      const float b2 = b[x].dot(b[x]);
      const bool occluded = sum.dot(sum) > 0.01F * (f[x].dot(f[x]) + b2) + 0.5F;
      const float gradient2 = dxx.at<float>(y, x) * dxx.at<float>(y, x) +
                              dxy.at<float>(y, x) * dxy.at<float>(y, x) +
                              dyx.at<float>(y, x) * dyx.at<float>(y, x) +
                              dyy.at<float>(y, x) * dyy.at<float>(y, x);
      const bool boundary = gradient2 > 0.01F * b2 + 0.002F;
      const float from_x = static_cast<float>(x) + b[x][0];
      const float from_y = static_cast<float>(y) + b[x][1];
      const bool outside = from_x < 0.0F || from_y < 0.0F ||
                           from_x > static_cast<float>(backward.cols - 1) ||
                           from_y > static_cast<float>(backward.rows - 1);
      w[x] = occluded || boundary || outside ? 0.0F : 1.0F;
    }
  }
  return weights;
}

}  // namespace stylize
