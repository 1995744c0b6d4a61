#include <stylize/losses.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>

#include <algorithm>
#include <functional>
#include <utility>

namespace stylize {
namespace {
// Floors the normaliser so an all-zero target (e.g. a dead ReLU layer) cannot divide by zero.
constexpr double kMinMeanSquare = 1e-8;
}  // namespace

namespace {
/// The backward of gram_tap (and so of gram_matrix): gets the gradients of both outputs (the
/// pass-through's from the network, the Gram matrix's from the loss) and returns the features'
/// gradient, G's being one activation-sized product, (dG + dG^T) F / hw (autograd's own bmm
/// backward treats F and F^T as two inputs: two activation-sized gradients, then a third for
/// their sum), added into the network's in place (baddbmm_, beta 1) when nothing else holds the
/// incoming gradient. A Node of its own rather than an autograd::Function, whose backward
/// receives copies of the gradients and so could never tell that it holds the only one.
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

at::Tensor gram_matrix(const at::Tensor& features) { return gram_tap(features).second; }

at::Tensor mean_square(const at::Tensor& target) {
  return target.square().mean().clamp_min(kMinMeanSquare);
}

namespace {
/// Whether the one-pass CPU loops below can run on t.
bool one_pass_suits(const at::Tensor& t) {
  return t.is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous();
}

/// Sixteen float partial sums per chunk of this many values, added up in double: the loop over
/// the lanes vectorises (no reassociation needed) and the rounding stays far below fp32's.
constexpr int64_t kSumChunk = 4096;
constexpr int64_t kSumLanes = 16;

/// sum over [begin, end) of term(i), computed as described at kSumChunk.
template <typename Term>
double chunked_sum(int64_t begin, int64_t end, Term term) {
  double total = 0.0;
  for (int64_t chunk = begin; chunk < end; chunk += kSumChunk) {
    const int64_t stop = std::min(end, chunk + kSumChunk);
    float lanes[kSumLanes] = {};
    int64_t i = chunk;
    for (; i + kSumLanes <= stop; i += kSumLanes) {
      for (int64_t l = 0; l < kSumLanes; ++l) lanes[l] += term(i + l);
    }
    for (; i < stop; ++i) lanes[0] += term(i);
    for (const float lane : lanes) total += lane;
  }
  return total;
}

/// mean((x - t)^2) and its gradient 2 (x - t) / n, each in one pass over the data (ATen's
/// expression makes four passes and three temporaries forward, three more backward).
class MeanSquaredError : public torch::autograd::Function<MeanSquaredError> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            const at::Tensor& target) {
    ctx->save_for_backward({x, target});
    const float* xp = x.data_ptr<float>();
    const float* tp = target.data_ptr<float>();
    const double sum = at::parallel_reduce(
        0, x.numel(), kSumChunk * 8, 0.0,
        [&](int64_t begin, int64_t end, double partial) {
          return partial + chunked_sum(begin, end, [&](int64_t i) {
                   const float d = xp[i] - tp[i];
                   return d * d;
                 });
        },
        std::plus<>());
    return at::scalar_tensor(sum / static_cast<double>(x.numel()), x.options());
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& target = saved[1];
    const auto scale = static_cast<float>(2.0 * grads[0].item<double>() /
                                          static_cast<double>(x.numel()));
    auto grad = at::empty_like(x);
    const float* xp = x.data_ptr<float>();
    const float* tp = target.data_ptr<float>();
    float* gp = grad.data_ptr<float>();
    at::parallel_for(0, x.numel(), kSumChunk * 8, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) gp[i] = scale * (xp[i] - tp[i]);
    });
    return {grad, at::Tensor()};
  }
};
}  // namespace

at::Tensor relative_mse(const at::Tensor& x, const at::Tensor& target,
                        const at::Tensor& target_mean_square) {
  // The losses' big tensors (content features) on the CPU take the one-pass path; anything on
  // another device, or a target that wants a gradient, ATen's expression.
  if (one_pass_suits(x) && one_pass_suits(target) && x.sizes() == target.sizes() &&
      !target.requires_grad() && x.numel() > 0) {
    return MeanSquaredError::apply(x, target) / target_mean_square;
  }
  return (x - target).square().mean() / target_mean_square;
}

at::Tensor channel_mean(const at::Tensor& features) { return features.mean({2, 3}); }

at::Tensor region_distribution(const at::Tensor& weights) {
  return weights / weights.sum().clamp_min(kMinMeanSquare);
}

