#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

namespace stylize {

/// A 3x3 convolution (stride 1, padding 1) with frozen fp32 weights on the CPU, computed with
/// Winograd's minimal filtering F(4x4, 3x3) for the forward pass and for the input gradient: a
/// quarter of the direct method's multiplications (docs/performance.md). Two backends:
/// - oneDNN's Winograd kernels, on CPUs with AVX-512 (a build with libdnnl-dev);
/// - stylize's own (winograd_f4x4.cpp), on CPUs with AVX2 and FMA: vectorised transforms and a
///   register-blocked FMA kernel for the 36 element-wise products.
/// kernel_isa() (and so STYLIZE_MAX_ISA) decides which runs. oneDNN's transforms the weights on
/// each call (under 1 % of an iteration there); stylize's keeps them transformed, once per pass
/// (8x the weights' memory for a layer that runs both passes: its transform is not vectorised,
/// and its packed form feeds the products directly).
///
/// The result of forward() takes part in autograd when its input requires grad. Its backward
/// computes the gradient of the input only (the weights never get one) and keeps no activation:
/// the gradient of a convolution's input depends on its weights alone. Not thread-safe: one
/// instance serves one run at a time.
class WinogradConv3x3 : public std::enable_shared_from_this<WinogradConv3x3> {
 public:
  /// Why Winograd convolutions cannot run in this build or on this CPU; empty when they can.
  [[nodiscard]] static std::string unavailable_reason();
  /// "oneDNN 2.7.3" when this build has oneDNN's headers, else empty.
  [[nodiscard]] static std::string library_version();
  /// Which backend create() uses here, e.g. "oneDNN (avx512)"; empty when unavailable.
  [[nodiscard]] static std::string backend_name();

  /// True when weight's shape suits the kernels: [O,I,3,3] with O and I multiples of 16 (the
  /// kernels' channel block; padding the first layer's 3 input channels costs more than
  /// Winograd saves).
  [[nodiscard]] static bool suits(const at::Tensor& weight) {
    return weight.dim() == 4 && weight.size(2) == 3 && weight.size(3) == 3 &&
           weight.size(0) % kChannelBlock == 0 && weight.size(1) % kChannelBlock == 0;
  }
  static constexpr int64_t kChannelBlock = 16;

  /// weight [O,I,3,3] and bias [O], fp32 on the CPU. Throws ConfigError carrying
  /// unavailable_reason() when unavailable, or naming what is wrong when !suits(weight).
  static std::shared_ptr<WinogradConv3x3> create(const at::Tensor& weight, const at::Tensor& bias);

  virtual ~WinogradConv3x3() = default;
  WinogradConv3x3(const WinogradConv3x3&) = delete;
  WinogradConv3x3& operator=(const WinogradConv3x3&) = delete;

  /// x [N,I,H,W] fp32 on the CPU, or the same in the blocked layout [N,I/16,H,W,16]
  /// (blocked_layout.hpp); returns [N,O,H,W], or [N,O/16,H,W,16] when blocked_output. Blocked
  /// tensors go to and from the kernels without a reorder; feature maps smaller than
  /// min_feature_pixels() go through ATen (and through to_blocked/from_blocked where asked).
  at::Tensor forward(const at::Tensor& x, bool blocked_output);
  at::Tensor forward(const at::Tensor& x) { return forward(x, false); }

  /// The input's gradient from grad_output's (either layout), in the layout the input had.
  at::Tensor input_gradient(const at::Tensor& grad_output, bool blocked_input);

  /// Feature maps with fewer pixels go to ATen's direct convolution: a few tiles do not amortise
  /// the transforms. Measured per backend: 32x32 for oneDNN's, which transforms the weights on
  /// every call; one tile for stylize's, which keeps them transformed.
  [[nodiscard]] virtual int64_t min_feature_pixels() const = 0;

  /// Bytes this convolution keeps besides its weights once both passes have run (the memory
  /// estimate counts them as part of the model).
  [[nodiscard]] virtual int64_t cache_bytes() const = 0;

 protected:
  WinogradConv3x3(at::Tensor weight, at::Tensor bias)
      : weight_(std::move(weight)), bias_(std::move(bias)) {}

  /// x (either layout, at least min_feature_pixels()) convolved with the weights plus the bias,
  /// or, when transposed, with the transposed convolution and no bias (the input gradient from
  /// the output's); the result has the weights' other channel count, in the layout asked.
  virtual at::Tensor convolve(const at::Tensor& x, bool transposed, bool blocked_output) = 0;

  at::Tensor weight_;  ///< [O,I,3,3] contiguous fp32
  at::Tensor bias_;    ///< [O] contiguous fp32
};

}  // namespace stylize
