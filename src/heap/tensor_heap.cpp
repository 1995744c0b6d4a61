#include "tensor_heap.hpp"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

namespace stylize::heap {
namespace {

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

}  // namespace

TensorArena::TensorArena(std::size_t reserve_bytes) {
  const std::size_t bytes = round_up(reserve_bytes, kHugePageBytes);
  // Inaccessible and not committed: commit_up_to() opens it as the used range grows. One extra
  // huge page lets the start be aligned to one.
  void* raw = mmap(nullptr, bytes + kHugePageBytes, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return;
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const auto aligned = round_up(start, kHugePageBytes);
  if (aligned > start) munmap(raw, aligned - start);
  const std::size_t tail = kHugePageBytes - (aligned - start);
  if (tail > 0) munmap(reinterpret_cast<char*>(aligned) + bytes, tail);
  base_ = reinterpret_cast<char*>(aligned);
  reserved_bytes_ = bytes;
}

TensorArena::~TensorArena() {
  if (base_ != nullptr) munmap(base_, reserved_bytes_);
}

bool TensorArena::commit_up_to(std::size_t end) {
  // The used range only grows, and is opened in whole huge pages: what is open follows from top_.
  const std::size_t committed = std::min(round_up(top_, kHugePageBytes), reserved_bytes_);
  if (end <= committed) return true;
  const std::size_t new_committed = std::min(round_up(end, kHugePageBytes), reserved_bytes_);
  char* from = base_ + committed;
  const std::size_t length = new_committed - committed;
  if (mprotect(from, length, PROT_READ | PROT_WRITE) != 0) return false;
  // Advice only: where transparent huge pages are off, small pages serve as before.
  madvise(from, length, MADV_HUGEPAGE);
  return true;
}

void TensorArena::add_free(std::size_t offset, std::size_t bytes) {
  free_by_offset_.emplace(offset, bytes);
  free_by_size_.emplace(bytes, offset);
}

void TensorArena::remove_free(std::size_t offset, std::size_t bytes) {
  free_by_offset_.erase(offset);
  free_by_size_.erase({bytes, offset});
}

void* TensorArena::allocate(std::size_t bytes) {
  if (base_ == nullptr || bytes == 0) return nullptr;
  const std::size_t size = round_up(bytes, kArenaGranuleBytes);
  const std::lock_guard<std::mutex> lock(mutex_);
  std::size_t offset = 0;
  const auto fit = free_by_size_.lower_bound({size, 0});
  if (fit != free_by_size_.end()) {
    // The smallest free block that fits; its remainder stays free.
    const auto [free_size, free_offset] = *fit;
    remove_free(free_offset, free_size);
    if (free_size > size) add_free(free_offset + size, free_size - size);
    offset = free_offset;
  } else {
    // From the top, starting inside a free block that ends there, if any.
    std::size_t start = top_;
    if (!free_by_offset_.empty()) {
      const auto last = std::prev(free_by_offset_.end());
      if (last->first + last->second == top_) start = last->first;
    }
    if (start + size > reserved_bytes_ || !commit_up_to(start + size)) return nullptr;
    if (start < top_) remove_free(start, top_ - start);
    top_ = start + size;
    offset = start;
  }
  live_.emplace(offset, size);
  return base_ + offset;
}

void TensorArena::deallocate(void* block) {
  const std::lock_guard<std::mutex> lock(mutex_);
  auto offset = static_cast<std::size_t>(static_cast<char*>(block) - base_);
  const auto found = live_.find(offset);
  if (found == live_.end()) return;  // not a live block of this arena: nothing to do
  std::size_t size = found->second;
  live_.erase(found);
  // Merge with the free neighbours on either side.
  const auto next = free_by_offset_.find(offset + size);
  if (next != free_by_offset_.end()) {
    const std::size_t next_size = next->second;
    remove_free(offset + size, next_size);
    size += next_size;
  }
  const auto after = free_by_offset_.lower_bound(offset);
  if (after != free_by_offset_.begin()) {
    const auto before = std::prev(after);
    if (before->first + before->second == offset) {
      const std::size_t before_offset = before->first;
      const std::size_t before_size = before->second;
      remove_free(before_offset, before_size);
      offset = before_offset;
      size += before_size;
    }
  }
  add_free(offset, size);
}

bool TensorArena::owns(const void* address) const {
  const auto* p = static_cast<const char*>(address);
  return base_ != nullptr && p >= base_ && p < base_ + reserved_bytes_;
}

void TensorArena::release_free_pages() {
  const std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [offset, size] : free_by_offset_) madvise(base_ + offset, size, MADV_DONTNEED);
}

std::size_t TensorArena::top_bytes() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return top_;
}

