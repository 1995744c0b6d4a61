#include <stylize/errors.hpp>
#include <stylize/memory.hpp>
#include <stylize/objective.hpp>
#include <stylize/style_targets.hpp>
#include <stylize/style_transfer.hpp>
#include <stylize/vgg_features.hpp>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "test_support.hpp"

namespace stylize {
namespace {

/// The random full VGG-19 up to relu2_1 (fast; one pooling: windows align to 2 px); images
/// larger than one 64 px tile: with 8 px overlaps, 48 px cores.
class TiledTransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    model_ = std::make_unique<VggFeatures>(
        VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU)));
    content_ = torch::rand({1, 3, 96, 128});
    style_ = torch::rand({1, 3, 64, 64});
    config_.size_px = 128;
    config_.iterations = 4;
    config_.report_every_iters = 1;
    config_.tile_size_px = 64;
    config_.tile_overlap_px = 8;
    config_.style_layers = {{"relu1_1", 1.0}, {"relu2_1", 1.0}};
    config_.content_layers = {{"relu2_1", 1.0}};
  }

  StyleTransfer engine() const {
    return StyleTransfer(*model_, plan_layers(model_->layer_names(), config_),
                         c10::Device(c10::kCPU));
  }

  std::unique_ptr<VggFeatures> model_;
  test::ScopedThreadCount threads_;
  at::Tensor content_;
  at::Tensor style_;
  StyleConfig config_;
};

TEST_F(TiledTransferTest, one_tile_covering_the_image_is_the_untiled_run) {
  config_.tile_size_px = 128;
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  const std::vector<StyleGuide> guides{{&targets, {}, 1.0}};
  const auto plain = transfer.run(content_, guides, config_);
  const auto tiled = transfer.run_tiled(content_, guides, config_);
  EXPECT_TRUE(torch::equal(plain.image_rgb01, tiled.image_rgb01));
  EXPECT_EQ(plain.iterations_run, tiled.iterations_run);
}

TEST_F(TiledTransferTest, every_tile_of_every_pass_is_optimised_and_reported) {
  const auto transfer = engine();
  const auto passes = transfer.tile_passes(96, 128, config_);
  ASSERT_EQ(passes.size(), 2U);  // two passes of two iterations
  const std::size_t tiles = passes[0].size() + passes[1].size();
  EXPECT_EQ(passes[0].size(), 2U * 3U);  // 48 px cores: 2 rows, 3 columns
  EXPECT_EQ(passes[1].size(), 3U * 4U);  // shifted by 24 px: one more row and column
  const auto targets = transfer.compute_style_targets({style_}, {});
  std::set<int> tiles_seen;
  int last_iteration = 0;
  std::optional<double> first_style;
  const auto result =
      transfer.run_tiled(content_, {{&targets, {}, 1.0}}, config_, {},
                         [&](const IterationReport& r) {
                           EXPECT_EQ(r.tile_count, static_cast<int>(tiles));
                           EXPECT_EQ(r.total_iterations, 2 * static_cast<int>(tiles));
                           EXPECT_EQ(r.iteration, last_iteration + 1);
                           EXPECT_EQ(r.width_px, 128);
                           last_iteration = r.iteration;
                           tiles_seen.insert(r.tile_index);
                           if (!first_style) first_style = r.losses->style;
                         });
  EXPECT_EQ(tiles_seen.size(), tiles);
  EXPECT_EQ(result.iterations_run, 2 * static_cast<int>(tiles));
  EXPECT_EQ(result.image_rgb01.sizes(), content_.sizes());
  EXPECT_FALSE(result.cancelled);
  EXPECT_LT(result.final_losses.style, *first_style);
  EXPECT_GE(result.image_rgb01.min().item<float>(), 0.0F);
  EXPECT_LE(result.image_rgb01.max().item<float>(), 1.0F);
  // Every pixel moved from the start (the content): no tile was left out.
  const auto moved = (result.image_rgb01 - content_).abs().sum(1);
  EXPECT_GT(moved.min().item<float>(), 0.0F);
}

