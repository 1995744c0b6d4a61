// WinogradConv3x3 through oneDNN (the build with libdnnl-dev; the other build is
// winograd_conv_unavailable.cpp). Debian's LibTorch links this same libdnnl.so for its own
// convolutions, which it always runs with oneDNN's direct algorithm.
#include "kernels/blocked_layout.hpp"
#include <stylize/errors.hpp>
#include "kernels/winograd_conv.hpp"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <map>
#include <tuple>
#include <unordered_map>

namespace stylize {
namespace {

using dnnl::memory;
using Dims = memory::dims;

memory::desc plain_desc(const Dims& dims) {
  return {dims, memory::data_type::f32,
          dims.size() == 4 ? memory::format_tag::abcd : memory::format_tag::a};
}
/// [N,C,H,W] stored as [N,C/16,H,W,16]: to_blocked()'s layout.
memory::desc blocked_desc(const Dims& dims) {
  return {dims, memory::data_type::f32, memory::format_tag::aBcd16b};
}
memory::desc any_desc(const Dims& dims) {
  return {dims, memory::data_type::f32, memory::format_tag::any};
}

/// A torch-owned buffer of desc's size (so it comes from torch's CPU allocator and is freed with
/// the tensor) wrapped as oneDNN memory of that layout.
struct Buffer {
  at::Tensor storage;
  memory mem;
};
Buffer allocate(const memory::desc& desc, const dnnl::engine& engine) {
  const auto floats = static_cast<int64_t>((desc.get_size() + sizeof(float) - 1) / sizeof(float));
  Buffer buffer{at::empty({std::max<int64_t>(floats, 1)}, at::kFloat), {}};
  buffer.mem = memory(desc, engine, buffer.storage.data_ptr());
  return buffer;
}

/// Memory in layout desc holding user's data: user itself when the layouts agree, else a
/// reordered copy.
Buffer to_layout(memory user, const memory::desc& desc, const dnnl::engine& engine,
                 dnnl::stream& stream) {
  if (user.get_desc() == desc) return {at::Tensor(), user};
  auto buffer = allocate(desc, engine);
  dnnl::reorder(user, buffer.mem).execute(stream, user, buffer.mem);
  return buffer;
}

/// The primitives for one input shape.
struct Plan {
  dnnl::convolution_forward::primitive_desc forward_pd;
  dnnl::convolution_backward_data::primitive_desc backward_pd;
  dnnl::convolution_forward forward;
  dnnl::convolution_backward_data backward;
};

class OneDnnWinograd final : public WinogradConv3x3,
                             public std::enable_shared_from_this<OneDnnWinograd> {
 public:
  OneDnnWinograd(at::Tensor weight, at::Tensor bias)
      : weight_(std::move(weight)), bias_(std::move(bias)) {}

  using WinogradConv3x3::forward;
  at::Tensor forward(const at::Tensor& x, bool blocked_output) override;
  /// The input's gradient, in the layout the input had (blocked or not).
  at::Tensor input_gradient(const at::Tensor& grad_output, bool blocked_input);

  /// Builds (or finds) the plan for this input shape; throws dnnl::error when oneDNN has no
  /// Winograd kernel for it.
  Plan& plan_for(int64_t batch, int64_t height, int64_t width);

 private:
  /// What one pass (forward, or backward to the input) reads and writes, in oneDNN's layouts.
  struct Pass {
    int input_arg;
    int output_arg;
    memory::desc input;
    memory::desc output;
    memory::desc weights;
    memory::desc scratch;
  };
  /// Runs primitive on input (NCHW or blocked) and returns its result of output_channels (NCHW,
  /// or blocked when blocked_output): input, weights and result reordered where the pass's
  /// layouts differ, scratch from torch.
  at::Tensor run(const dnnl::primitive& primitive, const Pass& pass, const at::Tensor& input,
                 int64_t output_channels, const memory* bias, bool blocked_output);

  memory weight_memory() {
    return {plain_desc({weight_.size(0), weight_.size(1), 3, 3}), engine_, weight_.data_ptr()};
  }

  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  at::Tensor weight_;  ///< [O,I,3,3] contiguous fp32
  at::Tensor bias_;    ///< [O] contiguous fp32
  std::map<std::tuple<int64_t, int64_t, int64_t>, Plan> plans_;
};

/// The autograd node of OneDnnWinograd::forward: the input's gradient from the output's. A Node
/// rather than an autograd::Function because it holds the convolution (its oneDNN plans), which
/// a Function's saved_data (IValues only) cannot.
class WinogradConvBackward final : public torch::autograd::Node {
 public:
  WinogradConvBackward(std::shared_ptr<OneDnnWinograd> conv, bool blocked_input)
      : conv_(std::move(conv)), blocked_input_(blocked_input) {}
  [[nodiscard]] std::string name() const override { return "WinogradConv3x3Backward"; }
  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    if (!grads[0].defined()) return {at::Tensor()};
    return {conv_->input_gradient(grads[0], blocked_input_)};
  }

