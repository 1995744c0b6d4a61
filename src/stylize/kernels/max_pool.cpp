#include "kernels/max_pool.hpp"

#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <cstdint>
#include <limits>

#include "kernels/blocked_layout.hpp"
#include "kernels/cpu_isa.hpp"

namespace stylize {
namespace {

/// Whether the fast kernels below can run on x.
bool own_kernel_suits(const at::Tensor& x) {
  return x.device().is_cpu() && x.scalar_type() == at::kFloat && x.dim() == 4 &&
         x.is_contiguous() && x.size(2) >= 2 && x.size(3) >= 2;
}

// The row kernels are compiled for AVX-512, AVX2 and the baseline (STYLIZE_ISA_VARIANTS), and
// kernel_isa() picks one (STYLIZE_PICK), so STYLIZE_MAX_ISA caps them; each is written so that
// the compiler vectorises it: plain selects, no branches (on real activations which value is a
// window's maximum is unpredictable, and scalar or branchy code made the backward pass 4-5x
// slower than the forward).
#define STYLIZE_VECTOR_BODY __attribute__((always_inline)) inline
#define STYLIZE_ISA_VARIANTS(name, params, args)                                     \
  __attribute__((target("avx512f"))) void name##_avx512 params { name##_body args; } \
  __attribute__((target("avx2,fma"))) void name##_avx2 params { name##_body args; }  \
  void name##_baseline params { name##_body args; }
#define STYLIZE_PICK(name) pick_variant(name##_avx512, name##_avx2, name##_baseline)
// The two row kernels' signatures: pooling a row, and its gradient.
#define STYLIZE_FORWARD_ROW_VARIANTS(name)                                           \
  STYLIZE_ISA_VARIANTS(name,                                                         \
                       (const float* __restrict top, const float* __restrict bottom, \
                        float* __restrict dst, int64_t out_w),                       \
                       (top, bottom, dst, out_w))
#define STYLIZE_BACKWARD_ROW_VARIANTS(name)                                                       \
  STYLIZE_ISA_VARIANTS(                                                                           \
      name,                                                                                       \
      (const float* __restrict top, const float* __restrict bottom, const float* __restrict grad, \
       float* __restrict grad_top, float* __restrict grad_bottom, int64_t out_w),                 \
      (top, bottom, grad, grad_top, grad_bottom, out_w))

template <typename Fn>
Fn pick_variant(Fn avx512, Fn avx2, Fn baseline) {
  switch (kernel_isa()) {
    case CpuIsa::kAvx512:
      return avx512;
    case CpuIsa::kAvx2:
      return avx2;
    case CpuIsa::kBaseline:
      break;
  }
  return baseline;
}

/// Which of a window's four values a, b, c, d (top-left, top-right, bottom-left, bottom-right)
/// ATen's max pooling picks: scanned in that order, each value greater than the maximum so far,
/// or NaN, takes its place. The picks are 0/1 floats: with bools (&&, ||, !) GCC keeps branches
/// and does not vectorise the row loops that inline this.
struct WindowPick {
  float a, b, c, d;  ///< exactly one is 1
  float max;         ///< the value picked
};

__attribute__((always_inline)) inline WindowPick pick_in_window(float a, float b, float c,
                                                                float d) {
  const float take_b = ((b > a) | (b != b)) ? 1.0F : 0.0F;
  const float m1 = take_b != 0.0F ? b : a;
  const float take_c = ((c > m1) | (c != c)) ? 1.0F : 0.0F;
  const float m2 = take_c != 0.0F ? c : m1;
  const float to_d = ((d > m2) | (d != d)) ? 1.0F : 0.0F;
  const float to_c = take_c * (1.0F - to_d);
  const float to_b = take_b * (1.0F - to_d - to_c);
  return {1.0F - to_d - to_c - to_b, to_b, to_c, to_d, to_d != 0.0F ? d : m2};
}

/// One output row: each window's maximum, as ATen decides (each value greater than the maximum
/// so far, or NaN, takes its place; the window is scanned row by row).
STYLIZE_VECTOR_BODY
void forward_row_body(const float* __restrict top, const float* __restrict bottom,
                      float* __restrict dst, int64_t out_w) {
  for (int64_t ox = 0; ox < out_w; ++ox) {
    float m = top[2 * ox];
    const float b = top[2 * ox + 1];
    const float c = bottom[2 * ox];
    const float d = bottom[2 * ox + 1];
    m = ((b > m) | (b != b)) ? b : m;  // bitwise: no branch, so the loop vectorises
    m = ((c > m) | (c != c)) ? c : m;
    m = ((d > m) | (d != d)) ? d : m;
    dst[ox] = m;
  }
}

STYLIZE_FORWARD_ROW_VARIANTS(forward_row)

/// The gradient of one output row's windows: all to the value forward_row chose, 0 to the others
/// (every value of the two input rows that a window covers is written).
STYLIZE_VECTOR_BODY
void backward_row_body(const float* __restrict top, const float* __restrict bottom,
                       const float* __restrict grad, float* __restrict grad_top,
                       float* __restrict grad_bottom, int64_t out_w) {
  for (int64_t ox = 0; ox < out_w; ++ox) {
    const WindowPick pick =
        pick_in_window(top[2 * ox], top[2 * ox + 1], bottom[2 * ox], bottom[2 * ox + 1]);
    const float g = grad[ox];
    grad_bottom[2 * ox + 1] = pick.d != 0.0F ? g : 0.0F;
    grad_bottom[2 * ox] = pick.c != 0.0F ? g : 0.0F;
    grad_top[2 * ox + 1] = pick.b != 0.0F ? g : 0.0F;
    grad_top[2 * ox] = pick.a != 0.0F ? g : 0.0F;
  }
}

STYLIZE_BACKWARD_ROW_VARIANTS(backward_row)

/// Rows of output (plane, output row) are shared among the threads.
template <typename RowFn>
void for_each_output_row(const at::Tensor& x, RowFn row_fn) {
  const int64_t planes = x.size(0) * x.size(1);
  const int64_t out_h = x.size(2) / 2;
  at::parallel_for(0, planes * out_h, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) row_fn(r / out_h, r % out_h);
  });
}

