#include <stylize/errors.hpp>
#include <stylize/vgg_features.hpp>
#include "kernels/winograd_conv.hpp"

#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <fstream>

#include "test_support.hpp"

namespace stylize {
namespace {

std::string load_error(const std::string& path) {
  try {
    VggFeatures::load(path, c10::Device(c10::kCPU));
  } catch (const ModelError& e) {
    return e.what();
  }
  return "no error";
}

TEST(vgg_features_test, loads_full_random_model_with_layer_names) {
  auto model = VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU));
  const auto& names = model.layer_names();
  ASSERT_EQ(names.size(), 36U);
  EXPECT_EQ(names.front(), "conv1_1");
  EXPECT_EQ(names[1], "relu1_1");
  EXPECT_EQ(names[4], "pool1");
  EXPECT_EQ(names.back(), "relu5_4");
  EXPECT_EQ(model.index_of("relu4_2"), 22);
  EXPECT_EQ(model.index_of("relu5_1"), 29);
  EXPECT_EQ(model.index_of("relu9_9"), std::nullopt);
  EXPECT_TRUE(model.random_init());
  EXPECT_EQ(model.convention(), "caffe");
  EXPECT_EQ(model.pools_before(29), 4);
  EXPECT_EQ(model.pools_before(1), 0);
}

TEST(vgg_features_test, extracts_requested_layers_in_request_order) {
  auto model = VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU));
  torch::NoGradGuard no_grad;
  const auto image = torch::rand({1, 3, 32, 48});
  const auto out = model.extract(image, {29, 1, 22});
  ASSERT_EQ(out.size(), 3U);
  EXPECT_EQ(out[0].sizes(), (at::IntArrayRef{1, 512, 2, 3}));
  EXPECT_EQ(out[1].sizes(), (at::IntArrayRef{1, 64, 32, 48}));
  EXPECT_EQ(out[2].sizes(), (at::IntArrayRef{1, 512, 4, 6}));
  EXPECT_GE(out[1].min().item<float>(), 0.0F) << "relu outputs are non-negative";
  EXPECT_TRUE(torch::isfinite(out[0]).all().item<bool>());
}

TEST(vgg_features_test, matches_the_model_files_own_forward) {
  auto model = VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU));
  auto module = torch::jit::load(test::random_model_path());
  torch::NoGradGuard no_grad;
  const auto image = torch::rand({1, 3, 40, 24});
  const auto expected = module.forward({image}).toTensor();  // relu5_4, through TorchScript
  const auto got = model.extract(image, {35, 2, 3})[0];     // conv1_2 requested: relu not in place
  EXPECT_EQ(got.sizes(), expected.sizes());
  EXPECT_TRUE(torch::allclose(got, expected, 1e-4, 1e-5));
  const auto conv_and_relu = model.extract(image, {2, 3});
  EXPECT_LT(conv_and_relu[0].min().item<float>(), 0.0F) << "the conv output kept its negatives";
  EXPECT_TRUE(torch::equal(conv_and_relu[1], torch::relu(conv_and_relu[0])));
}

TEST(vgg_features_test, network_weights_are_frozen_but_input_gradients_flow) {
  auto model = VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU));
  auto image = torch::rand({1, 3, 16, 16}, torch::requires_grad());
  const auto out = model.extract(image, {6});
  out[0].sum().backward();
  ASSERT_TRUE(image.grad().defined());
  EXPECT_GT(image.grad().abs().sum().item<float>(), 0.0F);
  auto module = torch::jit::load(test::random_model_path());
  for (const auto& p : module.parameters()) EXPECT_FALSE(p.requires_grad());
}

TEST(vgg_features_test, input_gradient_matches_the_model_files_own_backward) {
  // Our max pooling keeps no indices and finds the maxima again in the backward pass; ATen's
  // (inside the TorchScript module) keeps them. The input gradients must agree, odd sizes too.
  auto model = VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU));
  auto module = torch::jit::load(test::random_model_path());
  const auto image = torch::rand({1, 3, 37, 26});
  const auto ours = image.clone().requires_grad_(true);
  const auto theirs = image.clone().requires_grad_(true);
  const auto out = model.extract(ours, {35})[0];
  const auto weights = torch::rand(out.sizes());
  (out * weights).sum().backward();
  (module.forward({theirs}).toTensor() * weights).sum().backward();
  EXPECT_GT(theirs.grad().abs().sum().item<float>(), 0.0F);
  EXPECT_TRUE(torch::allclose(ours.grad(), theirs.grad(), 1e-3, 1e-6))
      << "max abs difference " << (ours.grad() - theirs.grad()).abs().max().item<float>();
}

