#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>

#include <ATen/ATen.h>
#include <fcntl.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace stylize {
namespace fs = std::filesystem;
namespace {

constexpr int kJpegQuality = 95;
const std::vector<std::string> kWritableExtensions = {".png", ".jpg",  ".jpeg", ".webp",
                                                      ".tif", ".tiff", ".bmp"};

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

std::string size_text(int width, int height) {
  return std::to_string(width) + "x" + std::to_string(height) + " px";
}

/// Checks what can be checked before decoding, so each failure gets a precise message.
void check_readable_file(const std::string& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) throw InputError("cannot read image '" + path + "': no such file");
  if (fs::is_directory(status)) {
    throw InputError("cannot read image '" + path + "': it is a directory");
  }
  std::ifstream probe(path, std::ios::binary);
  if (!probe) {
    throw InputError("cannot read image '" + path + "': " + std::strerror(errno));
  }
  if (probe.peek() == std::ifstream::traits_type::eof()) {
    throw InputError("cannot read image '" + path + "': the file is empty");
  }
}

/// Decodes to a 3-channel BGR float image in [0,1]; grey is expanded, alpha dropped, 16-bit and
/// float images keep their precision, EXIF orientation is applied by OpenCV.
cv::Mat decode_bgr01(const std::string& path) {
  check_readable_file(path);
  cv::Mat raw;
  try {
    raw = cv::imread(path, cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH);
  } catch (const cv::Exception&) {
    raw.release();
  }
  if (raw.empty()) {
    throw InputError("cannot read image '" + path +
                     "': not a supported image format, or the file is corrupt");
  }
  cv::Mat bgr01;
  switch (raw.depth()) {
    case CV_8U:
      raw.convertTo(bgr01, CV_32F, 1.0 / 255.0);
      break;
    case CV_16U:
      raw.convertTo(bgr01, CV_32F, 1.0 / 65535.0);
      break;
    default:
      raw.convertTo(bgr01, CV_32F);
      cv::min(cv::max(bgr01, 0.0), 1.0, bgr01);
      break;
  }
  return bgr01;
}

cv::Mat resize_to(const cv::Mat& image, int width_px, int height_px) {
  if (image.cols == width_px && image.rows == height_px) return image;
  const bool shrinking = width_px < image.cols && height_px < image.rows;
  cv::Mat resized;
  cv::resize(image, resized, cv::Size(width_px, height_px), 0, 0,
             shrinking ? cv::INTER_AREA : cv::INTER_CUBIC);
  cv::min(cv::max(resized, 0.0), 1.0, resized);  // bicubic overshoots
  return resized;
}

std::pair<int, int> longest_side_size(int width, int height, int max_side_px) {
  if (max_side_px <= 0) return {width, height};
  const double scale = static_cast<double>(max_side_px) / std::max(width, height);
  return {std::max(1, static_cast<int>(std::lround(width * scale))),
          std::max(1, static_cast<int>(std::lround(height * scale)))};
}

void check_min_size(const std::string& path, int width, int height, int max_side_px) {
  if (std::min(width, height) >= kMinImageSidePx) return;
  std::string how = max_side_px > 0 ? " after resizing to " + std::to_string(max_side_px) + " px"
                                    : "";
  throw InputError("image '" + path + "' is " + size_text(width, height) + how +
                   " but must be at least " + std::to_string(kMinImageSidePx) +
                   " px on each side");
}

// BGR->RGB happens here and in save_image only: everything between is RGB.
at::Tensor to_tensor_rgb01(const cv::Mat& bgr01) {
  cv::Mat rgb;
  cv::cvtColor(bgr01, rgb, cv::COLOR_BGR2RGB);
  return at::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, at::kFloat)
      .permute({2, 0, 1})
      .unsqueeze(0)
      .contiguous()
      .clone();
}

std::string temp_name_beside(const fs::path& target) {
  std::random_device entropy;
  const auto tag = std::to_string(entropy()) + std::to_string(::getpid());
  const auto dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  return (dir / ("." + target.filename().string() + ".tmp-" + tag)).string();
}