/// Values per pixel: 1 in NCHW, 16 in the blocked layout [N, C/16, H, W, 16]; dims 2 and 3 are
/// H and W in both, so one driver serves both layouts' row kernels.
int64_t lanes_of(const at::Tensor& x) { return x.dim() == 5 ? x.size(4) : 1; }

using ForwardRow = void (*)(const float*, const float*, float*, int64_t);
using BackwardRow = void (*)(const float*, const float*, const float*, float*, float*, int64_t);

/// x pooled by row_fn, output row by output row (x contiguous, fp32, NCHW or blocked).
at::Tensor pool_forward(const at::Tensor& x, ForwardRow row_fn) {
  const int64_t lanes = lanes_of(x);
  const int64_t h = x.size(2);
  const int64_t row = x.size(3) * lanes;
  const int64_t out_h = h / 2;
  const int64_t out_w = x.size(3) / 2;
  auto sizes = x.sizes().vec();
  sizes[2] = out_h;
  sizes[3] = out_w;
  auto out = at::empty(sizes, x.options());
  const float* in = x.data_ptr<float>();
  float* o = out.data_ptr<float>();
  for_each_output_row(x, [&](int64_t plane, int64_t oy) {
    const float* top = in + (plane * h + 2 * oy) * row;
    row_fn(top, top + row, o + (plane * out_h + oy) * out_w * lanes, out_w);
  });
  return out;
}

/// The gradient of x from the pooled output's, by row_fn (layouts as pool_forward).
at::Tensor pool_backward(const at::Tensor& x, const at::Tensor& grad_out, BackwardRow row_fn) {
  const int64_t lanes = lanes_of(x);
  const int64_t h = x.size(2);
  const int64_t w = x.size(3);
  const int64_t row = w * lanes;
  const int64_t out_h = h / 2;
  const int64_t out_w = w / 2;
  const auto g = grad_out.contiguous();
  // Every value a window covers is written; a row or column left over by an odd size is not.
  auto grad_in = (h % 2 != 0 || w % 2 != 0) ? at::zeros_like(x) : at::empty_like(x);
  const float* in = x.data_ptr<float>();
  const float* gp = g.data_ptr<float>();
  float* gi = grad_in.data_ptr<float>();
  for_each_output_row(x, [&](int64_t plane, int64_t oy) {
    const int64_t offset = (plane * h + 2 * oy) * row;
    row_fn(in + offset, in + offset + row, gp + (plane * out_h + oy) * out_w * lanes, gi + offset,
           gi + offset + row, out_w);
  });
  return grad_in;
}

