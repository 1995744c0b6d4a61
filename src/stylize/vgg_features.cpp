#include "kernels/blocked_layout.hpp"
#include <stylize/errors.hpp>
#include "kernels/first_conv.hpp"
#include "kernels/max_pool.hpp"
#include <stylize/vgg_features.hpp>
#include "kernels/cpu_isa.hpp"
#include "kernels/winograd_conv.hpp"

#include <torch/autograd.h>
#include <torch/script.h>

#include <algorithm>
#include <filesystem>
#include <unordered_map>

namespace stylize {
namespace {

constexpr int64_t kSupportedFormatVersion = 1;
const char* const kExportHint = "make one with scripts/export_vgg19.py";

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

/// fp16's smallest normal number is 6e-5: the input gradients of a half-precision network, about
/// 1e-5 here, would lose most of their bits. Gradients are therefore multiplied by this factor
/// where they enter the network (its outputs) and divided by it where they leave (its input),
/// as mixed-precision training's loss scaling does; bf16 has fp32's range and needs none.
constexpr double kHalfGradientScale = 1024.0;

/// Identity forward; the backward pass multiplies the gradient by factor.
class ScaleGradient : public torch::autograd::Function<ScaleGradient> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            double factor) {
    ctx->saved_data["factor"] = factor;
    return x.view_as(x);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    return {grads[0] * ctx->saved_data["factor"].toDouble(), at::Tensor()};
  }
};

/// x, with its gradient scaled by factor when it needs one (a tensor that wants a gradient).
at::Tensor scale_gradient(const at::Tensor& x, double factor) {
  return x.requires_grad() ? ScaleGradient::apply(x, factor) : x;
}

}  // namespace

enum class LayerKind { kConv, kRelu, kPool };

struct VggFeatures::Impl {
  torch::jit::Module module;
  std::vector<torch::jit::Module> layers;
  std::vector<LayerKind> kinds;
  std::vector<at::Tensor> conv_weights;  ///< per layer; defined for convolutions only
  std::vector<at::Tensor> conv_biases;
  std::vector<at::Tensor> compute_weights;  ///< conv_weights in compute_dtype
  std::vector<at::Tensor> compute_biases;
  c10::ScalarType compute_dtype = c10::ScalarType::Float;
  ConvAlgorithm conv_algorithm = ConvAlgorithm::kAuto;
  /// per layer; set for the convolutions that run as Winograd convolutions
  std::vector<std::shared_ptr<WinogradConv3x3>> winograd;

  /// Makes `winograd` agree with conv_algorithm, the device and compute_dtype.
  void choose_convolutions();
  std::vector<std::string> names;
  std::unordered_map<std::string, int> index_by_name;
  std::string convention;
  std::string path;
  bool random_init = false;
  bool average_pooling = false;
  bool circular_padding = false;
};

