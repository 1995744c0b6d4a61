#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>
#include <stylize/losses.hpp>
#include <stylize/objective.hpp>
#include <stylize/style_transfer.hpp>
#include <stylize/vgg_features.hpp>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <tuple>

#include "test_support.hpp"

namespace stylize {
namespace {

const std::vector<std::string> kBlocks1To3 = {
    "conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1",   "conv2_1", "relu2_1", "conv2_2", "relu2_2",
    "pool2",   "conv3_1", "relu3_1", "conv3_2", "relu3_2", "conv3_3", "relu3_3", "conv3_4", "relu3_4"};

std::vector<std::string> names_of(const std::vector<PlannedLayer>& layers) {
  std::vector<std::string> names;
  for (const auto& l : layers) names.push_back(l.name);
  return names;
}

class StyleTransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    model_ = std::make_unique<VggFeatures>(
        VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU)));
    // Smooth content, busy style: their Gram matrices differ clearly.
    content_ = torch::linspace(0, 1, 32).view({1, 1, 1, 32}).expand({1, 3, 32, 32}).clone();
    style_ = torch::rand({1, 3, 32, 32});
    config_.size_px = 32;
    config_.iterations = 10;
    config_.report_every_iters = 1;
  }

  StyleTransfer engine() const {
    return StyleTransfer(*model_, plan_layers(model_->layer_names(), config_),
                         c10::Device(c10::kCPU));
  }

  std::unique_ptr<VggFeatures> model_;
  at::Tensor content_;
  at::Tensor style_;
  StyleConfig config_;
};

TEST(plan_layers_test, classic_defaults_on_full_model) {
  auto model = VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU));
  const auto plan = plan_layers(model.layer_names(), StyleConfig{});
  EXPECT_EQ(names_of(plan.content), (std::vector<std::string>{"relu4_2"}));
  EXPECT_EQ(names_of(plan.style),
            (std::vector<std::string>{"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"}));
  EXPECT_FALSE(plan.fell_back_to_shallower);
  EXPECT_EQ(plan.deepest_index(), 29);
  EXPECT_DOUBLE_EQ(plan.style[0].weight, 0.2);
}

TEST(plan_layers_test, truncated_model_falls_back_to_deepest_layers) {
  const auto plan = plan_layers(kBlocks1To3, StyleConfig{});
  EXPECT_EQ(names_of(plan.content), (std::vector<std::string>{"relu3_2"}));
  EXPECT_EQ(names_of(plan.style), (std::vector<std::string>{"relu1_1", "relu2_1", "relu3_1"}));
  EXPECT_TRUE(plan.fell_back_to_shallower);
  EXPECT_EQ(plan.describe(), "content relu3_2; style relu1_1 relu2_1 relu3_1");
}

TEST(plan_layers_test, explicit_layers_with_weights_are_normalised) {
  StyleConfig config;
  config.style_layers = {{"relu1_1", 3.0}, {"relu2_1", 1.0}};
  config.content_layers = {{"conv3_1", 1.0}};
  const auto plan = plan_layers(kBlocks1To3, config);
  EXPECT_EQ(plan.style[0].index, 1);
  EXPECT_DOUBLE_EQ(plan.style[0].weight, 0.75);
  EXPECT_DOUBLE_EQ(plan.style[1].weight, 0.25);
  EXPECT_EQ(plan.content[0].index, 10);
}

TEST(plan_layers_test, unknown_layer_lists_the_available_ones) {
  StyleConfig config;
  config.content_layers = {{"relu4_2", 1.0}};
  EXPECT_ERROR_MSG(plan_layers(kBlocks1To3, config), ConfigError,
                   "unknown content layer 'relu4_2': the model has relu1_1 relu1_2 relu2_1 "
                   "relu2_2 relu3_1 relu3_2 relu3_3 relu3_4");
}

TEST_F(StyleTransferTest, lbfgs_lowers_the_style_loss) {
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  std::vector<IterationReport> reports;
  const auto result = transfer.run(content_, targets, config_, {},
                                   [&](const IterationReport& r) { reports.push_back(r); });
  ASSERT_EQ(reports.size(), 10U);
  ASSERT_TRUE(reports.front().losses.has_value());
  EXPECT_EQ(result.iterations_run, 10);
  EXPECT_EQ(result.image_rgb01.sizes(), content_.sizes());
  EXPECT_LT(result.final_losses.style, 0.5 * reports.front().losses->style);
  for (const auto& r : reports) {
    // The returned image is the best iterate: never worse than any evaluated one.
    EXPECT_LE(result.final_losses.total, r.losses->total + 1e-9);
  }
  EXPECT_GE(result.image_rgb01.min().item<float>(), 0.0F);
  EXPECT_LE(result.image_rgb01.max().item<float>(), 1.0F);
}

