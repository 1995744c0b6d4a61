#include <stylize/optimizers.hpp>

#include <torch/optim/adam.h>
#include <torch/optim/lbfgs.h>
#include <torch/torch.h>

namespace stylize {
namespace {

/// torch's L-BFGS. One step() runs many quasi-Newton steps (each reusing the line search's last
/// evaluation); the strong-Wolfe line search keeps the loss monotone (without it L-BFGS starts
/// slowly and can spike). Every step() call begins with one evaluation of its own, so the
/// first-step rule's separate first call costs one evaluation more.
class Lbfgs final : public PixelOptimizer {
 public:
  Lbfgs(const at::Tensor& image, const OptimizerSettings& settings)
      : settings_(settings),
        numel_(image.numel()),
        optimizer_(std::vector<at::Tensor>{image},
                   torch::optim::LBFGSOptions(settings.learning_rate)
                       .max_iter(settings.max_evaluations)
                       .max_eval(settings.max_evaluations)
                       .history_size(settings.lbfgs_history)
                       .tolerance_grad(0.0)
                       .tolerance_change(0.0)
                       .line_search_fn(settings.line_search
                                           ? c10::optional<std::string>("strong_wolfe")
                                           : c10::optional<std::string>())) {}

  void run(const Closure& closure) override {
    auto& options =
        static_cast<torch::optim::LBFGSOptions&>(optimizer_.param_groups()[0].options());
    try {
      if (settings_.first_step_rule) {
        // torch's L-BFGS bounds its first step to an L1 norm of lr, a change of lr/numel per
        // pixel: with 10^5-10^6 pixels the line search would spend several evaluations
        // extrapolating. Later steps are scaled by the curvature estimate and start at lr.
        options.lr(kFirstStepMeanChange * static_cast<double>(numel_)).max_iter(1);
        optimizer_.step(closure);
        options.lr(settings_.learning_rate).max_iter(settings_.max_evaluations);
      }
      // step() returns early only if the gradient vanishes or the step stalls.
      for (;;) optimizer_.step(closure);
    } catch (const StopSteps&) {
    }
  }
  [[nodiscard]] at::Tensor proposal() const override { return {}; }
  [[nodiscard]] bool needs_loss_every_step() const override { return true; }

 private:
  OptimizerSettings settings_;
  std::int64_t numel_;
  torch::optim::LBFGS optimizer_;
};

/// Adam, clamped to [0,1] after every step (L-BFGS must not be: it would break its curvature
/// pairs), returning the moving average of its iterates (crowsonkb's: it smooths Adam's jitter).
class Adam final : public PixelOptimizer {
 public:
  Adam(const at::Tensor& image, const OptimizerSettings& settings)
      : image_(image),
        average_(settings.average_decay),
        optimizer_(std::vector<at::Tensor>{image},
                   torch::optim::AdamOptions(settings.learning_rate).betas({0.9, 0.99})) {}

  void run(const Closure& closure) override {
    try {
      for (;;) {
        closure();
        optimizer_.step();
        torch::NoGradGuard no_grad;
        image_.clamp_(0.0, 1.0);
        average_.update(image_);
      }
    } catch (const StopSteps&) {
    }
  }
  [[nodiscard]] at::Tensor proposal() const override {
    return average_.defined() ? average_.value() : at::Tensor();
  }
  [[nodiscard]] bool needs_loss_every_step() const override { return false; }

 private:
  at::Tensor image_;
  IterateAverage average_;
  torch::optim::Adam optimizer_;
};

}  // namespace

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

std::unique_ptr<PixelOptimizer> make_pixel_optimizer(const at::Tensor& image,
                                                     const OptimizerSettings& settings) {
  if (settings.kind == OptimizerKind::kLbfgs) return std::make_unique<Lbfgs>(image, settings);
  return std::make_unique<Adam>(image, settings);
}

}  // namespace stylize
