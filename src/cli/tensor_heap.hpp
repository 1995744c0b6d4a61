#pragma once

#include <cstddef>

namespace stylize::cli {

/// Tensors from this size up get a mapping of their own (README "Performance", the heap).
inline constexpr std::size_t kTensorMappingMinBytes = std::size_t{1} << 20U;
/// Freed mappings of up to this many bytes in all (or two of the largest tensor, if more) are
/// kept for reuse by later tensors.
inline constexpr std::size_t kIdleCapBytes = std::size_t{256} << 20U;
/// Mappings from this size up ask the kernel for transparent huge pages.
inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20U;

/// Makes torch's CPU tensors from kTensorMappingMinBytes up come from mappings of their own,
/// with huge pages, returned when the tensor dies or kept for reuse (kIdleCapBytes): a kept
/// mapping serves a tensor of its size, or else is resized (mremap) for the next tensor that
/// finds none of its size, so its pages need not be faulted in and zeroed again.
/// Process-wide, so the CLI calls it once at start-up (run_main), before any tensor exists; the
/// engine library never does. STYLIZE_MALLOC=default in the environment skips it (for
/// comparisons).
void install_tensor_heap();

/// Returns every kept mapping to the system (for tests; the CLI never needs it).
void release_kept_tensor_mappings();

}  // namespace stylize::cli