class StyleLossKindTest : public StyleTransferTest,
                          public ::testing::WithParamInterface<StyleLossKind> {};

TEST_P(StyleLossKindTest, lbfgs_lowers_the_chosen_style_loss) {
  config_.style_loss = GetParam();
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {}, config_.style_loss);
  std::optional<LossBreakdown> first;
  const auto result = transfer.run(content_, targets, config_, {}, [&](const IterationReport& r) {
    if (!first) first = r.losses;
  });
  ASSERT_TRUE(first.has_value());
  EXPECT_GT(first->style, 0.0);
  EXPECT_LT(result.final_losses.style, 0.5 * first->style);
}

INSTANTIATE_TEST_SUITE_P(kinds, StyleLossKindTest,
                         ::testing::Values(StyleLossKind::kGram, StyleLossKind::kMeanCov,
                                           StyleLossKind::kW2));

/// A layer's feature statistics in double precision, computed here from its activations
/// [1,C,H,W] apart from losses.cpp: channel means, second moments F F^T / HW, covariance.
struct Moments {
  at::Tensor mean;
  at::Tensor gram;
  at::Tensor cov;
};

Moments moments_of(const at::Tensor& features) {
  const auto f = features[0].to(at::kDouble).flatten(1);  // [C, HW]
  const auto pixels = static_cast<double>(f.size(1));
  Moments m;
  m.mean = f.mean(1);
  m.gram = at::mm(f, f.t()) / pixels;
  const auto centred = f - m.mean.unsqueeze(1);
  m.cov = at::mm(centred, centred.t()) / pixels;
  return m;
}

double relative_error(const at::Tensor& x, const at::Tensor& target) {
  return ((x - target).square().mean() / target.square().mean()).item<double>();
}

/// The square root of a symmetric positive semi-definite matrix, and the trace of one.
at::Tensor psd_root(const at::Tensor& matrix) {
  const auto [values, vectors] = at::linalg_eigh(matrix);
  return at::mm(vectors * values.clamp_min(0.0).sqrt().unsqueeze(0), vectors.t());
}
double trace_of_root(const at::Tensor& matrix) {
  return at::linalg_eigvalsh(matrix).clamp_min(0.0).sqrt().sum().item<double>();
}


TEST_F(StyleTransferTest, style_loss_kinds_measure_differently) {
  // Same images, same weights: the first evaluation (of the content image itself) gives each
  // kind's own distance to the style, as computed here from the layers' features: gram, the
  // relative error of the second moments; mean-cov, the relative errors of the means plus of
  // the covariances; w2, the Wasserstein-2 distance between the features' Gaussians over the
  // style's tr(G). Two shallow layers and a noisy photo keep the covariances well conditioned
  // (w2's square roots magnify rounding near zero eigenvalues).
  content_ = torch::rand({1, 3, 32, 32}) * 0.5;
  config_.style_layers = {{"relu1_1", 1.0}, {"relu2_1", 1.0}};
  config_.iterations = 1;
  const auto transfer = engine();
  const std::vector<StyleLossKind> kinds = {StyleLossKind::kGram, StyleLossKind::kMeanCov,
                                            StyleLossKind::kW2};
  std::map<StyleLossKind, double> reported;
  for (auto kind : kinds) {
    config_.style_loss = kind;
    const auto targets = transfer.compute_style_targets({style_}, {}, kind);
    transfer.run(content_, targets, config_, {}, [&](const IterationReport& r) {
      if (reported.count(kind) == 0) reported[kind] = r.losses->style;
    });
  }
  std::map<StyleLossKind, double> expected;
  const std::vector<int> layers = {*model_->index_of("relu1_1"), *model_->index_of("relu2_1")};
  const auto image_features = model_->extract(content_, layers);
  const auto style_features = model_->extract(style_, layers);
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto x = moments_of(image_features[l]);
    const auto s = moments_of(style_features[l]);
    const double weight = config_.style_weight / static_cast<double>(layers.size());
    expected[StyleLossKind::kGram] += weight * relative_error(x.gram, s.gram);
    expected[StyleLossKind::kMeanCov] +=
        weight * (relative_error(x.mean, s.mean) + relative_error(x.cov, s.cov));
    const auto root = psd_root(s.cov);
    const double w2 = (x.mean - s.mean).square().sum().item<double>() +
                      x.cov.trace().item<double>() + s.cov.trace().item<double>() -
                      2.0 * trace_of_root(at::mm(at::mm(root, x.cov), root));
    expected[StyleLossKind::kW2] += weight * w2 / s.gram.trace().item<double>();
  }
  auto tolerance = [](StyleLossKind kind) { return kind == StyleLossKind::kW2 ? 5e-3 : 1e-3; };
  for (auto kind : kinds) {
    ASSERT_EQ(reported.count(kind), 1U) << name_of(kind);
    EXPECT_NEAR(reported[kind], expected[kind], tolerance(kind) * expected[kind]) << name_of(kind);
    // ... and not another kind's (else this fixture could not tell the two apart).
    for (auto other : kinds) {
      if (other == kind) continue;
      EXPECT_GT(std::abs(reported[kind] - expected[other]), tolerance(other) * expected[other])
          << name_of(kind) << " also matches the " << name_of(other) << " distance";
    }
  }
}