TEST_F(TiledTransferTest, cancelled_mid_tile_keeps_the_tiles_done_and_the_rest_as_started) {
  config_.tile_passes = 1;
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  std::atomic<bool> cancel{false};
  const auto result = transfer.run_tiled(content_, {{&targets, {}, 1.0}}, config_, {},
                                         [&](const IterationReport& r) {
                                           if (r.tile_index == 2 && r.iteration == 10) {
                                             cancel = true;
                                           }
                                         },
                                         &cancel);
  EXPECT_TRUE(result.cancelled);
  EXPECT_EQ(result.iterations_run, 10);  // tiles 0 and 1: 4 each; tile 2: 2
  EXPECT_EQ(result.image_rgb01.sizes(), content_.sizes());
  const auto changed = (result.image_rgb01 - content_).abs().sum(1)[0];
  // The first row (cores 0-48, windows to 56) is done; the second row's own pixels untouched.
  EXPECT_GT(changed.slice(0, 0, 48).min().item<float>(), 0.0F);
  EXPECT_EQ(changed.slice(0, 56, 96).max().item<float>(), 0.0F);
}

TEST_F(TiledTransferTest, snapshots_are_of_the_whole_image) {
  config_.snapshot_every_iters = 8;
  config_.tile_passes = 1;
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  std::vector<int> snapshots_at;
  transfer.run_tiled(content_, {{&targets, {}, 1.0}}, config_, {}, [&](const IterationReport& r) {
    if (!r.snapshot_rgb01.defined()) return;
    EXPECT_EQ(r.snapshot_rgb01.sizes(), content_.sizes());
    snapshots_at.push_back(r.iteration);
  });
  // 6 tiles of 4 iterations: after tiles 2, 4 and 6.
  EXPECT_EQ(snapshots_at, (std::vector<int>{8, 16, 24}));
}

TEST_F(TiledTransferTest, coarse_to_fine_tiles_only_the_scales_larger_than_a_tile) {
  config_.min_size_px = 64;
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  std::vector<std::pair<int, int>> scale_tiles;  // scale, tile count
  std::vector<double> fractions;
  const auto result = transfer.run_coarse_to_fine(
      content_, [&](int) { return std::vector<StyleGuide>{{&targets, {}, 1.0}}; }, config_, {},
      [&](const IterationReport& r) {
        if (scale_tiles.empty() || scale_tiles.back().first != r.scale_index) {
          scale_tiles.emplace_back(r.scale_index, r.tile_count);
        }
        fractions.push_back(r.run_done_fraction);
      });
  EXPECT_EQ(scale_tiles, (std::vector<std::pair<int, int>>{{0, 1}, {1, 18}}));
  EXPECT_EQ(result.image_rgb01.sizes(), content_.sizes());
  // The run's share of work done grows to 1 over both scales.
  EXPECT_TRUE(std::is_sorted(fractions.begin(), fractions.end()));
  EXPECT_DOUBLE_EQ(fractions.back(), 1.0);
  EXPECT_LT(fractions[3], 0.25);  // the 64 px scale is a fifth of the work
}

TEST_F(TiledTransferTest, a_tile_size_without_a_core_fails_before_any_work) {
  config_.tile_overlap_px = 31;  // rounded up to 32 px margins: nothing left of 64 px tiles
  const auto transfer = engine();
  const auto targets = transfer.compute_style_targets({style_}, {});
  int reports = 0;
  EXPECT_THROW(transfer.run_coarse_to_fine(
                   content_, [&](int) { return std::vector<StyleGuide>{{&targets, {}, 1.0}}; },
                   config_, {}, [&](const IterationReport&) { ++reports; }),
               ConfigError);
  EXPECT_EQ(reports, 0);
}

