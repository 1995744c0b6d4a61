#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

namespace stylize {

/// A 3x3 convolution (stride 1, padding 1) with frozen fp32 weights on the CPU, computed with
/// oneDNN's Winograd F(4x4, 3x3) kernels for the forward pass and for the input gradient: a
/// quarter of the direct method's multiplications (README "Performance"). The primitives are
/// built once per input size; the weights are rearranged into oneDNN's layout on each call (under
/// 1 % of an iteration, where caching them would hold ~100 MB more for VGG-19).
///
/// The result of forward() takes part in autograd when its input requires grad. Its backward
/// computes the gradient of the input only (the weights never get one) and keeps no activation:
/// the gradient of a convolution's input depends on its weights alone.
///
/// Two builds of this interface exist: with oneDNN (libdnnl-dev, CMake option STYLIZE_WITH_ONEDNN)
/// and without it, where unavailable_reason() says so and create() throws. Not thread-safe: one
/// instance serves one run at a time.
class WinogradConv3x3 {
 public:
  /// Why Winograd convolutions cannot run in this build or on this CPU; empty when they can.
  [[nodiscard]] static std::string unavailable_reason();
  /// "oneDNN 2.7.3" when this build has oneDNN's headers, else empty.
  [[nodiscard]] static std::string library_version();

  /// True when weight's shape suits the kernels: [O,I,3,3] with O and I multiples of 16 (the
  /// kernels' channel block; padding the first layer's 3 input channels costs more than
  /// Winograd saves).
  [[nodiscard]] static bool suits(const at::Tensor& weight) {
    return weight.dim() == 4 && weight.size(2) == 3 && weight.size(3) == 3 &&
           weight.size(0) % kChannelBlock == 0 && weight.size(1) % kChannelBlock == 0;
  }
  static constexpr int64_t kChannelBlock = 16;
  /// forward() hands feature maps smaller than this (32x32) to ATen's direct convolution: the
  /// kernels transform the weights on every call, which small maps do not amortise (64 px images:
  /// 0.158 s per iteration with Winograd everywhere, 0.090 with this limit, 0.096 direct; 512 px:
  /// 1.87, 1.76, 3.09).
  static constexpr int64_t kMinFeaturePixels = 32 * 32;

  /// weight [O,I,3,3] and bias [O], fp32 on the CPU. Throws ConfigError carrying
  /// unavailable_reason() when unavailable, or naming what is wrong when !suits(weight).
  static std::shared_ptr<WinogradConv3x3> create(const at::Tensor& weight, const at::Tensor& bias);

  virtual ~WinogradConv3x3() = default;

  /// x [N,I,H,W] fp32 on the CPU, or the same in the blocked layout [N,I/16,H,W,16]
  /// (blocked_layout.hpp); returns [N,O,H,W], or [N,O/16,H,W,16] when blocked_output. Blocked
  /// tensors go to and from the kernels without a reorder; feature maps smaller than
  /// kMinFeaturePixels go through ATen (and through to_blocked/from_blocked where asked).
  virtual at::Tensor forward(const at::Tensor& x, bool blocked_output) = 0;
  at::Tensor forward(const at::Tensor& x) { return forward(x, false); }
};

}  // namespace stylize
