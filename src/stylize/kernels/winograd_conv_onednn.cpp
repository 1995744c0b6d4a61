// WinogradConv3x3's oneDNN backend (the build with libdnnl-dev; the other build is
// winograd_conv_unavailable.cpp). Debian's LibTorch links this same libdnnl.so for its own
// convolutions, which it always runs with oneDNN's direct algorithm.
#include <ATen/ATen.h>

#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <unordered_map>

#include "kernels/blocked_layout.hpp"
#include "kernels/cpu_isa.hpp"
#include "kernels/winograd_backends.hpp"

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

class OneDnnWinograd final : public WinogradConv3x3 {
 public:
  OneDnnWinograd(at::Tensor weight, at::Tensor bias)
      : WinogradConv3x3(std::move(weight), std::move(bias)) {}

  /// 32x32: 64 px images took 0.158 s per iteration with Winograd everywhere, 0.090 with this
  /// limit, 0.096 direct; 512 px: 1.87, 1.76, 3.09 (AVX-512 machine).
  [[nodiscard]] int64_t min_feature_pixels() const override { return 32 * 32; }
  [[nodiscard]] int64_t cache_bytes() const override { return 0; }  // plans only

  /// Builds (or finds) the plan for this input shape; throws dnnl::error when oneDNN has no
  /// Winograd kernel for it.
  Plan& plan_for(int64_t batch, int64_t height, int64_t width);

 protected:
  at::Tensor convolve(const at::Tensor& x, bool transposed, bool blocked_output) override;

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
  std::map<std::tuple<int64_t, int64_t, int64_t>, Plan> plans_;
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
      dnnl::convolution_forward::desc(
          dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_winograd, any_desc(src),
          any_desc(weights), plain_desc({weight_.size(0)}), any_desc(dst), one, one, one),
      attr, engine_);
  dnnl::convolution_backward_data::primitive_desc backward_pd(
      dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_winograd, any_desc(src),
                                            any_desc(weights), any_desc(dst), one, one, one),
      attr, engine_, forward_pd);
  Plan plan{forward_pd, backward_pd, dnnl::convolution_forward(forward_pd),
            dnnl::convolution_backward_data(backward_pd)};
  return plans_.emplace(key, std::move(plan)).first->second;
}

at::Tensor OneDnnWinograd::run(const dnnl::primitive& primitive, const Pass& pass,
                               const at::Tensor& input, int64_t output_channels, const memory* bias,
                               bool blocked_output) {
  const auto in_tensor = input.contiguous();
  const bool blocked_input = is_blocked(in_tensor);
  const auto n = in_tensor.size(0);
  const auto c = blocked_input ? in_tensor.size(1) * kBlockLanes : in_tensor.size(1);
  const auto h = in_tensor.size(2);
  const auto w = in_tensor.size(3);
  dnnl::stream stream(engine_);
  auto output = blocked_output ? at::empty({n, output_channels / kBlockLanes, h, w, kBlockLanes},
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

at::Tensor OneDnnWinograd::convolve(const at::Tensor& x, bool transposed, bool blocked_output) {
  auto& plan = plan_for(x.size(0), x.size(2), x.size(3));
  if (transposed) {
    const auto& pd = plan.backward_pd;
    return run(plan.backward,
               {DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC, pd.diff_dst_desc(), pd.diff_src_desc(),
                pd.weights_desc(), pd.scratchpad_desc()},
               x, weight_.size(1), nullptr, blocked_output);
  }
  const auto& pd = plan.forward_pd;
  const memory bias(plain_desc({weight_.size(0)}), engine_, bias_.data_ptr());
  return run(plan.forward,
             {DNNL_ARG_SRC, DNNL_ARG_DST, pd.src_desc(), pd.dst_desc(), pd.weights_desc(),
              pd.scratchpad_desc()},
             x, weight_.size(0), &bias, blocked_output);
}

}  // namespace

std::string onednn_version() {
  const auto* v = dnnl::version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch);
}

void cap_onednn_isa(CpuIsa isa) {
  // Fails (and is ignored) once oneDNN has made a kernel; kernel_isa() runs before any.
  (void)dnnl::set_max_cpu_isa(isa == CpuIsa::kAvx2 ? dnnl::cpu_isa::avx2 : dnnl::cpu_isa::sse41);
}

std::string onednn_winograd_unavailable_reason() {
  // What the CPU can do does not change while the process runs: probe once.
  static const std::string reason = [] {
    try {
      OneDnnWinograd probe(
          at::zeros({WinogradConv3x3::kChannelBlock, WinogradConv3x3::kChannelBlock, 3, 3}),
          at::zeros({WinogradConv3x3::kChannelBlock}));
      probe.plan_for(1, 8, 8);
      return std::string();
    } catch (const dnnl::error&) {
      return std::string("oneDNN has no Winograd convolution for this CPU (it needs AVX-512)");
    }
  }();
  return reason;
}

std::shared_ptr<WinogradConv3x3> make_onednn_winograd(at::Tensor weight, at::Tensor bias) {
  return std::make_shared<OneDnnWinograd>(std::move(weight), std::move(bias));
}

}  // namespace stylize