TEST_F(TiledTransferTest, style_targets_read_in_windows_match_the_whole_images) {
  // Layers up to relu2_1 see at most 10 px around a pixel: a 16 px margin makes the windows'
  // cores exact; the Gram matrices then differ by rounding only.
  config_.style_layers = {{"relu1_1", 1.0}, {"relu2_1", 1.0}};
  config_.content_layers = {{"relu2_1", 1.0}};
  const auto plan = plan_layers(model_->layer_names(), config_);
  const auto style = torch::rand({1, 3, 90, 150});
  const auto region = (torch::rand({1, 1, 90, 150}) > 0.5).to(at::kFloat);
  for (const bool masked : {false, true}) {
    SCOPED_TRACE(masked ? "region" : "whole painting");
    const std::vector<at::Tensor> regions =
        masked ? std::vector<at::Tensor>{region} : std::vector<at::Tensor>{};
    for (const auto loss : {StyleLossKind::kGram, StyleLossKind::kMeanCov}) {
      const auto whole = compute_style_targets(*model_, plan, c10::kCPU, {style}, {}, loss,
                                               regions);
      const auto windows = compute_style_targets(*model_, plan, c10::kCPU, {style}, {}, loss,
                                                 regions, {64, 16});
      for (std::size_t l = 0; l < whole.grams.size(); ++l) {
        EXPECT_TRUE(torch::allclose(windows.grams[l], whole.grams[l], 1e-4, 1e-6)) << l;
        if (loss == StyleLossKind::kMeanCov) {
          EXPECT_TRUE(torch::allclose(windows.means[l], whole.means[l], 1e-4, 1e-6)) << l;
        }
      }
    }
  }
}

TEST(tiled_memory_test, a_tiled_estimate_grows_with_the_image_only_by_its_buffers) {
  auto model = VggFeatures::load(test::random_model_path(), c10::kCPU);
  const StyleConfig config;
  const auto plan = plan_layers(model.layer_names(), config);
  const auto& names = model.layer_names();
  const auto whole = estimate_memory(names, plan, 2048, 2048, config, 0).total_bytes();
  const auto small = estimate_tiled_memory(names, plan, 1024, 1024, 512, config, 0);
  const auto large = estimate_tiled_memory(names, plan, 2048, 2048, 512, config, 0);
  EXPECT_LT(large.total_bytes(), whole / 4);
  EXPECT_EQ(large.activation_bytes, small.activation_bytes);
  EXPECT_EQ(large.whole_image_bytes, 4 * small.whole_image_bytes);
  EXPECT_EQ(large.total_bytes() - small.total_bytes(),
            large.whole_image_bytes - small.whole_image_bytes);
  // The largest tile that fits does, one px more does not.
  const std::uint64_t budget = 1500ULL << 20U;
  const auto tile = largest_fitting_tile(names, plan, 2048, 2048, 64, config, 0, budget);
  ASSERT_TRUE(tile.has_value());
  EXPECT_LE(estimate_tiled_memory(names, plan, 2048, 2048, *tile, config, 0).total_bytes(), budget);
  EXPECT_GT(estimate_tiled_memory(names, plan, 2048, 2048, *tile + 1, config, 0).total_bytes(),
            budget);
  EXPECT_FALSE(largest_fitting_tile(names, plan, 2048, 2048, 64, config, 0, 100ULL << 20U));
}

}  // namespace
}  // namespace stylize

