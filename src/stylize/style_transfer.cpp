#include "start_image.hpp"

#include <stylize/errors.hpp>
#include <stylize/style_transfer.hpp>
#include <stylize/vgg_features.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <sstream>

namespace stylize {
namespace {

using Clock = std::chrono::steady_clock;

/// Why an optimiser's run ended.
enum class Stop { kNone, kBudget, kCancelled, kConverged, kDiverged };

}  // namespace

at::Tensor initial_image(const at::Tensor& content, const StyleConfig& config,
                         const at::Tensor& init_rgb01, const c10::Device& device) {
  at::Tensor image;
  const bool use_init = config.init == InitKind::kImage ||
                        config.init == InitKind::kStyleColours ||
                        (config.init == InitKind::kAuto && init_rgb01.defined());
  if (use_init) {
    if (!init_rgb01.defined() || init_rgb01.sizes() != content.sizes()) {
      throw ConfigError("init image must have the content image's size");
    }
    image = init_rgb01.to(device, at::kFloat).clone();
  } else if (config.init == InitKind::kNoise) {
    auto generator = at::detail::createCPUGenerator(config.seed);
    image = (at::randn(content.sizes(), generator, at::TensorOptions().dtype(at::kFloat)) * 0.15 +
             0.5)
                .clamp(0.0, 1.0)
                .to(device);
  } else {
    image = content.clone();
  }
  return image.requires_grad_(true);
}

namespace {

/// One optimisation of one image at one size: the closure the optimisers call (evaluate,
/// backpropagate, track the lowest-loss image, report, decide when to stop), and the recovery
/// loop around the optimisers.
class OptimisationRun {
 public:
  OptimisationRun(const LossFunction& objective, at::Tensor image, const StyleConfig& config,
                  const ProgressCallback& on_progress, const std::atomic<bool>* cancel)
      : objective_(objective),
        image_(std::move(image)),
        config_(config),
        on_progress_(on_progress),
        cancel_(cancel),
        best_image_(image_.detach().clone()) {}

  StyleTransferResult run() {
    optimise_with_recovery();
    result_.iterations_run = evaluations_;
    if (evaluations_ > 1 && std::isfinite(first_loss_) && !(best_loss_ < first_loss_)) {
      result_.notices.push_back("no step lowered the loss below the start image's in " +
                                std::to_string(evaluations_) +
                                " iterations: the result is the start image (is the learning "
                                "rate too large?)");
    }
    select_final_image();
    result_.cancelled = stop_ == Stop::kCancelled;
    result_.converged = stop_ == Stop::kConverged;
    result_.image_rgb01 = result_.image_rgb01.clamp(0.0, 1.0).to(at::kCPU);
    result_.elapsed_s = std::chrono::duration<double>(Clock::now() - start_).count();
    return std::move(result_);
  }

 private:
  /// Recovery ladder after a NaN/Inf: L-BFGS restarts from the best image with a 10x smaller
  /// step; then Adam at its default rate; after the third failure the best image is kept.
  void optimise_with_recovery() {
    constexpr int kMaxFailures = 3;
    OptimizerSettings settings;
    settings.kind = config_.optimizer;
    settings.learning_rate = config_.effective_learning_rate();
    settings.max_evaluations = config_.iterations;
    settings.lbfgs_history = config_.lbfgs_history;
    settings.line_search = !config_.normalize_gradients && !objective_.stochastic();
    settings.average_decay = config_.average_decay;
    int failures = 0;
    while (evaluations_ < config_.iterations) {
      stop_ = Stop::kNone;
      optimizer_ = make_pixel_optimizer(image_, settings);
      optimizer_->run([this] { return step(); });
      if (stop_ != Stop::kDiverged) return;
      {
        torch::NoGradGuard no_grad;
        image_.copy_(best_image_);
      }
      std::string notice = "iteration " + std::to_string(evaluations_) + ": " + diverged_what_ +
                           " became NaN or infinite; ";
      if (++failures >= kMaxFailures) {
        result_.notices.push_back(notice + "keeping the best image so far");
        return;
      }
      if (settings.kind == OptimizerKind::kLbfgs && failures == 1) {
        settings.learning_rate /= 10.0;
        std::ostringstream rate;
        rate << settings.learning_rate;
        notice += "restarting L-BFGS from the best image with learning rate " + rate.str();
      } else {
        settings.kind = OptimizerKind::kAdam;
        settings.learning_rate = kDefaultAdamLearningRate;
        notice += "continuing with Adam from the best image";
      }
      settings.first_step_rule = false;  // only the very first L-BFGS step needs it
      result_.notices.push_back(notice);
      pending_notice_ = notice;
      ++result_.recoveries;
    }
  }

