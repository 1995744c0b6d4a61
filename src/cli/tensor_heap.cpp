#include "tensor_heap.hpp"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

namespace stylize::cli {
namespace {

/// Sits just before every block; the tensor's data follows it, 64-byte aligned like torch's own
/// allocator's blocks.
struct alignas(64) BlockHeader {
  std::size_t mapped_bytes;  ///< the whole mapping, header included; 0 for a small heap block
};

constexpr std::size_t kPageBytes = 4096;

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

void deallocate(void* data) {
  if (data == nullptr) return;
  auto* header = static_cast<BlockHeader*>(data) - 1;
  if (header->mapped_bytes == 0) {
    std::free(header);
  } else {
    munmap(header, header->mapped_bytes);
  }
}

/// README "Memory". Every iteration frees and reallocates the activations and gradients of the
/// whole network (about 2 GB at 512 px). A block of its own mapping per tensor returns memory
/// the moment a tensor dies, so peak RSS is what is live at the peak (glibc's heap instead
/// fragments by ~400 MB at 512 px, and its default mapping threshold adapts too late). The
/// price of fresh mappings is a page fault per 4 KiB touched; huge pages make that one per
/// 2 MiB. No block is cached: the mapping is returned whole when the tensor dies.
class TensorHeap final : public c10::Allocator {
 public:
  c10::DataPtr allocate(std::size_t nbytes) const override {
    void* data = allocate_raw(nbytes);
    return {data, data, &deallocate, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &deallocate; }

 private:
  static void* allocate_raw(std::size_t nbytes) {
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
    void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    // Advice only: where transparent huge pages are off, small pages serve as before.
    if (bytes >= kHugePageBytes) madvise(base, bytes, MADV_HUGEPAGE);
    static_cast<BlockHeader*>(base)->mapped_bytes = bytes;
    return static_cast<BlockHeader*>(base) + 1;
  }
};

}  // namespace

void install_tensor_heap() {
  const char* mode = std::getenv("STYLIZE_MALLOC");
  if (mode != nullptr && std::strcmp(mode, "default") == 0) return;
  // Lives as long as the process: every tensor's deleter refers to it. Priority above torch's
  // default allocator (0), so later registrations of the default do not displace it.
  static TensorHeap heap;
  c10::SetCPUAllocator(&heap, /*priority=*/1);
}

}  // namespace stylize::cli
