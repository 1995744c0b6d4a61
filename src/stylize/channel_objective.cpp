#include <stylize/channel_objective.hpp>
#include <stylize/errors.hpp>
#include <stylize/losses.hpp>
#include <stylize/vgg_features.hpp>

#include <torch/torch.h>

#include <algorithm>

namespace stylize {

ChannelObjective::ChannelObjective(VggFeatures& model, int layer_index, std::int64_t channel,
                                   const at::Tensor& reference_rgb01, double tv_weight,
                                   int jitter_px, std::uint64_t seed, double contrast_weight)
    : model_(model),
      layer_index_(layer_index),
      channel_(channel),
      tv_weight_(tv_weight),
      jitter_px_(jitter_px),
      contrast_weight_(contrast_weight),
      random_(seed) {
  torch::NoGradGuard no_grad;
  const auto features = model_.extract(reference_rgb01, {layer_index_}).front();
  if (channel_ < 0 || channel_ >= features.size(1)) {
    throw ConfigError("channel " + std::to_string(channel_) + " out of range: " +
                      model_.layer_names()[static_cast<std::size_t>(layer_index_)] + " has " +
                      std::to_string(features.size(1)) + " channels (0-" +
                      std::to_string(features.size(1) - 1) + ")");
  }
  unit_ = std::max(features.mean().item<double>(), 1e-6);
}

at::Tensor ChannelObjective::channel_mean(const at::Tensor& image, bool with_contrast) const {
  at::Tensor result;
  model_.extract(image, {layer_index_}, [&](std::size_t, const at::Tensor& features) {
    result = features.select(1, channel_).mean();
    if (with_contrast && contrast_weight_ != 0.0) {
      result = result - contrast_weight_ * features.mean();
    }
    return at::Tensor();
  });
  return result / unit_;
}

LossTerms ChannelObjective::evaluate(const at::Tensor& image) const {
  at::Tensor seen = image;
  if (jitter_px_ > 0) {
    std::uniform_int_distribution<int> shift(-jitter_px_, jitter_px_);
    const int dy = shift(random_);
    const int dx = shift(random_);
    seen = at::roll(image, {dy, dx}, {2, 3});
  }
  LossTerms terms;
  terms.activation = -channel_mean(seen, true);
  terms.tv = total_variation(image) * tv_weight_;
  terms.total = terms.activation + terms.tv;
  return terms;
}

double ChannelObjective::activation(const at::Tensor& image) const {
  torch::NoGradGuard no_grad;
  return channel_mean(image, false).item<double>();
}

}  // namespace stylize
