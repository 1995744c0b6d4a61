#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "kernels/cpu_isa.hpp"
#include "kernels/winograd_backends.hpp"

namespace stylize {
namespace {

TEST(cpu_isa_test, names) {
  EXPECT_EQ(isa_name(CpuIsa::kAvx512), "avx512");
  EXPECT_EQ(isa_name(CpuIsa::kAvx2), "avx2");
  EXPECT_EQ(isa_name(CpuIsa::kBaseline), "baseline");
}

// ctest runs the kernel tests again with STYLIZE_MAX_ISA=avx2 and =baseline (kernels.avx2,
// kernels.baseline): on an AVX-512 machine that tests the AVX2 path.
TEST(cpu_isa_test, the_environment_caps_the_kernels) {
  const char* cap = std::getenv("STYLIZE_MAX_ISA");
  if (cap == nullptr) GTEST_SKIP() << "STYLIZE_MAX_ISA is not set";
  const std::string name(cap);
  if (name == "baseline") {
    EXPECT_EQ(kernel_isa(), CpuIsa::kBaseline);
  } else if (name == "avx2") {
    __builtin_cpu_init();
    const bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    EXPECT_EQ(kernel_isa(), has_avx2 ? CpuIsa::kAvx2 : CpuIsa::kBaseline);
  } else {
    GTEST_SKIP() << "no expectation for STYLIZE_MAX_ISA=" << name;
  }
}

TEST(cpu_isa_test, the_winograd_backend_follows_the_kernels_instruction_set) {
  switch (kernel_isa()) {
    case CpuIsa::kBaseline:
      EXPECT_EQ(WinogradConv3x3::backend_name(), "");
      EXPECT_EQ(WinogradConv3x3::unavailable_reason(),
                "Winograd convolutions need AVX2 with FMA or AVX-512 (the CPU kernels run at "
                "baseline; see STYLIZE_MAX_ISA)");
      break;
    case CpuIsa::kAvx2:
      EXPECT_EQ(WinogradConv3x3::backend_name(), "stylize F(4x4,3x3) (avx2)");
      EXPECT_EQ(WinogradConv3x3::unavailable_reason(), "");
      break;
    case CpuIsa::kAvx512:
      EXPECT_EQ(WinogradConv3x3::backend_name(), onednn_winograd_unavailable_reason().empty()
                                                     ? "oneDNN (avx512)"
                                                     : "stylize F(4x4,3x3) (avx2)");
      break;
  }
}

}  // namespace
}  // namespace stylize
