#pragma once

#include <stylize/config.hpp>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace stylize {

/// A frozen VGG feature extractor loaded from a TorchScript file made by
/// scripts/export_vgg19.py. The file carries its input preprocessing (so callers always pass RGB
/// in [0,1]) and its layer names (conv1_1, relu1_1, ..., pool1, ...).
class VggFeatures {
 public:
  /// Loads and freezes the model on device. Throws ModelError naming the path when the file is
  /// missing, unreadable, or not a stylize VGG model.
  static VggFeatures load(const std::string& path, const c10::Device& device);

  VggFeatures(VggFeatures&&) noexcept;
  VggFeatures& operator=(VggFeatures&&) noexcept;
  ~VggFeatures();

  [[nodiscard]] const std::vector<std::string>& layer_names() const;
  /// Index of a layer name, or nullopt when the model has no such layer.
  [[nodiscard]] std::optional<int> index_of(const std::string& layer) const;
  /// "caffe" or "torchvision": the input convention the weights were trained with.
  [[nodiscard]] const std::string& convention() const;
  /// True for a randomly initialised model (for tests and timing only).
  [[nodiscard]] bool random_init() const;
  [[nodiscard]] const std::string& path() const;
  /// Number of pooling layers before layer index (each halves the spatial size).
  [[nodiscard]] int pools_before(int index) const;

  /// Replaces every max-pooling layer with average pooling of the same geometry when avg is true.
  void set_average_pooling(bool avg);
  /// Pads every convolution's input circularly (the image wraps around left-right and
  /// top-bottom) instead of with zeros: the network sees a periodic image, for tileable
  /// textures. Convolutions then run through ATen (no Winograd).
  void set_circular_padding(bool circular);

  /// Runs the network's layers in dtype (kFloat, kBFloat16 or kHalf; weights are converted
  /// once). The input is cast on entry and extract() returns fp32 activations, so the losses and
  /// the image stay fp32 (mixed precision).
  void set_compute_dtype(c10::ScalarType dtype);

  /// How the convolutions run (see ConvAlgorithm); kAuto unless set. Throws ConfigError for
  /// kWinograd when the model is not on the CPU, the network does not run in fp32, or this build
  /// or CPU has no Winograd convolutions (the message says which).
  void set_conv_algorithm(ConvAlgorithm algorithm);
  /// How many of the network's convolutions run as Winograd convolutions (the others: ATen; see
  /// WinogradConv3x3 for the feature-map sizes it hands to ATen).
  [[nodiscard]] int winograd_layer_count() const;
  /// Which Winograd kernels those run on, e.g. "stylize F(4x4,3x3) (avx2)"; empty when none do.
  [[nodiscard]] std::string winograd_backend() const;
  /// Memory the convolutions of layers 0..deepest_index keep besides the weights once they
  /// have run on an image of width_px x height_px (stylize's Winograd kernels keep their weights
  /// transformed where a map is large enough for them), for the memory estimate.
  [[nodiscard]] std::uint64_t kernel_cache_bytes(int deepest_index, int width_px,
                                                 int height_px) const;

  /// Runs the network on image_rgb01 ([N,3,H,W], RGB in [0,1], on the model's device) up to the
  /// deepest requested layer only and returns the activations of layer_indices, in that order.
  std::vector<at::Tensor> extract(const at::Tensor& image_rgb01,
                                  const std::vector<int>& layer_indices);

  /// Receives (position in layer_indices, activation [N,C,H,W] fp32) and returns what the
  /// network continues with: an undefined tensor (the activation itself), or a tensor equal to
  /// the activation through which a loss's gradient joins the network's (gram_tap). The
  /// returned tensor is used in fp32 networks only.
  using LayerCallback = std::function<at::Tensor(std::size_t, const at::Tensor&)>;
  /// As above, but hands each requested activation to on_layer as soon as its layer has run
  /// (in network order). A loss built inside on_layer enters the autograd graph right after its
  /// layer, so the backward pass computes that loss's gradient just when the chain rule reaches
  /// the layer, instead of first computing every layer's and holding them all.
  void extract(const at::Tensor& image_rgb01, const std::vector<int>& layer_indices,
               const LayerCallback& on_layer);

 private:
  struct Impl;
  explicit VggFeatures(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stylize
