#include <stylize/config.hpp>
#include <stylize/errors.hpp>

#include <gtest/gtest.h>

namespace stylize {
namespace {

std::string config_error(const StyleConfig& config, std::size_t styles = 1) {
  try {
    validate(config, styles);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

std::string layer_error(const std::string& text) {
  try {
    parse_layer_list(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(config_test, defaults_are_valid) { EXPECT_NO_THROW(validate(StyleConfig{}, 1)); }

TEST(config_test, learning_rate_default_depends_on_optimizer) {
  StyleConfig config;
  EXPECT_DOUBLE_EQ(config.effective_learning_rate(), kDefaultLbfgsLearningRate);
  config.optimizer = OptimizerKind::kAdam;
  EXPECT_DOUBLE_EQ(config.effective_learning_rate(), kDefaultAdamLearningRate);
  config.learning_rate = 0.5;
  EXPECT_DOUBLE_EQ(config.effective_learning_rate(), 0.5);
}

TEST(config_test, rejects_bad_values_with_exact_messages) {
  StyleConfig config;
  config.size_px = 8;
  EXPECT_EQ(config_error(config), "invalid size 8: must be from 16 to 16384 px");
  config = {};
  config.iterations = 0;
  EXPECT_EQ(config_error(config), "invalid iterations 0: must be from 1 to 1000000");
  config = {};
  config.style_weight = -1;
  EXPECT_EQ(config_error(config), "invalid style weight -1: must be a finite number >= 0");
  config = {};
  config.learning_rate = 0.0;
  EXPECT_EQ(config_error(config), "invalid learning rate 0: must be > 0");
  config = {};
  config.style_scale = 0.0;
  EXPECT_EQ(config_error(config), "invalid style scale 0: must be > 0 and at most 10");
  config = {};
  config.lbfgs_history = 0;
  EXPECT_EQ(config_error(config), "invalid lbfgs history 0: must be from 1 to 1000");
}

TEST(config_test, style_blend_must_match_style_count) {
  StyleConfig config;
  config.style_blend = {1.0, 2.0};
  EXPECT_EQ(config_error(config, 3), "got 2 style blend weights for 3 style images");
  EXPECT_EQ(config_error(config, 2), "no error");
  config.style_blend = {0.0, 0.0};
  EXPECT_EQ(config_error(config, 2), "invalid style blend weights: they must not all be zero");
}

TEST(config_test, requires_a_style) { EXPECT_EQ(config_error(StyleConfig{}, 0), "no style image given"); }

TEST(config_test, parses_layer_lists_with_and_without_weights) {
  const auto layers = parse_layer_list("relu1_1:2, relu2_1 ,relu3_1:0.5");
  const std::vector<LayerWeight> expected{{"relu1_1", 2.0}, {"relu2_1", 1.0}, {"relu3_1", 0.5}};
  EXPECT_EQ(layers, expected);
}

TEST(config_test, rejects_malformed_layer_lists) {
  EXPECT_EQ(layer_error("relu1_1:abc"), "invalid weight 'abc' for layer relu1_1: must be a number >= 0");
  EXPECT_EQ(layer_error("relu1_1:-2"), "invalid weight '-2' for layer relu1_1: must be a number >= 0");
  EXPECT_EQ(layer_error("relu1_1,,relu2_1"), "invalid layer list 'relu1_1,,relu2_1': empty layer name");
  EXPECT_EQ(layer_error(":3"), "invalid layer list ':3': empty layer name");
}

}  // namespace
}  // namespace stylize
