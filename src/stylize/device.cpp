#include <stylize/device.hpp>
#include <stylize/errors.hpp>

#include "kernels/cpu_isa.hpp"
#include "kernels/winograd_conv.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <chrono>
#include <thread>

namespace stylize {

c10::Device resolve_device(const std::string& spec) {
  if (spec == "auto") {
    return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  }
  if (spec == "cpu") return c10::Device(c10::kCPU);
  if (spec.rfind("cuda", 0) != 0) {
    throw ConfigError("invalid device '" + spec + "': expected auto, cpu, cuda or cuda:N");
  }
  int index = 0;
  if (spec != "cuda") {
    const std::string digits = spec.size() > 5 && spec[4] == ':' ? spec.substr(5) : "";
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos ||
        digits.size() > 3) {
      throw ConfigError("invalid device '" + spec + "': expected auto, cpu, cuda or cuda:N");
    }
    index = std::stoi(digits);
  }
  if (!torch::cuda::is_available()) {
    throw DeviceError("device '" + spec +
                      "' is not available: this build or machine has no CUDA device "
                      "(use --device cpu or auto)");
  }
  const auto count = static_cast<int>(torch::cuda::device_count());
  if (index >= count) {
    throw DeviceError("device '" + spec + "' is not available: there are " +
                      std::to_string(count) + " CUDA devices");
  }
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

std::string describe_device(const c10::Device& device) {
  if (device.is_cpu()) {
    const int threads = at::get_num_threads();
    return "cpu (" + std::to_string(threads) + (threads == 1 ? " thread)" : " threads)");
  }
  return device.str();
}

std::string library_versions() {
  std::string text = "LibTorch " TORCH_VERSION;
  const auto onednn = WinogradConv3x3::library_version();
  if (!onednn.empty()) text += ", " + onednn;
  return text + ", CPU kernels " + cpu_kernel_isa();
}

std::string cpu_kernel_isa() { return isa_name(kernel_isa()); }

int available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  int cpus = sched_getaffinity(0, sizeof set, &set) == 0
                 ? CPU_COUNT(&set)
                 : static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  // A cgroup (v2) CPU quota, "max" or "<quota> <period>" in microseconds.
  std::ifstream quota_file("/sys/fs/cgroup/cpu.max");
  std::string quota;
  double period = 0.0;
  if (quota_file >> quota >> period && quota != "max" && period > 0.0) {
    try {
      cpus = std::min(cpus, std::max(1, static_cast<int>(std::ceil(std::stod(quota) / period))));
    } catch (const std::exception&) {
    }
  }
  return std::max(1, cpus);
}

int configure_threads(int requested_threads) {
  if (requested_threads < 0) {
    throw ConfigError("invalid threads " + std::to_string(requested_threads) +
                      ": must be >= 0 (0 means all cores)");
  }
  // c10 defaults to half the hardware threads on x86-64 (one on a 2-core box); style transfer
  // is compute-bound, so use every CPU this process may run on, and never more: threads beyond
  // them only wait for each other.
  const int threads = requested_threads > 0 ? std::min(requested_threads, available_cpus())
                                            : available_cpus();
  at::set_num_threads(threads);
  return at::get_num_threads();
}

PrecisionSetup configure_precision(const c10::Device& device, Precision precision) {
  PrecisionSetup setup;
  if (device.is_cuda()) {
    auto& context = at::globalContext();
    context.setAllowTF32CuBLAS(precision == Precision::kTf32);
    context.setAllowTF32CuDNN(precision == Precision::kTf32);
    context.setBenchmarkCuDNN(true);
  } else if (precision == Precision::kFp16) {
    throw ConfigError("invalid precision fp16 on the CPU: it needs a CUDA device (use fp32, or "
                      "bf16 on CPUs with bf16 instructions)");
  } else if (precision == Precision::kTf32) {
    setup.notice = "precision tf32 applies to CUDA tensor cores only: the CPU computes in fp32";
  } else if (precision == Precision::kBf16) {
    setup.notice = "precision bf16 on the CPU is much slower than fp32 unless the CPU has bf16 "
                   "instructions (AVX512-BF16 or AMX)";
  }
  if (precision == Precision::kBf16) setup.network_dtype = c10::ScalarType::BFloat16;
  if (precision == Precision::kFp16) setup.network_dtype = c10::ScalarType::Half;
  return setup;
}

double measure_cpu_matmul_gflops() {
  constexpr int64_t kN = 512;
  const auto a = at::ones({kN, kN});
  const auto b = at::ones({kN, kN});
  at::mm(a, b);  // warm-up: thread pools, page faults
  double best_s = 1e9;
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    at::mm(a, b);
    best_s = std::min(best_s,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return 2.0 * kN * kN * kN / best_s / 1e9;
}

}  // namespace stylize
