// WinogradConv3x3's oneDNN backend in a build without oneDNN (no libdnnl-dev, or
// -DSTYLIZE_WITH_ONEDNN=OFF, or the engine-only build on a machine with nothing but PyTorch):
// AVX-512 CPUs run stylize's own F(4x4, 3x3) kernels instead. The other build is
// winograd_conv_onednn.cpp.
#include <stylize/errors.hpp>

#include "kernels/cpu_isa.hpp"
#include "kernels/winograd_backends.hpp"

namespace stylize {

std::string onednn_version() { return {}; }

void cap_onednn_isa(CpuIsa /*isa*/) {}

std::string onednn_winograd_unavailable_reason() {
  return "this stylize was built without oneDNN (install libdnnl-dev and rebuild)";
}

std::shared_ptr<WinogradConv3x3> make_onednn_winograd(at::Tensor /*weight*/, at::Tensor /*bias*/) {
  throw ConfigError(onednn_winograd_unavailable_reason());
}

}  // namespace stylize