  /// The closure: one loss-and-gradient evaluation ("iteration", for both optimisers, so the
  /// count means the same cost whichever runs). Throws StopSteps to end the optimiser's run.
  at::Tensor step() {
    if (evaluations_ >= config_.iterations) finish(Stop::kBudget);
    if (cancel_ != nullptr && cancel_->load()) finish(Stop::kCancelled);
    if (image_.grad().defined()) image_.grad().zero_();
    const LossTerms terms = objective_.evaluate(image_);
    terms.total.backward();
    const int iteration = ++evaluations_;
    const bool report_now =
        (config_.report_every_iters > 0 && iteration % config_.report_every_iters == 0) ||
        iteration == config_.iterations;
    const bool every_step = optimizer_->needs_loss_every_step();
    std::optional<LossBreakdown> losses;
    // L-BFGS syncs with the host every step anyway; Adam only when something needs the numbers.
    if (every_step || report_now || tracks_every_loss()) {
      bool finite_grad = true;
      losses = terms.to_host(every_step ? image_.grad() : at::Tensor(), &finite_grad);
      if (!std::isfinite(losses->total) || !finite_grad) {
        diverged_what_ = std::isfinite(losses->total) ? "the gradient" : "the loss";
        finish(Stop::kDiverged);
      }
      if (evaluations_ == 1) first_loss_ = losses->total;
      keep_if_best(*losses);
    }
    if (tracks_every_loss()) best_loss_history_.push_back(best_loss_);
    report(iteration, report_now ? losses : std::nullopt);
    if (converged()) finish(Stop::kConverged);
    return terms.total;
  }

  [[noreturn]] void finish(Stop why) {
    stop_ = why;
    throw StopSteps{};
  }

  [[nodiscard]] bool tracks_every_loss() const { return config_.tolerance > 0.0; }

  void keep_if_best(const LossBreakdown& losses) {
    if (losses.total >= best_loss_) return;
    best_loss_ = losses.total;
    best_losses_ = losses;
    torch::NoGradGuard no_grad;
    best_image_.copy_(image_);  // into the buffer allocated once, not a new tensor each time
  }

  /// --tolerance: the best loss improved by less than the fraction over the window.
  [[nodiscard]] bool converged() const {
    const auto window = static_cast<std::size_t>(config_.tolerance_window_iters);
    if (!tracks_every_loss() || best_loss_history_.size() <= window) return false;
    const double before = best_loss_history_[best_loss_history_.size() - 1 - window];
    return (before - best_loss_) <= config_.tolerance * std::abs(before);
  }

  void report(int iteration, const std::optional<LossBreakdown>& losses) {
    if (!on_progress_) return;
    IterationReport report;
    report.iteration = iteration;
    report.total_iterations = config_.iterations;
    report.width_px = static_cast<int>(image_.size(3));
    report.height_px = static_cast<int>(image_.size(2));
    report.elapsed_s = std::chrono::duration<double>(Clock::now() - start_).count();
    report.losses = losses;
    if (config_.snapshot_every_iters > 0 && iteration % config_.snapshot_every_iters == 0) {
      report.snapshot_rgb01 = image_.detach().clamp(0.0, 1.0).to(at::kCPU);
    }
    report.notice = std::move(pending_notice_);
    pending_notice_.clear();
    on_progress_(report);
  }

  /// One last evaluation, so the reported losses belong to the image returned: the optimiser's
  /// proposal (Adam's iterate average) when finite, else the current image when it is the best
  /// evaluated, else the lowest-loss image seen.
  void select_final_image() {
    torch::NoGradGuard no_grad;
    const auto proposal = optimizer_ ? optimizer_->proposal() : at::Tensor();
    const auto candidate = proposal.defined() ? proposal : image_.detach();
    const auto losses = objective_.evaluate(candidate).to_host();
    if (std::isfinite(losses.total) && (proposal.defined() || losses.total <= best_loss_)) {
      result_.image_rgb01 = candidate;
      result_.final_losses = losses;
    } else {
      result_.image_rgb01 = best_image_;
      result_.final_losses = std::isfinite(best_loss_) ? best_losses_ : losses;
    }
  }

