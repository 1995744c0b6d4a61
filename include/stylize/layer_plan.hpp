#pragma once

#include <stylize/config.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace stylize {

/// One layer chosen for a loss: its name, index in the model, and normalised weight.
struct PlannedLayer {
  std::string name;
  int index = 0;
  double weight = 1.0;
};

/// The layers a run uses, resolved against a model's layer names.
struct LayerPlan {
  std::vector<PlannedLayer> content;
  std::vector<PlannedLayer> style;
  bool used_model_defaults = false;     ///< true when the config named no layers
  bool fell_back_to_shallower = false;  ///< the model lacks relu4_2/relu5_1 (truncated model)
  [[nodiscard]] int deepest_index() const;
  [[nodiscard]] std::string describe() const;  ///< e.g. "content relu4_2; style relu1_1 ..."
};

/// The classic defaults (content relu4_2; style relu1_1..relu5_1) where the model has them; for
/// a truncated model, the deepest comparable layers it has (content reluB_2 of the deepest block
/// B <= 4 that has one, style reluK_1 for every block K <= 5). Weights are normalised to sum to 1
/// per loss. Throws ConfigError listing the available layers when a requested one is missing.
LayerPlan plan_layers(const std::vector<std::string>& layer_names, const StyleConfig& config);

/// The weights a run gives its layers: the plan's, or with normalize_weights each divided by the
/// layer's channel count (neural-style-pt's -normalize_weights), renormalised to sum 1.
std::vector<double> effective_layer_weights(const std::vector<PlannedLayer>& layers,
                                            const std::vector<std::int64_t>& channels,
                                            bool normalize_weights);

}  // namespace stylize
