#pragma once

#include <c10/core/Device.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace stylize {

struct LayerPlan;
struct StyleConfig;

/// Peak memory of one run, estimated before anything is allocated. The model (see README
/// "Memory"): fixed runtime + model weights, plus per output pixel the activations autograd
/// keeps for every layer up to the deepest one used (~1.5 float copies each, measured), plus the
/// optimiser's state in image-sized float buffers (L-BFGS: 2 per history entry + 8; Adam: 6).
struct MemoryEstimate {
  std::uint64_t fixed_bytes = 0;
  std::uint64_t activation_bytes = 0;
  std::uint64_t optimizer_bytes = 0;
  std::uint64_t style_bytes = 0;  ///< computing the style targets, before the optimisation
  /// Tiled runs: the buffers of the whole image's size kept besides one tile's working set.
  std::uint64_t whole_image_bytes = 0;
  [[nodiscard]] std::uint64_t total_bytes() const {
    return fixed_bytes + whole_image_bytes +
           std::max(activation_bytes + optimizer_bytes, style_bytes);
  }
};

/// masked_guides: style guides with a mask (StyleGuide), each keeping a weighted copy of every
/// style layer's activations for the backward pass.
MemoryEstimate estimate_memory(const std::vector<std::string>& layer_names, const LayerPlan& plan,
                               int width_px, int height_px, const StyleConfig& config,
                               std::uint64_t model_file_bytes, int masked_guides = 0);

/// The estimate of a run at width_px x height_px optimised in windows of at most tile_px a side
/// (StyleConfig::tile_size_px): one window's activations and optimiser state, the style
/// targets read in windows of tile_px, plus the whole image's buffers (the content, the image
/// so far, the previous scale's result, the output's conversions, masks).
MemoryEstimate estimate_tiled_memory(const std::vector<std::string>& layer_names,
                                     const LayerPlan& plan, int width_px, int height_px,
                                     int tile_px, const StyleConfig& config,
                                     std::uint64_t model_file_bytes, int masked_guides = 0);

/// The largest tile size (px, at least min_tile_px) whose estimate_tiled_memory fits
/// budget_bytes, or nullopt when min_tile_px does not fit.
std::optional<int> largest_fitting_tile(const std::vector<std::string>& layer_names,
                                        const LayerPlan& plan, int width_px, int height_px,
                                        int min_tile_px, const StyleConfig& config,
                                        std::uint64_t model_file_bytes, std::uint64_t budget_bytes,
                                        int masked_guides = 0);

/// The largest longest-side size (px, >= 16) whose estimate fits budget_bytes for an image of the
/// given aspect ratio, or nullopt when not even 16 px fits.
std::optional<int> largest_fitting_size(const std::vector<std::string>& layer_names,
                                        const LayerPlan& plan, double aspect_w_over_h,
                                        const StyleConfig& config, std::uint64_t model_file_bytes,
                                        std::uint64_t budget_bytes, int masked_guides = 0);

/// Memory the process can still use on device: MemAvailable (and the cgroup limit, if lower)
/// for the CPU; nullopt where unknown (CUDA in this build: out-of-memory is caught instead).
std::optional<std::uint64_t> available_memory_bytes(const c10::Device& device);

/// Parses "1.5G", "800M", "2048K" or a plain byte count. Throws ConfigError.
std::uint64_t parse_memory_size(const std::string& text);

/// "1.23 GiB"-style text.
std::string format_bytes(std::uint64_t bytes);

}  // namespace stylize