TEST(vgg_features_test, callback_receives_layers_in_network_order) {
  auto model = VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU));
  torch::NoGradGuard no_grad;
  const auto image = torch::rand({1, 3, 32, 48});
  const std::vector<int> layers{29, 1, 22};
  const auto listed = model.extract(image, layers);
  std::vector<std::size_t> order;
  model.extract(image, layers, [&](std::size_t j, const at::Tensor& features) {
    order.push_back(j);
    EXPECT_TRUE(torch::equal(features, listed[j])) << "layer " << layers[j];
    return at::Tensor();
  });
  EXPECT_EQ(order, (std::vector<std::size_t>{1, 2, 0}));
}

TEST(vgg_features_test, the_network_continues_from_what_the_callback_returns) {
  auto model = VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU));
  torch::NoGradGuard no_grad;
  const auto image = torch::rand({1, 3, 32, 48});
  const auto listed = model.extract(image, {1, 3});
  at::Tensor deeper;
  model.extract(image, {1, 3}, [&](std::size_t j, const at::Tensor& features) {
    if (j == 1) deeper = features;
    return j == 0 ? at::zeros_like(features) : at::Tensor();  // relu1_1 replaced by zeros
  });
  // conv1_2 of zeros is its bias; after the ReLU, max(bias, 0) in every pixel.
  EXPECT_FALSE(torch::equal(deeper, listed[1]));
  const auto corner = deeper.narrow(2, 0, 1).narrow(3, 0, 1);
  EXPECT_TRUE(torch::equal(deeper, corner.expand_as(deeper)));
}

TEST(vgg_features_test, average_pooling_changes_deep_features_only) {
  auto model = VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU));
  torch::NoGradGuard no_grad;
  const auto image = torch::rand({1, 3, 32, 32});
  const auto max_out = model.extract(image, {1, 6});
  model.set_average_pooling(true);
  const auto avg_out = model.extract(image, {1, 6});
  EXPECT_TRUE(torch::equal(max_out[0], avg_out[0]));   // before pool1
  EXPECT_FALSE(torch::allclose(max_out[1], avg_out[1]));  // after pool1
}

TEST(vgg_features_test, circular_padding_makes_the_network_see_a_periodic_image) {
  // Shifting the input by a multiple of 4 px shifts relu3_1 (two poolings) by a quarter of it,
  // wrapping around, exactly when the convolutions pad circularly; not with zero padding.
  auto model = VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU));
  const int relu3_1 = *model.index_of("relu3_1");
  const auto image = torch::rand({1, 3, 32, 48});
  const auto shifted = torch::roll(image, {8, 12}, {2, 3});
  auto features_of = [&](const at::Tensor& x) { return model.extract(x, {relu3_1}).front(); };
  model.set_circular_padding(true);
  const auto expected = torch::roll(features_of(image), {2, 3}, {2, 3});
  EXPECT_TRUE(torch::allclose(features_of(shifted), expected, 1e-4, 1e-4));
  model.set_circular_padding(false);
  EXPECT_FALSE(torch::allclose(features_of(shifted), torch::roll(features_of(image), {2, 3}, {2, 3}),
                               1e-4, 1e-4));
}

TEST(vgg_features_test, bf16_network_returns_fp32_features_close_to_fp32) {
  auto model = VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU));
  torch::manual_seed(1);
  const auto image = torch::rand({1, 3, 32, 32});
  const auto reference = model.extract(image, {1, 11});
  model.set_compute_dtype(at::kBFloat16);
  auto x = image.clone().requires_grad_(true);
  const auto reduced = model.extract(x, {1, 11});
  for (std::size_t i = 0; i < reference.size(); ++i) {
    EXPECT_EQ(reduced[i].scalar_type(), at::kFloat);
    const double error = (reduced[i] - reference[i]).norm().item<double>();
    EXPECT_LT(error, 0.05 * reference[i].norm().item<double>()) << "layer " << i;
  }
  reduced[1].sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().scalar_type(), at::kFloat);
  EXPECT_GT(x.grad().abs().sum().item<double>(), 0.0);
  model.set_compute_dtype(at::kFloat);
  EXPECT_TRUE(at::allclose(model.extract(image, {11})[0], reference[1]));
}