TEST_F(StyleTransferTest, a_style_mask_of_ones_gives_the_unmasked_loss_for_every_kind) {
  const auto transfer = engine();
  const auto image = torch::rand({1, 3, 32, 32});
  for (auto kind : {StyleLossKind::kGram, StyleLossKind::kMeanCov, StyleLossKind::kW2}) {
    config_.style_loss = kind;
    const auto targets = transfer.compute_style_targets({style_}, {}, kind);
    const Objective plain(*model_, transfer.plan(), content_, targets, config_);
    const Objective masked(*model_, transfer.plan(), content_,
                           {StyleGuide{&targets, at::ones({1, 1, 7, 9}), 1.0}}, config_);
    torch::NoGradGuard no_grad;
    const auto expected = plain.evaluate(image).to_host();
    const auto got = masked.evaluate(image).to_host();
    EXPECT_NEAR(got.style, expected.style, 1e-5 * expected.style) << name_of(kind);
    EXPECT_DOUBLE_EQ(got.content, expected.content) << name_of(kind);
  }
}

TEST_F(StyleTransferTest, a_style_mask_confines_the_style_gradient_to_its_region) {
  // relu1_1 sees 3x3 pixels: a pixel two columns beyond the mask's edge cannot feel its style.
  config_.style_layers = {{"relu1_1", 1.0}};
  config_.content_weight = 0.0;
  config_.tv_weight = 0.0;
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  auto left = at::zeros({1, 1, 32, 32});
  left.narrow(3, 0, 16).fill_(1.0);
  const Objective objective(*model_, transfer.plan(), content_, {StyleGuide{&targets, left, 1.0}},
                            config_);
  const auto image = content_.clone().requires_grad_(true);
  objective.evaluate(image).total.backward();
  const auto grad = image.grad().abs();
  EXPECT_GT(grad.narrow(3, 0, 15).sum().item<double>(), 0.0);
  EXPECT_EQ(grad.narrow(3, 18, 14).max().item<double>(), 0.0);
}

TEST_F(StyleTransferTest, complementary_masks_push_each_pixel_as_one_style_over_the_image_does) {
  // The same targets on two halves with weight 1 each: every pixel's style gradient is that of
  // one style on the whole image where the halves' statistics agree, so the loss of an image
  // whose halves are alike is the unmasked loss (per-pixel push is the mask value x weight).
  config_.style_layers = {{"relu1_1", 1.0}};
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  const auto image = torch::rand({1, 3, 1, 16}).repeat({1, 1, 32, 2});  // both halves alike
  auto left = at::zeros({1, 1, 32, 32});
  left.narrow(3, 0, 16).fill_(1.0);
  const Objective plain(*model_, transfer.plan(), content_, targets, config_);
  const Objective halves(*model_, transfer.plan(), content_,
                         {StyleGuide{&targets, left, 1.0}, StyleGuide{&targets, 1.0 - left, 1.0}},
                         config_);
  torch::NoGradGuard no_grad;
  const auto expected = plain.evaluate(image).to_host().style;
  EXPECT_NEAR(halves.evaluate(image).to_host().style, expected, 0.05 * expected);
}

TEST_F(StyleTransferTest, a_masked_layer_below_full_size_compares_its_region_alone) {
  // relu2_1 is half the image's size: the left-half mask becomes its left 8 of 16 columns,
  // whose Gram matrix is compared with the target, counted by the region's share (one half).
  config_.style_layers = {{"relu2_1", 1.0}};
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  auto left = at::zeros({1, 1, 32, 32});
  left.narrow(3, 0, 16).fill_(1.0);
  const Objective objective(*model_, transfer.plan(), content_, {StyleGuide{&targets, left, 1.0}},
                            config_);
  const auto image = torch::rand({1, 3, 32, 32});
  torch::NoGradGuard no_grad;
  const auto features = model_->extract(image, {*model_->index_of("relu2_1")}).front();
  ASSERT_EQ(features.size(3), 16);
  const auto region_gram = gram_matrix(features.narrow(3, 0, 8).contiguous());
  const double expected =
      config_.style_weight * 0.5 *
      relative_mse(region_gram, targets.grams[0], targets.gram_mean_squares[0]).item<double>();
  EXPECT_NEAR(objective.evaluate(image).to_host().style, expected, 1e-4 * expected);
}

