#include <stylize/device.hpp>
#include <stylize/errors.hpp>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <thread>

namespace stylize {
namespace {

TEST(device_test, cpu_and_auto) {
  EXPECT_TRUE(resolve_device("cpu").is_cpu());
  EXPECT_EQ(resolve_device("auto").is_cuda(), torch::cuda::is_available());
}

TEST(device_test, rejects_unknown_spellings) {
  for (const char* spec : {"gpu", "cuda:", "cuda:x", "cuda0", "CPU"}) {
    try {
      resolve_device(spec);
      ADD_FAILURE() << spec << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()),
                "invalid device '" + std::string(spec) + "': expected auto, cpu, cuda or cuda:N");
    }
  }
}

TEST(device_test, cuda_without_cuda_is_a_device_error) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this machine has CUDA";
  try {
    resolve_device("cuda:0");
    FAIL() << "cuda accepted";
  } catch (const DeviceError& e) {
    EXPECT_EQ(std::string(e.what()),
              "device 'cuda:0' is not available: this build or machine has no CUDA device "
              "(use --device cpu or auto)");
  }
}

TEST(device_test, threads_default_to_every_core) {
  const int hardware = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  EXPECT_EQ(configure_threads(0), hardware);
  EXPECT_EQ(at::get_num_threads(), hardware);
  EXPECT_EQ(configure_threads(1), 1);
  EXPECT_THROW(configure_threads(-1), ConfigError);
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
  try {
    configure_precision(cpu, Precision::kFp16);
    FAIL() << "fp16 on the CPU accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "invalid precision fp16 on the CPU: it needs a CUDA device (use fp32, or bf16 on "
                 "CPUs with bf16 instructions)");
  }
}

TEST(device_test, matmul_speed_is_measured) {
  const double gflops = measure_cpu_matmul_gflops();
  EXPECT_GT(gflops, 0.1);
  EXPECT_LT(gflops, 1e6);
}

}  // namespace
}  // namespace stylize