class MaxPool2x2 : public torch::autograd::Function<MaxPool2x2> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    ctx->save_for_backward({x});
    return own_kernel_suits(x) ? pool_forward(x, STYLIZE_PICK(forward_row))
                               : at::max_pool2d(x, {2, 2}, {2, 2});
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto x = ctx->get_saved_variables()[0];
    if (own_kernel_suits(x)) return {pool_backward(x, grads[0], STYLIZE_PICK(backward_row))};
    const auto indices = std::get<1>(at::max_pool2d_with_indices(x, {2, 2}, {2, 2}));
    return {at::max_pool2d_with_indices_backward(grads[0], x, {2, 2}, {2, 2}, {0, 0}, {1, 1},
                                                 /*ceil_mode=*/false, indices)};
  }
};

// Blocked layout [N, C/16, H, W, 16]: the 16 channels of a block are contiguous, so a window
// is four vectors of 16 and each pixel's lanes are independent (the loops over them vectorise).
constexpr int64_t kLanes = kBlockLanes;

bool blocked_suits(const at::Tensor& x) {
  return x.device().is_cpu() && x.scalar_type() == at::kFloat && x.dim() == 5 &&
         x.size(4) == kLanes && x.is_contiguous() && x.size(2) >= 2 && x.size(3) >= 2;
}

/// One output row of relu(max of each window): the window's maximum, NaN if it holds one (as
/// ATen's pooling and ReLU give), else max(m, 0). Written so that GCC vectorises the loop over
/// the 16 lanes (the forward_row form with the NaN test in each select it did not).
STYLIZE_VECTOR_BODY
void relu_pool_forward_row_body(const float* __restrict top, const float* __restrict bottom,
                                float* __restrict dst, int64_t out_w) {
  for (int64_t ox = 0; ox < out_w; ++ox) {
    const int64_t i = 2 * ox * kLanes;
    float* out = dst + ox * kLanes;
    for (int64_t l = 0; l < kLanes; ++l) {
      const float a = top[i + l];
      const float b = top[i + kLanes + l];
      const float c = bottom[i + l];
      const float d = bottom[i + kLanes + l];
      float m = a;
      m = b > m ? b : m;
      m = c > m ? c : m;
      m = d > m ? d : m;
      const bool nan = (a != a) | (b != b) | (c != c) | (d != d);
      out[l] = nan ? std::numeric_limits<float>::quiet_NaN() : (m > 0.0F ? m : 0.0F);
    }
  }
}

STYLIZE_FORWARD_ROW_VARIANTS(relu_pool_forward_row)

/// The gradient of one output row: to the value relu_pool_forward_row chose when it is above 0
/// (ReLU passes no gradient where its result is 0, nor where it is NaN), 0 everywhere else.
STYLIZE_VECTOR_BODY
void relu_pool_backward_row_body(const float* __restrict top, const float* __restrict bottom,
                                 const float* __restrict grad, float* __restrict grad_top,
                                 float* __restrict grad_bottom, int64_t out_w) {
  for (int64_t ox = 0; ox < out_w; ++ox) {
    const int64_t i = 2 * ox * kLanes;
    for (int64_t l = 0; l < kLanes; ++l) {
      const float a = top[i + l];
      const float b = top[i + kLanes + l];
      const float c = bottom[i + l];
      const float d = bottom[i + kLanes + l];
      const WindowPick pick = pick_in_window(a, b, c, d);
      const float g = pick.max > 0.0F ? grad[ox * kLanes + l] : 0.0F;
      grad_bottom[i + kLanes + l] = pick.d != 0.0F ? g : 0.0F;
      grad_bottom[i + l] = pick.c != 0.0F ? g : 0.0F;
      grad_top[i + kLanes + l] = pick.b != 0.0F ? g : 0.0F;
      grad_top[i + l] = pick.a != 0.0F ? g : 0.0F;
    }
  }
}

STYLIZE_BACKWARD_ROW_VARIANTS(relu_pool_backward_row)

class ReluMaxPool2x2Blocked : public torch::autograd::Function<ReluMaxPool2x2Blocked> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    TORCH_CHECK(blocked_suits(x),
                "relu_max_pool_2x2_blocked: expected a contiguous fp32 CPU "
                "tensor [N, C/16, H, W, 16] with H, W >= 2, got ",
                x.sizes());
    ctx->save_for_backward({x});
    return pool_forward(x, STYLIZE_PICK(relu_pool_forward_row));
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    return {pool_backward(ctx->get_saved_variables()[0], grads[0],
                          STYLIZE_PICK(relu_pool_backward_row))};
  }
};

}  // namespace

at::Tensor max_pool_2x2(const at::Tensor& x) { return MaxPool2x2::apply(x); }

at::Tensor relu_max_pool_2x2_blocked(const at::Tensor& x) {
  return ReluMaxPool2x2Blocked::apply(x);
}

}  // namespace stylize
