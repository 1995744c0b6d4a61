#include <stylize/channel_objective.hpp>
#include <stylize/errors.hpp>
#include <stylize/losses.hpp>
#include <stylize/vgg_features.hpp>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "test_support.hpp"

namespace stylize {
namespace {

class ChannelObjectiveTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(1); }
  VggFeatures model_ = VggFeatures::load(test::random_model_path(), c10::Device(c10::kCPU));
  int layer_ = *model_.index_of("relu2_1");
  at::Tensor reference_ = torch::full({1, 3, 32, 32}, 0.5) + torch::randn({1, 3, 32, 32}) * 0.05;
  test::ScopedThreadCount threads_;
};

TEST_F(ChannelObjectiveTest, loss_is_minus_the_channels_mean_activation_in_reference_units) {
  const ChannelObjective objective(model_, layer_, 3, reference_, 0.5, 0, 1);
  const auto image = torch::rand({1, 3, 32, 32});
  torch::NoGradGuard no_grad;
  const auto features = model_.extract(image, {layer_}).front();
  const double unit = model_.extract(reference_, {layer_}).front().mean().item<double>();
  const double expected = features.select(1, 3).mean().item<double>() / unit;
  const auto losses = objective.evaluate(image).to_host();
  EXPECT_NEAR(losses.activation, -expected, 1e-5 * std::abs(expected));
  EXPECT_NEAR(objective.activation(image), expected, 1e-5 * std::abs(expected));
  EXPECT_NEAR(losses.tv, 0.5 * total_variation(image).item<double>(), 1e-7);
  EXPECT_NEAR(losses.total, losses.activation + losses.tv, 1e-6);
  EXPECT_EQ(losses.content, 0.0);
  EXPECT_FALSE(objective.stochastic());
}

TEST_F(ChannelObjectiveTest, jitter_makes_it_stochastic_and_its_gradient_raises_the_activation) {
  // A channel the grey start already excites a little (a dead one has no gradient to follow).
  std::int64_t active = 0;
  {
    torch::NoGradGuard no_grad;
    active = model_.extract(reference_, {layer_}).front().mean({0, 2, 3}).argmax().item<std::int64_t>();
  }
  const ChannelObjective objective(model_, layer_, active, reference_, 0.0, 2, 7);
  EXPECT_TRUE(objective.stochastic());
  auto image = reference_.clone().requires_grad_(true);
  const double before = objective.activation(image.detach());
  for (int step = 0; step < 5; ++step) {
    objective.evaluate(image).total.backward();
    torch::NoGradGuard no_grad;
    image -= 0.05 * image.grad().sign();
    image.grad().zero_();
  }
  EXPECT_GT(objective.activation(image.detach()), before * 1.5);
}

TEST_F(ChannelObjectiveTest, a_channel_the_layer_lacks_is_named) {
  EXPECT_ERROR_MSG(ChannelObjective(model_, layer_, 128, reference_, 0.0, 0, 1), ConfigError,
                   "channel 128 out of range: relu2_1 has 128 channels (0-127)");
}

}  // namespace
}  // namespace stylize