TEST_F(StyleTransferTest, a_tileable_objective_counts_the_jump_across_the_wrap) {
  // A horizontal ramp is smooth inside but jumps from 1 back to 0 across the wrap.
  config_.content_weight = 0.0;
  config_.style_weight = 0.0;
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  const auto ramp = torch::linspace(0, 1, 32).view({1, 1, 1, 32}).expand({1, 3, 32, 32}).clone();
  torch::NoGradGuard no_grad;
  const double plain = Objective(*model_, transfer.plan(), content_, targets, config_)
                           .evaluate(ramp)
                           .to_host()
                           .tv;
  config_.tileable = true;
  const double wrapped = Objective(*model_, transfer.plan(), content_, targets, config_)
                             .evaluate(ramp)
                             .to_host()
                             .tv;
  EXPECT_GT(wrapped, 10.0 * plain);
}

TEST_F(StyleTransferTest, a_style_region_takes_the_paintings_statistics_from_there_only) {
  config_.style_layers = {{"relu1_1", 1.0}};
  const auto transfer = engine();
  auto painting = at::zeros({1, 3, 32, 32});
  painting.select(1, 0).narrow(2, 0, 16).fill_(1.0);  // red left half
  painting.select(1, 2).narrow(2, 16, 16).fill_(1.0);  // blue right half
  auto left = at::zeros({1, 1, 32, 32});
  left.narrow(3, 0, 16).fill_(1.0);
  const auto plan = transfer.plan();
  auto targets_of = [&](const at::Tensor& image, const std::vector<at::Tensor>& regions) {
    return compute_style_targets(*model_, plan, c10::kCPU, {image}, {}, StyleLossKind::kMeanCov,
                                 regions)
        .means[0];
  };
  const auto region = targets_of(painting, {left});
  auto red = at::zeros({1, 3, 32, 32});
  red.select(1, 0).fill_(1.0);
  auto blue = at::zeros({1, 3, 32, 32});
  blue.select(1, 2).fill_(1.0);
  const double to_red = (region - targets_of(red, {})).norm().item<double>();
  const double to_blue = (region - targets_of(blue, {})).norm().item<double>();
  EXPECT_LT(to_red, 0.1 * to_blue);
  EXPECT_TRUE(at::allclose(targets_of(painting, {at::ones({1, 1, 8, 8})}),
                           targets_of(painting, {}), 1e-5, 1e-6))
      << "a region of ones is the whole painting";
}

TEST_F(StyleTransferTest, style_targets_hold_consistent_mean_and_covariance) {
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {}, StyleLossKind::kW2);
  ASSERT_EQ(targets.means.size(), targets.grams.size());
  for (std::size_t l = 0; l < targets.grams.size(); ++l) {
    const auto& mean = targets.means[l];
    const auto expected = targets.grams[l] - mean.unsqueeze(2) * mean.unsqueeze(1);
    EXPECT_TRUE(at::allclose(targets.covariances[l], expected, 1e-4, 1e-3));
    const auto root = targets.covariance_sqrts[l];
    EXPECT_TRUE(at::allclose(at::bmm(root, root), targets.covariances[l], 1e-2,
                             1e-3 * targets.covariances[l].abs().max().item<double>()));
  }
}

TEST(effective_layer_weights_test, normalize_weights_divides_by_channels) {
  const std::vector<PlannedLayer> layers = {{"relu1_1", 1, 0.5}, {"relu2_1", 6, 0.5}};
  const auto plain = effective_layer_weights(layers, {64, 128}, false);
  EXPECT_DOUBLE_EQ(plain[0], 0.5);
  EXPECT_DOUBLE_EQ(plain[1], 0.5);
  const auto normalised = effective_layer_weights(layers, {64, 128}, true);
  EXPECT_DOUBLE_EQ(normalised[0], 2.0 / 3.0);  // 1/64 : 1/128 = 2 : 1
  EXPECT_DOUBLE_EQ(normalised[1], 1.0 / 3.0);
}