 private:
  std::shared_ptr<OneDnnWinograd> conv_;
  bool blocked_input_;
};

Plan& OneDnnWinograd::plan_for(int64_t batch, int64_t height, int64_t width) {
  const auto key = std::make_tuple(batch, height, width);
  if (const auto found = plans_.find(key); found != plans_.end()) return found->second;
  const Dims src{batch, weight_.size(1), height, width};
  const Dims dst{batch, weight_.size(0), height, width};
  const Dims weights{weight_.size(0), weight_.size(1), 3, 3};
  const Dims one{1, 1};
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // scratch memory from torch, per call
  dnnl::convolution_forward::primitive_desc forward_pd(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                      dnnl::algorithm::convolution_winograd, any_desc(src),
                                      any_desc(weights), plain_desc({weight_.size(0)}),
                                      any_desc(dst), one, one, one),
      attr, engine_);
  dnnl::convolution_backward_data::primitive_desc backward_pd(
      dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_winograd,
                                            any_desc(src), any_desc(weights), any_desc(dst),
                                            one, one, one),
      attr, engine_, forward_pd);
  Plan plan{forward_pd, backward_pd, dnnl::convolution_forward(forward_pd),
            dnnl::convolution_backward_data(backward_pd)};
  return plans_.emplace(key, std::move(plan)).first->second;
}

at::Tensor OneDnnWinograd::run(const dnnl::primitive& primitive, const Pass& pass,
                               const at::Tensor& input, int64_t output_channels,
                               const memory* bias, bool blocked_output) {
  const at::NoGradGuard no_grad;
  const auto in_tensor = input.contiguous();
  const bool blocked_input = is_blocked(in_tensor);
  const auto n = in_tensor.size(0);
  const auto c = blocked_input ? in_tensor.size(1) * kBlockLanes : in_tensor.size(1);
  const auto h = in_tensor.size(2);
  const auto w = in_tensor.size(3);
  dnnl::stream stream(engine_);
  auto output = blocked_output
                    ? at::empty({n, output_channels / kBlockLanes, h, w, kBlockLanes},
                                in_tensor.options())
                    : at::empty({n, output_channels, h, w}, in_tensor.options());
  const Dims in_dims{n, c, h, w};
  const Dims out_dims{n, output_channels, h, w};
  const memory user_in(blocked_input ? blocked_desc(in_dims) : plain_desc(in_dims), engine_,
                       in_tensor.data_ptr());
  memory user_out(blocked_output ? blocked_desc(out_dims) : plain_desc(out_dims), engine_,
                  output.data_ptr());
  const auto in = to_layout(user_in, pass.input, engine_, stream);
  const auto weights = to_layout(weight_memory(), pass.weights, engine_, stream);
  // The primitive writes straight into output where the layouts agree.
  const bool direct_output = pass.output == user_out.get_desc();
  auto out = direct_output ? Buffer{at::Tensor(), user_out} : allocate(pass.output, engine_);
  const auto scratch = allocate(pass.scratch, engine_);
  std::unordered_map<int, memory> args{{pass.input_arg, in.mem},
                                       {DNNL_ARG_WEIGHTS, weights.mem},
                                       {pass.output_arg, out.mem},
                                       {DNNL_ARG_SCRATCHPAD, scratch.mem}};
  if (bias != nullptr) args.emplace(DNNL_ARG_BIAS, *bias);
  primitive.execute(stream, args);
  if (!direct_output) dnnl::reorder(out.mem, user_out).execute(stream, out.mem, user_out);
  stream.wait();
  return output;
}

