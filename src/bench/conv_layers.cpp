// stylize_conv_bench: VGG-19's 3x3 convolutions one by one at an image size, forward pass and
// input gradient, through ATen's direct convolution and through WinogradConv3x3 (the backend
// kernel_isa() picks; STYLIZE_MAX_ISA caps it). Prints the median milliseconds of each, the
// ratio, and the largest relative difference of Winograd's results from ATen's, so that the
// backends and their thresholds are chosen by measurement (docs/performance.md). All the
// cores (threads as stylize sets them).
//   stylize_conv_bench [SIZE_PX=512] [REPEATS=5] [LAYER (e.g. conv4_2; default all)]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <stylize/device.hpp>
#include <vector>

#include "kernels/blocked_layout.hpp"
#include "kernels/cpu_isa.hpp"
#include "kernels/winograd_conv.hpp"

namespace {

struct Layer {
  const char* name;
  int64_t in_channels;
  int64_t out_channels;
  int64_t scale;  ///< feature map = image / scale
};

// conv1_1 (3 input channels) runs neither way; conv2_1 .. conv5_1 as far as relu5_1 needs.
constexpr Layer kLayers[] = {{"conv1_2", 64, 64, 1},   {"conv2_1", 64, 128, 2},
                             {"conv2_2", 128, 128, 2}, {"conv3_1", 128, 256, 4},
                             {"conv3_2", 256, 256, 4}, {"conv4_1", 256, 512, 8},
                             {"conv4_2", 512, 512, 8}, {"conv5_1", 512, 512, 16}};

template <typename F>
double median_ms(int repeats, F&& f) {
  f();  // warm-up: allocations, plans
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    f();
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

double relative_difference(const at::Tensor& got, const at::Tensor& expected) {
  return ((got - expected).abs().max() / expected.abs().max()).item<double>();
}

}  // namespace

static int run(int argc, char** argv) {
  const int64_t size_px = argc > 1 ? std::stoll(argv[1]) : 512;
  const int repeats = argc > 2 ? std::stoi(argv[2]) : 5;
  at::set_num_threads(stylize::available_cpus());  // as stylize does; torch's default may be 1
  const auto isa = stylize::kernel_isa();
  std::printf("%lld px, %d threads, kernels %s, Winograd: %s\n", static_cast<long long>(size_px),
              at::get_num_threads(), stylize::isa_name(isa).c_str(),
              stylize::WinogradConv3x3::backend_name().c_str());
  std::printf("%-8s %9s %9s %9s %6s %9s %9s %6s %9s\n", "layer", "map", "fwd ms", "wino ms",
              "ratio", "grad ms", "wino ms", "ratio", "max diff");
  const at::NoGradGuard no_grad;
  torch::manual_seed(0);
  double direct_total = 0.0;
  double winograd_total = 0.0;
  for (const auto& layer : kLayers) {
    if (argc > 3 && std::string(argv[3]) != layer.name) continue;
    const int64_t side = size_px / layer.scale;
    const auto weight = torch::randn({layer.out_channels, layer.in_channels, 3, 3}) * 0.05;
    const auto bias = torch::randn({layer.out_channels});
    const auto x = torch::randn({1, layer.in_channels, side, side});
    const auto grad = torch::randn({1, layer.out_channels, side, side});
    const auto weight_t = weight.transpose(0, 1).flip({2, 3}).contiguous();
    const auto conv = stylize::WinogradConv3x3::create(weight, bias);
    if (side * side < conv->min_feature_pixels()) {
      std::printf("%-8s %4lldx%-4lld (smaller than the Winograd kernels take: ATen's)\n",
                  layer.name, static_cast<long long>(side), static_cast<long long>(side));
      continue;
    }
    const auto xb = stylize::to_blocked(x);
    const auto gb = stylize::to_blocked(grad);
    const double direct_fwd = median_ms(repeats, [&] { return at::conv2d(x, weight, bias, 1, 1); });
    const double direct_grad =
        median_ms(repeats, [&] { return at::conv2d(grad, weight_t, {}, 1, 1); });
    const double wino_fwd = median_ms(repeats, [&] { return conv->forward(xb, true); });
    const double wino_grad = median_ms(repeats, [&] { return conv->input_gradient(gb, true); });
    const double diff =
        std::max(relative_difference(conv->forward(x), at::conv2d(x, weight, bias, 1, 1)),
                 relative_difference(conv->input_gradient(grad, false),
                                     at::conv2d(grad, weight_t, {}, 1, 1)));
    std::printf("%-8s %4lldx%-4lld %9.1f %9.1f %6.2f %9.1f %9.1f %6.2f %9.2g\n", layer.name,
                static_cast<long long>(side), static_cast<long long>(side), direct_fwd, wino_fwd,
                direct_fwd / wino_fwd, direct_grad, wino_grad, direct_grad / wino_grad, diff);
    direct_total += direct_fwd + direct_grad;
    winograd_total += wino_fwd + wino_grad;
  }
  std::printf("total    %9s %9.1f ms direct, %.1f ms Winograd: %.2fx\n", "", direct_total,
              winograd_total, direct_total / winograd_total);
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    std::fprintf(stderr, "stylize_conv_bench: %s\n", what.substr(0, what.find('\n')).c_str());
    return 1;
  }
}