TEST_F(StyleTransferTest, normalized_weights_change_the_loss_balance) {
  // The style loss weighs the layers' losses by the plan's weights (1/5 each here) or, with
  // normalize_weights, by the weights over the layers' channel counts, renormalised (relu1_1's
  // 64 channels then count 8x relu5_1's 512). Each layer's own loss comes from a run with that
  // layer alone, all of them at the first evaluation (of the content image).
  config_.iterations = 1;
  auto first_style_loss = [&] {
    const auto transfer = engine();
    const auto targets = transfer.compute_style_targets({style_}, {});
    double style = -1.0;
    transfer.run(content_, targets, config_, {}, [&](const IterationReport& r) {
      if (style < 0.0) style = r.losses->style;
    });
    return style;
  };
  const double plain = first_style_loss();
  config_.normalize_weights = true;
  const double normalised = first_style_loss();
  config_.normalize_weights = false;

  const auto plan = plan_layers(model_->layer_names(), config_);
  const auto targets = engine().compute_style_targets({style_}, {});
  ASSERT_EQ(plan.style.size(), 5U);
  double weight_over_channels_sum = 0.0;
  for (std::size_t i = 0; i < plan.style.size(); ++i) {
    weight_over_channels_sum +=
        plan.style[i].weight / static_cast<double>(targets.grams[i].size(1));
  }
  double expected_plain = 0.0;
  double expected_normalised = 0.0;
  for (std::size_t i = 0; i < plan.style.size(); ++i) {
    config_.style_layers = {{plan.style[i].name, 1.0}};
    const double alone = first_style_loss();
    ASSERT_GT(alone, 0.0) << plan.style[i].name;
    expected_plain += plan.style[i].weight * alone;
    expected_normalised += plan.style[i].weight / static_cast<double>(targets.grams[i].size(1)) /
                           weight_over_channels_sum * alone;
  }
  EXPECT_NEAR(plain, expected_plain, 1e-4 * expected_plain);
  EXPECT_NEAR(normalised, expected_normalised, 1e-4 * expected_normalised);
  EXPECT_GT(std::abs(expected_normalised - expected_plain), 1e-2 * expected_plain)
      << "the layers' losses are too alike here to tell the two weightings apart";
}

TEST_F(StyleTransferTest, normalized_gradients_still_lower_the_loss_with_lbfgs) {
  config_.normalize_gradients = true;
  config_.iterations = 15;
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  std::optional<LossBreakdown> first;
  const auto result = transfer.run(content_, targets, config_, {}, [&](const IterationReport& r) {
    if (!first) first = r.losses;
  });
  ASSERT_TRUE(first.has_value());
  EXPECT_LT(result.final_losses.total, 0.8 * first->total);
}

TEST_F(StyleTransferTest, adam_lowers_the_style_loss_and_stays_in_range) {
  config_.optimizer = OptimizerKind::kAdam;
  config_.iterations = 15;
  config_.learning_rate = 0.05;
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  std::optional<LossBreakdown> first;
  const auto result = transfer.run(content_, targets, config_, {}, [&](const IterationReport& r) {
    if (!first) first = r.losses;
  });
  ASSERT_TRUE(first.has_value());
  EXPECT_LT(result.final_losses.style, 0.8 * first->style);
  EXPECT_GE(result.image_rgb01.min().item<float>(), 0.0F);
  EXPECT_LE(result.image_rgb01.max().item<float>(), 1.0F);
}

