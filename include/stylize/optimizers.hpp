#pragma once

#include <ATen/core/Tensor.h>
#include <stylize/config.hpp>

#include <functional>
#include <memory>

namespace stylize {

/// Thrown by an optimiser's closure to leave the optimiser's inner loop (torch's L-BFGS runs
/// many evaluations inside one step() and has no other way out); the closure's owner records
/// why. PixelOptimizer::run catches it, so it never crosses that call.
struct StopSteps {};

/// Bias-corrected exponential moving average of optimiser iterates: after updates x1..xk,
/// value() = sum_i d^(k-i) (1-d) x_i / (1 - d^k). decay 0 keeps just the last iterate.
class IterateAverage {
 public:
  explicit IterateAverage(double decay);
  void update(const at::Tensor& x);
  [[nodiscard]] bool defined() const { return sum_.defined(); }
  [[nodiscard]] at::Tensor value() const;

 private:
  double decay_;
  double weight_ = 0.0;
  at::Tensor sum_;
};

/// What an optimiser is made with.
struct OptimizerSettings {
  OptimizerKind kind = OptimizerKind::kLbfgs;
  double learning_rate = kDefaultLbfgsLearningRate;
  int max_evaluations = kDefaultIterations;  ///< the closure stops the run at this count anyway
  int lbfgs_history = 20;
  /// L-BFGS: strong-Wolfe line search (off for normalised gradients, which are not the loss's
  /// gradient: a line search would reject every step).
  bool line_search = true;
  /// L-BFGS: give the first step a budget of kFirstStepMeanChange per pixel (see optimizers.cpp).
  bool first_step_rule = true;
  double average_decay = 0.9;  ///< Adam: decay of the iterate average it returns
};

/// Mean absolute pixel change (in [0,1] units) the first L-BFGS step may try.
inline constexpr double kFirstStepMeanChange = 0.01;

/// An optimiser of an image's pixels: L-BFGS or Adam behind one interface.
class PixelOptimizer {
 public:
  using Closure = std::function<at::Tensor()>;  ///< zeroes, evaluates, backpropagates: the loss
  virtual ~PixelOptimizer() = default;
  /// Steps until the closure throws StopSteps (budget, convergence, cancel, divergence).
  virtual void run(const Closure& closure) = 0;
  /// The image the optimiser itself proposes as its result (Adam: its iterate average), or an
  /// undefined tensor (L-BFGS: the caller keeps the lowest-loss image).
  [[nodiscard]] virtual at::Tensor proposal() const = 0;
  [[nodiscard]] virtual bool needs_loss_every_step() const = 0;  ///< L-BFGS's line search does
};

/// The optimiser for image (a leaf tensor with requires_grad, changed in place).
std::unique_ptr<PixelOptimizer> make_pixel_optimizer(const at::Tensor& image,
                                                     const OptimizerSettings& settings);

}  // namespace stylize
