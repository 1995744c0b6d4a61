#include <stylize/image_io.hpp>

#include <zlib.h>

#include <algorithm>
#include <array>
#include <optional>
#include <cstring>

// PNG (ISO/IEC 15948) and JPEG (JFIF, ICC.1 annex B) chunks, read and inserted at the byte
// level: OpenCV's encoders and decoders drop both the ICC profile and any text.
namespace stylize {
namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr std::uint8_t kPngSignature[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
constexpr char kSettingsKey[] = "stylize";        ///< the PNG text keyword
constexpr char kJpegCommentTag[] = "stylize:";    ///< the JPEG comment's prefix
constexpr char kIccTag[] = "ICC_PROFILE";         ///< the JPEG APP2 marker's tag, NUL-terminated
constexpr std::size_t kIccChunkBytes = 65519;     ///< profile bytes per APP2 segment
constexpr std::uint8_t kJpegApp2 = 0xE2;
constexpr std::uint8_t kJpegComment = 0xFE;

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24U) | (std::uint32_t{p[1]} << 16U) |
         (std::uint32_t{p[2]} << 8U) | p[3];
}

void put_be32(Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

bool is_png(const Bytes& bytes) {
  return bytes.size() >= 8 && std::memcmp(bytes.data(), kPngSignature, 8) == 0;
}

bool is_jpeg(const Bytes& bytes) {
  return bytes.size() >= 4 && bytes[0] == 0xFF && bytes[1] == 0xD8;
}

std::optional<Bytes> inflate_all(const std::uint8_t* data, std::size_t size) {
  z_stream stream{};
  if (inflateInit(&stream) != Z_OK) return std::nullopt;
  stream.next_in = const_cast<Bytef*>(data);
  stream.avail_in = static_cast<uInt>(size);
  Bytes out;
  std::array<std::uint8_t, 16384> buffer{};
  int status = Z_OK;
  while (status == Z_OK) {
    stream.next_out = buffer.data();
    stream.avail_out = static_cast<uInt>(buffer.size());
    status = inflate(&stream, Z_NO_FLUSH);
    out.insert(out.end(), buffer.data(), buffer.data() + (buffer.size() - stream.avail_out));
    if (out.size() > (64U << 20U)) status = Z_DATA_ERROR;  // no ICC profile is this large
  }
  inflateEnd(&stream);
  if (status != Z_STREAM_END) return std::nullopt;
  return out;
}

Bytes deflate_all(const Bytes& data) {
  uLongf size = compressBound(static_cast<uLong>(data.size()));
  Bytes out(size);
  if (compress(out.data(), &size, data.data(), static_cast<uLong>(data.size())) != Z_OK) return {};
  out.resize(size);
  return out;
}

/// A PNG chunk: length, type, data, CRC over type and data.
Bytes png_chunk(const char* type, const Bytes& data) {
  Bytes chunk(8 + data.size());
  const auto length = static_cast<std::uint32_t>(data.size());
  for (int k = 0; k < 4; ++k) {
    chunk[static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(length >> (24 - 8 * k));
    chunk[4 + static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(type[k]);
  }
  std::copy(data.begin(), data.end(), chunk.begin() + 8);
  const auto crc = crc32(crc32(0L, Z_NULL, 0), chunk.data() + 4, static_cast<uInt>(data.size() + 4));
  put_be32(chunk, static_cast<std::uint32_t>(crc));
  return chunk;
}

ImageMetadata read_png(const Bytes& bytes) {
  ImageMetadata metadata;
  std::size_t i = 8;
  while (i + 12 <= bytes.size()) {
    const std::size_t length = be32(&bytes[i]);
    if (length > bytes.size() - i - 12) break;
    const std::string type(reinterpret_cast<const char*>(&bytes[i + 4]), 4);
    const std::uint8_t* data = &bytes[i + 8];
    const auto* end = data + length;
    const auto* nul = std::find(data, end, std::uint8_t{0});
    if (type == "iCCP" && end - nul >= 2) {  // name, NUL, method 0, zlib stream
      if (auto profile = inflate_all(nul + 2, static_cast<std::size_t>(end - nul - 2))) {
        metadata.icc_profile = std::move(*profile);
      }
    } else if (type == "iTXt" && end - nul >= 3 && std::string(data, nul) == kSettingsKey) {
      // keyword NUL, compression flag 0, method, language NUL, translated keyword NUL, text
      const auto* p = nul + 3;
      for (int fields = 0; fields < 2 && p < end; ++p) {
        if (*p == 0) ++fields;
      }
      if (p <= end && nul[1] == 0) metadata.settings.assign(p, end);
    } else if (type == "IDAT" || type == "IEND") {
      break;
    }
    i += length + 12;
  }
  return metadata;
}

ImageMetadata read_jpeg(const Bytes& bytes) {
  ImageMetadata metadata;
  std::vector<Bytes> icc_parts;  ///< by sequence number - 1
  std::size_t icc_count = 0;     ///< as every part states it; a disagreement drops the profile
  bool icc_consistent = true;
  std::size_t i = 2;
  while (i + 4 <= bytes.size() && bytes[i] == 0xFF) {
    const std::uint8_t marker = bytes[i + 1];
    if (marker == 0xDA || marker == 0xD9) break;  // start of scan, end of image
    const std::size_t length = (std::size_t{bytes[i + 2]} << 8U) | bytes[i + 3];
    if (length < 2 || i + 2 + length > bytes.size()) break;
    const std::uint8_t* data = &bytes[i + 4];
    const std::size_t size = length - 2;
    if (marker == kJpegApp2 && size > sizeof kIccTag + 2 &&
        std::memcmp(data, kIccTag, sizeof kIccTag) == 0) {
      const std::size_t sequence = data[sizeof kIccTag];
      const std::size_t count = data[sizeof kIccTag + 1];
      icc_consistent = icc_consistent && sequence >= 1 && sequence <= count &&
                       (icc_count == 0 || icc_count == count);
      icc_count = count;
      if (icc_consistent) {
        icc_parts.resize(count);
        icc_parts[sequence - 1].assign(data + sizeof kIccTag + 2, data + size);
      }
    } else if (marker == kJpegComment && size >= std::strlen(kJpegCommentTag) &&
               std::memcmp(data, kJpegCommentTag, std::strlen(kJpegCommentTag)) == 0) {
      metadata.settings.assign(data + std::strlen(kJpegCommentTag), data + size);
    }
    i += 2 + length;
  }
  // Only a profile with every part from 1 to the count: a gap would give a corrupt one.
  const bool complete = icc_consistent && !icc_parts.empty() &&
                        std::none_of(icc_parts.begin(), icc_parts.end(),
                                     [](const Bytes& part) { return part.empty(); });
  for (const auto& part : icc_parts) {
    if (complete) metadata.icc_profile.insert(metadata.icc_profile.end(), part.begin(), part.end());
  }
  return metadata;
}

Bytes jpeg_segment(std::uint8_t marker, const Bytes& data) {
  Bytes segment(4 + data.size());
  segment[0] = 0xFF;
  segment[1] = marker;
  segment[2] = static_cast<std::uint8_t>((data.size() + 2) >> 8U);
  segment[3] = static_cast<std::uint8_t>((data.size() + 2) & 0xFFU);
  std::copy(data.begin(), data.end(), segment.begin() + 4);
  return segment;
}

void add_to_png(Bytes& bytes, const ImageMetadata& metadata) {
  const std::size_t after_header = 8 + 12 + be32(&bytes[8]);  // IHDR comes first
  Bytes chunks;
  if (!metadata.icc_profile.empty()) {
    Bytes data{'I', 'C', 'C', 0, 0};  // profile name, NUL, compression method 0
    const auto compressed = deflate_all(metadata.icc_profile);
    data.insert(data.end(), compressed.begin(), compressed.end());
    if (!compressed.empty()) {
      const auto chunk = png_chunk("iCCP", data);
      chunks.insert(chunks.end(), chunk.begin(), chunk.end());
    }
  }
  if (!metadata.settings.empty()) {
    Bytes data(kSettingsKey, kSettingsKey + sizeof kSettingsKey);  // keyword and its NUL
    data.insert(data.end(), {0, 0, 0, 0});  // uncompressed, method, no language, no translation
    data.insert(data.end(), metadata.settings.begin(), metadata.settings.end());
    const auto chunk = png_chunk("iTXt", data);
    chunks.insert(chunks.end(), chunk.begin(), chunk.end());
  }
  bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(after_header), chunks.begin(),
               chunks.end());
}

void add_to_jpeg(Bytes& bytes, const ImageMetadata& metadata) {
  // After SOI and the JFIF APP0 segment when there is one, as the standards ask.
  std::size_t at = 2;
  if (bytes.size() > 6 && bytes[2] == 0xFF && bytes[3] == 0xE0) {
    at = 4 + ((std::size_t{bytes[4]} << 8U) | bytes[5]);
  }
  Bytes segments;
  const auto& profile = metadata.icc_profile;
  const std::size_t parts = (profile.size() + kIccChunkBytes - 1) / kIccChunkBytes;
  for (std::size_t k = 0; k < parts && parts <= 255; ++k) {
    Bytes data(kIccTag, kIccTag + sizeof kIccTag);
    data.push_back(static_cast<std::uint8_t>(k + 1));
    data.push_back(static_cast<std::uint8_t>(parts));
    const auto begin = profile.begin() + static_cast<std::ptrdiff_t>(k * kIccChunkBytes);
    data.insert(data.end(), begin,
                begin + static_cast<std::ptrdiff_t>(
                            std::min(kIccChunkBytes, profile.size() - k * kIccChunkBytes)));
    const auto segment = jpeg_segment(kJpegApp2, data);
    segments.insert(segments.end(), segment.begin(), segment.end());
  }
  if (!metadata.settings.empty() && metadata.settings.size() < 65000) {
    Bytes data(kJpegCommentTag, kJpegCommentTag + std::strlen(kJpegCommentTag));
    data.insert(data.end(), metadata.settings.begin(), metadata.settings.end());
    const auto segment = jpeg_segment(kJpegComment, data);
    segments.insert(segments.end(), segment.begin(), segment.end());
  }
  bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(at), segments.begin(), segments.end());
}

}  // namespace

ImageMetadata read_image_metadata(const std::vector<std::uint8_t>& bytes) {
  if (is_png(bytes)) return read_png(bytes);
  if (is_jpeg(bytes)) return read_jpeg(bytes);
  return {};
}

void add_image_metadata(std::vector<std::uint8_t>& encoded, const ImageMetadata& metadata) {
  if (metadata.settings.empty() && metadata.icc_profile.empty()) return;
  if (is_png(encoded) && encoded.size() > 33) add_to_png(encoded, metadata);
  if (is_jpeg(encoded)) add_to_jpeg(encoded, metadata);
}

}  // namespace stylize