TEST_F(StyleTransferTest, reports_losses_and_snapshots_at_the_requested_intervals) {
  config_.report_every_iters = 4;
  config_.snapshot_every_iters = 5;
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  std::vector<int> with_losses;
  std::vector<int> with_snapshots;
  std::vector<int> all;
  transfer.run(content_, targets, config_, {}, [&](const IterationReport& r) {
    all.push_back(r.iteration);
    EXPECT_EQ(r.total_iterations, 10);
    if (r.losses) with_losses.push_back(r.iteration);
    if (r.snapshot_rgb01.defined()) {
      with_snapshots.push_back(r.iteration);
      EXPECT_EQ(r.snapshot_rgb01.sizes(), content_.sizes());
    }
  });
  EXPECT_EQ(all, (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(with_losses, (std::vector<int>{4, 8, 10}));
  EXPECT_EQ(with_snapshots, (std::vector<int>{5, 10}));
}

TEST_F(StyleTransferTest, raised_cancel_flag_stops_before_the_first_iteration) {
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  std::atomic<bool> cancel{true};
  const auto result = transfer.run(content_, targets, config_, {}, {}, &cancel);
  EXPECT_TRUE(result.cancelled);
  EXPECT_EQ(result.iterations_run, 0);
  EXPECT_TRUE(torch::allclose(result.image_rgb01, content_));
}

TEST_F(StyleTransferTest, cancel_mid_run_keeps_the_work_done) {
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  std::atomic<bool> cancel{false};
  std::optional<double> first_style;
  const auto result = transfer.run(content_, targets, config_, {}, [&](const IterationReport& r) {
    if (!first_style) first_style = r.losses->style;
    if (r.iteration == 6) cancel = true;
  }, &cancel);
  EXPECT_TRUE(result.cancelled);
  EXPECT_EQ(result.iterations_run, 6);
  EXPECT_LT(result.final_losses.style, *first_style);
}

TEST_F(StyleTransferTest, blend_weights_select_and_mix_styles) {
  const auto transfer = engine();
  const auto other = torch::rand({1, 3, 24, 40}) * 0.3;
  const auto only_first = transfer.compute_style_targets({style_, other}, {1.0, 0.0});
  const auto single = transfer.compute_style_targets({style_}, {});
  const auto mixed = transfer.compute_style_targets({style_, other}, {1.0, 1.0});
  ASSERT_EQ(only_first.grams.size(), 5U);
  for (std::size_t i = 0; i < single.grams.size(); ++i) {
    EXPECT_TRUE(torch::allclose(only_first.grams[i], single.grams[i]));
    const auto other_gram = transfer.compute_style_targets({other}, {}).grams[i];
    EXPECT_TRUE(torch::allclose(mixed.grams[i], (single.grams[i] + other_gram) / 2, 1e-4, 1e-6));
  }
}

TEST_F(StyleTransferTest, noise_init_is_reproducible_from_the_seed) {
  config_.init = InitKind::kNoise;
  config_.iterations = 2;
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  config_.seed = 42;
  const auto a = transfer.run(content_, targets, config_);
  const auto b = transfer.run(content_, targets, config_);
  config_.seed = 43;
  const auto c = transfer.run(content_, targets, config_);
  EXPECT_TRUE(torch::equal(a.image_rgb01, b.image_rgb01));
  EXPECT_FALSE(torch::allclose(a.image_rgb01, c.image_rgb01));
}

TEST_F(StyleTransferTest, content_too_small_for_the_deepest_layer_is_an_input_error) {
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  EXPECT_ERROR_MSG(transfer.run(torch::rand({1, 3, 12, 40}), targets, config_), InputError,
                   "content image is 40x12 px but the layers up to relu5_1 need at least 16 px "
                   "on each side");
}

TEST_F(StyleTransferTest, init_image_must_match_the_content_size) {
  config_.init = InitKind::kImage;
  config_.init_path = "x.png";
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  EXPECT_ERROR_MSG(transfer.run(content_, targets, config_, torch::rand({1, 3, 16, 16})),
                   ConfigError, "init image must have the content image's size");
  // One of the right size is where the run starts: the first evaluation is of this flat grey,
  // which has no total variation (the content's ramp has some) and differs from the content.
  config_.iterations = 1;
  std::optional<LossBreakdown> first;
  transfer.run(content_, targets, config_, torch::full({1, 3, 32, 32}, 0.25),
               [&](const IterationReport& r) {
                 if (!first) first = r.losses;
               });
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->tv, 0.0);
  EXPECT_GT(first->content, 1e-6);
}

TEST_F(StyleTransferTest, recovers_from_divergence_and_keeps_a_finite_image) {
  config_.learning_rate = 1e30;  // the first real L-BFGS step overflows
  config_.iterations = 20;
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  std::vector<std::string> notices;
  const auto result = transfer.run(content_, targets, config_, {}, [&](const IterationReport& r) {
    if (!r.notice.empty()) notices.push_back(r.notice);
  });
  EXPECT_GE(result.recoveries, 1);
  ASSERT_FALSE(result.notices.empty());
  EXPECT_NE(result.notices.front().find("became NaN or infinite"), std::string::npos);
  EXPECT_FALSE(notices.empty()) << "recoveries are reported as they happen";
  EXPECT_EQ(result.iterations_run, 20);
  EXPECT_TRUE(std::isfinite(result.final_losses.total));
  EXPECT_TRUE(torch::isfinite(result.image_rgb01).all().item<bool>());
}

TEST_F(StyleTransferTest, tolerance_stops_a_converged_run_early) {
  config_.iterations = 200;
  config_.tolerance = 0.5;  // "less than 50 % better over 3 iterations" comes quickly
  config_.tolerance_window_iters = 3;
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  const auto result = transfer.run(content_, targets, config_);
  EXPECT_TRUE(result.converged);
  EXPECT_LT(result.iterations_run, 200);
  EXPECT_GT(result.iterations_run, 3);
  config_.tolerance = 0.0;
  config_.iterations = 12;
  const auto full = transfer.run(content_, targets, config_);
  EXPECT_FALSE(full.converged);
  EXPECT_EQ(full.iterations_run, 12);
}

TEST(iterate_average_test, is_the_bias_corrected_ema) {
  IterateAverage average(0.5);
  EXPECT_FALSE(average.defined());
  average.update(torch::full({2}, 4.0));
  EXPECT_TRUE(torch::allclose(average.value(), torch::full({2}, 4.0)));  // bias-corrected
  average.update(torch::full({2}, 1.0));
  // (0.5*0.5*4 + 0.5*1) / (1 - 0.25) = 2
  EXPECT_TRUE(torch::allclose(average.value(), torch::full({2}, 2.0)));
  IterateAverage last(0.0);
  last.update(torch::full({2}, 4.0));
  last.update(torch::full({2}, 1.0));
  EXPECT_TRUE(torch::allclose(last.value(), torch::full({2}, 1.0)));
}

TEST_F(StyleTransferTest, adam_returns_the_average_of_its_iterates) {
  config_.optimizer = OptimizerKind::kAdam;
  config_.learning_rate = 0.05;
  config_.iterations = 8;
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  config_.average_decay = 0.0;
  const auto last = transfer.run(content_, targets, config_);
  config_.average_decay = 0.9;
  const auto averaged = transfer.run(content_, targets, config_);
  // The average lags behind the last iterate, towards the content it started from.
  EXPECT_LT((averaged.image_rgb01 - content_).abs().mean().item<float>(),
            (last.image_rgb01 - content_).abs().mean().item<float>());
  EXPECT_TRUE(std::isfinite(averaged.final_losses.total));
}

TEST(scale_ladder_test, sizes_grow_by_the_step_to_the_full_size) {
  EXPECT_EQ(scale_ladder(512, 0, 2.0), (std::vector<int>{512}));
  EXPECT_EQ(scale_ladder(512, 512, 2.0), (std::vector<int>{512}));
  EXPECT_EQ(scale_ladder(512, 128, 2.0), (std::vector<int>{128, 256, 512}));
  EXPECT_EQ(scale_ladder(500, 128, 2.0), (std::vector<int>{128, 256, 500}));
  EXPECT_EQ(scale_ladder(1024, 256, 1.41421356), (std::vector<int>{256, 362, 512, 724, 1024}));
  EXPECT_EQ(style_side_px(512, 0.5), 256);
  EXPECT_EQ(style_side_px(20, 0.1), 16);
}

TEST_F(StyleTransferTest, coarse_to_fine_runs_each_scale_and_returns_full_size) {
  content_ = torch::rand({1, 3, 48, 64});
  config_.size_px = 64;
  config_.min_size_px = 16;
  config_.iterations = 3;
  config_.initial_iterations = 5;
  const auto transfer = engine();
  std::vector<int> sides_requested;
  std::map<int, StyleTargets> cache;
  auto guides_for_side = [&](int side) {
    sides_requested.push_back(side);
    if (cache.count(side) == 0) {
      cache.emplace(side, transfer.compute_style_targets({resize_longest_side(style_, side)}, {}));
    }
    return std::vector<StyleGuide>{{&cache.at(side), {}, 1.0}};
  };
  std::vector<std::tuple<int, int, int, int>> seen;  // scale, iteration, width, height
  const auto result = transfer.run_coarse_to_fine(content_, guides_for_side, config_, {},
                                                  [&](const IterationReport& r) {
    EXPECT_EQ(r.scale_count, 2);
    seen.emplace_back(r.scale_index, r.iteration, r.width_px, r.height_px);
  });
  // 16x12 px would be too small for relu5_1 (four poolings need 16 px a side): skipped.
  EXPECT_EQ(sides_requested, (std::vector<int>{32, 64}));
  EXPECT_EQ(result.iterations_run, 5 + 3);
  EXPECT_EQ(result.image_rgb01.sizes(), content_.sizes());
  ASSERT_EQ(seen.size(), 8U);
  EXPECT_EQ(seen.front(), std::make_tuple(0, 1, 32, 24));
  EXPECT_EQ(seen[5], std::make_tuple(1, 1, 64, 48));
  EXPECT_EQ(seen.back(), std::make_tuple(1, 3, 64, 48));
}

TEST_F(StyleTransferTest, coarse_to_fine_with_one_scale_is_a_plain_run) {
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  const auto plain = transfer.run(content_, targets, config_);
  const auto ladder = transfer.run_coarse_to_fine(
      content_, [&](int) { return std::vector<StyleGuide>{{&targets, {}, 1.0}}; }, config_);
  EXPECT_TRUE(torch::allclose(plain.image_rgb01, ladder.image_rgb01));
  EXPECT_EQ(plain.iterations_run, ladder.iterations_run);
}

TEST_F(StyleTransferTest, coarse_to_fine_cancelled_early_still_returns_full_size) {
  content_ = torch::rand({1, 3, 48, 64});
  config_.size_px = 64;
  config_.min_size_px = 32;
  const auto transfer = engine();
  const auto targets16 = transfer.compute_style_targets({resize_longest_side(style_, 32)}, {});
  std::atomic<bool> cancel{false};
  const auto result = transfer.run_coarse_to_fine(
      content_, [&](int) { return std::vector<StyleGuide>{{&targets16, {}, 1.0}}; }, config_,
      {},
      [&](const IterationReport& r) {
        if (r.iteration == 2) cancel = true;
      },
      &cancel);
  EXPECT_TRUE(result.cancelled);
  EXPECT_EQ(result.iterations_run, 2);
  EXPECT_EQ(result.image_rgb01.sizes(), content_.sizes());
}

TEST(StyleTransferRealWeights, RealWeights_result_moves_towards_the_style) {
  const auto model_path = test::real_model_path();
  const auto content_path = test::shared_image("chelsea.png");
  const auto style_path = test::shared_image("starry_night.jpg");
  if (!model_path || !content_path || !style_path) GTEST_SKIP() << "no ../shared data";
  auto model = VggFeatures::load(*model_path, c10::Device(c10::kCPU));
  auto stylize = [&](Look look, LossBreakdown* at_start) {
    StyleConfig config;
    apply_look(look, config);
    config.size_px = 96;
    config.min_size_px = 0;
    config.iterations = 40;
    config.report_every_iters = 1;
    const StyleTransfer transfer(model, plan_layers(model.layer_names(), config),
                                 c10::Device(c10::kCPU));
    const auto content = load_image_rgb01(*content_path, config.size_px);
    const auto targets = transfer.compute_style_targets({load_image_rgb01(*style_path, 96)}, {});
    std::optional<LossBreakdown> first;
    auto result = transfer.run(content, targets, config, {}, [&](const IterationReport& r) {
      if (!first) first = r.losses;
    });
    EXPECT_TRUE(first.has_value());
    if (first) *at_start = *first;
    // The pixels really changed.
    EXPECT_GT((result.image_rgb01 - content).abs().mean().item<float>(), 0.02F);
    return result.final_losses;
  };
  LossBreakdown subtle_start;
  const LossBreakdown subtle = stylize(Look::kSubtle, &subtle_start);
  // The style distance falls to well under half of the untouched photo's ...
  EXPECT_LT(subtle.style, 0.3 * subtle_start.style);
  // ... while the image stays recognisably the photo (relative content error below 1).
  EXPECT_LT(subtle.content / kSubtleLook.content_weight, 1.0);
  // The painterly look goes further toward the painting and further from the photo.
  LossBreakdown painterly_start;
  const LossBreakdown painterly = stylize(Look::kPainterly, &painterly_start);
  EXPECT_LT(painterly.style / painterly_start.style, 0.5 * subtle.style / subtle_start.style);
  EXPECT_GT(painterly.content / kPainterlyLook.content_weight,
            subtle.content / kSubtleLook.content_weight);
}

TEST_F(StyleTransferTest, says_so_when_no_step_lowers_the_loss) {
  // All weights zero: the loss is 0 everywhere, so no step can lower it.
  config_.content_weight = 0.0;
  config_.style_weight = 0.0;
  config_.tv_weight = 0.0;
  config_.iterations = 3;
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  const auto result = transfer.run(content_, targets, config_);
  ASSERT_FALSE(result.notices.empty());
  EXPECT_EQ(result.notices.back(),
            "no step lowered the loss below the start image's in 3 iterations: the result is the "
            "start image (is the learning rate too large?)");
  // An ordinary run says nothing of the kind.
  config_.style_weight = 20.0;
  EXPECT_TRUE(transfer.run(content_, targets, config_).notices.empty());
}

TEST_F(StyleTransferTest, style_targets_hold_only_what_their_loss_needs) {
  const auto transfer = engine();
  const auto gram = transfer.compute_style_targets({style_}, {}, StyleLossKind::kGram);
  EXPECT_EQ(gram.gram_mean_squares.size(), gram.grams.size());
  EXPECT_TRUE(gram.covariance_sqrts.empty()) << "no eigendecomposition for the Gram loss";
  EXPECT_TRUE(gram.covariances.empty());
  const auto mean_cov = transfer.compute_style_targets({style_}, {}, StyleLossKind::kMeanCov);
  EXPECT_EQ(mean_cov.covariance_mean_squares.size(), mean_cov.grams.size());
  EXPECT_TRUE(mean_cov.covariance_sqrts.empty());
  const auto w2 = transfer.compute_style_targets({style_}, {}, StyleLossKind::kW2);
  EXPECT_EQ(w2.covariance_sqrts.size(), w2.grams.size());
  EXPECT_EQ(w2.second_moment_traces.size(), w2.grams.size());
  // Targets of one loss cannot be run with another.
  config_.style_loss = StyleLossKind::kW2;
  EXPECT_EQ(test::error_of([&] { transfer.run(content_, gram, config_); }),
            "style targets were computed for the gram loss, not w2");
}

}  // namespace
}  // namespace stylize
