#include <stylize/config.hpp>
#include <stylize/errors.hpp>
#include <stylize/memory.hpp>
#include <stylize/style_transfer.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace stylize {
namespace {

// Calibrated on this project's CPU build with the CLI's tensor arena and Winograd convolutions
// (peak RSS of 256 and 512 px runs with the full VGG-19 and the L-BFGS history full: 497 and
// 870 MiB): about 320 MiB of runtime besides the weights (libraries, oneDNN's kernels) and 2.1
// bytes per activation value, rounded to 320 MiB and 2.25 bytes (the estimate is 2 % above the
// 512 px run, 4 % above the 256 px one).
constexpr std::uint64_t kRuntimeBytes = 320ULL << 20U;
constexpr double kBytesPerActivation = 2.25;
constexpr double kBytesPerImageValue = 4.0;
constexpr int kVggChannels[] = {64, 128, 256, 512, 512};
// Tiled runs: float RGB buffers of the whole image's size alive besides a tile's working set
// (content, image so far, previous scale upsampled, colour/mask finishing, the encoder's copy).
constexpr double kWholeImageBuffers = 6.0;

/// Activation values per output pixel kept for the backward pass, layers 0..deepest.
double activations_per_pixel(const std::vector<std::string>& names, int deepest) {
  double total = 0.0;
  int pools = 0;
  int channels = 3;
  for (int i = 0; i <= deepest && i < static_cast<int>(names.size()); ++i) {
    const auto& name = names[static_cast<std::size_t>(i)];
    if (name.rfind("pool", 0) == 0) {
      ++pools;
    } else if (name.size() > 4 && (name.rfind("conv", 0) == 0 || name.rfind("relu", 0) == 0)) {
      const int block = name[4] - '0';
      if (block >= 1 && block <= 5) channels = kVggChannels[block - 1];
    }
    total += channels / std::pow(4.0, pools);
  }
  return total;
}

/// Computing the style targets of an image of side_px (at most square, or a window of a larger
/// one): through the network without autograd, two layers' activations alive at a time, the
/// widest at full resolution.
std::uint64_t style_target_bytes(int side_px) {
  const double side = side_px;
  return static_cast<std::uint64_t>(side * side * (3.0 + 2.0 * kVggChannels[0]) *
                                    kBytesPerImageValue);
}

std::optional<std::uint64_t> read_number_after(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      std::istringstream fields(line.substr(key.size()));
      std::uint64_t value = 0;
      if (fields >> value) return value;
    }
  }
  return std::nullopt;
}

}  // namespace

MemoryEstimate estimate_memory(const std::vector<std::string>& layer_names, const LayerPlan& plan,
                               int width_px, int height_px, const StyleConfig& config,
                               std::uint64_t model_file_bytes, int masked_guides) {
  const double pixels = static_cast<double>(width_px) * height_px;
  const double image_bytes = 3.0 * pixels * kBytesPerImageValue;
  MemoryEstimate estimate;
  estimate.fixed_bytes = kRuntimeBytes + model_file_bytes;
  estimate.activation_bytes = static_cast<std::uint64_t>(
      kBytesPerActivation * pixels * activations_per_pixel(layer_names, plan.deepest_index()));
  double style_values = 0.0;  // per pixel, over the style layers: one layer's own share each
  for (const auto& layer : plan.style) {
    style_values += activations_per_pixel(layer_names, layer.index) -
                    (layer.index > 0 ? activations_per_pixel(layer_names, layer.index - 1) : 0.0);
  }
  estimate.activation_bytes +=
      static_cast<std::uint64_t>(masked_guides * kBytesPerActivation * pixels * style_values);
  const double buffers =
      config.optimizer == OptimizerKind::kLbfgs ? 2.0 * config.lbfgs_history + 8.0 : 6.0;
  estimate.optimizer_bytes = static_cast<std::uint64_t>(buffers * image_bytes);
  estimate.style_bytes =
      style_target_bytes(style_side_px(std::max(width_px, height_px), config.style_scale));
  return estimate;
}

