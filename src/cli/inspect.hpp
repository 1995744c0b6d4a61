#pragma once

#include "options.hpp"

#include <c10/core/Device.h>

#include <ostream>

namespace stylize {
class VggFeatures;
}

namespace stylize::cli {

/// --measure: one JSON line per image with its distances from the content and the style.
void measure_images(std::ostream& out, const CliOptions& options, VggFeatures& model,
                    const c10::Device& device);

/// --list-layers: the model's layers, those the options would use tagged [content] / [style].
void list_layers(std::ostream& out, const VggFeatures& model, const StyleConfig& config);

}  // namespace stylize::cli
