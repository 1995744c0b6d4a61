// What WinogradConv3x3's backends share: the choice of backend, the checks, ATen for small
// feature maps, and the autograd node.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>

#include <stylize/errors.hpp>

#include "kernels/blocked_layout.hpp"
#include "kernels/cpu_isa.hpp"
#include "kernels/winograd_backends.hpp"

namespace stylize {
namespace {

enum class Backend { kNone, kOneDnn, kF4x4 };

Backend available_backend() {
  const auto isa = kernel_isa();
  if (isa >= CpuIsa::kAvx512 && onednn_winograd_unavailable_reason().empty()) {
    return Backend::kOneDnn;
  }
  return isa >= CpuIsa::kAvx2 ? Backend::kF4x4 : Backend::kNone;
}

/// The autograd node of WinogradConv3x3::forward: the input's gradient from the output's. A Node
/// rather than an autograd::Function because it holds the convolution (the backend's state),
/// which a Function's saved_data (IValues only) cannot.
class WinogradConvBackward final : public torch::autograd::Node {
 public:
  WinogradConvBackward(std::shared_ptr<WinogradConv3x3> conv, bool blocked_input)
      : conv_(std::move(conv)), blocked_input_(blocked_input) {}
  [[nodiscard]] std::string name() const override { return "WinogradConv3x3Backward"; }
  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    if (!grads[0].defined()) return {at::Tensor()};
    return {conv_->input_gradient(grads[0], blocked_input_)};
  }

 private:
  std::shared_ptr<WinogradConv3x3> conv_;
  bool blocked_input_;
};

}  // namespace

std::string WinogradConv3x3::library_version() { return onednn_version(); }

std::string WinogradConv3x3::unavailable_reason() {
  if (available_backend() != Backend::kNone) return {};
  return "Winograd convolutions need AVX2 with FMA or AVX-512 (the CPU kernels run at " +
         isa_name(kernel_isa()) + "; see STYLIZE_MAX_ISA)";
}

std::string WinogradConv3x3::backend_name() {
  switch (available_backend()) {
    case Backend::kOneDnn:
      return "oneDNN (avx512)";
    case Backend::kF4x4:
      return "stylize F(4x4,3x3) (avx2)";
    case Backend::kNone:
      break;
  }
  return {};
}

std::shared_ptr<WinogradConv3x3> WinogradConv3x3::create(const at::Tensor& weight,
                                                         const at::Tensor& bias) {
  if (!suits(weight)) {
    throw ConfigError("Winograd convolution needs weights [O,I,3,3] with O and I multiples of " +
                      std::to_string(kChannelBlock) + " (got " + c10::str(weight.sizes()) + ")");
  }
  if (bias.dim() != 1 || bias.size(0) != weight.size(0)) {
    throw ConfigError("Winograd convolution needs a bias of " + std::to_string(weight.size(0)) +
                      " values (got " + c10::str(bias.sizes()) + ")");
  }
  if (!weight.device().is_cpu() || weight.scalar_type() != at::kFloat) {
    throw ConfigError("Winograd convolution runs on fp32 CPU tensors only");
  }
  auto w = weight.detach().contiguous();
  auto b = bias.detach().contiguous();
  switch (available_backend()) {
    case Backend::kOneDnn:
      return make_onednn_winograd(std::move(w), std::move(b));
    case Backend::kF4x4:
      return make_f4x4_winograd(std::move(w), std::move(b));
    case Backend::kNone:
      break;
  }
  throw ConfigError(unavailable_reason());
}

namespace {
/// x must be [N, channels, H, W] (or blocked), fp32 on the CPU: the kernels read by these.
void check_input(const at::Tensor& x, int64_t channels, const char* what) {
  const int64_t got = is_blocked(x) ? x.size(1) * kBlockLanes : x.size(1);
  TORCH_CHECK((x.dim() == 4 || is_blocked(x)) && got == channels && x.device().is_cpu() &&
                  x.scalar_type() == at::kFloat,
              "WinogradConv3x3: ", what, " must be fp32 on the CPU with ", channels,
              " channels, got ", x.sizes(), " ", x.scalar_type());
}
}  // namespace

at::Tensor WinogradConv3x3::forward(const at::Tensor& x, bool blocked_output) {
  check_input(x, weight_.size(1), "the input");
  const bool blocked_input = is_blocked(x);
  if (x.size(2) * x.size(3) < min_feature_pixels()) {
    auto out = at::conv2d(blocked_input ? from_blocked(x) : x, weight_, bias_, 1, 1);
    return blocked_output ? to_blocked(out) : out;
  }
  at::Tensor output;
  {
    const at::NoGradGuard no_grad;
    output = convolve(x, /*transposed=*/false, blocked_output);
  }
  if (torch::autograd::compute_requires_grad(x)) {
    const std::shared_ptr<WinogradConvBackward> node(
        new WinogradConvBackward(shared_from_this(), blocked_input), torch::autograd::deleteNode);
    node->set_next_edges(torch::autograd::collect_next_edges(x));
    torch::autograd::set_history(output, node);
  }
  return output;
}

at::Tensor WinogradConv3x3::input_gradient(const at::Tensor& grad_output, bool blocked_input) {
  check_input(grad_output, weight_.size(0), "the output's gradient");
  const at::NoGradGuard no_grad;
  return convolve(grad_output, /*transposed=*/true, blocked_input);
}

}  // namespace stylize
