#include <stylize/config.hpp>
#include <stylize/errors.hpp>
#include <stylize/losses.hpp>
#include <stylize/quality.hpp>
#include <stylize/resize.hpp>
#include <stylize/style_transfer.hpp>
#include <stylize/vgg_features.hpp>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <algorithm>
#include <string>
#include <utility>

namespace stylize {

double QualityScores::style_ratio() const {
  return photo_style_distance > 0.0 ? style_distance / photo_style_distance : 0.0;
}

double QualityScores::content_ratio() const {
  return painting_content_distance > 0.0 ? content_distance / painting_content_distance : 0.0;
}

std::vector<int> measure_sizes_px(int size_px) {
  std::vector<int> sizes;
  for (int divisor : {4, 2, 1}) {
    if (size_px / divisor >= kMinSizePxForConfig) sizes.push_back(size_px / divisor);
  }
  return sizes;
}

namespace {

/// other resized as the content was (its longest side to the content's), then, if its aspect
/// differs, to the content's shape.
at::Tensor like_content(const at::Tensor& other, const at::Tensor& content) {
  const auto side = static_cast<int>(std::max(content.size(2), content.size(3)));
  auto image = resize_longest_side(other.to(at::kFloat).to(at::kCPU), side);
  if (image.sizes() != content.sizes()) image = upsample_to(image, content.size(2), content.size(3));
  return image.to(content.device());
}

/// The scores at one evaluation size (multiscale_style_ratio left 0; painting_content_distance
/// too unless with_painting).
QualityScores measure_at(VggFeatures& model, const c10::Device& device, const LayerPlan& plan,
                         const at::Tensor& content_rgb01,
                         const std::vector<at::Tensor>& styles_rgb01,
                         const std::vector<double>& blend, const at::Tensor& image_rgb01,
                         int size_px, bool with_painting) {
  const StyleTransfer engine(model, plan, device);
  std::vector<at::Tensor> styles;
  for (const auto& style : styles_rgb01) styles.push_back(resize_longest_side(style, size_px));
  const StyleTargets targets = engine.compute_style_targets(styles, blend);
  const auto content = resize_longest_side(content_rgb01, size_px).to(device);
  std::vector<int> indices;
  for (const auto& layer : plan.content) indices.push_back(layer.index);
  for (const auto& layer : plan.style) indices.push_back(layer.index);
  const auto content_features = model.extract(content, indices);
  auto content_distance = [&](const at::Tensor& image) {
    const auto features = model.extract(like_content(image, content), indices);
    double sum = 0.0;
    for (std::size_t i = 0; i < plan.content.size(); ++i) {
      sum += plan.content[i].weight *
             relative_mse(features[i], content_features[i], mean_square(content_features[i]))
                 .item<double>();
    }
    return std::pair(sum, features);
  };
  auto style_distance = [&](const std::vector<at::Tensor>& features) {
    double sum = 0.0;
    for (std::size_t i = 0; i < plan.style.size(); ++i) {
      const auto& f = features[plan.content.size() + i];
      sum += plan.style[i].weight *
             relative_mse(gram_matrix(f), targets.grams[i], targets.gram_mean_squares[i])
                 .item<double>();
    }
    return sum;
  };
  QualityScores scores;
  const auto [distance, image_features] = content_distance(image_rgb01);
  scores.content_distance = distance;
  scores.style_distance = style_distance(image_features);
  scores.photo_style_distance = style_distance(content_features);
  if (!with_painting) return scores;
  double blend_sum = 0.0;  // equal weights when blend is empty
  for (std::size_t s = 0; s < styles_rgb01.size(); ++s) blend_sum += blend.empty() ? 1.0 : blend[s];
  for (std::size_t s = 0; s < styles_rgb01.size(); ++s) {
    scores.painting_content_distance += (blend.empty() ? 1.0 : blend[s]) / blend_sum *
                                        content_distance(styles_rgb01[s]).first;
  }
  return scores;
}

}  // namespace

QualityScores measure_quality(VggFeatures& model, const c10::Device& device,
                              const at::Tensor& content_rgb01,
                              const std::vector<at::Tensor>& styles_rgb01,
                              const std::vector<double>& blend, const at::Tensor& image_rgb01,
                              int size_px) {
  if (size_px < kMinSizePxForConfig) {
    throw ConfigError("invalid measure size " + std::to_string(size_px) + ": must be at least " +
                      std::to_string(kMinSizePxForConfig) + " px");
  }
  StyleConfig blend_check;
  blend_check.style_blend = blend;
  validate(blend_check, styles_rgb01.size());
  torch::NoGradGuard no_grad;
  // A fixed yardstick: the model's default layers with unit weights, Gram loss.
  const LayerPlan plan = plan_layers(model.layer_names(), StyleConfig{});
  QualityScores scores;
  double ratios = 0.0;
  std::vector<int> sizes;
  // The deepest layers need as many pixels as the size itself on every image's short side.
  auto fits = [](const at::Tensor& image, int side) {
    return std::min(image.size(2), image.size(3)) * side >=
           kMinSizePxForConfig * std::max(image.size(2), image.size(3));
  };
  for (int side : measure_sizes_px(size_px)) {
    const bool all_fit = fits(content_rgb01, side) &&
                         std::all_of(styles_rgb01.begin(), styles_rgb01.end(),
                                     [&](const at::Tensor& style) { return fits(style, side); });
    if (side != size_px && !all_fit) continue;
    const QualityScores at_side = measure_at(model, device, plan, content_rgb01, styles_rgb01,
                                             blend, image_rgb01, side, side == size_px);
    ratios += at_side.style_ratio();
    sizes.push_back(side);
    if (side == size_px) scores = at_side;
  }
  scores.multiscale_style_ratio = ratios / static_cast<double>(sizes.size());
  scores.multiscale_sizes_px = sizes;
  return scores;
}

}  // namespace stylize
