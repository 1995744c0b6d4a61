#pragma once

#include <cstddef>

namespace stylize::cli {

/// Tensors from this size up get a mapping of their own (README "Performance", the heap).
inline constexpr std::size_t kTensorMappingMinBytes = std::size_t{1} << 20U;
/// Freed mappings of up to this many bytes in all are kept for reuse by tensors of the same size.
inline constexpr std::size_t kIdleCapBytes = std::size_t{256} << 20U;
/// Mappings from this size up ask the kernel for transparent huge pages.
inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20U;

/// Makes torch's CPU tensors from kTensorMappingMinBytes up come from mappings of their own,
/// with huge pages, returned when the tensor dies or kept for reuse up to kIdleCapBytes.
/// Process-wide, so the CLI calls it once at start-up (run_main), before any tensor exists; the
/// engine library never does. STYLIZE_MALLOC=default in the environment skips it (for
/// comparisons).
void install_tensor_heap();

}  // namespace stylize::cli
