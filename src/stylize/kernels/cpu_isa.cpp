#include "kernels/cpu_isa.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <stylize/errors.hpp>

namespace stylize {
namespace {

CpuIsa detected_isa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return CpuIsa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CpuIsa::kAvx2;
  return CpuIsa::kBaseline;
}

CpuIsa isa_cap_from_environment() {
  const char* value = std::getenv("STYLIZE_MAX_ISA");
  if (value == nullptr || *value == '\0') return CpuIsa::kAvx512;
  std::string name(value);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const auto isa : {CpuIsa::kAvx512, CpuIsa::kAvx2, CpuIsa::kBaseline}) {
    if (name == isa_name(isa)) return isa;
  }
  throw ConfigError("invalid STYLIZE_MAX_ISA '" + std::string(value) +
                    "': expected avx512, avx2 or baseline");
}

}  // namespace

std::string isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512:
      return "avx512";
    case CpuIsa::kAvx2:
      return "avx2";
    case CpuIsa::kBaseline:
      break;
  }
  return "baseline";
}

CpuIsa kernel_isa() {
  // Neither the CPU nor the environment variable changes while the process runs.
  static const CpuIsa isa = [] {
    const auto cap = isa_cap_from_environment();
    const auto chosen = std::min(detected_isa(), cap);
    if (cap != CpuIsa::kAvx512) cap_onednn_isa(chosen);
    return chosen;
  }();
  return isa;
}

}  // namespace stylize
