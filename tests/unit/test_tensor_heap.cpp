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

std::uintptr_t header_of(const at::Tensor& tensor) {
  return reinterpret_cast<std::uintptr_t>(tensor.data_ptr()) - kHeaderBytes;
}

/// Whether the address is still mapped (the kernel may have merged the block's mapping with a
/// neighbour of the same kind into one range).
bool still_mapped(std::uintptr_t header) {
  return mapping_of(reinterpret_cast<const void*>(header)).has_value();
}

at::Tensor bytes_tensor(std::size_t bytes) {
  return at::empty({static_cast<std::int64_t>(bytes)}, at::kByte);
}

TEST(tensor_heap_test, large_tensors_get_a_mapping_of_their_own_with_huge_pages) {
  tune_heap();  // what run_main does first
  auto large = bytes_tensor(std::size_t{8} << 20U);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(large.data_ptr()) % 64, 0U)
      << "64-byte aligned like torch's";
  const auto mapping = mapping_of(large.data_ptr());
  ASSERT_TRUE(mapping.has_value());
  EXPECT_EQ(mapping->start, header_of(large));
  EXPECT_EQ(mapping->end - mapping->start, (std::size_t{8} << 20U) + 4096)
      << "the tensor and its header, in whole 4 KiB pages";
  if (std::filesystem::exists("/sys/kernel/mm/transparent_hugepage/enabled")) {
    EXPECT_NE((" " + mapping->vm_flags + " ").find(" hg "), std::string::npos)
        << "asked for huge pages; VmFlags:" << mapping->vm_flags;
  }
  large.fill_(1);
  EXPECT_EQ(large.sum().item<std::int64_t>(), std::int64_t{8} << 20U);
}

TEST(tensor_heap_test, freed_mappings_serve_their_size_or_are_resized_for_another) {
  tune_heap();
  release_kept_tensor_mappings();  // none left over from other tests
  constexpr std::size_t kMiB = std::size_t{1} << 20U;
  auto small = bytes_tensor(8 * kMiB);
  small.fill_(7);
  const auto small_header = header_of(small);
  auto large = bytes_tensor(20 * kMiB);
  const auto large_header = header_of(large);
  small = at::Tensor();
  large = at::Tensor();
  EXPECT_TRUE(still_mapped(small_header)) << "kept for reuse";
  EXPECT_TRUE(still_mapped(large_header)) << "kept for reuse";
  auto again = bytes_tensor(8 * kMiB);
  EXPECT_EQ(header_of(again), small_header)
      << "the mapping of the same size served it, though the larger one was freed later";
  again = at::Tensor();
  const auto other = bytes_tensor(12 * kMiB);  // no kept mapping of this size
  EXPECT_EQ(other.narrow(0, 0, 8 * kMiB).min().item<std::uint8_t>(), 7)
      << "the 8 MiB mapping (closer in size than the 20 MiB one) was resized for it: the pages "
         "it had keep their contents instead of being zeroed again";
  EXPECT_EQ(other.narrow(0, 8 * kMiB, 4 * kMiB).max().item<std::uint8_t>(), 0)
      << "what it grew by is fresh";
  EXPECT_TRUE(still_mapped(large_header)) << "the other kept mapping stays for later";
  release_kept_tensor_mappings();
  EXPECT_FALSE(still_mapped(large_header));
}

TEST(tensor_heap_test, kept_mappings_make_room_for_two_of_the_largest_tensor) {
  tune_heap();
  release_kept_tensor_mappings();
  const std::size_t above_cap = kIdleCapBytes + (std::size_t{4} << 20U);
  auto huge = bytes_tensor(above_cap);
  auto other = bytes_tensor(above_cap / 2);
  const auto huge_header = header_of(huge);
  const auto other_header = header_of(other);
  huge = at::Tensor();
  other = at::Tensor();
  EXPECT_TRUE(still_mapped(huge_header)) << "kept although larger than kIdleCapBytes";
  EXPECT_TRUE(still_mapped(other_header)) << "1.5 of the largest tensor are within two";
  auto again = bytes_tensor(above_cap);
  EXPECT_EQ(header_of(again), huge_header) << "served the same size again";
  again = at::Tensor();
  release_kept_tensor_mappings();
  EXPECT_FALSE(still_mapped(huge_header));
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
