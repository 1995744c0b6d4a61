#include <stylize/errors.hpp>
#include <stylize/layer_plan.hpp>

#include <algorithm>
#include <sstream>

namespace stylize {
namespace {

std::string join_relu_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (name.rfind("relu", 0) != 0) continue;  // list the usable (ReLU) layers only
    out += (out.empty() ? "" : " ") + name;
  }
  return out;
}

std::vector<PlannedLayer> resolve(const std::vector<LayerWeight>& wanted,
                                  const std::vector<std::string>& names, const char* role) {
  std::vector<PlannedLayer> planned;
  double sum = 0.0;
  for (const auto& layer : wanted) {
    const auto found = std::find(names.begin(), names.end(), layer.layer);
    if (found == names.end()) {
      throw ConfigError(std::string("unknown ") + role + " layer '" + layer.layer +
                        "': the model has " + join_relu_names(names));
    }
    planned.push_back({layer.layer, static_cast<int>(found - names.begin()), layer.weight});
    sum += layer.weight;
  }
  if (sum <= 0.0) {
    throw ConfigError(std::string("invalid ") + role + " layer weights: they must not all be zero");
  }
  for (auto& layer : planned) layer.weight /= sum;
  return planned;
}

bool has(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

/// relu4_2, or the deepest reluB_2 the model has.
std::vector<LayerWeight> default_content_layers(const std::vector<std::string>& names,
                                                bool& fell_back) {
  std::vector<LayerWeight> content;
  for (int block = 4; block >= 1 && content.empty(); --block) {
    const std::string name = "relu" + std::to_string(block) + "_2";
    if (has(names, name)) content.push_back({name, 1.0});
  }
  if (content.empty() || content.front().layer != "relu4_2") fell_back = true;
  if (content.empty()) {
    throw ConfigError("the model has no default content layer (reluB_2): it has " +
                      join_relu_names(names) + "; pass --content-layers");
  }
  return content;
}

/// reluK_1 for every block K <= 5 the model has.
std::vector<LayerWeight> default_style_layers(const std::vector<std::string>& names,
                                              bool& fell_back) {
  std::vector<LayerWeight> style;
  for (int block = 1; block <= 5; ++block) {
    const std::string name = "relu" + std::to_string(block) + "_1";
    if (has(names, name)) style.push_back({name, 1.0});
  }
  if (!has(names, "relu5_1")) fell_back = true;
  if (style.empty()) {
    throw ConfigError("the model has no default style layer (reluB_1): it has " +
                      join_relu_names(names) + "; pass --style-layers");
  }
  return style;
}

}  // namespace

int LayerPlan::deepest_index() const {
  int deepest = 0;
  for (const auto& layer : content) deepest = std::max(deepest, layer.index);
  for (const auto& layer : style) deepest = std::max(deepest, layer.index);
  return deepest;
}

std::string LayerPlan::describe() const {
  std::ostringstream out;
  out << "content";
  for (const auto& layer : content) out << ' ' << layer.name;
  out << "; style";
  for (const auto& layer : style) out << ' ' << layer.name;
  return out.str();
}

LayerPlan plan_layers(const std::vector<std::string>& names, const StyleConfig& config) {
  LayerPlan plan;
  plan.used_model_defaults = config.content_layers.empty() || config.style_layers.empty();
  const auto content = config.content_layers.empty()
                           ? default_content_layers(names, plan.fell_back_to_shallower)
                           : config.content_layers;
  const auto style = config.style_layers.empty()
                         ? default_style_layers(names, plan.fell_back_to_shallower)
                         : config.style_layers;
  plan.content = resolve(content, names, "content");
  plan.style = resolve(style, names, "style");
  return plan;
}

std::vector<double> effective_layer_weights(const std::vector<PlannedLayer>& layers,
                                            const std::vector<std::int64_t>& channels,
                                            bool normalize_weights) {
  std::vector<double> weights;
  double sum = 0.0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    weights.push_back(layers[i].weight /
                      (normalize_weights ? static_cast<double>(channels.at(i)) : 1.0));
    sum += weights.back();
  }
  for (auto& w : weights) w /= sum;
  return weights;
}

}  // namespace stylize