namespace stylize {
namespace {

TEST_F(TiledTransferTest, a_window_with_its_context_gets_the_whole_images_gradient) {
  // The whole image's objective and a window's (its context from the whole image's sums):
  // inside the window, away from its edges by more than relu2_1's reach (~10 px), every
  // pixel's gradient is the same. TV's normalisation differs slightly: left out.
  config_.tv_weight = 0.0;
  const auto plan = plan_layers(model_->layer_names(), config_);
  const auto targets = compute_style_targets(*model_, plan, c10::kCPU, {style_}, {},
                                             StyleLossKind::kGram);
  const std::vector<StyleGuide> guides{{&targets, {}, 1.0}};
  const auto image = torch::rand({1, 3, 96, 128});
  auto gradient_of = [&](const Objective& objective, const at::Tensor& x) {
    auto leaf = x.clone().requires_grad_(true);
    objective.evaluate(leaf).total.backward();
    return leaf.grad();
  };
  const Objective whole(*model_, plan, content_, guides, config_);
  const auto whole_gradient = gradient_of(whole, image);

  const std::vector<int> style_indices{plan.style[0].index, plan.style[1].index};
  auto second_sums = [&](const at::Tensor& x) {
    torch::NoGradGuard no_grad;
    std::vector<at::Tensor> sums;
    for (const auto& f : model_->extract(x, style_indices)) {
      const auto flat = f.reshape({1, f.size(1), -1});
      sums.push_back(at::bmm(flat, flat.transpose(1, 2)));
    }
    return sums;
  };
  auto pixels_at = [&](const at::Tensor& x) {
    torch::NoGradGuard no_grad;
    std::vector<double> counts;
    for (const auto& f : model_->extract(x, style_indices)) {
      counts.push_back(static_cast<double>(f.size(2) * f.size(3)));
    }
    return counts;
  };
  const auto window_image = image.slice(2, 16, 80).slice(3, 32, 96).contiguous();
  const auto whole_sums = second_sums(image);
  const auto window_sums = second_sums(window_image);
  const auto whole_pixels = pixels_at(image);
  const auto window_pixels = pixels_at(window_image);
  WindowContext context;
  for (std::size_t l = 0; l < whole_sums.size(); ++l) {
    context.gram_rest.push_back((whole_sums[l] - window_sums[l]) / whole_pixels[l]);
    context.layer_share.push_back(window_pixels[l] / whole_pixels[l]);
  }
  for (const auto& f : model_->extract(content_, {plan.content[0].index})) {
    context.content_mean_squares.push_back(f.detach().square().mean());
  }
  context.pixel_share = 64.0 * 64.0 / (96.0 * 128.0);
  const auto window_content = content_.slice(2, 16, 80).slice(3, 32, 96).contiguous();
  const Objective window(*model_, plan, window_content, guides, config_, &context);
  const auto window_gradient = gradient_of(window, window_image);
  const auto inner_whole = whole_gradient.slice(2, 32, 64).slice(3, 48, 80);
  const auto inner_window = window_gradient.slice(2, 16, 48).slice(3, 16, 48);
  EXPECT_TRUE(torch::allclose(inner_window, inner_whole, 1e-3, 1e-9))
      << (inner_window - inner_whole).abs().max().item<float>() << " against "
      << inner_whole.abs().max().item<float>();
  // Without the context the window's objective is its own: another gradient.
  const Objective alone(*model_, plan, window_content, guides, config_);
  const auto alone_gradient = gradient_of(alone, window_image).slice(2, 16, 48).slice(3, 16, 48);
  EXPECT_FALSE(torch::allclose(alone_gradient, inner_whole, 1e-2, 1e-9));
}

}  // namespace
}  // namespace stylize

namespace stylize {
namespace {

TEST_F(TiledTransferTest, the_whole_images_style_loss_it_reports_is_the_results) {
  // The whole image's statistics, gathered window by window, give the style loss an untiled
  // objective finds on the returned image.
  config_.iterations = 6;
  config_.tv_weight = 0.0;
  for (const auto loss : {StyleLossKind::kGram, StyleLossKind::kMeanCov}) {
    SCOPED_TRACE(name_of(loss));
    config_.style_loss = loss;
    const auto transfer = engine();
    const auto targets = transfer.compute_style_targets({style_}, {}, loss);
    const std::vector<StyleGuide> guides{{&targets, {}, 1.0}};
    const auto result = transfer.run_tiled(content_, guides, config_);
    const Objective whole(*model_, transfer.plan(), content_, guides, config_);
    torch::NoGradGuard no_grad;
    const auto actual = whole.evaluate(result.image_rgb01).to_host();
    EXPECT_NEAR(result.final_losses.style, actual.style, 1e-3 * actual.style);
    // Content is reported per window pixel, averaged: near the whole image's.
    EXPECT_NEAR(result.final_losses.content, actual.content, 0.2 * actual.content);
  }
}

}  // namespace
}  // namespace stylize