void write_all_atomically(const std::string& path, const std::vector<uchar>& bytes) {
  const std::string temp = temp_name_beside(fs::path(path));
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw OutputError("cannot write '" + path + "': " + std::strerror(errno));
  std::size_t written = 0;
  while (written < bytes.size()) {
    const auto n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string reason = std::strerror(errno);
      ::close(fd);
      ::unlink(temp.c_str());
      throw OutputError("cannot write '" + path + "': " + reason);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(temp.c_str());
    throw OutputError("cannot write '" + path + "': " + reason);
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(temp.c_str());
    throw OutputError("cannot write '" + path + "': " + reason);
  }
}

}  // namespace

at::Tensor load_image_rgb01(const std::string& path, int max_side_px) {
  const cv::Mat bgr01 = decode_bgr01(path);
  const auto [width, height] = longest_side_size(bgr01.cols, bgr01.rows, max_side_px);
  check_min_size(path, width, height, max_side_px);
  return to_tensor_rgb01(resize_to(bgr01, width, height));
}

at::Tensor load_image_rgb01_exact(const std::string& path, int width_px, int height_px) {
  return to_tensor_rgb01(resize_to(decode_bgr01(path), width_px, height_px));
}

at::Tensor resize_longest_side(const at::Tensor& image_rgb01, int max_side_px) {
  const auto height = static_cast<int>(image_rgb01.size(2));
  const auto width = static_cast<int>(image_rgb01.size(3));
  const auto [new_width, new_height] = longest_side_size(width, height, max_side_px);
  if (new_width == width && new_height == height) return image_rgb01;
  if (new_width < width) {
    return at::adaptive_avg_pool2d(image_rgb01, {new_height, new_width});
  }
  return at::upsample_bicubic2d(image_rgb01, {new_height, new_width}, /*align_corners=*/false)
      .clamp(0.0, 1.0);
}

void check_output_writable(const std::string& path) {
  const std::string ext = lower_extension(path);
  if (std::find(kWritableExtensions.begin(), kWritableExtensions.end(), ext) ==
          kWritableExtensions.end() ||
      !cv::haveImageWriter(path)) {
    throw OutputError("cannot write '" + path + "': unknown image format '" + ext +
                      "' (use .png, .jpg, .webp, .tif or .bmp)");
  }
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    throw OutputError("cannot write '" + path + "': it is a directory");
  }
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) {
    throw OutputError("cannot write '" + path + "': directory '" + dir.string() +
                      "' does not exist");
  }
  const std::string probe = temp_name_beside(target);
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw OutputError("cannot write '" + path + "': " + std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

void save_image(const at::Tensor& image_rgb01, const std::string& path) {
  auto chw = image_rgb01.dim() == 4 ? image_rgb01[0] : image_rgb01;
  if (chw.dim() != 3 || chw.size(0) != 3) {
    throw OutputError("cannot write '" + path + "': expected an RGB image tensor");
  }
  const auto hwc = chw.detach()
                       .to(at::kCPU, at::kFloat)
                       .clamp(0.0, 1.0)
                       .mul(255.0)
                       .round()
                       .to(at::kByte)
                       .permute({1, 2, 0})
                       .contiguous();
  const cv::Mat rgb(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_8UC3,
                    hwc.data_ptr<uint8_t>());
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  const std::string ext = lower_extension(path);
  std::vector<int> params;
  if (ext == ".jpg" || ext == ".jpeg") params = {cv::IMWRITE_JPEG_QUALITY, kJpegQuality};
  if (ext == ".webp") params = {cv::IMWRITE_WEBP_QUALITY, 100};
  std::vector<uchar> bytes;
  bool encoded = false;
  try {
    encoded = cv::imencode(ext, bgr, bytes, params);
  } catch (const cv::Exception&) {
    encoded = false;
  }
  if (!encoded) {
    throw OutputError("cannot write '" + path + "': cannot encode as '" + ext + "'");
  }
  write_all_atomically(path, bytes);
}

}  // namespace stylize
