#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <stylize/config.hpp>  // kDefaultMeasureSizePx

#include <vector>

namespace stylize {

class VggFeatures;

/// How far an image is from a content photo and a style (README "Measuring quality"), measured
/// with the model's default layers (content relu4_2 or the deepest reluB_2; style reluK_1) and
/// max pooling, whatever settings made the image.
struct QualityScores {
  /// Relative feature error at the content layers: 0 is the photo itself, 1 is as far as an
  /// all-black feature map.
  double content_distance = 0.0;
  /// Relative Gram-matrix error, averaged over the style layers: 0 is the style's statistics.
  double style_distance = 0.0;
  /// style_distance of the untouched photo: the normaliser of style_ratio.
  double photo_style_distance = 0.0;
  /// content_distance of the painting (resized to the photo's shape; the blend of the styles'):
  /// the normaliser of content_ratio.
  double painting_content_distance = 0.0;
  /// style_ratio averaged over the evaluation sizes multiscale_sizes_px: the coarse sizes show
  /// brush structures larger than the layers' receptive fields at the full size.
  double multiscale_style_ratio = 0.0;
  /// measure_sizes_px(size_px) but those at which the content's short side would be under
  /// kMinSizePxForConfig px.
  std::vector<int> multiscale_sizes_px;
  /// style_distance / photo_style_distance: 1 for the untouched photo, lower is more stylized.
  [[nodiscard]] double style_ratio() const;
  /// content_distance / painting_content_distance: 0 for the photo, 1 as far as the painting.
  [[nodiscard]] double content_ratio() const;
};

/// The evaluation sizes of measure_quality's multi-scale style ratio: size_px / 4, / 2 and
/// size_px itself (those of at least kMinSizePxForConfig px).
std::vector<int> measure_sizes_px(int size_px);

/// Measures image_rgb01 against content_rgb01 and the style images (blended by blend, empty:
/// equal). Every image is first resized so its longest side is size_px; the image is then
/// resized to the content's measured shape. The scores are those at size_px, with
/// multiscale_style_ratio over measure_sizes_px(size_px). All tensors are [1,3,H,W] RGB in
/// [0,1].
/// Throws ConfigError for size_px below 16 or no style.
QualityScores measure_quality(VggFeatures& model, const c10::Device& device,
                              const at::Tensor& content_rgb01,
                              const std::vector<at::Tensor>& styles_rgb01,
                              const std::vector<double>& blend, const at::Tensor& image_rgb01,
                              int size_px = kDefaultMeasureSizePx);

}  // namespace stylize
