// stylize_engine_check: the engine alone (LibTorch only, no image files) on one device.
//   checks: CPU and the device agree on features, loss and gradient; every precision the device
//           supports stays close to fp32; a short run lowers the loss; W2 agrees across devices.
//   bench:  N iterations at S px of the full algorithm on random images; prints s/iteration.
// Used by scripts/gpu_check.sh on a lent GPU machine (which has PyTorch but not our Debian
// packages); it runs on the CPU too, which is how it is tested here. Exit 0: all checks passed.
#include <stylize/config.hpp>
#include <stylize/device.hpp>
#include <stylize/errors.hpp>
#include <stylize/losses.hpp>
#include <stylize/style_transfer.hpp>
#include <stylize/vgg_features.hpp>

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>

namespace {

using stylize::StyleConfig;

struct Options {
  std::string model;
  std::string device = "auto";
  int size_px = 512;
  int iterations = 500;
  bool checks = true;
  bool bench = true;
  std::string optimizer = "lbfgs";
};

int failures = 0;

void report(bool ok, const std::string& what, double value, double limit) {
  std::printf("%s  %-58s %.3g (limit %.3g)\n", ok ? "PASS" : "FAIL", what.c_str(), value, limit);
  if (!ok) ++failures;
}

double relative_error(const at::Tensor& a, const at::Tensor& b) {
  const auto x = a.to(at::kCPU, at::kDouble);
  const auto y = b.to(at::kCPU, at::kDouble);
  return ((x - y).norm() / y.norm().clamp_min(1e-30)).item<double>();
}

/// Smooth content, busy style: clearly different statistics.
std::pair<at::Tensor, at::Tensor> test_images(int height, int width) {
  torch::manual_seed(0);
  const auto ramp = torch::linspace(0, 1, width).view({1, 1, 1, width}).expand({1, 3, height, width});
  return {ramp.clone(), torch::rand({1, 3, height, width})};
}

void run_checks(const std::string& model_path, const c10::Device& device) {
  auto cpu_model = stylize::VggFeatures::load(model_path, c10::Device(c10::kCPU));
  auto dev_model = stylize::VggFeatures::load(model_path, device);
  const auto plan = stylize::plan_layers(cpu_model.layer_names(), StyleConfig{});
  std::vector<int> indices;
  for (const auto& l : plan.style) indices.push_back(l.index);
  const auto [content, style] = test_images(64, 64);

  // Features and their input gradient (a Gram-loss evaluation) agree between CPU and device.
  auto gram_grad = [&](stylize::VggFeatures& model, const c10::Device& on) {
    auto x = style.to(on).clone().requires_grad_(true);
    const auto features = model.extract(x, indices);
    auto loss = at::zeros({}, x.options());
    for (const auto& f : features) loss = loss + stylize::gram_matrix(f).square().mean();
    loss.backward();
    return std::make_pair(features.back().detach(), x.grad());
  };
  const auto [cpu_f, cpu_g] = gram_grad(cpu_model, c10::Device(c10::kCPU));
  std::map<std::string, std::pair<stylize::Precision, double>> precisions = {
      {"fp32", {stylize::Precision::kFp32, 1e-3}},
      {"tf32", {stylize::Precision::kTf32, 2e-2}},
      {"bf16", {stylize::Precision::kBf16, 8e-2}},
      {"fp16", {stylize::Precision::kFp16, 3e-2}}};
  for (const auto& [name, setting] : precisions) {
    stylize::PrecisionSetup setup;
    try {
      setup = stylize::configure_precision(device, setting.first);
    } catch (const stylize::ConfigError& e) {
      std::printf("SKIP  %s: %s\n", name.c_str(), e.what());
      continue;
    }
    dev_model.set_compute_dtype(setup.network_dtype);
    const auto [f, g] = gram_grad(dev_model, device);
    report(relative_error(f, cpu_f) < setting.second, name + ": deepest style features vs CPU fp32",
           relative_error(f, cpu_f), setting.second);
    report(relative_error(g, cpu_g) < 2 * setting.second, name + ": input gradient vs CPU fp32",
           relative_error(g, cpu_g), 2 * setting.second);
  }
  stylize::configure_precision(device, stylize::Precision::kFp32);
  dev_model.set_compute_dtype(at::kFloat);

  // W2: Newton-Schulz on a GPU, eigendecomposition on the CPU; same value.
  {
    torch::NoGradGuard no_grad;
    const auto f = cpu_model.extract(style, {indices.back()})[0];
    const auto gram = stylize::gram_matrix(f);
    const auto cov = stylize::covariance(gram, stylize::channel_mean(f));
    const double eigh = stylize::trace_sqrt(cov).item<double>();
    const double device_value = stylize::trace_sqrt(cov.to(device)).item<double>();
    report(std::abs(device_value - eigh) < 1e-2 * std::abs(eigh),
           "tr sqrt(cov) on the device vs CPU (" + std::to_string(cov.size(1)) + " channels)",
           std::abs(device_value - eigh) / std::abs(eigh), 1e-2);
  }

  // A short run on the device lowers the loss, for both optimizers and a W2 style loss.
  for (const auto& [label, optimizer, loss_kind] :
       {std::tuple{"lbfgs gram", stylize::OptimizerKind::kLbfgs, stylize::StyleLossKind::kGram},
        std::tuple{"adam gram", stylize::OptimizerKind::kAdam, stylize::StyleLossKind::kGram},
        std::tuple{"lbfgs w2", stylize::OptimizerKind::kLbfgs, stylize::StyleLossKind::kW2}}) {
    StyleConfig config;
    config.size_px = 64;
    config.iterations = 20;
    config.optimizer = optimizer;
    config.style_loss = loss_kind;
    config.report_every_iters = 1;
    const stylize::StyleTransfer engine(dev_model, plan, device);
    const auto targets = engine.compute_style_targets({style}, {}, loss_kind);
    double first = 0.0;
    const auto result = engine.run(content, targets, config, {}, [&](const stylize::IterationReport& r) {
      if (r.iteration == 1 && r.losses) first = r.losses->total;
    });
    const bool sane = result.image_rgb01.device().is_cpu() &&
                      result.image_rgb01.min().item<double>() >= 0.0 &&
                      result.image_rgb01.max().item<double>() <= 1.0;
    report(sane && result.final_losses.total < 0.7 * first,
           std::string(label) + ": 20 iterations, final / first loss",
           result.final_losses.total / first, 0.7);
  }
}

void run_bench(const Options& o, const c10::Device& device) {
  auto model = stylize::VggFeatures::load(o.model, device);
  StyleConfig config;
  stylize::apply_look(stylize::Look::kSubtle, config);  // reference_gatys.py's content weight, one scale
  config.size_px = o.size_px;
  config.iterations = o.iterations;
  config.optimizer = o.optimizer == "adam" ? stylize::OptimizerKind::kAdam
                                           : stylize::OptimizerKind::kLbfgs;
  config.report_every_iters = 0;
  const auto plan = stylize::plan_layers(model.layer_names(), config);
  const stylize::StyleTransfer engine(model, plan, device);
  const auto [content, style] = test_images(o.size_px, o.size_px);
  const auto start = std::chrono::steady_clock::now();
  const auto targets = engine.compute_style_targets({style}, {});
  const auto result = engine.run(content, targets, config);  // ends with a copy to the CPU
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("BENCH device=%s size=%dx%d optimizer=%s iterations=%d total_s=%.3f "
              "s_per_iteration=%.5f final_loss=%.4f\n",
              device.str().c_str(), o.size_px, o.size_px, o.optimizer.c_str(),
              result.iterations_run, seconds, seconds / result.iterations_run,
              result.final_losses.total);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw stylize::ConfigError(arg + " needs a value");
      return argv[++i];
    };
    try {
      if (arg == "--model") o.model = value();
      else if (arg == "--device") o.device = value();
      else if (arg == "--size") o.size_px = std::stoi(value());
      else if (arg == "--iterations") o.iterations = std::stoi(value());
      else if (arg == "--optimizer") o.optimizer = value();
      else if (arg == "--checks-only") o.bench = false;
      else if (arg == "--bench-only") o.checks = false;
      else throw stylize::ConfigError("unknown argument '" + arg + "'");
    } catch (const std::exception& e) {
      std::cerr << "stylize_engine_check: error: " << e.what() << '\n';
      return 2;
    }
  }
  if (o.model.empty()) {
    std::cerr << "usage: stylize_engine_check --model FILE.pt [--device auto|cpu|cuda[:N]] "
                 "[--size PX] [--iterations N] [--optimizer lbfgs|adam] [--checks-only|--bench-only]\n";
    return 2;
  }
  try {
    stylize::configure_threads(0);
    const auto device = stylize::resolve_device(o.device);
    std::printf("device %s, torch %s\n", stylize::describe_device(device).c_str(), TORCH_VERSION);
    if (o.checks) run_checks(o.model, device);
    if (o.bench) run_bench(o, device);
  } catch (const std::exception& e) {
    std::cerr << "stylize_engine_check: error: " << e.what() << '\n';
    return 1;
  }
  if (failures > 0) std::printf("%d check(s) FAILED\n", failures);
  return failures > 0 ? 1 : 0;
}
