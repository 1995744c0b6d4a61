#include <stylize/contact_sheet.hpp>
#include <stylize/errors.hpp>

#include <ATen/ATen.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>

namespace stylize {
namespace {

constexpr int kLabelHeightPx = 18;
constexpr int kGapPx = 4;

/// [1,3,H,W] RGB [0,1] as an 8-bit RGB cv::Mat (the channel order does not matter here: the
/// sheet goes back into a tensor the same way).
cv::Mat to_mat(const at::Tensor& image) {
  const auto hwc = (image[0].permute({1, 2, 0}).clamp(0.0, 1.0) * 255.0)
                       .round()
                       .to(at::kByte)
                       .contiguous()
                       .to(at::kCPU);
  return cv::Mat(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_8UC3,
                 hwc.data_ptr())
      .clone();
}

}  // namespace

at::Tensor contact_sheet(const std::vector<at::Tensor>& images,
                         const std::vector<std::string>& labels, int columns) {
  if (images.empty() || images.size() != labels.size() || columns < 1) {
    throw ConfigError("a contact sheet needs one label per image");
  }
  const int tile_h = static_cast<int>(images.front().size(2));
  std::vector<cv::Mat> tiles;
  int tile_w = 0;
  for (const auto& image : images) {
    cv::Mat tile = to_mat(image);
    const int width = std::max(1, tile.cols * tile_h / std::max(1, tile.rows));
    if (tile.rows != tile_h) cv::resize(tile, tile, cv::Size(width, tile_h), 0, 0, cv::INTER_AREA);
    tile_w = std::max(tile_w, tile.cols);
    tiles.push_back(tile);
  }
  const int count = static_cast<int>(tiles.size());
  const int cols = std::min(columns, count);
  const int rows = (count + cols - 1) / cols;
  const int cell_w = tile_w + kGapPx;
  const int cell_h = tile_h + kLabelHeightPx + kGapPx;
  cv::Mat sheet(rows * cell_h - kGapPx, cols * cell_w - kGapPx, CV_8UC3, cv::Scalar(255, 255, 255));
  for (int k = 0; k < count; ++k) {
    const int x = (k % cols) * cell_w;
    const int y = (k / cols) * cell_h;
    tiles[static_cast<std::size_t>(k)].copyTo(
        sheet(cv::Rect(x, y, tiles[static_cast<std::size_t>(k)].cols, tile_h)));
    cv::putText(sheet, labels[static_cast<std::size_t>(k)], cv::Point(x + 2, y + tile_h + 13),
                cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  }
  const auto bytes = at::from_blob(sheet.data, {sheet.rows, sheet.cols, 3}, at::kByte).clone();
  return bytes.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat) / 255.0;
}

}  // namespace stylize
