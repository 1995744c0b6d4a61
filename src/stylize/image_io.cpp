#include "atomic_file.hpp"

#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>
#include <stylize/masks.hpp>

#include <ATen/ATen.h>
#include <fcntl.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
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

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24U) | (std::uint32_t{p[1]} << 16U) |
         (std::uint32_t{p[2]} << 8U) | p[3];
}

bool starts_with(const std::vector<std::uint8_t>& bytes, const char* magic, std::size_t n,
                 std::size_t offset = 0) {
  return bytes.size() >= offset + n && std::memcmp(bytes.data() + offset, magic, n) == 0;
}

/// Width and height from a PNG or JPEG header, without decoding; nullopt for other formats or
/// when the header cannot be read (the decoder then decides).
std::optional<std::pair<std::uint64_t, std::uint64_t>> header_size(
    const std::vector<std::uint8_t>& bytes) {
  if (starts_with(bytes, "\x89PNG\r\n\x1a\n", 8) && bytes.size() >= 24) {
    return std::pair<std::uint64_t, std::uint64_t>{be32(&bytes[16]), be32(&bytes[20])};
  }
  if (starts_with(bytes, "\xff\xd8", 2)) {
    std::size_t i = 2;
    while (i + 9 < bytes.size()) {
      if (bytes[i] != 0xFF) {  // like libjpeg, skip stray bytes up to the next marker
        ++i;
        continue;
      }
      if (bytes[i + 1] == 0xFF) {  // fill byte
        ++i;
        continue;
      }
      const std::uint8_t marker = bytes[i + 1];
      const std::size_t length = (std::size_t{bytes[i + 2]} << 8U) | bytes[i + 3];
      const bool start_of_frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 &&
                                  marker != 0xC8 && marker != 0xCC;
      if (start_of_frame) {
        const std::uint64_t height = (std::uint64_t{bytes[i + 5]} << 8U) | bytes[i + 6];
        const std::uint64_t width = (std::uint64_t{bytes[i + 7]} << 8U) | bytes[i + 8];
        return std::pair<std::uint64_t, std::uint64_t>{width, height};
      }
      i += 2 + length;
    }
  }
  return std::nullopt;
}

/// Formats whose files may carry an alpha channel.
bool may_have_alpha(const std::vector<std::uint8_t>& bytes) {
  return starts_with(bytes, "\x89PNG", 4) || starts_with(bytes, "II*\0", 4) ||
         starts_with(bytes, "MM\0*", 4) ||
         (starts_with(bytes, "RIFF", 4) && starts_with(bytes, "WEBP", 4, 8));
}

cv::Mat to_float01(const cv::Mat& raw) {
  cv::Mat out;
  switch (raw.depth()) {
    case CV_8U:
      raw.convertTo(out, CV_32F, 1.0 / 255.0);
      break;
    case CV_16U:
      raw.convertTo(out, CV_32F, 1.0 / 65535.0);
      break;
    default:
      raw.convertTo(out, CV_32F);
      cv::min(cv::max(out, 0.0), 1.0, out);
      break;
  }
  return out;
}

void check_pixel_count(std::uint64_t width, std::uint64_t height, const std::string& name) {
  if (width * height > kMaxDecodedPixels) {
    throw InputError("cannot read image '" + name + "': " + std::to_string(width) + "x" +
                     std::to_string(height) + " px is more than the " +
                     std::to_string(kMaxDecodedPixels / 1000000) + " megapixels stylize decodes");
  }
}

/// Runs decode_fn with the process's stderr (file descriptor 2) pointed at a temporary file and
/// returns what was written there: libpng and libjpeg print their warnings ("iCCP: known
/// incorrect sRGB profile", "Corrupt JPEG data: ...") straight to stderr, past any logger.
template <typename Fn>
std::string capture_stderr(Fn&& decode_fn) {
  std::fflush(stderr);
  std::FILE* sink = std::tmpfile();
  const int saved = sink == nullptr ? -1 : ::dup(STDERR_FILENO);
  if (saved < 0 || ::dup2(::fileno(sink), STDERR_FILENO) < 0) {
    if (saved >= 0) ::close(saved);
    if (sink != nullptr) std::fclose(sink);
    decode_fn();
    return {};
  }
  auto restore = [&] {
    std::fflush(stderr);
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
  };
  try {
    decode_fn();
  } catch (...) {
    restore();
    std::fclose(sink);
    throw;
  }
  restore();
  std::string text;
  std::rewind(sink);
  for (int c = std::fgetc(sink); c != EOF; c = std::fgetc(sink)) text += static_cast<char>(c);
  std::fclose(sink);
  return text;
}