WeightedStatistics region_statistics(const at::Tensor& features, const at::Tensor& distribution,
                                     bool with_mean) {
  const auto hw = features.size(2) * features.size(3);
  const auto flat = features.reshape({features.size(0), features.size(1), hw});
  const auto weighted = flat * distribution.reshape({1, 1, hw}).to(features.options());
  WeightedStatistics statistics;
  statistics.gram = at::bmm(weighted, flat.transpose(1, 2));
  if (with_mean) statistics.mean = weighted.sum(2);
  return statistics;
}

WeightedStatistics weighted_statistics(const at::Tensor& features, const at::Tensor& weights,
                                       bool with_mean) {
  return region_statistics(features, region_distribution(weights), with_mean);
}

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

namespace {
/// total_variation for contiguous fp32 CPU images of at least 2x2: the sums of squared
/// horizontal and vertical differences in one pass, the gradient in another (ATen's slices,
/// differences and squares made some twenty small passes and temporaries).
class TotalVariation : public torch::autograd::Function<TotalVariation> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& image) {
    ctx->save_for_backward({image});
    const int64_t h = image.size(2);
    const int64_t w = image.size(3);
    const int64_t rows = image.size(0) * image.size(1) * h;
    const float* p = image.data_ptr<float>();
    using Sums = std::pair<double, double>;
    const auto [sum_x, sum_y] = at::parallel_reduce(
        0, rows, 16, Sums{0.0, 0.0},
        [&](int64_t begin, int64_t end, Sums partial) {
          for (int64_t r = begin; r < end; ++r) {
            const float* row = p + r * w;
            partial.first += chunked_sum(0, w - 1, [&](int64_t x) {
              const float d = row[x + 1] - row[x];
              return d * d;
            });
            if (r % h != h - 1) {  // not the plane's last row
              partial.second += chunked_sum(0, w, [&](int64_t x) {
                const float d = row[w + x] - row[x];
                return d * d;
              });
            }
          }
          return partial;
        },
        [](const Sums& a, const Sums& b) { return Sums{a.first + b.first, a.second + b.second}; });
    const auto planes = rows / h;
    return at::scalar_tensor(sum_x / static_cast<double>(planes * h * (w - 1)) +
                                 sum_y / static_cast<double>(planes * (h - 1) * w),
                             image.options());
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto image = ctx->get_saved_variables()[0];
    const int64_t h = image.size(2);
    const int64_t w = image.size(3);
    const int64_t rows = image.size(0) * image.size(1) * h;
    const auto planes = rows / h;
    const double g = grads[0].item<double>();
    const auto cx = static_cast<float>(2.0 * g / static_cast<double>(planes * h * (w - 1)));
    const auto cy = static_cast<float>(2.0 * g / static_cast<double>(planes * (h - 1) * w));
    auto grad = at::empty_like(image);
    const float* p = image.data_ptr<float>();
    float* out = grad.data_ptr<float>();
    // d/dv of sum (v[x+1] - v[x])^2 = 2 (v[x] - v[x-1]) - 2 (v[x+1] - v[x]); the same
    // vertically; the terms beyond an edge are absent.
    at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const float* row = p + r * w;
        const float* up = r % h != 0 ? row - w : nullptr;
        const float* down = r % h != h - 1 ? row + w : nullptr;
        float* o = out + r * w;
        for (int64_t x = 0; x < w; ++x) {
          const float left = x > 0 ? row[x] - row[x - 1] : 0.0F;
          const float right = x + 1 < w ? row[x + 1] - row[x] : 0.0F;
          const float above = up != nullptr ? row[x] - up[x] : 0.0F;
          const float below = down != nullptr ? down[x] - row[x] : 0.0F;
          o[x] = cx * (left - right) + cy * (above - below);
        }
      }
    });
    return {grad};
  }
};
}  // namespace

at::Tensor total_variation(const at::Tensor& image) {
  if (one_pass_suits(image) && image.dim() == 4 && image.size(2) >= 2 && image.size(3) >= 2) {
    return TotalVariation::apply(image);
  }
  using at::indexing::None;
  using at::indexing::Slice;
  const auto dx = image.index({Slice(), Slice(), Slice(), Slice(1, None)}) -
                  image.index({Slice(), Slice(), Slice(), Slice(None, -1)});
  const auto dy = image.index({Slice(), Slice(), Slice(1, None), Slice()}) -
                  image.index({Slice(), Slice(), Slice(None, -1), Slice()});
  return dx.square().mean() + dy.square().mean();
}

}  // namespace stylize
