#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <stylize/config.hpp>

#include <string>

namespace stylize {

/// Turns "auto", "cpu", "cuda" or "cuda:N" into a device. "auto" is CUDA when available, else
/// the CPU. Throws DeviceError when CUDA is requested but absent (for example on a CPU-only
/// build) or the index is out of range, ConfigError for an unknown spelling.
c10::Device resolve_device(const std::string& spec);

/// A human-readable description for logs, e.g. "cpu (2 threads)" or "cuda:0 (NVIDIA H200)".
std::string describe_device(const c10::Device& device);

/// What a --precision means on a device.
struct PrecisionSetup {
  c10::ScalarType network_dtype = c10::ScalarType::Float;  ///< VggFeatures::set_compute_dtype
  std::string notice;  ///< non-empty when the choice is legal but unwise or has no effect here
};

/// Applies precision for device: on CUDA it turns TF32 tensor-core products on or off and turns
/// cuDNN autotuning on (the image size is fixed within a scale, so the search pays off after a
/// few iterations). Throws ConfigError for fp16 on the CPU (no CPU kernels for half-precision
/// convolutions). Changes torch's process-wide settings: call once, from the program's edge.
PrecisionSetup configure_precision(const c10::Device& device, Precision precision);

/// The engine's libraries, e.g. "LibTorch 1.13.1, oneDNN 2.7.3".
std::string library_versions();

/// The instruction set of stylize's CPU kernels ("avx512", "avx2", "baseline"): the CPU's,
/// capped by STYLIZE_MAX_ISA. The first call applies the cap to oneDNN as well, so a program
/// calls it before its first convolution. Throws ConfigError for an unknown STYLIZE_MAX_ISA.
std::string cpu_kernel_isa();

/// The CPUs this process may use: its affinity mask, and a cgroup CPU quota if lower.
int available_cpus();

/// Sets the intra-op thread count: requested_threads, at most available_cpus(); 0 means
/// available_cpus(). Returns the count in force. Throws ConfigError for a negative count.
int configure_threads(int requested_threads);

/// Below this a CPU's matrix products are considered slow (a reference BLAS runs at ~3 GFLOP/s,
/// OpenBLAS at 100+ on two cores).
inline constexpr double kSlowMatmulGflops = 8.0;

/// Times a 512x512x512 single-precision matrix product on the CPU (a few milliseconds with a
/// good BLAS) and returns GFLOP/s, so a slow BLAS can be reported before a long run.
double measure_cpu_matmul_gflops();

}  // namespace stylize
