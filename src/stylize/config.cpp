#include <stylize/config.hpp>
#include <stylize/errors.hpp>

#include <cmath>
#include <sstream>

namespace stylize {
namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw ConfigError(message);
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

void require_non_negative(double value, const char* name) {
  require(std::isfinite(value) && value >= 0.0,
          std::string("invalid ") + name + " " + format_number(value) +
              ": must be a finite number >= 0");
}

}  // namespace

namespace {

void require_int_range(int value, int low, int high, const char* name, const char* unit = "") {
  require(value >= low && value <= high, std::string("invalid ") + name + " " +
                                             std::to_string(value) + ": must be from " +
                                             std::to_string(low) + " to " + std::to_string(high) +
                                             unit);
}

void require_at_most(double value, double high, const char* name) {
  require(value <= high, std::string("invalid ") + name + " " + format_number(value) +
                             ": must be at most " + format_number(high));
}

/// Sizes and scales: each bounded so that a typo is refused at once, not after minutes.
void validate_sizes(const StyleConfig& config) {
  require_int_range(config.size_px, kMinSizePxForConfig, kMaxSizePx, "size", " px");
  require(std::isfinite(config.style_scale) && config.style_scale > 0.0 &&
              config.style_scale <= kMaxStyleScale,
          "invalid style scale " + format_number(config.style_scale) + ": must be > 0 and at most " +
              format_number(kMaxStyleScale));
  require(config.size_px * config.style_scale <= kMaxSizePx,
          "invalid style scale " + format_number(config.style_scale) + ": the style image would be " +
              std::to_string(static_cast<long>(config.size_px * config.style_scale)) +
              " px, more than " + std::to_string(kMaxSizePx));
  require(config.min_size_px == 0 || config.min_size_px >= kMinSizePxForConfig,
          "invalid min size " + std::to_string(config.min_size_px) +
              ": must be 0 (off) or at least " + std::to_string(kMinSizePxForConfig) + " px");
  require_non_negative(config.mask_feather_px, "mask feather");
  require_int_range(config.jitter_px, 0, kMaxSizePx, "jitter", " px");
  require_non_negative(config.channel_contrast, "contrast");
  require_at_most(config.channel_contrast, kMaxLossWeight, "contrast");
  require_at_most(config.mask_feather_px, kMaxSizePx, "mask feather");
  require(config.tile_size_px == 0 ||
              (config.tile_size_px >= kMinTileSizePx && config.tile_size_px <= kMaxSizePx),
          "invalid tile size " + std::to_string(config.tile_size_px) + ": must be from " +
              std::to_string(kMinTileSizePx) + " to " + std::to_string(kMaxSizePx) + " px");
  require_int_range(config.tile_overlap_px, 0, kMaxSizePx, "tile overlap", " px");
  require(config.tile_size_px == 0 || 2 * config.tile_overlap_px < config.tile_size_px,
          "invalid tile overlap " + std::to_string(config.tile_overlap_px) + ": tiles of " +
              std::to_string(config.tile_size_px) + " px need an overlap below " +
              std::to_string((config.tile_size_px + 1) / 2) + " px");
  require_int_range(config.tile_passes, 1, kMaxTilePasses, "tile passes");
  require(std::isfinite(config.scale_step) && config.scale_step > 1.0,
          "invalid scale step " + format_number(config.scale_step) + ": must be > 1");
  if (config.min_size_px > 0 && config.min_size_px < config.size_px) {
    const double scales =
        std::ceil(std::log(config.size_px * 0.97 / config.min_size_px) / std::log(config.scale_step)) +
        1.0;
    require(scales <= kMaxScales,
            "invalid scale step " + format_number(config.scale_step) + ": from --min-size " +
                std::to_string(config.min_size_px) + " to --size " +
                std::to_string(config.size_px) + " px it makes " +
                format_number(scales) + " scales, more than " + std::to_string(kMaxScales));
  }
}

void validate_optimisation(const StyleConfig& config) {
  require_int_range(config.iterations, 1, kMaxIterations, "iterations");
  require_int_range(config.initial_iterations, 0, kMaxIterations, "initial iterations");
  require_int_range(config.lbfgs_history, 1, kMaxLbfgsHistory, "lbfgs history");
  if (config.learning_rate) {
    require(std::isfinite(*config.learning_rate) && *config.learning_rate > 0.0,
            "invalid learning rate " + format_number(*config.learning_rate) + ": must be > 0");
    require_at_most(*config.learning_rate, kMaxLearningRate, "learning rate");
  }
  require(std::isfinite(config.average_decay) && config.average_decay >= 0.0 &&
              config.average_decay < 1.0,
          "invalid average decay " + format_number(config.average_decay) + ": must be in [0, 1)");
  require_non_negative(config.tolerance, "tolerance");
  require(config.tolerance < 1.0,
          "invalid tolerance " + format_number(config.tolerance) + ": must be below 1");
  require_int_range(config.tolerance_window_iters, 1, kMaxIterations, "tolerance window");
  require_int_range(config.report_every_iters, 0, kMaxIterations, "print interval");
  require_int_range(config.snapshot_every_iters, 0, kMaxIterations, "save interval");
}

void validate_weights(const StyleConfig& config, std::size_t style_count) {
  for (const auto& [value, name] : {std::pair{config.content_weight, "content weight"},
                                    std::pair{config.style_weight, "style weight"},
                                    std::pair{config.tv_weight, "tv weight"}}) {
    require_non_negative(value, name);
    require_at_most(value, kMaxLossWeight, name);
  }
  for (const auto& layer : config.content_layers) {
    require_non_negative(layer.weight, ("weight of content layer " + layer.layer).c_str());
  }
  for (const auto& layer : config.style_layers) {
    require_non_negative(layer.weight, ("weight of style layer " + layer.layer).c_str());
  }
  require(style_count >= 1, "no style image given");
  if (!config.style_blend.empty()) {
    require(config.style_blend.size() == style_count,
            "got " + std::to_string(config.style_blend.size()) + " style blend weights for " +
                std::to_string(style_count) + " style images");
    double sum = 0.0;
    for (double w : config.style_blend) {
      require_non_negative(w, "style blend weight");
      sum += w;
    }
    require(sum > 0.0, "invalid style blend weights: they must not all be zero");
  }
}

}  // namespace

