#pragma once

#include <ATen/core/Tensor.h>
#include <stylize/image_io.hpp>

#include <string>
#include <vector>

namespace stylize {

/// A labelled grid of images: each tile an image ([1,3,H,W] RGB [0,1], scaled to the first
/// image's height, keeping its aspect) with its label written under it, `columns` tiles a row.
/// Returns the sheet as [1,3,H,W] RGB [0,1].
at::Tensor contact_sheet(const std::vector<at::Tensor>& images,
                         const std::vector<std::string>& labels, int columns);

}  // namespace stylize
