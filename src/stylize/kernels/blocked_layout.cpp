#include "kernels/blocked_layout.hpp"

#include <ATen/ATen.h>

namespace stylize {

at::Tensor to_blocked(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) % kBlockLanes == 0,
              "to_blocked: expected [N, C, H, W] with C a multiple of 16, got ", x.sizes());
  return x.reshape({x.size(0), x.size(1) / kBlockLanes, kBlockLanes, x.size(2), x.size(3)})
      .permute({0, 1, 3, 4, 2})
      .contiguous();
}

at::Tensor from_blocked(const at::Tensor& x) {
  TORCH_CHECK(is_blocked(x), "from_blocked: expected [N, C/16, H, W, 16], got ", x.sizes());
  return x.permute({0, 1, 4, 2, 3})
      .reshape({x.size(0), x.size(1) * kBlockLanes, x.size(2), x.size(3)})
      .contiguous();
}

}  // namespace stylize