MemoryEstimate estimate_tiled_memory(const std::vector<std::string>& layer_names,
                                     const LayerPlan& plan, int width_px, int height_px,
                                     int tile_px, const StyleConfig& config,
                                     std::uint64_t model_file_bytes, int masked_guides) {
  auto estimate = estimate_memory(layer_names, plan, std::min(width_px, tile_px),
                                  std::min(height_px, tile_px), config, model_file_bytes,
                                  masked_guides);
  const int style_side = style_side_px(std::max(width_px, height_px), config.style_scale);
  estimate.style_bytes = style_target_bytes(std::min(style_side, tile_px));
  const double pixels = static_cast<double>(width_px) * height_px;
  estimate.whole_image_bytes = static_cast<std::uint64_t>(
      (3.0 * kWholeImageBuffers + masked_guides) * pixels * kBytesPerImageValue);
  return estimate;
}

std::optional<int> largest_fitting_tile(const std::vector<std::string>& layer_names,
                                        const LayerPlan& plan, int width_px, int height_px,
                                        int min_tile_px, const StyleConfig& config,
                                        std::uint64_t model_file_bytes, std::uint64_t budget_bytes,
                                        int masked_guides) {
  auto fits = [&](int tile) {
    return estimate_tiled_memory(layer_names, plan, width_px, height_px, tile, config,
                                 model_file_bytes, masked_guides)
               .total_bytes() <= budget_bytes;
  };
  int low = min_tile_px;
  if (!fits(low)) return std::nullopt;
  int high = std::max(width_px, height_px);
  if (fits(high)) return high;
  while (high - low > 1) {  // fits(low) && !fits(high)
    const int mid = low + (high - low) / 2;
    (fits(mid) ? low : high) = mid;
  }
  return low;
}

std::optional<int> largest_fitting_size(const std::vector<std::string>& layer_names,
                                        const LayerPlan& plan, double aspect_w_over_h,
                                        const StyleConfig& config, std::uint64_t model_file_bytes,
                                        std::uint64_t budget_bytes, int masked_guides) {
  auto fits = [&](int side) {
    const int w = aspect_w_over_h >= 1.0 ? side
                                         : std::max(1, static_cast<int>(side * aspect_w_over_h));
    const int h = aspect_w_over_h >= 1.0 ? std::max(1, static_cast<int>(side / aspect_w_over_h))
                                         : side;
    return estimate_memory(layer_names, plan, w, h, config, model_file_bytes, masked_guides)
               .total_bytes() <= budget_bytes;
  };
  int low = 16;
  if (!fits(low)) return std::nullopt;
  int high = kMaxSizePx;
  if (fits(high)) return high;
  while (high - low > 1) {  // fits(low) && !fits(high)
    const int mid = low + (high - low) / 2;
    (fits(mid) ? low : high) = mid;
  }
  return low;
}

std::optional<std::uint64_t> available_memory_bytes(const c10::Device& device) {
  if (!device.is_cpu()) return std::nullopt;
  auto available = read_number_after("/proc/meminfo", "MemAvailable:");
  if (!available) return std::nullopt;
  std::uint64_t bytes = *available * 1024;
  // A container's cgroup (v2) limit can be lower than the machine's free memory.
  std::ifstream limit_file("/sys/fs/cgroup/memory.max");
  std::uint64_t limit = 0;
  if (limit_file >> limit) {
    const auto used = read_number_after("/sys/fs/cgroup/memory.current", "");
    if (used && *used < limit) bytes = std::min(bytes, limit - *used);
  }
  return bytes;
}

std::uint64_t parse_memory_size(const std::string& text) {
  std::size_t used = 0;
  double value = -1.0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = text.substr(used);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  if (!unit.empty() && (unit.back() == 'i')) unit.pop_back();
  double scale = 1.0;
  if (unit == "K" || unit == "k") {
    scale = 1024.0;
  } else if (unit == "M" || unit == "m") {
    scale = 1024.0 * 1024.0;
  } else if (unit == "G" || unit == "g") {
    scale = 1024.0 * 1024.0 * 1024.0;
  } else if (unit == "T" || unit == "t") {
    scale = 1024.0 * 1024.0 * 1024.0 * 1024.0;
  } else if (!unit.empty()) {
    used = 0;
  }
  if (used == 0 || !std::isfinite(value) || value <= 0.0) {
    throw ConfigError("invalid memory size '" + text + "': expected a number with an optional "
                      "unit K, M, G or T, e.g. 1.5G");
  }
  return static_cast<std::uint64_t>(value * scale);
}

std::string format_bytes(std::uint64_t bytes) {
  char text[32];
  const double gib = static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0);
  if (gib >= 1.0) {
    std::snprintf(text, sizeof text, "%.2f GiB", gib);
  } else {
    std::snprintf(text, sizeof text, "%.0f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  }
  return text;
}

}  // namespace stylize
