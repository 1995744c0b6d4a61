// warp_error: how steady a stylized clip is (scripts/bench_video.py). For each pair of
// consecutive frames, the optical flow of the input frames (DIS, stylize's own) warps output
// frame t into frame t+1's geometry; the error is the mean absolute difference to output frame
// t+1 in grey levels (0-255, over RGB), over the pixels where the flow passes the consistency
// check. Prints one JSON line: {"pairs": N, "warp_error": mean, "consistent": share}.
//
//   stylize_warp_error INPUT_PATTERN OUTPUT_PATTERN FIRST LAST
//   (INPUT_PATTERN frames are resized to the output frames' size; patterns as printf's "%04d")
#include <stylize/optical_flow.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdio>
#include <iostream>
#include <string>

namespace {

std::string frame_path(const std::string& pattern, int number) {
  char buffer[4096];
  std::snprintf(buffer, sizeof buffer, pattern.c_str(), number);  // NOLINT: the caller's pattern
  return buffer;
}

cv::Mat read(const std::string& path, const cv::Size& size = {}) {
  cv::Mat image = cv::imread(path, cv::IMREAD_COLOR);
  if (image.empty()) throw std::runtime_error("cannot read " + path);
  if (!size.empty() && image.size() != size) cv::resize(image, image, size, 0, 0, cv::INTER_AREA);
  return image;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: stylize_warp_error INPUT_PATTERN OUTPUT_PATTERN FIRST LAST\n";
    return 2;
  }
  try {
    const std::string inputs = argv[1];
    const std::string outputs = argv[2];
    const int first = std::stoi(argv[3]);
    const int last = std::stoi(argv[4]);
    double error_sum = 0.0;
    double weight_sum = 0.0;
    double pixels = 0.0;
    for (int t = first; t < last; ++t) {
      const cv::Mat out_t = read(frame_path(outputs, t));
      const cv::Mat out_next = read(frame_path(outputs, t + 1));
      const cv::Mat in_t = read(frame_path(inputs, t), out_t.size());
      const cv::Mat in_next = read(frame_path(inputs, t + 1), out_t.size());
      const cv::Mat backward = stylize::compute_flow(in_next, in_t, stylize::FlowMethod::kDis);
      const cv::Mat forward = stylize::compute_flow(in_t, in_next, stylize::FlowMethod::kDis);
      const cv::Mat weights = stylize::flow_consistency(backward, forward);
      cv::Mat warped = stylize::warp_by_flow(out_t, backward);
      cv::Mat diff;
      cv::absdiff(warped, out_next, diff);
      diff.convertTo(diff, CV_32FC3);
      cv::Mat grey_diff;
      cv::transform(diff, grey_diff, cv::Matx13f(1.0F / 3, 1.0F / 3, 1.0F / 3));
      error_sum += cv::sum(grey_diff.mul(weights))[0];
      weight_sum += cv::sum(weights)[0];
      pixels += static_cast<double>(weights.total());
    }
    std::cout << "{\"pairs\": " << last - first << ", \"warp_error\": "
              << (weight_sum > 0 ? error_sum / weight_sum : 0.0)
              << ", \"consistent\": " << (pixels > 0 ? weight_sum / pixels : 0.0) << "}\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "stylize_warp_error: " << e.what() << '\n';
    return 1;
  }
}
