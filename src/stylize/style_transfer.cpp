#include <stylize/errors.hpp>
#include <stylize/resize.hpp>
#include <stylize/losses.hpp>
#include <stylize/style_transfer.hpp>
#include <stylize/vgg_features.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adam.h>
#include <torch/optim/lbfgs.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <sstream>

namespace stylize {
namespace {

using Clock = std::chrono::steady_clock;

/// Mean absolute pixel change (in [0,1] units) the first L-BFGS step may try.
constexpr double kFirstStepMeanChange = 0.01;

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (name.rfind("relu", 0) != 0) continue;  // list the usable (ReLU) layers only
    out += (out.empty() ? "" : " ") + name;
  }
  return out;
}

std::vector<PlannedLayer> resolve(const std::vector<LayerWeight>& wanted,
                                  const std::vector<std::string>& names, const char* role) {
  std::vector<PlannedLayer> planned;
  double sum = 0.0;
  for (const auto& layer : wanted) {
    const auto found = std::find(names.begin(), names.end(), layer.layer);
    if (found == names.end()) {
      throw ConfigError(std::string("unknown ") + role + " layer '" + layer.layer +
                        "': the model has " + join_names(names));
    }
    planned.push_back({layer.layer, static_cast<int>(found - names.begin()), layer.weight});
    sum += layer.weight;
  }
  if (sum <= 0.0) {
    throw ConfigError(std::string("invalid ") + role + " layer weights: they must not all be zero");
  }
  for (auto& layer : planned) layer.weight /= sum;
  return planned;
}

bool has(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

/// The three loss terms of one evaluation, already weighted.
struct LossTerms {
  at::Tensor content;
  at::Tensor style;
  at::Tensor tv;
  at::Tensor total;
  /// The four values in one device-to-host copy (one sync on a GPU, not four). When grad is
  /// given, *grad_finite says whether all of it is finite, read in the same copy.
  [[nodiscard]] LossBreakdown to_host(const at::Tensor& grad = {},
                                      bool* grad_finite = nullptr) const {
    std::vector<at::Tensor> values{content, style, tv, total};
    if (grad.defined()) values.push_back(grad.isfinite().all().to(total.scalar_type()));
    const auto host = at::stack(values).to(at::kCPU, at::kDouble);
    const auto* v = host.data_ptr<double>();
    if (grad_finite != nullptr) *grad_finite = !grad.defined() || v[4] != 0.0;
    return {v[0], v[1], v[2], v[3]};
  }
};

/// One style layer's loss (README "Style losses"). Each is 1 to 2 when the features are all zero,
/// so style weights mean about the same for every kind.
/// Layer i's style loss from its features and their Gram matrix (gram_matrix(features)).
at::Tensor style_layer_loss(StyleLossKind kind, const at::Tensor& features, const at::Tensor& gram,
                            const StyleTargets& targets, std::size_t i) {
  if (kind == StyleLossKind::kGram) {
    return relative_mse(gram, targets.grams[i], targets.gram_mean_squares[i]);
  }
  const auto mean = channel_mean(features);
  const auto cov = covariance(gram, mean);
  if (kind == StyleLossKind::kMeanCov) {
    return relative_mse(mean, targets.means[i], targets.mean_mean_squares[i]) +
           relative_mse(cov, targets.covariances[i], targets.covariance_mean_squares[i]);
  }
  return gaussian_w2(mean, cov, targets.means[i], targets.covariances[i],
                     targets.covariance_sqrts[i]) /
         targets.second_moment_traces[i];
}

}  // namespace

std::vector<double> effective_layer_weights(const std::vector<PlannedLayer>& layers,
                                            const std::vector<std::int64_t>& channels,
                                            bool normalize_weights) {
  std::vector<double> weights;
  double sum = 0.0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    weights.push_back(layers[i].weight /
                      (normalize_weights ? static_cast<double>(channels.at(i)) : 1.0));
    sum += weights.back();
  }
  for (auto& w : weights) w /= sum;
  return weights;
}

std::vector<int> scale_ladder(int size_px, int min_size_px, double scale_step) {
  std::vector<int> sizes;
  if (min_size_px > 0 && scale_step > 1.0) {
    for (double side = min_size_px; side < size_px * 0.97; side *= scale_step) {
      sizes.push_back(static_cast<int>(std::lround(side)));
    }
  }
  sizes.push_back(size_px);
  return sizes;
}

