#include <stylize/losses.hpp>
#include <stylize/objective.hpp>
#include <stylize/style_targets.hpp>
#include <stylize/vgg_features.hpp>

#include <torch/torch.h>

#include <utility>

namespace stylize {

LossBreakdown LossTerms::to_host(const at::Tensor& grad, bool* grad_finite) const {
  std::vector<at::Tensor> values{content, style, tv, total};
  if (grad.defined()) values.push_back(grad.isfinite().all().to(total.scalar_type()));
  const auto host = at::stack(values).to(at::kCPU, at::kDouble);
  const auto* v = host.data_ptr<double>();
  if (grad_finite != nullptr) *grad_finite = !grad.defined() || v[4] != 0.0;
  return {v[0], v[1], v[2], v[3]};
}

Objective::Objective(VggFeatures& model, const LayerPlan& plan,
                     const at::Tensor& content_on_device, const StyleTargets& style_targets,
                     const StyleConfig& config)
    : model_(model),
      plan_(plan),
      style_targets_(style_targets),
      content_weight_(config.content_weight),
      style_weight_(config.style_weight),
      tv_weight_(config.tv_weight),
      normalize_gradients_(config.normalize_gradients) {
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
  std::vector<std::int64_t> style_channels;
  for (const auto& gram : style_targets_.grams) style_channels.push_back(gram.size(1));
  content_layer_weights_ =
      effective_layer_weights(plan_.content, content_channels, config.normalize_weights);
  style_layer_weights_ =
      effective_layer_weights(plan_.style, style_channels, config.normalize_weights);
}

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
    // The network goes on from gram_tap's pass-through, so the Gram matrix's gradient is added
    // into the network's in one product (normalised gradients need their own node).
    auto [pass_on, gram] = normalize_gradients_
                               ? std::make_pair(at::Tensor(), gram_matrix(features))
                               : gram_tap(features);
    terms.style = terms.style + style_layer_weights_[i] *
                                    style_layer_loss(features, gram, style_targets_, i);
    return pass_on;
  });
  terms.content = terms.content * content_weight_;
  terms.style = terms.style * style_weight_;
  terms.tv = total_variation(image) * tv_weight_;
  terms.total = terms.content + terms.style + terms.tv;
  return terms;
}

}  // namespace stylize
