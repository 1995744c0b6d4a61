#pragma once

#include <string>

namespace stylize {

/// The vector instruction sets stylize's own CPU kernels come in, lowest first.
enum class CpuIsa { kBaseline, kAvx2, kAvx512 };

/// What this CPU offers (AVX2 counts with FMA only), capped by the environment variable
/// STYLIZE_MAX_ISA (avx512, avx2 or baseline, any case): the instruction set stylize's kernels
/// use. Read once per process. The first call also caps oneDNN (LibTorch's convolutions and the
/// oneDNN Winograd kernels) at the same level where the build has oneDNN's headers, so that the
/// AVX2 path can be measured and tested on an AVX-512 machine; OpenBLAS reads its own cap,
/// OPENBLAS_CORETYPE (e.g. Haswell), when it loads. Throws ConfigError for an unknown value.
/// The CLI calls it first (cpu_kernel_isa()), VggFeatures::load before any convolution.
CpuIsa kernel_isa();

/// "avx2", "avx512" or "baseline".
std::string isa_name(CpuIsa isa);

/// Caps oneDNN's instruction set (dnnl_set_max_cpu_isa); effective only before oneDNN's first
/// kernel is made. Defined with the oneDNN backend (winograd_conv_onednn.cpp; a no-op in
/// winograd_conv_unavailable.cpp, a build without oneDNN's headers, where LibTorch's oneDNN
/// stays uncapped: set ONEDNN_MAX_CPU_ISA). Called by kernel_isa().
void cap_onednn_isa(CpuIsa isa);

}  // namespace stylize
