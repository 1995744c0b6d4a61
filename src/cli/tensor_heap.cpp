#include "tensor_heap.hpp"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <list>
#include <mutex>
#include <new>
#include <utility>

namespace stylize::cli {
namespace {

/// Sits just before every block; the tensor's data follows it, 64-byte aligned like torch's own
/// allocator's blocks.
struct alignas(64) BlockHeader {
  std::size_t mapped_bytes;  ///< the whole mapping, header included; 0 for a small heap block
};

constexpr std::size_t kPageBytes = 4096;

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

/// README "Performance", the heap. Every iteration frees and reallocates the activations and
/// gradients of the whole network (about 2 GB at 512 px), in the same sizes each time, and the
/// Winograd convolutions add transient buffers of other sizes. Each large tensor gets a mapping
/// of its own, so memory goes back when tensors die and peak RSS is what is live at the peak plus
/// the freed mappings kept for reuse (see keep(); glibc's heap instead fragments by ~400 MB at
/// 512 px). A fresh mapping costs a page fault and the kernel's zeroing per page
/// touched (7-13 % of a 512 px run's time when mappings were only reused by equal sizes); huge
/// pages make the faults one per 2 MiB, and reusing a kept mapping avoids both: one of the same
/// size as is, else the closest in size resized, which zeroes only what it grows by.
class TensorHeap final : public c10::Allocator {
 public:
  c10::DataPtr allocate(std::size_t nbytes) const override {
    void* data = allocate_raw(nbytes);
    return {data, data, &deallocate, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &deallocate; }

  /// Unmaps the least recently freed kept mappings until at most limit bytes remain.
  void release_idle(std::size_t limit) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    while (idle_bytes_ > limit && !idle_.empty()) {
      BlockHeader* oldest = idle_.back();
      idle_.pop_back();
      idle_bytes_ -= oldest->mapped_bytes;
      munmap(oldest, oldest->mapped_bytes);
    }
  }

  static TensorHeap& instance() {
    // Lives as long as the process: every tensor's deleter refers to it.
    static auto* heap = new TensorHeap();
    return *heap;
  }

 private:
  void* allocate_raw(std::size_t nbytes) const {
    if (nbytes < kTensorMappingMinBytes) {
      void* base = nullptr;
      if (posix_memalign(&base, alignof(BlockHeader), nbytes + sizeof(BlockHeader)) != 0) {
        throw std::bad_alloc();
      }
      static_cast<BlockHeader*>(base)->mapped_bytes = 0;
      return static_cast<BlockHeader*>(base) + 1;
    }
    // The tail past the last whole huge page stays in small pages, so nothing is faulted in
    // that the tensor does not use.
    const std::size_t bytes = round_up(nbytes + sizeof(BlockHeader), kPageBytes);
    void* base = reuse_idle(bytes);
    if (base == nullptr) {
      base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (base == MAP_FAILED) throw std::bad_alloc();
      // Advice only: where transparent huge pages are off, small pages serve as before.
      if (bytes >= kHugePageBytes) madvise(base, bytes, MADV_HUGEPAGE);
    }
    static_cast<BlockHeader*>(base)->mapped_bytes = bytes;
    return static_cast<BlockHeader*>(base) + 1;
  }

  static void deallocate(void* data) {
    if (data == nullptr) return;
    auto* header = static_cast<BlockHeader*>(data) - 1;
    if (header->mapped_bytes == 0) {
      std::free(header);
    } else {
      instance().keep(header);
    }
  }

  /// A kept mapping for a block of bytes: one of exactly that size, most recently freed first;
  /// else the one closest in size, resized (its pages that remain stay faulted in, so only
  /// growth costs fresh zeroed pages); nullptr when none is kept.
  void* reuse_idle(std::size_t bytes) const {
    BlockHeader* taken = nullptr;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (idle_.empty()) return nullptr;
      auto distance = [bytes](const BlockHeader* h) {
        return h->mapped_bytes > bytes ? h->mapped_bytes - bytes : bytes - h->mapped_bytes;
      };
      auto best = idle_.begin();
      for (auto it = idle_.begin(); it != idle_.end() && distance(*best) != 0; ++it) {
        if (distance(*it) < distance(*best)) best = it;
      }
      taken = *best;
      idle_.erase(best);
      idle_bytes_ -= taken->mapped_bytes;
    }
    if (taken->mapped_bytes == bytes) return taken;
    void* resized = mremap(taken, taken->mapped_bytes, bytes, MREMAP_MAYMOVE);
    if (resized != MAP_FAILED) return resized;
    munmap(taken, taken->mapped_bytes);
    return nullptr;
  }

  /// Keeps a freed mapping; the least recently freed go while more than kIdleCapBytes, or two of
  /// the largest tensor so far if that is more (at 1024 px the first block's activations alone
  /// are 256 MiB), are kept.
  void keep(BlockHeader* header) const {
    std::size_t cap = 0;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      largest_bytes_ = std::max(largest_bytes_, header->mapped_bytes);
      cap = std::max(kIdleCapBytes, 2 * largest_bytes_);
      idle_.push_front(header);
      idle_bytes_ += header->mapped_bytes;
    }
    release_idle(cap);
  }

  mutable std::mutex mutex_;
  mutable std::list<BlockHeader*> idle_;  ///< most recently freed first
  mutable std::size_t idle_bytes_ = 0;
  mutable std::size_t largest_bytes_ = 0;  ///< the largest mapping freed so far
};

}  // namespace

void release_kept_tensor_mappings() { TensorHeap::instance().release_idle(0); }

void install_tensor_heap() {
  const char* mode = std::getenv("STYLIZE_MALLOC");
  if (mode != nullptr && std::strcmp(mode, "default") == 0) return;
  // Priority above torch's default allocator (0), so later registrations of the default do not
  // displace it.
  c10::SetCPUAllocator(&TensorHeap::instance(), /*priority=*/1);
}

}  // namespace stylize::cli