/// The non-empty lines of text.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t begin = 0;
  while (begin < text.size()) {
    auto end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    if (end > begin) lines.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return lines;
}

/// The decoded image, or an empty one when OpenCV cannot decode it; the decoder's warnings are
/// appended to messages.
cv::Mat decode_or_empty(const std::vector<std::uint8_t>& bytes, int flags,
                        std::vector<std::string>& messages) {
  cv::Mat image;
  const auto text = capture_stderr([&] {
    try {
      image = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8UC1,
                                   const_cast<std::uint8_t*>(bytes.data())),
                           flags);
    } catch (const cv::Exception&) {
      image = cv::Mat();
    }
  });
  for (auto& line : lines_of(text)) messages.push_back(std::move(line));
  return image;
}

/// A decoded image in the file's own depth (8-bit, 16-bit or float): 3-channel BGR (grey
/// expanded, EXIF orientation applied) and, when the file has one, its alpha channel. Kept
/// integer until resized, so a huge image costs its 8-bit size, not 4x that in floats.
struct Decoded {
  cv::Mat bgr;
  cv::Mat alpha;
  std::vector<std::string> messages;  ///< the decoder's warnings
};

Decoded decode(const std::vector<std::uint8_t>& bytes, const std::string& name) {
  if (const auto size = header_size(bytes)) check_pixel_count(size->first, size->second, name);
  Decoded decoded;
  if (may_have_alpha(bytes)) {
    // IMREAD_UNCHANGED keeps alpha (but ignores EXIF orientation, which these formats rarely use).
    const cv::Mat raw = decode_or_empty(bytes, cv::IMREAD_UNCHANGED, decoded.messages);
    if (!raw.empty() && raw.channels() == 4) {
      cv::Mat channels[4];
      cv::split(raw, channels);
      decoded.alpha = channels[3];
      cv::merge(channels, 3, decoded.bgr);
      return decoded;
    }
  }
  const cv::Mat raw =
      decode_or_empty(bytes, cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH, decoded.messages);
  if (raw.empty()) {
    throw InputError("cannot read image '" + name +
                     "': not a supported image format, or the file is corrupt");
  }
  decoded.bgr = raw;
  return decoded;
}

/// Resizes in the image's own depth, then converts to float in [0,1] (clamped: bicubic
/// upscaling overshoots).
cv::Mat resize_to_float01(const cv::Mat& image, int width_px, int height_px) {
  cv::Mat resized = image;
  if (image.cols != width_px || image.rows != height_px) {
    const bool shrinking = width_px < image.cols && height_px < image.rows;
    cv::resize(image, resized, cv::Size(width_px, height_px), 0, 0,
               shrinking ? cv::INTER_AREA : cv::INTER_CUBIC);
  }
  cv::Mat out = to_float01(resized);
  cv::min(cv::max(out, 0.0), 1.0, out);
  return out;
}

void check_min_size(const std::string& path, int width, int height, int max_side_px) {
  if (std::min(width, height) >= kMinImageSidePx) return;
  std::string how = max_side_px > 0 ? " after resizing to " + std::to_string(max_side_px) + " px"
                                    : "";
  throw InputError("image '" + path + "' is " + size_text(width, height) + how +
                   " but must be at least " + std::to_string(kMinImageSidePx) +
                   " px on each side");
}

// BGR->RGB happens here and in save_image only (a video's frames come through picture_rgb01):
// everything between is RGB.
at::Tensor to_tensor_rgb01(const cv::Mat& bgr01) {
  cv::Mat rgb;
  cv::cvtColor(bgr01, rgb, cv::COLOR_BGR2RGB);
  return at::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, at::kFloat)
      .permute({2, 0, 1})
      .unsqueeze(0)
      .contiguous()
      .clone();
}

}  // namespace

std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) throw InputError("cannot read image '" + path + "': no such file");
  if (fs::is_directory(status)) {
    throw InputError("cannot read image '" + path + "': it is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read image '" + path + "': " + std::strerror(errno));
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  if (in.bad()) throw InputError("cannot read image '" + path + "': read error");
  if (bytes.empty()) throw InputError("cannot read image '" + path + "': the file is empty");
  return bytes;
}