int style_side_px(int scale_side_px, double style_scale) {
  return std::max(kMinImageSidePx, static_cast<int>(std::lround(scale_side_px * style_scale)));
}

IterateAverage::IterateAverage(double decay) : decay_(decay) {}

void IterateAverage::update(const at::Tensor& x) {
  if (decay_ <= 0.0) {
    sum_ = x.detach().clone();
    weight_ = 1.0;
    return;
  }
  if (!sum_.defined()) sum_ = at::zeros_like(x);
  sum_.mul_(decay_).add_(x.detach(), 1.0 - decay_);
  weight_ = weight_ * decay_ + (1.0 - decay_);
}

at::Tensor IterateAverage::value() const { return sum_ / weight_; }

int LayerPlan::deepest_index() const {
  int deepest = 0;
  for (const auto& layer : content) deepest = std::max(deepest, layer.index);
  for (const auto& layer : style) deepest = std::max(deepest, layer.index);
  return deepest;
}

std::string LayerPlan::describe() const {
  std::ostringstream out;
  out << "content";
  for (const auto& layer : content) out << ' ' << layer.name;
  out << "; style";
  for (const auto& layer : style) out << ' ' << layer.name;
  return out.str();
}

LayerPlan plan_layers(const std::vector<std::string>& names, const StyleConfig& config) {
  LayerPlan plan;
  std::vector<LayerWeight> content = config.content_layers;
  std::vector<LayerWeight> style = config.style_layers;
  plan.used_model_defaults = content.empty() || style.empty();
  if (content.empty()) {
    for (int block = 4; block >= 1 && content.empty(); --block) {
      const std::string name = "relu" + std::to_string(block) + "_2";
      if (has(names, name)) content.push_back({name, 1.0});
    }
    if (content.empty() || content.front().layer != "relu4_2") plan.fell_back_to_shallower = true;
    if (content.empty()) {
      throw ConfigError("the model has no default content layer (reluB_2): it has " +
                        join_names(names) + "; pass --content-layers");
    }
  }
  if (style.empty()) {
    for (int block = 1; block <= 5; ++block) {
      const std::string name = "relu" + std::to_string(block) + "_1";
      if (has(names, name)) style.push_back({name, 1.0});
    }
    if (!has(names, "relu5_1")) plan.fell_back_to_shallower = true;
    if (style.empty()) {
      throw ConfigError("the model has no default style layer (reluB_1): it has " +
                        join_names(names) + "; pass --style-layers");
    }
  }
  plan.content = resolve(content, names, "content");
  plan.style = resolve(style, names, "style");
  return plan;
}

StyleTransfer::StyleTransfer(VggFeatures& model, LayerPlan plan, c10::Device device)
    : model_(model), plan_(std::move(plan)), device_(device) {}

StyleTargets StyleTransfer::compute_style_targets(const std::vector<at::Tensor>& styles_rgb01,
                                                  const std::vector<double>& blend) const {
  if (styles_rgb01.empty()) throw ConfigError("no style image given");
  std::vector<double> weights = blend.empty() ? std::vector<double>(styles_rgb01.size(), 1.0)
                                              : blend;
  const double sum = std::accumulate(weights.begin(), weights.end(), 0.0);
  torch::NoGradGuard no_grad;
  std::vector<int> indices;
  for (const auto& layer : plan_.style) indices.push_back(layer.index);
  StyleTargets targets;
  for (std::size_t s = 0; s < styles_rgb01.size(); ++s) {
    const auto features = model_.extract(styles_rgb01[s].to(device_), indices);
    const double share = weights[s] / sum;
    for (std::size_t l = 0; l < features.size(); ++l) {
      auto gram = gram_matrix(features[l]) * share;
      auto mean = channel_mean(features[l]) * share;
      if (s == 0) {
        targets.grams.push_back(gram);
        targets.means.push_back(mean);
      } else {
        targets.grams[l] += gram;
        targets.means[l] += mean;
      }
    }
  }
  for (std::size_t l = 0; l < targets.grams.size(); ++l) {
    const auto& gram = targets.grams[l];
    const auto cov = covariance(gram, targets.means[l]);
    targets.gram_mean_squares.push_back(mean_square(gram));
    targets.mean_mean_squares.push_back(mean_square(targets.means[l]));
    targets.covariances.push_back(cov);
    targets.covariance_mean_squares.push_back(mean_square(cov));
    targets.covariance_sqrts.push_back(psd_sqrt(cov));
    targets.second_moment_traces.push_back(
        gram.diagonal(0, 1, 2).sum().clamp_min(1e-8));
  }
  return targets;
}

