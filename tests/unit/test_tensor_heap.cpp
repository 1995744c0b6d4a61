#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "cli.hpp"
#include "tensor_heap.hpp"

namespace stylize::cli {
namespace {

struct Mapping {
  std::uintptr_t start = 0;
  std::uintptr_t end = 0;
  std::string vm_flags;  ///< from /proc/self/smaps, e.g. "rd wr mr mw me ac hg"
};

/// The mapping of this process that contains address, if any.
std::optional<Mapping> mapping_of(const void* address) {
  const auto target = reinterpret_cast<std::uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  std::optional<Mapping> found;
  while (std::getline(smaps, line)) {
    if (found) {
      if (line.rfind("VmFlags:", 0) == 0) {
        found->vm_flags = line.substr(8);
        return found;
      }
      continue;
    }
    std::uintptr_t start = 0;
    std::uintptr_t end = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> start >> dash >> end && dash == '-' && start <= target &&
        target < end) {
      found = Mapping{start, end, ""};
    }
  }
  return found;
}

constexpr std::size_t kHeaderBytes = 64;

TEST(tensor_heap_test, large_tensors_get_a_mapping_of_their_own_returned_when_they_die) {
  tune_heap();  // what run_main does first
  auto large = at::empty({8, 1024, 1024}, at::kByte);  // 8 MiB
  const void* data = large.data_ptr();
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(data) % 64, 0U) << "64-byte aligned like torch's";
  const auto mapping = mapping_of(data);
  ASSERT_TRUE(mapping.has_value());
  EXPECT_EQ(mapping->start, reinterpret_cast<std::uintptr_t>(data) - kHeaderBytes);
  EXPECT_EQ(mapping->end - mapping->start, (std::size_t{8} << 20U) + 4096)
      << "the tensor and its header, in whole 4 KiB pages";
  if (std::filesystem::exists("/sys/kernel/mm/transparent_hugepage/enabled")) {
    EXPECT_NE((" " + mapping->vm_flags + " ").find(" hg "), std::string::npos)
        << "asked for huge pages; VmFlags:" << mapping->vm_flags;
  }
  large.fill_(1);
  EXPECT_EQ(large.sum().item<std::int64_t>(), std::int64_t{8} << 20U);
  large = at::Tensor();
  const auto after = mapping_of(data);
  EXPECT_FALSE(after.has_value() &&
               after->start == reinterpret_cast<std::uintptr_t>(data) - kHeaderBytes)
      << "the mapping outlived its tensor";
}

TEST(tensor_heap_test, small_tensors_come_from_the_heap) {
  tune_heap();  // what run_main does first
  const auto small = at::ones({64, 1024}, at::kFloat);  // 256 KiB
  const void* data = small.data_ptr();
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(data) % 64, 0U);
  const auto mapping = mapping_of(data);
  ASSERT_TRUE(mapping.has_value());
  EXPECT_NE(mapping->start, reinterpret_cast<std::uintptr_t>(data) - kHeaderBytes);
  EXPECT_FLOAT_EQ(small.sum().item<float>(), 65536.0F);
}

}  // namespace
}  // namespace stylize::cli
