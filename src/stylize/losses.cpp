#include <stylize/losses.hpp>

#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>

namespace stylize {
namespace {
// Floors the normaliser so an all-zero target (e.g. a dead ReLU layer) cannot divide by zero.
constexpr double kMinMeanSquare = 1e-8;
}  // namespace

namespace {
/// G = F F^T / hw with a hand-written backward: dF = (dG + dG^T) F / hw, one activation-sized
/// product. Autograd's own bmm backward treats F and F^T as two inputs: two activation-sized
/// gradients, then a third for their sum, and half as many FLOPs again.
class GramMatrix : public torch::autograd::Function<GramMatrix> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& features) {
    const auto hw = features.size(2) * features.size(3);
    const auto flat = features.reshape({features.size(0), features.size(1), hw});
    ctx->save_for_backward({features});
    return at::bmm(flat, flat.transpose(1, 2)) / static_cast<double>(hw);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto features = ctx->get_saved_variables()[0];
    const auto hw = features.size(2) * features.size(3);
    const auto flat = features.reshape({features.size(0), features.size(1), hw});
    const auto symmetric = (grads[0] + grads[0].transpose(1, 2)) / static_cast<double>(hw);
    return {at::bmm(symmetric, flat).view(features.sizes())};
  }
};
}  // namespace

at::Tensor gram_matrix(const at::Tensor& features) { return GramMatrix::apply(features); }

namespace {
/// The backward of gram_tap: gets the gradients of both outputs (the pass-through's from the
/// network, the Gram matrix's from the loss) and returns the features' gradient, adding G's
/// into the network's with one product, (dG + dG^T) F / hw, accumulated in place (baddbmm_,
/// beta 1) when nothing else holds the incoming gradient. A Node of its own rather than an
/// autograd::Function, whose backward receives copies of the gradients and so could never tell
/// that it holds the only one.
class GramTapBackward final : public torch::autograd::Node {
 public:
  explicit GramTapBackward(at::Tensor features) : features_(std::move(features)) {}
  [[nodiscard]] std::string name() const override { return "GramTapBackward"; }
  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    at::Tensor pass_grad = std::move(grads[0]);
    const at::Tensor gram_grad = std::move(grads[1]);
    if (!gram_grad.defined()) return {pass_grad};
    const auto hw = features_.size(2) * features_.size(3);
    const auto flat = features_.reshape({features_.size(0), features_.size(1), hw});
    const auto symmetric = (gram_grad + gram_grad.transpose(1, 2)) / static_cast<double>(hw);
    if (!pass_grad.defined()) return {at::bmm(symmetric, flat).view(features_.sizes())};
    const bool only_holder = pass_grad.is_contiguous() && pass_grad.use_count() == 1 &&
                             pass_grad.storage().use_count() == 1;
    auto result = only_holder ? std::move(pass_grad) : pass_grad.contiguous().clone();
    result.view({features_.size(0), features_.size(1), hw}).baddbmm_(symmetric, flat);
    return {result};
  }
  void release_variables() override { features_.reset(); }

 private:
  at::Tensor features_;
};
}  // namespace

std::pair<at::Tensor, at::Tensor> gram_tap(const at::Tensor& features) {
  at::Tensor pass_on;
  at::Tensor gram;
  {
    const at::NoGradGuard no_grad;
    const auto hw = features.size(2) * features.size(3);
    const auto flat = features.reshape({features.size(0), features.size(1), hw});
    gram = at::bmm(flat, flat.transpose(1, 2)) / static_cast<double>(hw);
    pass_on = features.detach();  // the same memory, with a history of its own (below)
  }
  if (torch::autograd::compute_requires_grad(features)) {
    const std::shared_ptr<GramTapBackward> node(new GramTapBackward(features.detach()),
                                                torch::autograd::deleteNode);
    node->set_next_edges(torch::autograd::collect_next_edges(features));
    torch::autograd::set_history(pass_on, node);  // output 0
    torch::autograd::set_history(gram, node);     // output 1
  }
  return {pass_on, gram};
}

at::Tensor mean_square(const at::Tensor& target) {
  return target.square().mean().clamp_min(kMinMeanSquare);
}

at::Tensor relative_mse(const at::Tensor& x, const at::Tensor& target,
                        const at::Tensor& target_mean_square) {
  return (x - target).square().mean() / target_mean_square;
}

at::Tensor channel_mean(const at::Tensor& features) { return features.mean({2, 3}); }

at::Tensor covariance(const at::Tensor& gram, const at::Tensor& mean) {
  return gram - mean.unsqueeze(2) * mean.unsqueeze(1);
}

