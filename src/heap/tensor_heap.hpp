#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>

namespace stylize::heap {

/// Tensors from this size up come from the tensor arena (docs/performance.md, "Allocator").
inline constexpr std::size_t kTensorMappingMinBytes = std::size_t{1} << 20U;
/// Arena blocks are whole multiples of this (and aligned to it).
inline constexpr std::size_t kArenaGranuleBytes = std::size_t{64} << 10U;
/// The arena's address space is committed (and advised to use transparent huge pages) in steps
/// of this size.
inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20U;

/// A best-fit allocator with coalescing over one reserved range of address space. Every
/// iteration frees and reallocates the network's activations, gradients and the convolutions'
/// transient buffers, in the same order and sizes each time; served from one range, freed blocks
/// merge with free neighbours and are handed out again with their pages still faulted in, so an
/// iteration touches no fresh page once the first has run, and the range grows to little more
/// than the most that was ever live at once (README "Performance", the heap). Pages of freed
/// blocks stay resident until release_free_pages(). Thread-safe.
class TensorArena {
 public:
  /// Reserves reserve_bytes of address space (inaccessible, so nothing is committed yet).
  /// A failed reservation leaves an arena that allocates nothing.
  explicit TensorArena(std::size_t reserve_bytes);
  ~TensorArena();
  TensorArena(const TensorArena&) = delete;
  TensorArena& operator=(const TensorArena&) = delete;
  TensorArena(TensorArena&&) = delete;
  TensorArena& operator=(TensorArena&&) = delete;

  /// A block of at least bytes, aligned to kArenaGranuleBytes: the smallest free block that fits,
  /// else one from the top of the used range; nullptr when the reservation cannot hold it.
  void* allocate(std::size_t bytes);
  /// Frees a block from allocate(); it merges with free neighbours.
  void deallocate(void* block);
  /// Whether address lies in this arena's reservation.
  bool owns(const void* address) const;
  /// Gives the pages of every free block back to the system (they read as zeros afterwards).
  void release_free_pages();
  /// The used range: everything below it has been handed out at some time.
  std::size_t top_bytes() const;
  /// Bytes in free blocks below the top.
  std::size_t free_bytes() const;

 private:
  void add_free(std::size_t offset, std::size_t bytes);      // with mutex_ held
  void remove_free(std::size_t offset, std::size_t bytes);   // with mutex_ held
  /// Opens the reservation up to end (the new top), in whole huge pages; with mutex_ held.
  bool commit_up_to(std::size_t end);

  char* base_ = nullptr;
  std::size_t reserved_bytes_ = 0;
  mutable std::mutex mutex_;
  std::size_t top_ = 0;  ///< the used range ends here; it never shrinks
  std::map<std::size_t, std::size_t> free_by_offset_;        ///< offset -> bytes
  std::set<std::pair<std::size_t, std::size_t>> free_by_size_;  ///< (bytes, offset)
  std::unordered_map<std::size_t, std::size_t> live_;         ///< offset -> bytes
};

/// The process's heap policy, set by each executable's main() before any tensor exists (the
/// engine library never does): torch's CPU tensors from kTensorMappingMinBytes up come from a
/// TensorArena that reserves as much address space as the machine has memory, at most half of
/// an address-space limit (ulimit -v) (tensors that do not fit get a mapping of their own,
/// returned when they die); smaller ones come from glibc's heap, whose other blocks from 1 MiB
/// up get mappings of their own (returned whole when freed: images, OpenCV buffers).
/// STYLIZE_MALLOC=default in the environment leaves glibc's and torch's defaults (for
/// comparisons); this is the one place that reads it.
void install_process_heap();

/// Whether data lies in the process heap's arena.
bool tensor_heap_owns(const void* data);

/// Gives the pages of the arena's free blocks back to the system (for tests; the CLI never
/// needs it).
void release_kept_tensor_mappings();

}  // namespace stylize::heap
