#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace stylize {

struct StyleConfig;

/// The image an optimisation starts from, on device as a leaf that requires grad: init_rgb01
/// (config.init kImage or kStyleColours, or kAuto when it is given; it must have the content's
/// shape), noise drawn from config.seed (kNoise), else the content.
at::Tensor initial_image(const at::Tensor& content, const StyleConfig& config,
                         const at::Tensor& init_rgb01, const c10::Device& device);

}  // namespace stylize
