#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "tensor_heap.hpp"

namespace stylize::heap {
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

constexpr std::size_t kMiB = std::size_t{1} << 20U;

at::Tensor bytes_tensor(std::size_t bytes) {
  return at::empty({static_cast<std::int64_t>(bytes)}, at::kByte);
}

/// A block of the arena as bytes, to write and read through torch.
at::Tensor view_bytes(void* block, std::size_t bytes) {
  return at::from_blob(block, {static_cast<std::int64_t>(bytes)}, at::kByte);
}

TEST(tensor_heap_test, large_tensors_come_from_the_arena_with_huge_pages) {
  auto large = bytes_tensor(8 * kMiB);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(large.data_ptr()) % kArenaGranuleBytes, 0U)
      << "arena blocks are aligned to their granule (and so to torch's 64 bytes)";
  const auto mapping = mapping_of(large.data_ptr());
  ASSERT_TRUE(mapping.has_value());
  EXPECT_GE(mapping->end - mapping->start, 8 * kMiB);
  if (std::filesystem::exists("/sys/kernel/mm/transparent_hugepage/enabled")) {
    EXPECT_NE((" " + mapping->vm_flags + " ").find(" hg "), std::string::npos)
        << "asked for huge pages; VmFlags:" << mapping->vm_flags;
  }
  large.fill_(1);
  EXPECT_EQ(large.sum().item<std::int64_t>(), std::int64_t{8} << 20U);
  EXPECT_TRUE(tensor_heap_owns(large.data_ptr()));
}

TEST(tensor_heap_test, arena_serves_a_freed_block_again_with_its_pages) {
  TensorArena arena(64 * kMiB);
  void* block = arena.allocate(8 * kMiB);
  ASSERT_NE(block, nullptr);
  view_bytes(block, 8 * kMiB).fill_(7);
  arena.deallocate(block);
  void* again = arena.allocate(8 * kMiB - 100);
  EXPECT_EQ(again, block);
  EXPECT_EQ(view_bytes(again, 8 * kMiB).min().item<std::uint8_t>(), 7)
      << "its pages stayed faulted in: not unmapped and zeroed again";
  EXPECT_EQ(arena.top_bytes(), 8 * kMiB);
}

TEST(tensor_heap_test, arena_takes_the_smallest_free_block_that_fits) {
  TensorArena arena(64 * kMiB);
  void* twelve = arena.allocate(12 * kMiB);
  void* guard = arena.allocate(kMiB);
  void* six = arena.allocate(6 * kMiB);
  void* guard2 = arena.allocate(kMiB);
  arena.deallocate(twelve);
  arena.deallocate(six);
  EXPECT_EQ(arena.allocate(5 * kMiB), six) << "the 6 MiB block, not the 12 MiB one freed first";
  EXPECT_EQ(arena.allocate(10 * kMiB), twelve);
  EXPECT_EQ(arena.top_bytes(), 20 * kMiB) << "nothing new was taken from the top";
  EXPECT_EQ(arena.free_bytes(), 3 * kMiB) << "the remainders of both blocks";
  arena.deallocate(guard);
  arena.deallocate(guard2);
}

TEST(tensor_heap_test, arena_merges_a_freed_block_with_its_free_neighbours) {
  TensorArena arena(64 * kMiB);
  void* a = arena.allocate(4 * kMiB);
  void* b = arena.allocate(4 * kMiB);
  void* c = arena.allocate(4 * kMiB);
  void* guard = arena.allocate(kMiB);
  arena.deallocate(a);
  arena.deallocate(c);
  EXPECT_EQ(arena.allocate(8 * kMiB), static_cast<void*>(static_cast<char*>(guard) + kMiB))
      << "before b is freed no free block holds 8 MiB: it comes from the top";
  arena.deallocate(b);  // joins a and c on either side
  EXPECT_EQ(arena.allocate(12 * kMiB), a) << "a, b and c as one block";
  EXPECT_EQ(arena.free_bytes(), 0U);
}

TEST(tensor_heap_test, arena_grows_a_free_block_at_the_top) {
  TensorArena arena(64 * kMiB);
  void* a = arena.allocate(4 * kMiB);
  void* b = arena.allocate(4 * kMiB);
  arena.deallocate(b);
  EXPECT_EQ(arena.allocate(6 * kMiB), b) << "the free block at the top, extended";
  EXPECT_EQ(arena.top_bytes(), 10 * kMiB);
  arena.deallocate(a);
}

TEST(tensor_heap_test, arena_allocates_nothing_beyond_its_reservation) {
  TensorArena arena(8 * kMiB);
  void* six = arena.allocate(6 * kMiB);
  ASSERT_NE(six, nullptr);
  EXPECT_EQ(arena.allocate(4 * kMiB), nullptr);
  EXPECT_TRUE(arena.owns(six));
  EXPECT_FALSE(arena.owns(&arena));
  arena.deallocate(six);
  EXPECT_EQ(arena.allocate(8 * kMiB), six) << "the whole reservation once it is free";
}

TEST(tensor_heap_test, arena_gives_the_pages_of_free_blocks_back) {
  TensorArena arena(64 * kMiB);
  void* block = arena.allocate(8 * kMiB);
  view_bytes(block, 8 * kMiB).fill_(7);
  arena.deallocate(block);
  arena.release_free_pages();
  void* again = arena.allocate(8 * kMiB);
  ASSERT_EQ(again, block);
  EXPECT_EQ(view_bytes(again, 8 * kMiB).max().item<std::uint8_t>(), 0)
      << "fresh zeroed pages after the release";
}

TEST(tensor_heap_test, a_heap_block_goes_back_to_the_arena_when_its_tensor_dies) {
  // Other tests have used the process heap before: only what holds for any state is asserted.
  auto tensor = bytes_tensor(24 * kMiB);
  tensor.fill_(3);
  ASSERT_TRUE(tensor_heap_owns(tensor.data_ptr()));
  auto live = bytes_tensor(24 * kMiB);
  live.fill_(5);
  tensor = at::Tensor();  // back to the arena, free
  release_kept_tensor_mappings();  // every free block's pages go; a live block's stay
  EXPECT_EQ(live.min().item<std::uint8_t>(), 5) << "a live block keeps its contents";
  const auto again = bytes_tensor(24 * kMiB);
  ASSERT_TRUE(tensor_heap_owns(again.data_ptr()));
  EXPECT_EQ(again.max().item<std::uint8_t>(), 0) << "a block from freed pages reads zeros";
}

TEST(tensor_heap_test, small_tensors_come_from_the_heap) {
  const auto small = at::ones({64, 1024}, at::kFloat);  // 256 KiB
  const void* data = small.data_ptr();
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(data) % 64, 0U);
  const auto mapping = mapping_of(data);
  ASSERT_TRUE(mapping.has_value());
  EXPECT_NE(mapping->start, reinterpret_cast<std::uintptr_t>(data) - 64)
      << "not a mapping of its own";
  EXPECT_FLOAT_EQ(small.sum().item<float>(), 65536.0F);
  EXPECT_FALSE(tensor_heap_owns(data));
}

}  // namespace
}  // namespace stylize::heap
