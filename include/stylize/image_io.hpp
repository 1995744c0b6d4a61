#pragma once

#include <ATen/core/Tensor.h>
#include <stylize/resize.hpp>  // kMinImageSidePx, resize_longest_side

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cv {
class Mat;
}

namespace stylize {

/// Images with more pixels than this (read from the header where possible, before decoding) are
/// refused: decoding them would take gigabytes before any downscaling.
inline constexpr std::uint64_t kMaxDecodedPixels = 250'000'000;

/// A loaded image: RGB [1,3,H,W] float in [0,1] on the CPU, and its alpha [1,1,H,W] in [0,1]
/// when the file has an alpha channel (undefined otherwise).
struct Image {
  at::Tensor rgb01;
  at::Tensor alpha01;
  /// What the decoder (libpng, libjpeg) warned about, one line each; kept off stderr.
  std::vector<std::string> decoder_messages;
  std::vector<std::uint8_t> icc_profile;  ///< the file's ICC colour profile (PNG, JPEG), if any
};

/// What an output file carries besides its pixels (PNG and JPEG; other formats: nothing).
struct ImageMetadata {
  /// Text stored under the key "stylize": a PNG iTXt chunk, a JPEG comment ("stylize:...").
  std::string settings;
  std::vector<std::uint8_t> icc_profile;  ///< a PNG iCCP chunk, JPEG APP2 ICC_PROFILE segments
};

/// The metadata of an encoded PNG or JPEG (empty for other formats or when absent).
ImageMetadata read_image_metadata(const std::vector<std::uint8_t>& bytes);

/// Inserts metadata into an encoded PNG or JPEG (other formats are left as they are).
void add_image_metadata(std::vector<std::uint8_t>& encoded, const ImageMetadata& metadata);

/// The bytes of an image file. Throws InputError naming the file when it is missing, a
/// directory, unreadable or empty.
std::vector<std::uint8_t> read_file_bytes(const std::string& path);

/// Width and height of an encoded image: from a PNG or JPEG header without decoding, else by
/// decoding. Throws InputError as decode_image does (not an image, too many pixels).
std::pair<int, int> encoded_image_size(const std::vector<std::uint8_t>& bytes,
                                       const std::string& name);

/// Decodes an image file's bytes (name is only used in messages) and resizes it so its longest
/// side is max_side_px (0: keep the native size). Throws InputError naming the file when the
/// bytes are empty, not a decodable image, too large to decode, or too small after resizing.
Image decode_image(const std::vector<std::uint8_t>& bytes, const std::string& name,
                   int max_side_px);

/// A decoded 8-bit BGR picture (a video's frame) as decode_image makes Image::rgb01 of a file:
/// resized so its longest side is max_side_px (0: as it is), RGB in [0,1], [1,3,H,W].
at::Tensor picture_rgb01(const cv::Mat& bgr8, int max_side_px);

/// Reads and decodes an image file (see decode_image); also throws InputError when the file is
/// missing, a directory or unreadable.
Image read_image(const std::string& path, int max_side_px);

/// Reads an image file (any format OpenCV decodes; grey and alpha are converted to RGB, EXIF
/// orientation is honoured) and resizes it so its longest side is max_side_px (0: keep the native
/// size). Returns a CPU float tensor [1,3,H,W], RGB, values in [0,1]. Throws InputError naming the
/// file when it is missing, a directory, unreadable, not a decodable image, or too small.
at::Tensor load_image_rgb01(const std::string& path, int max_side_px);

/// As load_image_rgb01, but resized to exactly width_px x height_px (used for --init PATH).
at::Tensor load_image_rgb01_exact(const std::string& path, int width_px, int height_px);

/// A mask file (any format read_image reads) as weights [1,1,height_px,width_px] in [0,1]: its
/// alpha channel when not opaque everywhere, else its luminance (mask_weights), resized by
/// resize_mask. *aspect_differs_out, when given, is set when the file's aspect ratio differs
/// from width_px:height_px by more than 1 %. Throws InputError as read_image does, ConfigError
/// "mask '<path>' selects nothing" when it is black everywhere.
at::Tensor read_mask(const std::string& path, int width_px, int height_px,
                     bool* aspect_differs_out = nullptr);

/// Throws OutputError when path cannot be written: unknown or unsupported extension, missing
/// parent directory, a directory at that path, or a directory that refuses new files. Creates
/// nothing that outlives the call.
void check_output_writable(const std::string& path);

/// Encodes a [1,3,H,W] or [3,H,W] RGB tensor in [0,1] (clamped) in the format named by the
/// extension of path (png, jpg/jpeg, webp, tif/tiff, bmp) and writes it atomically: a temporary
/// file in the same directory renamed into place, so a crash never leaves a partial file.
/// alpha01 ([1,1,H,W] in [0,1]), when defined, is kept by formats with alpha (png, webp, tiff).
/// Throws OutputError on failure, leaving no temporary file behind.
/// metadata goes into PNG and JPEG files.
void save_image(const at::Tensor& image_rgb01, const std::string& path,
                const at::Tensor& alpha01 = {}, const ImageMetadata& metadata = {});

/// True when the format named by path's extension stores an alpha channel.
bool format_keeps_alpha(const std::string& path);

}  // namespace stylize
