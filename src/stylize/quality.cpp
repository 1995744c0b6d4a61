#include <stylize/config.hpp>
#include <stylize/errors.hpp>
#include <stylize/losses.hpp>
#include <stylize/quality.hpp>
#include <stylize/resize.hpp>
#include <stylize/style_transfer.hpp>
#include <stylize/vgg_features.hpp>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <string>

namespace stylize {

double QualityScores::style_ratio() const {
  return photo_style_distance > 0.0 ? style_distance / photo_style_distance : 0.0;
}

QualityScores measure_quality(VggFeatures& model, const c10::Device& device,
                              const at::Tensor& content_rgb01,
                              const std::vector<at::Tensor>& styles_rgb01,
                              const std::vector<double>& blend, const at::Tensor& image_rgb01,
                              int size_px) {
  if (size_px < kMinSizePxForConfig) {
    throw ConfigError("invalid measure size " + std::to_string(size_px) + ": must be at least " +
                      std::to_string(kMinSizePxForConfig) + " px");
  }
  torch::NoGradGuard no_grad;
  // A fixed yardstick: the model's default layers with unit weights, Gram loss.
  const LayerPlan plan = plan_layers(model.layer_names(), StyleConfig{});
  const StyleTransfer engine(model, plan, device);
  std::vector<at::Tensor> styles;
  for (const auto& style : styles_rgb01) styles.push_back(resize_longest_side(style, size_px));
  const StyleTargets targets = engine.compute_style_targets(styles, blend);

  const auto content = resize_longest_side(content_rgb01, size_px).to(device);
  // Resized the way the content was, then (if its aspect differs slightly) to the same shape.
  auto image = resize_longest_side(image_rgb01.to(at::kFloat), size_px);
  if (image.sizes() != content.sizes()) image = upsample_to(image, content.size(2), content.size(3));
  image = image.to(device);
  std::vector<int> indices;
  for (const auto& layer : plan.content) indices.push_back(layer.index);
  for (const auto& layer : plan.style) indices.push_back(layer.index);
  const auto content_features = model.extract(content, indices);
  const auto image_features = model.extract(image, indices);

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
  for (std::size_t i = 0; i < plan.content.size(); ++i) {
    scores.content_distance +=
        plan.content[i].weight * relative_mse(image_features[i], content_features[i],
                                              mean_square(content_features[i]))
                                     .item<double>();
  }
  scores.style_distance = style_distance(image_features);
  scores.photo_style_distance = style_distance(content_features);
  return scores;
}

}  // namespace stylize