at::Tensor psd_sqrt(const at::Tensor& matrix) {
  const auto symmetric = (matrix + matrix.transpose(1, 2)).to(at::kDouble) * 0.5;
  auto [values, vectors] = at::linalg_eigh(symmetric);
  const auto root = vectors * values.clamp_min(0.0).sqrt().unsqueeze(1);
  return at::matmul(root, vectors.transpose(1, 2)).to(matrix.scalar_type());
}

at::Tensor trace_sqrt_newton_schulz(const at::Tensor& matrix, int iterations) {
  const auto c = matrix.size(1);
  const auto norm = matrix.flatten(1).norm(2, {1}).clamp_min(kMinMeanSquare).view({-1, 1, 1});
  const auto eye = at::eye(c, matrix.options()).expand_as(matrix);
  auto y = matrix / norm;
  auto z = eye;
  for (int i = 0; i < iterations; ++i) {
    const auto t = (3.0 * eye - at::bmm(z, y)) * 0.5;
    y = at::bmm(y, t);
    z = at::bmm(t, z);
  }
  return y.diagonal(0, 1, 2).sum(1) * norm.view({-1}).sqrt();
}

namespace {
/// Relative floor of the eigenvalues in trace_sqrt_eigh's gradient.
constexpr double kEigenFloor = 1e-6;

class TraceSqrtEigh : public torch::autograd::Function<TraceSqrtEigh> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& matrix) {
    const auto symmetric = (matrix + matrix.transpose(1, 2)).to(at::kDouble) * 0.5;
    auto [values, vectors] = at::linalg_eigh(symmetric);
    ctx->save_for_backward({values, vectors});
    ctx->saved_data["dtype"] = static_cast<int64_t>(matrix.scalar_type());
    return values.clamp_min(0.0).sqrt().sum(1).to(matrix.scalar_type());
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& values = saved[0];
    const auto& vectors = saved[1];
    const auto floor = values.amax(1, true).clamp_min(0.0) * kEigenFloor;
    const auto inverse_root = values.maximum(floor).clamp_min(1e-30).rsqrt() * 0.5;
    const auto grad = at::matmul(vectors * inverse_root.unsqueeze(1), vectors.transpose(1, 2)) *
                      grads[0].to(at::kDouble).view({-1, 1, 1});
    const auto dtype = static_cast<c10::ScalarType>(ctx->saved_data["dtype"].toInt());
    return {grad.to(dtype)};
  }
};
}  // namespace

at::Tensor trace_sqrt_eigh(const at::Tensor& matrix) { return TraceSqrtEigh::apply(matrix); }

at::Tensor trace_sqrt(const at::Tensor& matrix) {
  return matrix.is_cpu() ? trace_sqrt_eigh(matrix) : trace_sqrt_newton_schulz(matrix);
}

at::Tensor gaussian_w2(const at::Tensor& mean, const at::Tensor& cov, const at::Tensor& target_mean,
                       const at::Tensor& target_cov, const at::Tensor& target_cov_sqrt) {
  const auto product = at::bmm(at::bmm(target_cov_sqrt, cov), target_cov_sqrt);
  // Symmetrise: rounding makes the product slightly asymmetric, which Newton-Schulz amplifies.
  const auto cross = trace_sqrt((product + product.transpose(1, 2)) * 0.5);
  const auto traces = cov.diagonal(0, 1, 2).sum(1) + target_cov.diagonal(0, 1, 2).sum(1);
  return ((mean - target_mean).square().sum(1) + traces - 2.0 * cross).sum();
}

namespace {
class NormalizeGradient : public torch::autograd::Function<NormalizeGradient> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* /*ctx*/, const at::Tensor& x) {
    return x.view_as(x);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* /*ctx*/,
                                               torch::autograd::tensor_list grads) {
    const auto& grad = grads[0];
    return {grad / (grad.abs().sum() + 1e-8)};
  }
};
}  // namespace

at::Tensor normalize_gradient(const at::Tensor& x) { return NormalizeGradient::apply(x); }

at::Tensor total_variation(const at::Tensor& image) {
  using at::indexing::None;
  using at::indexing::Slice;
  const auto dx = image.index({Slice(), Slice(), Slice(), Slice(1, None)}) -
                  image.index({Slice(), Slice(), Slice(), Slice(None, -1)});
  const auto dy = image.index({Slice(), Slice(), Slice(1, None), Slice()}) -
                  image.index({Slice(), Slice(), Slice(None, -1), Slice()});
  return dx.square().mean() + dy.square().mean();
}

}  // namespace stylize