StyleTransferResult StyleTransfer::run(const at::Tensor& content_rgb01,
                                       const StyleTargets& targets, const StyleConfig& config,
                                       const at::Tensor& init_rgb01,
                                       const ProgressCallback& on_progress,
                                       const std::atomic<bool>* cancel) const {
  try {
    return run_unchecked(content_rgb01, targets, config, init_rgb01, on_progress, cancel);
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    if (what.find("out of memory") == std::string::npos) throw;
    throw MemoryError("out of memory on " + device_.str() + " at " +
                      std::to_string(content_rgb01.size(3)) + "x" +
                      std::to_string(content_rgb01.size(2)) +
                      " px: use a smaller --size, --optimizer adam or a smaller --lbfgs-history");
  }
}

std::int64_t StyleTransfer::min_side_px() const {
  return std::int64_t{1} << model_.pools_before(plan_.deepest_index());
}

StyleTransferResult StyleTransfer::run_coarse_to_fine(const at::Tensor& content_rgb01,
                                                      const TargetsForSide& targets_for_side,
                                                      const StyleConfig& config,
                                                      const at::Tensor& init_rgb01,
                                                      const ProgressCallback& on_progress,
                                                      const std::atomic<bool>* cancel) const {
  const auto full_h = content_rgb01.size(2);
  const auto full_w = content_rgb01.size(3);
  const int full_side = static_cast<int>(std::max(full_h, full_w));
  // Scales too small for the deepest layer (each pooling halves the image) are skipped.
  const std::int64_t min_side = min_side_px();
  std::vector<int> ladder;
  for (int side : scale_ladder(full_side, config.min_size_px, config.scale_step)) {
    const double scale = static_cast<double>(side) / full_side;
    if (side == full_side ||
        std::lround(static_cast<double>(std::min(full_h, full_w)) * scale) >= min_side) {
      ladder.push_back(side);
    }
  }
  StyleTransferResult total;
  at::Tensor previous;
  for (std::size_t k = 0; k < ladder.size(); ++k) {
    StyleConfig scale_config = config;
    scale_config.size_px = ladder[k];
    if (k == 0 && config.initial_iterations > 0 && ladder.size() > 1) {
      scale_config.iterations = config.initial_iterations;
    }
    const at::Tensor content = resize_longest_side(content_rgb01, ladder[k]);
    at::Tensor init = init_rgb01.defined() ? resize_longest_side(init_rgb01, ladder[k]) : init_rgb01;
    if (previous.defined()) {
      // Each scale starts from the previous result, upsampled to this scale's exact shape.
      init = upsample_to(previous, content.size(2), content.size(3));
      scale_config.init = InitKind::kImage;
    }
    ProgressCallback scaled;
    if (on_progress) {
      scaled = [&, k](const IterationReport& report) {
        IterationReport r = report;
        r.scale_index = static_cast<int>(k);
        r.scale_count = static_cast<int>(ladder.size());
        r.width_px = static_cast<int>(content.size(3));
        r.height_px = static_cast<int>(content.size(2));
        on_progress(r);
      };
    }
    const auto& targets = targets_for_side(style_side_px(ladder[k], config.style_scale));
    StyleTransferResult result = run(content, targets, scale_config, init, scaled, cancel);
    total.iterations_run += result.iterations_run;
    total.elapsed_s += result.elapsed_s;
    total.recoveries += result.recoveries;
    total.notices.insert(total.notices.end(), result.notices.begin(), result.notices.end());
    total.final_losses = result.final_losses;
    total.converged = result.converged;
    total.cancelled = result.cancelled;
    previous = result.image_rgb01;
    if (result.cancelled) break;
  }
  if (previous.size(2) != full_h || previous.size(3) != full_w) {
    previous = upsample_to(previous, full_h, full_w);
  }
  total.image_rgb01 = previous;
  return total;
}