std::size_t TensorArena::free_bytes() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  std::size_t total = 0;
  for (const auto& entry : free_by_offset_) total += entry.second;
  return total;
}

namespace {

/// Sits just before every block that does not come from the arena; the tensor's data follows
/// it, 64-byte aligned like torch's own allocator's blocks.
struct alignas(64) BlockHeader {
  std::size_t mapped_bytes;  ///< a mapping of its own, header included; 0 for a glibc block
};

constexpr std::size_t kPageBytes = 4096;

/// docs/performance.md, "Allocator". Tensors from kTensorMappingMinBytes up come from the arena
/// (one per process, reserving as much address space as the machine has memory, at most half of
/// an address-space limit); the rare one
/// it cannot hold gets a mapping of its own, unmapped when it dies; smaller ones come from
/// glibc's heap.
class TensorHeap final : public c10::Allocator {
 public:
  c10::DataPtr allocate(std::size_t nbytes) const override {
    void* data = allocate_raw(nbytes);
    return {data, data, &deallocate, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &deallocate; }

  static TensorHeap& instance() {
    // Lives as long as the process: every tensor's deleter refers to it.
    static auto* heap = new TensorHeap();
    return *heap;
  }

  TensorArena& arena() const { return arena_; }

 private:
  /// As much address space as the machine has memory, but at most half of an address-space
  /// limit (ulimit -v, which some schedulers set), so the rest of the process keeps room.
  static std::size_t arena_reserve_bytes() {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page_bytes = sysconf(_SC_PAGESIZE);
    std::size_t bytes = pages > 0 && page_bytes > 0
                            ? static_cast<std::size_t>(pages) * static_cast<std::size_t>(page_bytes)
                            : std::size_t{16} << 30U;
    rlimit limit{};
    if (getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
      bytes = std::min(bytes, static_cast<std::size_t>(limit.rlim_cur) / 2);
    }
    return bytes;
  }

  void* allocate_raw(std::size_t nbytes) const {
    if (nbytes >= kTensorMappingMinBytes) {
      if (void* block = arena_.allocate(nbytes)) return block;
    }
    BlockHeader* header = nullptr;
    if (nbytes < kTensorMappingMinBytes) {
      void* base = nullptr;
      if (posix_memalign(&base, alignof(BlockHeader), nbytes + sizeof(BlockHeader)) != 0) {
        throw std::bad_alloc();
      }
      header = static_cast<BlockHeader*>(base);
      header->mapped_bytes = 0;
    } else {
      const std::size_t bytes = round_up(nbytes + sizeof(BlockHeader), kPageBytes);
      void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (base == MAP_FAILED) throw std::bad_alloc();
      if (bytes >= kHugePageBytes) madvise(base, bytes, MADV_HUGEPAGE);
      header = static_cast<BlockHeader*>(base);
      header->mapped_bytes = bytes;
    }
    return header + 1;
  }

  static void deallocate(void* data) {
    if (data == nullptr) return;
    TensorArena& arena = instance().arena_;
    if (arena.owns(data)) {
      arena.deallocate(data);
      return;
    }
    auto* header = static_cast<BlockHeader*>(data) - 1;
    if (header->mapped_bytes == 0) {
      std::free(header);
    } else {
      munmap(header, header->mapped_bytes);
    }
  }

  mutable TensorArena arena_{arena_reserve_bytes()};
};

}  // namespace

void release_kept_tensor_mappings() { TensorHeap::instance().arena().release_free_pages(); }

bool tensor_heap_owns(const void* data) { return TensorHeap::instance().arena().owns(data); }

void install_process_heap() {
  const char* mode = std::getenv("STYLIZE_MALLOC");
  if (mode != nullptr && std::strcmp(mode, "default") == 0) return;
  // glibc serves blocks above a threshold that adapts upwards to 32 MiB from their own mappings,
  // and smaller ones from its heap, which blocks of many sizes fragment: a fixed threshold gives
  // every large block its own mapping.
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(kTensorMappingMinBytes));
  // Priority above torch's default allocator (0), so later registrations of the default do not
  // displace it.
  c10::SetCPUAllocator(&TensorHeap::instance(), /*priority=*/1);
}

}  // namespace stylize::heap