TEST(vgg_features_test, winograd_convolutions_agree_with_direct_ones) {
  if (const auto reason = WinogradConv3x3::unavailable_reason(); !reason.empty()) {
    GTEST_SKIP() << reason;
  }
  auto model = VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU));
  // Average pooling: with max pooling a 1e-6 difference can flip which of two near-equal inputs
  // is the maximum and send the gradient to another pixel, which says nothing of the convolutions.
  model.set_average_pooling(true);
  model.set_conv_algorithm(ConvAlgorithm::kDirect);
  EXPECT_EQ(model.winograd_layer_count(), 0);
  torch::manual_seed(5);
  // Blocks 1-3 have maps of at least 32x32 (Winograd with either backend), blocks 4-5 smaller
  // ones (ATen's under oneDNN's 32x32 limit, Winograd under stylize's one-tile limit).
  const auto image = torch::rand({1, 3, 136, 128});
  const auto upstream = torch::rand({1, 512, 8, 8});
  auto direct_input = image.clone().requires_grad_(true);
  const auto direct = model.extract(direct_input, {11, 29});
  (direct[1] * upstream).sum().backward();
  model.set_conv_algorithm(ConvAlgorithm::kWinograd);
  EXPECT_EQ(model.winograd_layer_count(), 15) << "every convolution but conv1_1 (3 channels in)";
  auto winograd_input = image.clone().requires_grad_(true);
  const auto winograd = model.extract(winograd_input, {11, 29});
  (winograd[1] * upstream).sum().backward();
  for (std::size_t i = 0; i < direct.size(); ++i) {
    EXPECT_TRUE(torch::allclose(winograd[i], direct[i], 1e-4, 1e-5)) << "layer " << i;
    EXPECT_FALSE(torch::equal(winograd[i], direct[i])) << "layer " << i << ": not computed apart";
  }
  // Relative to the gradient's norm, not pixel by pixel: a difference of 1e-5 in a ReLU's input
  // near 0 flips whether it passes the gradient, which moves single pixels by a few percent of
  // the largest gradient through 12 random layers (the convolutions themselves agree to ~1e-5:
  // test_winograd_conv.cpp). A wrong convolution or gradient is off by the whole norm.
  const float gradient_error =
      ((winograd_input.grad() - direct_input.grad()).norm() / direct_input.grad().norm())
          .item<float>();
  EXPECT_LT(gradient_error, 2e-2F) << "difference relative to the gradient's norm";
  model.set_conv_algorithm(ConvAlgorithm::kAuto);
  EXPECT_EQ(model.winograd_layer_count(), 15) << "auto takes Winograd where it runs";
}

TEST(vgg_features_test, activations_kept_blocked_between_winograd_convolutions_change_nothing) {
  if (const auto reason = WinogradConv3x3::unavailable_reason(); !reason.empty()) {
    GTEST_SKIP() << reason;
  }
  auto model = VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU));
  torch::manual_seed(8);
  // 136x128: blocks 1-3 run Winograd; conv4_1 gets pool3's blocked output at 17x16, a map that
  // oneDNN's backend hands to ATen (through from_blocked) and stylize's takes as it is.
  const auto image = torch::rand({1, 3, 136, 128});
  const auto upstream = torch::rand({1, 512, 8, 8});
  auto run = [&](const std::vector<int>& layers) {
    auto input = image.clone().requires_grad_(true);
    const auto features = model.extract(input, layers);
    (features.back() * upstream).sum().backward();
    return std::make_pair(features.back(), input.grad());
  };
  // relu5_1 alone: conv1_2 -> pool1 -> conv2_1, conv2_2 -> pool2 -> conv3_1 and the other
  // block ends pass activations on in the blocked layout. Requesting relu1_2, relu2_2, relu3_4
  // and relu4_4 as well keeps every activation NCHW (and adds nothing to the loss).
  const auto [chained, chained_grad] = run({29});
  const auto [plain, plain_grad] = run({3, 8, 17, 26, 29});
  EXPECT_TRUE(torch::equal(chained, plain));
  EXPECT_TRUE(torch::equal(chained_grad, plain_grad));
  EXPECT_GT(chained_grad.abs().sum().item<float>(), 0.0F);
}

