// Fuzzes image decoding and preprocessing: any byte string must either decode to a valid
// [1,3,H,W] tensor in [0,1] or throw stylize::Error; nothing may crash or escape.
#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>

#include <ATen/ATen.h>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>

#include <cstdint>
#include <cstdlib>
#include <vector>

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
  cv::setNumThreads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // The first byte picks the resize target, so both native-size and resized paths are covered.
  const int sides[] = {0, 16, 37, 64};
  const int max_side_px = sides[data[0] % 4];
  const std::vector<std::uint8_t> bytes(data + 1, data + size);
  try {
    const auto image = stylize::decode_image(bytes, "fuzz-input", max_side_px);
    const auto& rgb = image.rgb01;
    if (rgb.dim() != 4 || rgb.size(0) != 1 || rgb.size(1) != 3) std::abort();
    if (std::min(rgb.size(2), rgb.size(3)) < stylize::kMinImageSidePx) std::abort();
    if (max_side_px > 0 && std::max(rgb.size(2), rgb.size(3)) != max_side_px) std::abort();
    if (rgb.min().item<float>() < 0.0F || rgb.max().item<float>() > 1.0F) std::abort();
    if (image.alpha01.defined() && image.alpha01.size(2) != rgb.size(2)) std::abort();
  } catch (const stylize::Error&) {
    // a clean, reported failure
  }
  return 0;
}