VggFeatures::VggFeatures(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VggFeatures::VggFeatures(VggFeatures&&) noexcept = default;
VggFeatures& VggFeatures::operator=(VggFeatures&&) noexcept = default;
VggFeatures::~VggFeatures() = default;

VggFeatures VggFeatures::load(const std::string& path, const c10::Device& device) {
  // Before any convolution: applies STYLIZE_MAX_ISA to oneDNN too (LibTorch's convolutions).
  (void)kernel_isa();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw ModelError("cannot load model '" + path + "': no such file (" + kExportHint + ")");
  }
  if (std::filesystem::is_directory(path, ec)) {
    throw ModelError("cannot load model '" + path + "': it is a directory");
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  try {
    impl->module = torch::jit::load(path, device);
  } catch (const c10::Error& e) {
    throw ModelError("cannot load model '" + path + "': not a TorchScript model file (" +
                     first_line(e.what_without_backtrace()) + ")");
  } catch (const std::exception& e) {
    throw ModelError("cannot load model '" + path + "': " + first_line(e.what()));
  }
  auto& module = impl->module;
  const char* required[] = {"layer_names", "convention", "random_init", "format_version",
                            "features"};
  for (const char* name : required) {
    if (!module.hasattr(name)) {
      throw ModelError("cannot load model '" + path + "': not a stylize VGG model (no '" + name +
                       "'; " + kExportHint + ")");
    }
  }
  if (!module.find_method("preprocess")) {
    throw ModelError("cannot load model '" + path +
                     "': not a stylize VGG model (no 'preprocess' method; " + kExportHint + ")");
  }
  const auto version = module.attr("format_version").toInt();
  if (version != kSupportedFormatVersion) {
    throw ModelError("cannot load model '" + path + "': format version " +
                     std::to_string(version) + " is not supported (expected " +
                     std::to_string(kSupportedFormatVersion) + "; re-export it)");
  }
  for (const auto& name : module.attr("layer_names").toListRef()) {
    impl->names.push_back(name.toStringRef());
  }
  for (const auto& child : module.attr("features").toModule().children()) {
    impl->layers.push_back(child);
  }
  if (impl->names.empty() || impl->names.size() != impl->layers.size()) {
    throw ModelError("cannot load model '" + path + "': it names " +
                     std::to_string(impl->names.size()) + " layers but has " +
                     std::to_string(impl->layers.size()));
  }
  for (std::size_t i = 0; i < impl->names.size(); ++i) {
    impl->index_by_name.emplace(impl->names[i], static_cast<int>(i));
  }
  for (std::size_t i = 0; i < impl->names.size(); ++i) {
    const auto& name = impl->names[i];
    auto& layer = impl->layers[i];
    if (name.rfind("conv", 0) == 0 && layer.hasattr("weight")) {
      impl->kinds.push_back(LayerKind::kConv);
      impl->conv_weights.push_back(layer.attr("weight").toTensor().detach());
      impl->conv_biases.push_back(layer.attr("bias").toTensor().detach());
      const auto& w = impl->conv_weights.back();
      if (w.dim() != 4 || w.size(2) != 3 || w.size(3) != 3) {
        throw ModelError("cannot load model '" + path + "': layer " + name +
                         " is not a 3x3 convolution");
      }
      continue;
    }
    if (name.rfind("relu", 0) == 0) {
      impl->kinds.push_back(LayerKind::kRelu);
    } else if (name.rfind("pool", 0) == 0) {
      impl->kinds.push_back(LayerKind::kPool);
    } else {
      throw ModelError("cannot load model '" + path + "': unknown layer '" + name + "'");
    }
    impl->conv_weights.emplace_back();
    impl->conv_biases.emplace_back();
  }
  impl->convention = module.attr("convention").toStringRef();
  impl->random_init = module.attr("random_init").toBool();
  module.eval();
  for (const auto& parameter : module.parameters()) parameter.requires_grad_(false);
  impl->compute_weights = impl->conv_weights;
  impl->compute_biases = impl->conv_biases;
  impl->choose_convolutions();
  return VggFeatures(std::move(impl));
}

const std::vector<std::string>& VggFeatures::layer_names() const { return impl_->names; }

std::optional<int> VggFeatures::index_of(const std::string& layer) const {
  const auto found = impl_->index_by_name.find(layer);
  if (found == impl_->index_by_name.end()) return std::nullopt;
  return found->second;
}

const std::string& VggFeatures::convention() const { return impl_->convention; }
bool VggFeatures::random_init() const { return impl_->random_init; }
const std::string& VggFeatures::path() const { return impl_->path; }

int VggFeatures::pools_before(int index) const {
  const auto end = impl_->names.begin() + std::min<std::ptrdiff_t>(index, impl_->names.size());
  return static_cast<int>(std::count_if(impl_->names.begin(), end, [](const std::string& name) {
    return name.rfind("pool", 0) == 0;
  }));
}

void VggFeatures::set_average_pooling(bool avg) { impl_->average_pooling = avg; }

void VggFeatures::set_circular_padding(bool circular) { impl_->circular_padding = circular; }

void VggFeatures::set_compute_dtype(c10::ScalarType dtype) {
  if (dtype != c10::ScalarType::Float && dtype != c10::ScalarType::BFloat16 &&
      dtype != c10::ScalarType::Half) {
    throw ConfigError(std::string("unsupported network dtype ") + c10::toString(dtype));
  }
  impl_->compute_dtype = dtype;
  for (std::size_t k = 0; k < impl_->conv_weights.size(); ++k) {
    if (!impl_->conv_weights[k].defined()) continue;
    impl_->compute_weights[k] = impl_->conv_weights[k].to(dtype);
    impl_->compute_biases[k] = impl_->conv_biases[k].to(dtype);
  }
  impl_->choose_convolutions();
}

void VggFeatures::set_conv_algorithm(ConvAlgorithm algorithm) {
  const auto previous = impl_->conv_algorithm;
  impl_->conv_algorithm = algorithm;
  try {
    impl_->choose_convolutions();
  } catch (const ConfigError&) {
    impl_->conv_algorithm = previous;
    impl_->choose_convolutions();
    throw;
  }
}

std::string VggFeatures::winograd_backend() const {
  return winograd_layer_count() > 0 ? WinogradConv3x3::backend_name() : std::string();
}

std::uint64_t VggFeatures::kernel_cache_bytes(int deepest_index, int width_px,
                                              int height_px) const {
  if (impl_->circular_padding) return 0;  // every convolution through ATen
  std::uint64_t bytes = 0;
  int64_t pixels = static_cast<int64_t>(width_px) * height_px;
  for (int i = 0; i <= deepest_index && i < static_cast<int>(impl_->winograd.size()); ++i) {
    const auto k = static_cast<std::size_t>(i);
    if (impl_->kinds[k] == LayerKind::kPool) pixels /= 4;
    const auto& conv = impl_->winograd[k];
    if (conv && pixels >= conv->min_feature_pixels()) {
      bytes += static_cast<std::uint64_t>(conv->cache_bytes());
    }
  }
  return bytes;
}

int VggFeatures::winograd_layer_count() const {
  return static_cast<int>(std::count_if(impl_->winograd.begin(), impl_->winograd.end(),
                                        [](const auto& conv) { return conv != nullptr; }));
}

void VggFeatures::Impl::choose_convolutions() {
  winograd.assign(conv_weights.size(), nullptr);
  if (conv_algorithm == ConvAlgorithm::kDirect) return;
  const auto first = std::find_if(conv_weights.begin(), conv_weights.end(),
                                  [](const at::Tensor& w) { return w.defined(); });
  const bool on_cpu = first == conv_weights.end() || first->device().is_cpu();
  std::string reason = !on_cpu ? "the model is not on the CPU"
                       : compute_dtype != c10::ScalarType::Float
                           ? "the network does not run in fp32"
                           : WinogradConv3x3::unavailable_reason();
  if (!reason.empty()) {
    if (conv_algorithm == ConvAlgorithm::kWinograd) {
      throw ConfigError("invalid conv algorithm winograd: " + reason);
    }
    return;
  }
  for (std::size_t k = 0; k < conv_weights.size(); ++k) {
    const auto& w = conv_weights[k];
    if (!w.defined() || !WinogradConv3x3::suits(w)) continue;  // the first layer does not
    winograd[k] = WinogradConv3x3::create(w, conv_biases[k]);
  }
}

std::vector<at::Tensor> VggFeatures::extract(const at::Tensor& image_rgb01,
                                             const std::vector<int>& layer_indices) {
  std::vector<at::Tensor> outputs(layer_indices.size());
  extract(image_rgb01, layer_indices,
          [&outputs](std::size_t j, const at::Tensor& features) {
            outputs[j] = features;
            return at::Tensor();
          });
  return outputs;
}

namespace {
/// x [N,C,H,W] with one pixel of the opposite edge added on each side (circular padding).
at::Tensor wrap_pad(const at::Tensor& x) {
  const auto h = x.size(2);
  const auto w = x.size(3);
  auto rows = at::cat({x.narrow(2, h - 1, 1), x, x.narrow(2, 0, 1)}, 2);
  return at::cat({rows.narrow(3, w - 1, 1), rows, rows.narrow(3, 0, 1)}, 3);
}
}  // namespace

void VggFeatures::extract(const at::Tensor& image_rgb01, const std::vector<int>& layer_indices,
                          const LayerCallback& on_layer) {
  if (layer_indices.empty()) return;
  const int last = *std::max_element(layer_indices.begin(), layer_indices.end());
  const bool half = impl_->compute_dtype == at::kHalf;
  const auto preprocessed = impl_->module.run_method("preprocess", image_rgb01).toTensor();
  auto x = (half ? scale_gradient(preprocessed, 1.0 / kHalfGradientScale) : preprocessed)
               .to(impl_->compute_dtype);
  // The layers run as ATen ops rather than through the TorchScript interpreter. A ReLU after a
  // convolution runs in place when the convolution's own output is not requested: the
  // convolution's backward pass (weights frozen) needs only its input, so this drops one
  // activation copy per convolution, about a third of the memory autograd keeps.
  // The network is evaluated only up to the deepest requested layer.
  auto requested = [&layer_indices](int i) {
    return std::find(layer_indices.begin(), layer_indices.end(), i) != layer_indices.end();
  };
  // Where a Winograd convolution's output passes through ReLU and max pooling to another
  // Winograd convolution and none of the three is requested, the activations stay in oneDNN's
  // blocked layout and ReLU and pooling run as one kernel (relu_max_pool_2x2_blocked): no
  // reorder to NCHW and back, in the forward pass or the backward.
  auto chains_blocked = [&](int i) {
    const auto k = static_cast<std::size_t>(i);
    return i + 3 <= last && !impl_->average_pooling && !impl_->circular_padding &&
           impl_->winograd[k] &&
           impl_->kinds[k + 1] == LayerKind::kRelu && impl_->kinds[k + 2] == LayerKind::kPool &&
           impl_->winograd[k + 3] && !requested(i) && !requested(i + 1) && !requested(i + 2);
  };
  for (int i = 0; i <= last; ++i) {
    const auto k = static_cast<std::size_t>(i);
    if (impl_->kinds[k] == LayerKind::kConv && x.size(2) >= 2 && x.size(3) >= 2 &&
        chains_blocked(i)) {
      x = relu_max_pool_2x2_blocked(impl_->winograd[k]->forward(x, /*blocked_output=*/true));
      i += 2;  // the ReLU and the pooling are done; the next convolution takes x as it is
      continue;
    }
    switch (impl_->kinds[k]) {
      case LayerKind::kConv:
        if (impl_->circular_padding) {
          x = at::conv2d(wrap_pad(x), impl_->compute_weights[k], impl_->compute_biases[k]);
        } else if (impl_->winograd[k]) {
          x = impl_->winograd[k]->forward(x);
        } else if (impl_->conv_algorithm != ConvAlgorithm::kDirect) {
          // Not a Winograd layer: conv1_1 (3 channels) gets its own input gradient, and
          // conv3x3_few_channels hands anything else to ATen.
          x = conv3x3_few_channels(x, impl_->compute_weights[k], impl_->compute_biases[k]);
        } else {
          x = at::conv2d(x, impl_->compute_weights[k], impl_->compute_biases[k], /*stride=*/1,
                         /*padding=*/1);
        }
        break;
      case LayerKind::kRelu:
        x = i > 0 && impl_->kinds[k - 1] == LayerKind::kConv && !requested(i - 1) ? at::relu_(x)
                                                                                  : at::relu(x);
        break;
      case LayerKind::kPool:
        x = impl_->average_pooling ? at::avg_pool2d(x, {2, 2}, {2, 2}) : max_pool_2x2(x);
        break;
    }
    for (std::size_t j = 0; j < layer_indices.size(); ++j) {
      if (layer_indices[j] != i) continue;
      const auto features = x.to(at::kFloat);  // no copy when fp32
      auto next = on_layer(j, half ? scale_gradient(features, kHalfGradientScale) : features);
      if (next.defined() && impl_->compute_dtype == at::kFloat) x = std::move(next);
    }
  }
}

}  // namespace stylize