  const LossFunction& objective_;
  at::Tensor image_;
  const StyleConfig& config_;
  const ProgressCallback& on_progress_;
  const std::atomic<bool>* cancel_;
  const Clock::time_point start_ = Clock::now();
  std::unique_ptr<PixelOptimizer> optimizer_;
  StyleTransferResult result_;
  Stop stop_ = Stop::kNone;
  int evaluations_ = 0;
  std::string diverged_what_;
  std::string pending_notice_;
  double best_loss_ = std::numeric_limits<double>::infinity();
  double first_loss_ = std::numeric_limits<double>::infinity();  ///< the start image's
  LossBreakdown best_losses_;
  at::Tensor best_image_;  ///< the lowest-loss image evaluated: the result, and the restart point
  std::vector<double> best_loss_history_;  ///< best loss after each evaluation (--tolerance)
};

}  // namespace

StyleTransferResult StyleTransfer::optimise(const LossFunction& objective,
                                            const at::Tensor& init_rgb01,
                                            const StyleConfig& config,
                                            const ProgressCallback& on_progress,
                                            const std::atomic<bool>* cancel) const {
  try {
    auto image = init_rgb01.to(device_, at::kFloat).clone().requires_grad_(true);
    OptimisationRun run(objective, std::move(image), config, on_progress, cancel);
    return run.run();
  } catch (const c10::Error& e) {
    rethrow_out_of_memory(e, init_rgb01);
  }
}

void StyleTransfer::rethrow_out_of_memory(const c10::Error& e, const at::Tensor& image) const {
  const std::string what = e.what_without_backtrace();
  if (what.find("out of memory") == std::string::npos) throw e;
  throw MemoryError("out of memory on " + device_.str() + " at " + std::to_string(image.size(3)) +
                    "x" + std::to_string(image.size(2)) +
                    " px: use a smaller --size, --optimizer adam or a smaller --lbfgs-history");
}

StyleTransfer::StyleTransfer(VggFeatures& model, LayerPlan plan, c10::Device device)
    : model_(model), plan_(std::move(plan)), device_(device) {}

StyleTargets StyleTransfer::compute_style_targets(const std::vector<at::Tensor>& styles_rgb01,
                                                  const std::vector<double>& blend,
                                                  StyleLossKind loss) const {
  return stylize::compute_style_targets(model_, plan_, device_, styles_rgb01, blend, loss);
}

StyleTransferResult StyleTransfer::run(const at::Tensor& content_rgb01,
                                       const StyleTargets& targets, const StyleConfig& config,
                                       const at::Tensor& init_rgb01,
                                       const ProgressCallback& on_progress,
                                       const std::atomic<bool>* cancel) const {
  return run(content_rgb01, std::vector<StyleGuide>{{&targets, {}, 1.0}}, config, init_rgb01,
             on_progress, cancel);
}

StyleTransferResult StyleTransfer::run(const at::Tensor& content_rgb01,
                                       const std::vector<StyleGuide>& guides,
                                       const StyleConfig& config, const at::Tensor& init_rgb01,
                                       const ProgressCallback& on_progress,
                                       const std::atomic<bool>* cancel) const {
  return run_with(content_rgb01, guides, config, init_rgb01, on_progress, cancel, nullptr);
}

StyleTransferResult StyleTransfer::run_with(const at::Tensor& content_rgb01,
                                            const std::vector<StyleGuide>& guides,
                                            const StyleConfig& config,
                                            const at::Tensor& init_rgb01,
                                            const ProgressCallback& on_progress,
                                            const std::atomic<bool>* cancel,
                                            const WindowContext* window,
                                            const TemporalTarget* temporal) const {
  try {
    check_inputs(content_rgb01, guides, config);
    const auto content = content_rgb01.to(device_, at::kFloat);
    // Targets are computed once, outside the loop.
    const Objective objective(model_, plan_, content, guides, config, window, temporal);
    OptimisationRun run(objective, initial_image(content, config, init_rgb01, device_), config,
                        on_progress, cancel);
    return run.run();
  } catch (const c10::Error& e) {
    rethrow_out_of_memory(e, content_rgb01);
  }
}

StyleTransferResult StyleTransfer::run_frame(const at::Tensor& content_rgb01,
                                             const std::vector<StyleGuide>& guides,
                                             const StyleConfig& config,
                                             const at::Tensor& init_rgb01,
                                             const TemporalTarget& temporal,
                                             const ProgressCallback& on_progress,
                                             const std::atomic<bool>* cancel) const {
  for (std::size_t k = 0; k < temporal.warped_rgb01.size(); ++k) {
    if (temporal.warped_rgb01[k].sizes() != content_rgb01.sizes() ||
        k >= temporal.weights01.size() || temporal.weights01[k].size(2) != content_rgb01.size(2) ||
        temporal.weights01[k].size(3) != content_rgb01.size(3)) {
      throw ConfigError("a temporal target must have the frame's size");
    }
  }
  return run_with(content_rgb01, guides, config, init_rgb01, on_progress, cancel, nullptr,
                  &temporal);
}

void StyleTransfer::check_inputs(const at::Tensor& content_rgb01,
                                 const std::vector<StyleGuide>& guides,
                                 const StyleConfig& config) const {
  if (content_rgb01.dim() != 4 || content_rgb01.size(1) != 3) {
    throw ConfigError("content image must be a [1,3,H,W] tensor");
  }
  if (guides.empty() && !plan_.style.empty()) throw ConfigError("no style targets given");
  for (const auto& guide : guides) {
    if (guide.targets == nullptr || guide.targets->grams.size() != plan_.style.size()) {
      throw ConfigError("style targets do not match the layer plan");
    }
    if (guide.targets->loss != config.style_loss) {
      throw ConfigError("style targets were computed for the " + name_of(guide.targets->loss) +
                        " loss, not " + name_of(config.style_loss));
    }
    if (guide.mask01.defined() && (guide.mask01.dim() != 4 || guide.mask01.size(1) != 1)) {
      throw ConfigError("a style mask must be a [1,1,H,W] tensor");
    }
  }
  const std::int64_t min_side = min_side_px();
  if (std::min(content_rgb01.size(2), content_rgb01.size(3)) < min_side) {
    throw InputError("content image is " + std::to_string(content_rgb01.size(3)) + "x" +
                     std::to_string(content_rgb01.size(2)) + " px but the layers up to " +
                     model_.layer_names()[static_cast<std::size_t>(plan_.deepest_index())] +
                     " need at least " + std::to_string(min_side) + " px on each side");
  }
}

}  // namespace stylize