TEST(vgg_features_test, winograd_needs_fp32_on_the_cpu_and_auto_falls_back) {
  auto model = VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU));
  model.set_compute_dtype(at::kBFloat16);
  EXPECT_EQ(model.winograd_layer_count(), 0) << "auto: bf16 runs through ATen";
  EXPECT_EQ(test::error_of([&] { model.set_conv_algorithm(ConvAlgorithm::kWinograd); }),
            "invalid conv algorithm winograd: the network does not run in fp32");
  model.set_compute_dtype(at::kFloat);
  const auto reason = WinogradConv3x3::unavailable_reason();
  EXPECT_EQ(model.winograd_layer_count(), reason.empty() ? 15 : 0);
  if (!reason.empty()) {
    EXPECT_EQ(test::error_of([&] { model.set_conv_algorithm(ConvAlgorithm::kWinograd); }),
              "invalid conv algorithm winograd: " + reason);
  }
}

TEST(vgg_features_test, the_memory_its_kernels_keep_is_counted_for_the_estimate) {
  auto model = VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU));
  const auto& names = model.layer_names();
  const int relu5_1 = static_cast<int>(
      std::find(names.begin(), names.end(), "relu5_1") - names.begin());
  // stylize's Winograd kernels keep each pass's transformed weights, 36 values per 9 weights;
  // oneDNN's keep nothing; conv1_1 (3 input channels) never runs as Winograd.
  std::uint64_t transformed = 0;
  const int64_t channels[] = {64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512};
  for (std::size_t k = 1; k < std::size(channels); ++k) {
    transformed += 2ULL * 36 * channels[k - 1] * channels[k] * sizeof(float);
  }
  const auto backend = WinogradConv3x3::backend_name();
  const std::uint64_t conv5_1 = 2ULL * 36 * 512 * 512 * sizeof(float);
  if (backend.rfind("stylize", 0) == 0) {
    EXPECT_EQ(model.kernel_cache_bytes(relu5_1, 512, 512), transformed) << backend;
    EXPECT_EQ(model.kernel_cache_bytes(relu5_1 - 3, 512, 512), transformed - conv5_1)
        << "conv5_1 not counted when the plan stops before it";
    EXPECT_EQ(model.kernel_cache_bytes(relu5_1, 32, 64), transformed - conv5_1)
        << "nor where its map (2x4) is smaller than the Winograd kernels take";
  } else {
    EXPECT_EQ(model.kernel_cache_bytes(relu5_1, 512, 512), 0U) << backend;
  }
  model.set_conv_algorithm(ConvAlgorithm::kDirect);
  EXPECT_EQ(model.kernel_cache_bytes(relu5_1, 512, 512), 0U);
}

TEST(vgg_features_test, rejects_unsupported_compute_dtype) {
  auto model = VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU));
  try {
    model.set_compute_dtype(at::kInt);
    FAIL() << "int accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "unsupported network dtype Int");
  }
}

TEST(vgg_features_test, model_errors_name_the_file) {
  test::TempDir dir;
  EXPECT_EQ(load_error(dir.file("none.pt")),
            "cannot load model '" + dir.file("none.pt") +
                "': no such file (make one with scripts/export_vgg19.py)");
  EXPECT_EQ(load_error(dir.path().string()),
            "cannot load model '" + dir.path().string() + "': it is a directory");
  std::ofstream(dir.file("junk.pt")) << "not a model";
  EXPECT_EQ(load_error(dir.file("junk.pt")).rfind("cannot load model '" + dir.file("junk.pt") +
                                                      "': not a TorchScript model file (",
                                                  0),
            0U);
  torch::jit::Module other("Other");
  other.define("def forward(self, x):\n  return x\n");
  other.save(dir.file("other.pt"));
  EXPECT_EQ(load_error(dir.file("other.pt")),
            "cannot load model '" + dir.file("other.pt") +
                "': not a stylize VGG model (no 'layer_names'; make one with "
                "scripts/export_vgg19.py)");
}

TEST(vgg_features_test, RealWeights_truncated_model_has_blocks_1_to_3) {
  const auto path = test::real_model_path();
  if (!path) GTEST_SKIP() << "no real weights in ../shared/models";
  auto model = VggFeatures::load(*path, c10::Device(c10::kCPU));
  EXPECT_EQ(model.layer_names().size(), 18U);
  EXPECT_EQ(model.layer_names().back(), "relu3_4");
  EXPECT_FALSE(model.random_init());
  EXPECT_EQ(model.convention(), "caffe");
}

}  // namespace
}  // namespace stylize