StyleTransferResult StyleTransfer::run_unchecked(const at::Tensor& content_rgb01,
                                       const StyleTargets& targets, const StyleConfig& config,
                                       const at::Tensor& init_rgb01,
                                       const ProgressCallback& on_progress,
                                       const std::atomic<bool>* cancel) const {
  if (content_rgb01.dim() != 4 || content_rgb01.size(1) != 3) {
    throw ConfigError("content image must be a [1,3,H,W] tensor");
  }
  if (targets.grams.size() != plan_.style.size()) {
    throw ConfigError("style targets do not match the layer plan");
  }
  const std::int64_t min_side = min_side_px();
  if (std::min(content_rgb01.size(2), content_rgb01.size(3)) < min_side) {
    throw InputError("content image is " + std::to_string(content_rgb01.size(3)) + "x" +
                     std::to_string(content_rgb01.size(2)) + " px but the layers up to " +
                     model_.layer_names()[static_cast<std::size_t>(plan_.deepest_index())] +
                     " need at least " + std::to_string(min_side) + " px on each side");
  }
  const auto start = Clock::now();
  const auto content = content_rgb01.to(device_, at::kFloat);

  // Targets are computed once, outside the loop.
  std::vector<int> indices;
  for (const auto& layer : plan_.content) indices.push_back(layer.index);
  for (const auto& layer : plan_.style) indices.push_back(layer.index);
  std::vector<at::Tensor> content_targets;
  std::vector<at::Tensor> content_mean_squares;
  {
    torch::NoGradGuard no_grad;
    std::vector<int> content_indices(indices.begin(), indices.begin() + plan_.content.size());
    for (auto& features : model_.extract(content, content_indices)) {
      content_mean_squares.push_back(mean_square(features));
      content_targets.push_back(features);
    }
  }
  const auto content_weight = config.content_weight;
  const auto style_weight = config.style_weight;
  const auto tv_weight = config.tv_weight;

  at::Tensor image;
  switch (config.init) {
    case InitKind::kContent:
      image = content.clone();
      break;
    case InitKind::kNoise: {
      auto generator = at::detail::createCPUGenerator(config.seed);
      image = (at::randn(content.sizes(), generator, at::TensorOptions().dtype(at::kFloat)) * 0.15 +
               0.5)
                  .clamp(0.0, 1.0)
                  .to(device_);
      break;
    }
    case InitKind::kImage:
    case InitKind::kStyleColours:
      if (!init_rgb01.defined() || init_rgb01.sizes() != content.sizes()) {
        throw ConfigError("init image must have the content image's size");
      }
      image = init_rgb01.to(device_, at::kFloat).clone();
      break;
  }
  image.requires_grad_(true);

  std::vector<std::int64_t> content_channels;
  for (const auto& target : content_targets) content_channels.push_back(target.size(1));
  std::vector<std::int64_t> style_channels;
  for (const auto& gram : targets.grams) style_channels.push_back(gram.size(1));
  const auto content_layer_weights =
      effective_layer_weights(plan_.content, content_channels, config.normalize_weights);
  const auto style_layer_weights =
      effective_layer_weights(plan_.style, style_channels, config.normalize_weights);
  auto loss_input = [&](const at::Tensor& features) {
    return config.normalize_gradients && at::GradMode::is_enabled()
               ? normalize_gradient(features)
               : features;
  };

  auto evaluate = [&](const at::Tensor& x) {
    LossTerms terms;
    terms.content = at::zeros({}, x.options());
    terms.style = at::zeros({}, x.options());
    // Each layer's loss is built as soon as the layer has run (see VggFeatures::extract): at
    // 512 px this keeps ~200 MB of style gradients from waiting through the backward pass.
    const auto content_count = plan_.content.size();
    model_.extract(x, indices, [&](std::size_t j, const at::Tensor& f) {
      if (j < content_count) {
        terms.content = terms.content + content_layer_weights[j] *
                                            relative_mse(loss_input(f), content_targets[j],
                                                         content_mean_squares[j]);
        return at::Tensor();
      }
      const auto i = j - content_count;
      const auto features = loss_input(f);
      // The network goes on from gram_tap's pass-through, so the Gram matrix's gradient is
      // added into the network's in one product (normalised gradients need their own node).
      auto [pass_on, gram] = config.normalize_gradients
                                 ? std::make_pair(at::Tensor(), gram_matrix(features))
                                 : gram_tap(features);
      terms.style = terms.style + style_layer_weights[i] * style_layer_loss(config.style_loss,
                                                                            features, gram,
                                                                            targets, i);
      return pass_on;
    });
    terms.content = terms.content * content_weight;
    terms.style = terms.style * style_weight;
    terms.tv = total_variation(x) * tv_weight;
    terms.total = terms.content + terms.style + terms.tv;
    return terms;
  };

  // One "iteration" is one loss-and-gradient evaluation, for both optimizers, so the count
  // means the same cost whichever is used (L-BFGS's line search may evaluate more than once per
  // quasi-Newton step).
  StyleTransferResult result;
  // The lowest-loss evaluated image: what is returned, and where a diverged run restarts.
  double best_loss = std::numeric_limits<double>::infinity();
  at::Tensor best_image = image.detach().clone();
  LossBreakdown best_losses;
  std::vector<double> best_loss_history;  // best loss after each evaluation (for --tolerance)
  int evaluations = 0;
  std::string pending_notice;
  const bool track_every_loss = config.tolerance > 0.0;

  struct StopOptimisation {};  // budget reached, converged or cancelled
  struct Diverged {
    std::string what;
  };

  auto make_optimizer = [&](OptimizerKind kind,
                            double learning_rate) -> std::unique_ptr<torch::optim::Optimizer> {
    if (kind == OptimizerKind::kLbfgs) {
      // Normalised gradients are not the loss's gradient: a line search would reject every step.
      const auto line_search = config.normalize_gradients ? c10::optional<std::string>()
                                                          : c10::optional<std::string>("strong_wolfe");
      // The strong-Wolfe line search keeps the loss monotone; without it L-BFGS starts slowly
      // and can spike. One step() call runs many quasi-Newton steps, so the line search's last
      // evaluation is reused by the next step instead of being repeated.
      return std::make_unique<torch::optim::LBFGS>(
          std::vector<at::Tensor>{image}, torch::optim::LBFGSOptions(learning_rate)
                                              .max_iter(config.iterations)
                                              .max_eval(config.iterations)
                                              .history_size(config.lbfgs_history)
                                              .tolerance_grad(0.0)
                                              .tolerance_change(0.0)
                                              .line_search_fn(line_search));
    }
    return std::make_unique<torch::optim::Adam>(
        std::vector<at::Tensor>{image}, torch::optim::AdamOptions(learning_rate).betas({0.9, 0.99}));
  };

  OptimizerKind kind = config.optimizer;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  IterateAverage average(config.average_decay);

  auto closure = [&]() -> at::Tensor {
    if (evaluations >= config.iterations) throw StopOptimisation{};
    if (cancel != nullptr && cancel->load()) {
      result.cancelled = true;
      throw StopOptimisation{};
    }
    optimizer->zero_grad();
    const LossTerms terms = evaluate(image);
    terms.total.backward();
    const int iteration = ++evaluations;
    const bool lbfgs = kind == OptimizerKind::kLbfgs;
    const bool report_now = (config.report_every_iters > 0 &&
                             iteration % config.report_every_iters == 0) ||
                            iteration == config.iterations;
    std::optional<LossBreakdown> losses;
    bool finite_grad = true;
    // L-BFGS syncs with the host every step anyway; Adam only when something needs the numbers.
    if (lbfgs || report_now || track_every_loss) {
      losses = terms.to_host(lbfgs ? image.grad() : at::Tensor(), &finite_grad);
    }
    if (losses) {
      if (!std::isfinite(losses->total) || !finite_grad) {
        throw Diverged{std::isfinite(losses->total) ? "the gradient" : "the loss"};
      }
      if (losses->total < best_loss) {
        best_loss = losses->total;
        best_losses = *losses;
        torch::NoGradGuard no_grad;
        best_image.copy_(image);  // into the buffer allocated once, not a new tensor each time
      }
    }
    if (track_every_loss) best_loss_history.push_back(best_loss);
    if (on_progress) {
      IterationReport report;
      report.iteration = iteration;
      report.total_iterations = config.iterations;
      report.width_px = static_cast<int>(image.size(3));
      report.height_px = static_cast<int>(image.size(2));
      report.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
      if (report_now) report.losses = losses;
      if (config.snapshot_every_iters > 0 && iteration % config.snapshot_every_iters == 0) {
        report.snapshot_rgb01 = image.detach().clamp(0.0, 1.0).to(at::kCPU);
      }
      report.notice = std::move(pending_notice);
      pending_notice.clear();
      on_progress(report);
    }
    const auto window = static_cast<std::size_t>(config.tolerance_window_iters);
    if (track_every_loss && best_loss_history.size() > window) {
      const double before = best_loss_history[best_loss_history.size() - 1 - window];
      if ((before - best_loss) <= config.tolerance * std::abs(before)) {
        result.converged = true;
        throw StopOptimisation{};
      }
    }
    return terms.total;
  };

  // Recovery ladder after a NaN/Inf: L-BFGS restarts from the best image with a 10x smaller
  // step; then Adam at its default rate; then the best image is kept.
  double learning_rate = config.effective_learning_rate();
  int failures = 0;
  constexpr int kMaxFailures = 3;
  bool first_lbfgs_step = true;
  while (evaluations < config.iterations && !result.cancelled && !result.converged) {
    optimizer = make_optimizer(kind, learning_rate);
    try {
      if (kind == OptimizerKind::kLbfgs) {
        auto& options =
            static_cast<torch::optim::LBFGSOptions&>(optimizer->param_groups()[0].options());
        if (first_lbfgs_step) {
          // torch's L-BFGS bounds its first step to an L1 norm of lr, a change of lr/numel per
          // pixel: with 10^5-10^6 pixels the line search would spend several evaluations
          // extrapolating. Give the first step a budget of kFirstStepMeanChange per pixel; later
          // steps are scaled by the curvature estimate and start at lr as usual.
          options.lr(kFirstStepMeanChange * static_cast<double>(image.numel())).max_iter(1);
          optimizer->step(closure);
          options.lr(learning_rate).max_iter(config.iterations);
          first_lbfgs_step = false;
        }
        // step() returns early only if the gradient vanishes or the step stalls.
        while (evaluations < config.iterations) optimizer->step(closure);
      } else {
        while (evaluations < config.iterations) {
          closure();
          optimizer->step();
          torch::NoGradGuard no_grad;
          image.clamp_(0.0, 1.0);  // Adam may step outside [0,1]; L-BFGS must not be clamped
          average.update(image);
        }
      }
    } catch (const StopOptimisation&) {
      // budget reached inside a line search, converged, or cancelled
    } catch (const Diverged& diverged) {
      ++failures;
      {
        torch::NoGradGuard no_grad;
        image.copy_(best_image);
      }
      std::string notice = "iteration " + std::to_string(evaluations) + ": " + diverged.what +
                           " became NaN or infinite; ";
      if (failures >= kMaxFailures) {
        notice += "keeping the best image so far";
        result.notices.push_back(notice);
        break;
      }
      if (kind == OptimizerKind::kLbfgs && failures == 1) {
        learning_rate /= 10.0;
        std::ostringstream rate;
        rate << learning_rate;
        notice += "restarting L-BFGS from the best image with learning rate " + rate.str();
      } else {
        kind = OptimizerKind::kAdam;
        learning_rate = kDefaultAdamLearningRate;
        notice += "continuing with Adam from the best image";
      }
      result.notices.push_back(notice);
      pending_notice = notice;
      ++result.recoveries;
      average = IterateAverage(config.average_decay);  // average only the recovered iterates
    }
  }
  result.iterations_run = evaluations;

  // One last evaluation so the reported losses belong to the image that is returned. Adam
  // returns the average of its iterates (crowsonkb's trick: it smooths Adam's jitter); L-BFGS
  // the lowest-loss image (it is not monotone across restarts).
  {
    torch::NoGradGuard no_grad;
    const bool averaged = kind == OptimizerKind::kAdam && average.defined();
    const auto candidate = averaged ? average.value() : image.detach();
    const auto final_terms = evaluate(candidate);
    const auto final_losses = final_terms.to_host();
    if (std::isfinite(final_losses.total) && (averaged || final_losses.total <= best_loss)) {
      result.image_rgb01 = candidate;
      result.final_losses = final_losses;
    } else if (std::isfinite(final_losses.total) && final_losses.total <= best_loss) {
      result.image_rgb01 = image.detach();
      result.final_losses = final_losses;
    } else {
      result.image_rgb01 = best_image;
      result.final_losses = std::isfinite(best_loss) ? best_losses : final_losses;
    }
  }
  result.image_rgb01 = result.image_rgb01.clamp(0.0, 1.0).to(at::kCPU);
  result.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

}  // namespace stylize