void validate(const StyleConfig& config, std::size_t style_count) {
  validate_sizes(config);
  validate_optimisation(config);
  validate_weights(config, style_count);
  require(config.init != InitKind::kImage || !config.init_path.empty(),
          "init image path is empty");
}

InitKind resolve_init(InitKind init, ColourMode colour_mode) {
  if (init != InitKind::kAuto) return init;
  return colour_mode == ColourMode::kNone ? InitKind::kStyleColours : InitKind::kContent;
}

const std::vector<EnumName<OptimizerKind>>& enum_names(OptimizerKind) {
  static const std::vector<EnumName<OptimizerKind>> names{{"lbfgs", OptimizerKind::kLbfgs},
                                                          {"adam", OptimizerKind::kAdam}};
  return names;
}

const std::vector<EnumName<InitKind>>& enum_names(InitKind) {
  static const std::vector<EnumName<InitKind>> names{{"auto", InitKind::kAuto},
                                                     {"content", InitKind::kContent},
                                                     {"style-colors", InitKind::kStyleColours},
                                                     {"noise", InitKind::kNoise}};
  return names;
}

const std::vector<EnumName<ColourMode>>& enum_names(ColourMode) {
  static const std::vector<EnumName<ColourMode>> names{{"none", ColourMode::kNone},
                                                       {"luminance", ColourMode::kLuminance},
                                                       {"stats", ColourMode::kStatistics}};
  return names;
}

const std::vector<EnumName<StyleLossKind>>& enum_names(StyleLossKind) {
  static const std::vector<EnumName<StyleLossKind>> names{{"gram", StyleLossKind::kGram},
                                                          {"mean-cov", StyleLossKind::kMeanCov},
                                                          {"w2", StyleLossKind::kW2}};
  return names;
}

const std::vector<EnumName<Precision>>& enum_names(Precision) {
  static const std::vector<EnumName<Precision>> names{{"fp32", Precision::kFp32},
                                                      {"tf32", Precision::kTf32},
                                                      {"bf16", Precision::kBf16},
                                                      {"fp16", Precision::kFp16}};
  return names;
}

const std::vector<EnumName<ConvAlgorithm>>& enum_names(ConvAlgorithm) {
  static const std::vector<EnumName<ConvAlgorithm>> names{{"auto", ConvAlgorithm::kAuto},
                                                          {"direct", ConvAlgorithm::kDirect},
                                                          {"winograd", ConvAlgorithm::kWinograd}};
  return names;
}

const std::vector<EnumName<FlowMethod>>& enum_names(FlowMethod) {
  static const std::vector<EnumName<FlowMethod>> names{{"dis", FlowMethod::kDis},
                                                       {"deepflow", FlowMethod::kDeepFlow},
                                                       {"farneback", FlowMethod::kFarneback}};
  return names;
}

const std::vector<EnumName<Look>>& enum_names(Look) {
  static const std::vector<EnumName<Look>> names{{"painterly", Look::kPainterly},
                                                 {"subtle", Look::kSubtle}};
  return names;
}

const LookSettings& look_settings(Look look) {
  return look == Look::kSubtle ? kSubtleLook : kPainterlyLook;
}

void apply_look(Look look, StyleConfig& config) {
  const LookSettings& settings = look_settings(look);
  config.content_weight = settings.content_weight;
  config.style_weight = settings.style_weight;
  config.tv_weight = settings.tv_weight;
  config.min_size_px = settings.min_size_px;
  config.iterations = settings.iterations;
  config.initial_iterations = settings.initial_iterations;
}

std::vector<LayerWeight> parse_layer_list(const std::string& text) {
  std::vector<LayerWeight> layers;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    item = trim(item);
    require(!item.empty(), "invalid layer list '" + text + "': empty layer name");
    LayerWeight layer;
    const auto colon = item.find(':');
    layer.layer = trim(item.substr(0, colon));
    require(!layer.layer.empty(), "invalid layer list '" + text + "': empty layer name");
    if (colon != std::string::npos) {
      const std::string weight_text = trim(item.substr(colon + 1));
      std::size_t used = 0;
      double weight = -1.0;
      try {
        weight = std::stod(weight_text, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      require(used == weight_text.size() && used > 0 && std::isfinite(weight) && weight >= 0.0,
              "invalid weight '" + weight_text + "' for layer " + layer.layer +
                  ": must be a number >= 0");
      layer.weight = weight;
    }
    layers.push_back(layer);
  }
  require(!layers.empty(), "invalid layer list '" + text + "': no layers");
  return layers;
}

}  // namespace stylize
