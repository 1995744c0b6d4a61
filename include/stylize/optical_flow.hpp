#pragma once

#include <opencv2/core/mat.hpp>
#include <stylize/config.hpp>  // FlowMethod

namespace stylize {

/// Dense optical flow from one frame to another (8-bit grey or BGR, the same size): a CV_32FC2
/// field f with from(x) ~ to(x + f(x)). So the flow from frame t to frame t-1 tells where each
/// pixel of frame t was in frame t-1 ("backward" flow, Ruder et al.), and warp_by_flow of frame
/// t-1's image with it gives that image in frame t's geometry. Throws ConfigError when the sizes
/// differ.
cv::Mat compute_flow(const cv::Mat& from, const cv::Mat& to, FlowMethod method);

/// image (any type OpenCV remaps) sampled at x + flow(x), bilinearly, edges replicated.
cv::Mat warp_by_flow(const cv::Mat& image, const cv::Mat& flow);

/// Where a backward flow can be trusted (Ruder et al. 2016, after Sundaram et al. 2010): CV_32F,
/// 1 where following `backward` (this frame to the earlier one) and then `forward` (the earlier
/// frame to this one) comes back to the start, 0 at occlusions, where it does not
/// (|f + b|^2 > 0.01 (|f|^2 + |b|^2) + 0.5, f the forward flow at x + b(x)), and at motion
/// boundaries (|grad b_x|^2 + |grad b_y|^2 > 0.01 |b|^2 + 0.002) and where b leads outside the
/// earlier frame (what enters the picture).
cv::Mat flow_consistency(const cv::Mat& backward, const cv::Mat& forward);

}  // namespace stylize