std::pair<int, int> encoded_image_size(const std::vector<std::uint8_t>& bytes,
                                       const std::string& name) {
  if (bytes.empty()) throw InputError("cannot read image '" + name + "': the file is empty");
  if (const auto size = header_size(bytes)) {
    check_pixel_count(size->first, size->second, name);
    return {static_cast<int>(size->first), static_cast<int>(size->second)};
  }
  const Decoded decoded = decode(bytes, name);
  return {decoded.bgr.cols, decoded.bgr.rows};
}

Image decode_image(const std::vector<std::uint8_t>& bytes, const std::string& name,
                   int max_side_px) {
  if (bytes.empty()) throw InputError("cannot read image '" + name + "': the file is empty");
  const Decoded decoded = decode(bytes, name);
  const auto [width, height] = longest_side_size(decoded.bgr.cols, decoded.bgr.rows,
                                                 max_side_px);
  check_min_size(name, width, height, max_side_px);
  Image image;
  image.decoder_messages = decoded.messages;
  image.icc_profile = read_image_metadata(bytes).icc_profile;
  image.rgb01 = to_tensor_rgb01(resize_to_float01(decoded.bgr, width, height));
  if (!decoded.alpha.empty()) {
    const cv::Mat alpha = resize_to_float01(decoded.alpha, width, height);
    image.alpha01 = at::from_blob(alpha.data, {1, 1, alpha.rows, alpha.cols}, at::kFloat).clone();
  }
  return image;
}

at::Tensor picture_rgb01(const cv::Mat& bgr8, int max_side_px) {
  const auto [width, height] = longest_side_size(bgr8.cols, bgr8.rows, max_side_px);
  return to_tensor_rgb01(resize_to_float01(bgr8, width, height));
}

Image read_image(const std::string& path, int max_side_px) {
  return decode_image(read_file_bytes(path), path, max_side_px);
}

at::Tensor read_mask(const std::string& path, int width_px, int height_px,
                     bool* aspect_differs_out) {
  const auto bytes = read_file_bytes(path);
  if (bytes.empty()) throw InputError("cannot read image '" + path + "': the file is empty");
  // Any size will do (it is resized to the image, bilinear when growing): no minimum as for
  // photos.
  const Decoded decoded = decode(bytes, path);
  const auto rgb = to_tensor_rgb01(resize_to_float01(decoded.bgr, decoded.bgr.cols,
                                                     decoded.bgr.rows));
  at::Tensor alpha;
  if (!decoded.alpha.empty()) {
    const cv::Mat a = resize_to_float01(decoded.alpha, decoded.alpha.cols, decoded.alpha.rows);
    alpha = at::from_blob(a.data, {1, 1, a.rows, a.cols}, at::kFloat).clone();
  }
  const auto weights = mask_weights(rgb, alpha);
  if (aspect_differs_out != nullptr) {
    *aspect_differs_out = aspect_differs(weights, width_px, height_px);
  }
  auto mask = resize_mask(weights, height_px, width_px);
  if (!(mask.max().item<float>() > 0.0F)) {
    throw ConfigError("mask '" + path + "' selects nothing: it is black everywhere");
  }
  return mask;
}

at::Tensor load_image_rgb01(const std::string& path, int max_side_px) {
  return read_image(path, max_side_px).rgb01;
}

at::Tensor load_image_rgb01_exact(const std::string& path, int width_px, int height_px) {
  return to_tensor_rgb01(
      resize_to_float01(decode(read_file_bytes(path), path).bgr, width_px, height_px));
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
  remove_stale_temporaries(dir);
}

bool format_keeps_alpha(const std::string& path) {
  const std::string ext = lower_extension(path);
  return ext == ".png" || ext == ".webp" || ext == ".tif" || ext == ".tiff";
}

void save_image(const at::Tensor& image_rgb01, const std::string& path,
                const at::Tensor& alpha01, const ImageMetadata& metadata) {
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
  at::Tensor alpha_u8;
  if (alpha01.defined() && format_keeps_alpha(path)) {
    alpha_u8 = alpha01.detach().to(at::kCPU, at::kFloat).reshape({chw.size(1), chw.size(2)})
                   .clamp(0.0, 1.0).mul(255.0).round().to(at::kByte).contiguous();
    const cv::Mat alpha(static_cast<int>(alpha_u8.size(0)), static_cast<int>(alpha_u8.size(1)),
                        CV_8UC1, alpha_u8.data_ptr<uint8_t>());
    cv::Mat channels[4];
    cv::split(bgr, channels);
    channels[3] = alpha;
    cv::merge(channels, 4, bgr);
  }
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
  add_image_metadata(bytes, metadata);
  write_file_atomically(path, bytes);
}

}  // namespace stylize
