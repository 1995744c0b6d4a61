// WinogradConv3x3 in a build without oneDNN (no libdnnl-dev, or -DSTYLIZE_WITH_ONEDNN=OFF, or
// the engine-only build on a machine with nothing but PyTorch): every convolution runs through
// ATen. The other build is winograd_conv_onednn.cpp.
#include <stylize/errors.hpp>
#include "kernels/winograd_conv.hpp"

namespace stylize {

std::string WinogradConv3x3::library_version() { return {}; }

std::string WinogradConv3x3::unavailable_reason() {
  return "this stylize was built without oneDNN (install libdnnl-dev and rebuild)";
}

std::shared_ptr<WinogradConv3x3> WinogradConv3x3::create(const at::Tensor& /*weight*/,
                                                         const at::Tensor& /*bias*/) {
  throw ConfigError(unavailable_reason());
}

}  // namespace stylize
