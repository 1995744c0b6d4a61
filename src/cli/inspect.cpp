#include "inspect.hpp"

#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>
#include <stylize/layer_plan.hpp>
#include <stylize/quality.hpp>
#include <stylize/vgg_features.hpp>

#include <nlohmann/json.hpp>

namespace stylize::cli {

void measure_images(std::ostream& out, const CliOptions& o, VggFeatures& model,
                    const c10::Device& device) {
  if (o.content_paths.size() != 1) {
    throw ConfigError("--measure needs exactly one --content image (got " +
                      std::to_string(o.content_paths.size()) + ")");
  }
  if (o.style_paths.empty()) throw ConfigError("--measure needs at least one --style image");
  // The yardstick is fixed: max pooling and fp32, whatever the run that made the images used.
  model.set_average_pooling(false);
  model.set_compute_dtype(at::kFloat);
  model.set_conv_algorithm(ConvAlgorithm::kDirect);
  // Native sizes: measure_quality resizes every image the same way.
  const auto content = load_image_rgb01(o.content_paths.front(), 0);
  std::vector<at::Tensor> styles;
  for (const auto& path : o.style_paths) styles.push_back(load_image_rgb01(path, 0));
  for (const auto& path : o.measure_paths) {
    const auto scores = measure_quality(model, device, content, styles, o.config.style_blend,
                                        load_image_rgb01(path, 0), o.measure_size_px);
    nlohmann::ordered_json line;
    line["image"] = path;
    line["measure_size_px"] = o.measure_size_px;
    line["content_distance"] = scores.content_distance;
    line["style_distance"] = scores.style_distance;
    line["style_ratio"] = scores.style_ratio();
    line["photo_style_distance"] = scores.photo_style_distance;
    line["content_ratio"] = scores.content_ratio();
    line["multiscale_style_ratio"] = scores.multiscale_style_ratio;
    line["multiscale_sizes_px"] = scores.multiscale_sizes_px;
    out << line.dump() << '\n' << std::flush;
  }
}

void list_layers(std::ostream& out, const VggFeatures& model, const StyleConfig& config) {
  const LayerPlan plan = plan_layers(model.layer_names(), config);
  auto mark = [&](const std::string& name) {
    std::string tags;
    for (const auto& l : plan.content) {
      if (l.name == name) tags += " [content]";
    }
    for (const auto& l : plan.style) {
      if (l.name == name) tags += " [style]";
    }
    return tags;
  };
  for (const auto& name : model.layer_names()) out << name << mark(name) << '\n';
}

}  // namespace stylize::cli