at::Tensor OneDnnWinograd::forward(const at::Tensor& x, bool blocked_output) {
  const bool blocked_input = is_blocked(x);
  if (x.size(2) * x.size(3) < kMinFeaturePixels) {
    auto out = at::conv2d(blocked_input ? from_blocked(x) : x, weight_, bias_, 1, 1);
    return blocked_output ? to_blocked(out) : out;
  }
  auto& plan = plan_for(x.size(0), x.size(2), x.size(3));
  const auto& pd = plan.forward_pd;
  const memory bias(plain_desc({weight_.size(0)}), engine_, bias_.data_ptr());
  auto output = run(plan.forward,
                    {DNNL_ARG_SRC, DNNL_ARG_DST, pd.src_desc(), pd.dst_desc(), pd.weights_desc(),
                     pd.scratchpad_desc()},
                    x, weight_.size(0), &bias, blocked_output);
  if (torch::autograd::compute_requires_grad(x)) {
    const std::shared_ptr<WinogradConvBackward> node(
        new WinogradConvBackward(shared_from_this(), blocked_input), torch::autograd::deleteNode);
    node->set_next_edges(torch::autograd::collect_next_edges(x));
    torch::autograd::set_history(output, node);
  }
  return output;
}

at::Tensor OneDnnWinograd::input_gradient(const at::Tensor& grad_output, bool blocked_input) {
  auto& plan = plan_for(grad_output.size(0), grad_output.size(2), grad_output.size(3));
  const auto& pd = plan.backward_pd;
  return run(plan.backward,
             {DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC, pd.diff_dst_desc(), pd.diff_src_desc(),
              pd.weights_desc(), pd.scratchpad_desc()},
             grad_output, weight_.size(1), nullptr, blocked_input);
}

}  // namespace

std::string WinogradConv3x3::library_version() {
  const auto* v = dnnl::version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch);
}

std::string WinogradConv3x3::unavailable_reason() {
  // What the CPU can do does not change while the process runs: probe once.
  static const std::string reason = [] {
    try {
      OneDnnWinograd probe(at::zeros({kChannelBlock, kChannelBlock, 3, 3}),
                           at::zeros({kChannelBlock}));
      probe.plan_for(1, 8, 8);
      return std::string();
    } catch (const dnnl::error&) {
      return std::string("oneDNN has no Winograd convolution for this CPU (it needs AVX-512)");
    }
  }();
  return reason;
}

std::shared_ptr<WinogradConv3x3> WinogradConv3x3::create(const at::Tensor& weight,
                                                         const at::Tensor& bias) {
  if (!suits(weight)) {
    throw ConfigError("Winograd convolution needs weights [O,I,3,3] with O and I multiples of " +
                      std::to_string(kChannelBlock) + " (got " +
                      c10::str(weight.sizes()) + ")");
  }
  if (bias.dim() != 1 || bias.size(0) != weight.size(0)) {
    throw ConfigError("Winograd convolution needs a bias of " + std::to_string(weight.size(0)) +
                      " values (got " + c10::str(bias.sizes()) + ")");
  }
  if (!weight.device().is_cpu() || weight.scalar_type() != at::kFloat) {
    throw ConfigError("Winograd convolution runs on fp32 CPU tensors only");
  }
  if (auto reason = unavailable_reason(); !reason.empty()) throw ConfigError(reason);
  return std::make_shared<OneDnnWinograd>(weight.detach().contiguous(),
                                          bias.detach().contiguous());
}

}  // namespace stylize
