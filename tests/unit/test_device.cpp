#include <stylize/device.hpp>
#include <stylize/errors.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#include "test_support.hpp"

namespace stylize {
namespace {

TEST(device_test, cpu_and_auto) {
  EXPECT_TRUE(resolve_device("cpu").is_cpu());
  EXPECT_EQ(resolve_device("auto").is_cuda(), torch::cuda::is_available());
}

TEST(device_test, rejects_unknown_spellings) {
  for (const char* spec : {"gpu", "cuda:", "cuda:x", "cuda0", "CPU"}) {
    EXPECT_ERROR_MSG(
        resolve_device(spec), ConfigError,
        "invalid device '" + std::string(spec) + "': expected auto, cpu, cuda or cuda:N");
  }
}

TEST(device_test, cuda_without_cuda_is_a_device_error) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this machine has CUDA";
  EXPECT_ERROR_MSG(resolve_device("cuda:0"), DeviceError,
                   "device 'cuda:0' is not available: this build or machine has no CUDA device "
                   "(use --device cpu or auto)");
}

/// configure_threads changes torch's process-wide thread count: put back for the next test.
class device_threads_test : public ::testing::Test {
 protected:
  test::ScopedThreadCount threads_;
};

TEST_F(device_threads_test, threads_default_to_every_core) {
  const int hardware = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  EXPECT_EQ(configure_threads(0), hardware);
  EXPECT_EQ(at::get_num_threads(), hardware);
  EXPECT_EQ(configure_threads(1), 1);
  EXPECT_EQ(at::get_num_threads(), 1);
  EXPECT_ERROR_MSG(configure_threads(-1), ConfigError,
                   "invalid threads -1: must be >= 0 (0 means all cores)");
  EXPECT_EQ(at::get_num_threads(), 1) << "a refused count changes nothing";
}

TEST(device_test, precision_on_the_cpu) {
  const c10::Device cpu(c10::kCPU);
  const auto fp32 = configure_precision(cpu, Precision::kFp32);
  EXPECT_EQ(fp32.network_dtype, c10::ScalarType::Float);
  EXPECT_EQ(fp32.notice, "");
  const auto bf16 = configure_precision(cpu, Precision::kBf16);
  EXPECT_EQ(bf16.network_dtype, c10::ScalarType::BFloat16);
  EXPECT_NE(bf16.notice, "");
  const auto tf32 = configure_precision(cpu, Precision::kTf32);
  EXPECT_EQ(tf32.network_dtype, c10::ScalarType::Float);
  EXPECT_EQ(tf32.notice,
            "precision tf32 applies to CUDA tensor cores only: the CPU computes in fp32");
  EXPECT_ERROR_MSG(configure_precision(cpu, Precision::kFp16), ConfigError,
                   "invalid precision fp16 on the CPU: it needs a CUDA device (use fp32, or bf16 "
                   "on CPUs with bf16 instructions)");
}

/// GFLOP/s of the test's own timing of the product measure_cpu_matmul_gflops times (512x512 by
/// 512x512, fp32, torch's current thread count): the best of several runs.
double independent_matmul_gflops() {
  constexpr int64_t kN = 512;
  const auto a = at::rand({kN, kN});
  const auto b = at::rand({kN, kN});
  at::mm(a, b);
  double best_s = std::numeric_limits<double>::infinity();
  for (int i = 0; i < 8; ++i) {
    const auto start = std::chrono::steady_clock::now();
    at::mm(a, b);
    best_s = std::min(
        best_s, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return 2.0 * kN * kN * kN / best_s / 1e9;
}

TEST(device_test, matmul_speed_is_measured) {
  constexpr double kProductFlops = 2.0 * 512 * 512 * 512;
  // Two bounds on the figure, both of which a wrong one (wrong units, flops or timing, a
  // constant) breaks:
  // - the call timed at least one whole product, so it took at least as long as one product at
  //   the speed it reports: reported >= the product's flops / the call's duration (exact);
  // - it is at most 4x the test's own best timing of the same product (generous, as load on the
  //   machine slows either timing; a disagreement is measured again before it counts).
  double reported = 0.0;
  double at_least = 0.0;
  double independent = 0.0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const auto start = std::chrono::steady_clock::now();
    reported = measure_cpu_matmul_gflops();
    const double call_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    at_least = kProductFlops / call_s / 1e9;
    independent = independent_matmul_gflops();
    if (reported <= 4.0 * independent) break;
  }
  ASSERT_TRUE(std::isfinite(reported)) << reported;
  EXPECT_GE(reported, at_least) << "the call took " << kProductFlops / at_least / 1e9 * 1e3
                                << " ms: too short for even one product at " << reported
                                << " GFLOP/s";
  EXPECT_LE(reported, 4.0 * independent)
      << "the test's own timing of the same product gives " << independent << " GFLOP/s";
}

}  // namespace
}  // namespace stylize
