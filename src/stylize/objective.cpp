#include <stylize/errors.hpp>
#include <stylize/losses.hpp>
#include <stylize/masks.hpp>
#include <stylize/objective.hpp>
#include <stylize/style_targets.hpp>
#include <stylize/vgg_features.hpp>

#include <torch/torch.h>

#include <utility>

namespace stylize {

LossBreakdown LossTerms::to_host(const at::Tensor& grad, bool* grad_finite) const {
  const auto zero = at::zeros({}, total.options());
  std::vector<at::Tensor> values;
  for (const auto* term : {&content, &style, &tv, &activation, &total, &temporal}) {
    values.push_back(term->defined() ? term->reshape({}) : zero);
  }
  if (grad.defined()) values.push_back(grad.isfinite().all().to(total.scalar_type()));
  const auto host = at::stack(values).to(at::kCPU, at::kDouble);
  const auto* v = host.data_ptr<double>();
  if (grad_finite != nullptr) *grad_finite = !grad.defined() || v[6] != 0.0;
  return {v[0], v[1], v[2], v[3], v[4], activation.defined(), v[5]};
}

Objective::Objective(VggFeatures& model, const LayerPlan& plan,
                     const at::Tensor& content_on_device, const StyleTargets& style_targets,
                     const StyleConfig& config)
    : Objective(model, plan, content_on_device, {StyleGuide{&style_targets, {}, 1.0}}, config) {}

Objective::Objective(VggFeatures& model, const LayerPlan& plan,
                     const at::Tensor& content_on_device, std::vector<StyleGuide> guides,
                     const StyleConfig& config, const WindowContext* window,
                     const TemporalTarget* temporal)
    : model_(model),
      plan_(plan),
      guides_(std::move(guides)),
      content_weight_(config.content_weight),
      style_weight_(config.style_weight),
      tv_weight_(config.tv_weight),
      normalize_gradients_(config.normalize_gradients),
      tileable_(config.tileable),
      window_(window) {
  std::vector<int> content_indices;
  for (const auto& layer : plan_.content) content_indices.push_back(layer.index);
  indices_ = content_indices;
  for (const auto& layer : plan_.style) indices_.push_back(layer.index);
  std::vector<std::int64_t> content_channels;
  {
    torch::NoGradGuard no_grad;
    for (auto& features : model_.extract(content_on_device, content_indices)) {
      content_mean_squares_.push_back(mean_square(features));
      content_channels.push_back(features.size(1));
      content_targets_.push_back(features);
    }
  }
  if (guides_.empty() && !plan_.style.empty()) throw ConfigError("no style targets given");
  if (temporal != nullptr && temporal->weight > 0.0) {
    const auto& device = content_on_device.device();
    const double pixels = static_cast<double>(content_on_device.numel());  // 3 x H x W
    for (std::size_t k = 0; k < temporal->warped_rgb01.size(); ++k) {
      temporal_warped_.push_back(temporal->warped_rgb01[k].to(device, at::kFloat));
      temporal_weights_.push_back(temporal->weights01[k].to(device, at::kFloat) / pixels);
    }
    temporal_weight_ = temporal->weight;
  }
  unguided_ = guides_.size() == 1 && !guides_.front().mask01.defined() &&
              guides_.front().weight == 1.0;
  if (window_ != nullptr) {
    if (!unguided_ || window_->layer_share.size() != plan_.style.size() ||
        window_->content_mean_squares.size() != plan_.content.size()) {
      throw ConfigError("a window's context needs one unmasked guide and every layer's sums");
    }
    content_mean_squares_ = window_->content_mean_squares;
  }
  if (!unguided_ && !guides_.empty()) prepare_masks(content_on_device);
  std::vector<std::int64_t> style_channels;
  if (!guides_.empty()) {
    for (const auto& gram : guides_.front().targets->grams) style_channels.push_back(gram.size(1));
  }
  content_layer_weights_ =
      effective_layer_weights(plan_.content, content_channels, config.normalize_weights);
  style_layer_weights_ =
      effective_layer_weights(plan_.style, style_channels, config.normalize_weights);
}

void Objective::prepare_masks(const at::Tensor& content_on_device) {
  // Each style layer's [H, W]: every 2x2 pooling before it halves the image, rounding down.
  std::vector<std::vector<std::int64_t>> sizes;
  for (const auto& layer : plan_.style) {
    const int pools = model_.pools_before(layer.index);
    sizes.push_back({content_on_device.size(2) >> pools, content_on_device.size(3) >> pools});
  }
  for (const auto& guide : guides_) {
    std::vector<at::Tensor> masks;
    std::vector<double> areas;
    const auto image_mask =
        guide.mask01.defined()
            ? resize_mask(guide.mask01.to(at::kCPU, at::kFloat), content_on_device.size(2),
                          content_on_device.size(3))
            : at::Tensor();
    for (const auto& size : sizes) {
      if (!image_mask.defined()) {
        masks.emplace_back();
        areas.push_back(1.0);
        continue;
      }
      const auto mask = resize_mask(image_mask, size[0], size[1]);
      areas.push_back(mask.mean().item<double>());
      masks.push_back(region_distribution(mask).to(content_on_device.device()));
    }
    layer_masks_.push_back(std::move(masks));
    layer_areas_.push_back(std::move(areas));
  }
}

at::Tensor Objective::guided_style_loss(const at::Tensor& features, std::size_t i) const {
  at::Tensor loss = at::zeros({}, features.options().dtype(at::kFloat));
  for (std::size_t g = 0; g < guides_.size(); ++g) {
    const auto& targets = *guides_[g].targets;
    const bool with_mean = targets.loss != StyleLossKind::kGram;
    const auto& mask = layer_masks_[g][i];
    if (layer_areas_[g][i] <= 0.0) continue;  // the region vanished at this layer's size
    WeightedStatistics statistics;
    if (mask.defined()) {
      statistics = region_statistics(features, mask, with_mean);
    } else {
      statistics.gram = gram_matrix(features);
      if (with_mean) statistics.mean = channel_mean(features);
    }
    loss = loss + guides_[g].weight * layer_areas_[g][i] *
                      style_layer_loss(statistics.gram, statistics.mean, targets, i);
  }
  return loss;
}

namespace {
/// image [N,C,H,W] with its first row and column appended after its last: the wrap's
/// neighbours, for the total variation of a tileable image.
at::Tensor wrap_edges(const at::Tensor& image) {
  const auto rows = at::cat({image, image.narrow(2, 0, 1)}, 2);
  return at::cat({rows, rows.narrow(3, 0, 1)}, 3);
}
}  // namespace

at::Tensor Objective::loss_input(const at::Tensor& features) const {
  return normalize_gradients_ && at::GradMode::is_enabled() ? normalize_gradient(features)
                                                            : features;
}

LossTerms Objective::evaluate(const at::Tensor& image) const {
  LossTerms terms;
  terms.content = at::zeros({}, image.options());
  terms.style = at::zeros({}, image.options());
  const auto content_count = plan_.content.size();
  model_.extract(image, indices_, [&](std::size_t j, const at::Tensor& f) {
    const auto features = loss_input(f);
    if (j < content_count) {
      terms.content = terms.content + content_layer_weights_[j] *
                                          relative_mse(features, content_targets_[j],
                                                       content_mean_squares_[j]);
      return at::Tensor();
    }
    const auto i = j - content_count;
    if (!unguided_) {
      terms.style = terms.style + style_layer_weights_[i] * guided_style_loss(features, i);
      return at::Tensor();
    }
    const auto& targets = *guides_.front().targets;
    // The network goes on from gram_tap's pass-through, so the Gram matrix's gradient is added
    // into the network's in one product (normalised gradients need their own node).
    auto [pass_on, gram] = normalize_gradients_
                               ? std::make_pair(at::Tensor(), gram_matrix(features))
                               : gram_tap(features);
    auto mean = targets.loss == StyleLossKind::kGram ? at::Tensor() : channel_mean(features);
    if (window_ != nullptr) {  // the whole image's statistics, this window's part evaluated
      gram = window_->gram_rest[i] + window_->layer_share[i] * gram;
      if (mean.defined()) mean = window_->mean_rest[i] + window_->layer_share[i] * mean;
    }
    terms.style = terms.style + style_layer_weights_[i] * style_layer_loss(gram, mean, targets, i);
    return pass_on;
  });
  const double share = window_ != nullptr ? window_->pixel_share : 1.0;
  terms.content = terms.content * (content_weight_ * share);
  terms.style = terms.style * style_weight_;
  terms.tv = total_variation(tileable_ ? wrap_edges(image) : image) * (tv_weight_ * share);
  terms.total = terms.content + terms.style + terms.tv;
  if (!temporal_warped_.empty()) {
    terms.temporal = at::zeros({}, image.options());
    for (std::size_t k = 0; k < temporal_warped_.size(); ++k) {
      terms.temporal =
          terms.temporal + (temporal_weights_[k] * (image - temporal_warped_[k]).square()).sum();
    }
    terms.temporal = terms.temporal * temporal_weight_;
    terms.total = terms.total + terms.temporal;
  }
  return terms;
}

}  // namespace stylize
