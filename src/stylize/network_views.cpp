// The network's view: stylize texture, reconstruct and visualize (README "What the network
// sees"). Each is a plain optimisation of StyleTransfer with another layer plan or loss.
#include <stylize/channel_objective.hpp>
#include <stylize/contact_sheet.hpp>
#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>
#include <stylize/losses.hpp>
#include <stylize/stylizer.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

namespace stylize {
namespace fs = std::filesystem;
namespace {

void notify(const JobEvents& events, const std::string& text) {
  if (events.on_notice) events.on_notice({JobNotice::Level::kInfo, text});
}

/// Circular padding for the duration of a texture run.
class CircularPadding {
 public:
  CircularPadding(VggFeatures& model, bool on) : model_(model) {
    model_.set_circular_padding(on);
  }
  ~CircularPadding() { model_.set_circular_padding(false); }
  CircularPadding(const CircularPadding&) = delete;
  CircularPadding& operator=(const CircularPadding&) = delete;

 private:
  VggFeatures& model_;
};

/// The model index of a layer; ConfigError listing the layers the model has when it lacks it.
int layer_index(const VggFeatures& model, const std::string& layer) {
  const auto index = model.index_of(layer);
  if (index && layer.rfind("relu", 0) == 0) return *index;
  std::string names;
  for (const auto& name : model.layer_names()) {
    if (name.rfind("relu", 0) == 0) names += (names.empty() ? "" : " ") + name;
  }
  throw ConfigError((index ? "layer '" + layer + "' is not a ReLU layer"
                           : "unknown layer '" + layer + "'") +
                    ": the model has " + names);
}

/// Mid-grey with a little noise from seed: the start of a visualisation.
at::Tensor grey_noise(std::int64_t height, std::int64_t width, std::uint64_t seed) {
  auto generator = at::detail::createCPUGenerator(seed);
  return (at::randn({1, 3, height, width}, generator, at::TensorOptions().dtype(at::kFloat)) *
              0.05 +
          0.5)
      .clamp(0.0, 1.0);
}

/// on_progress with every report marked as about image k of the run.
ProgressCallback numbered(const ProgressCallback& on_progress, std::size_t k) {
  if (!on_progress) return {};
  return [on_progress, k](const IterationReport& report) {
    IterationReport numbered_report = report;
    numbered_report.image_index = static_cast<int>(k);
    on_progress(numbered_report);
  };
}

void check_outputs(const std::vector<std::string>& outputs, const std::vector<std::string>& inputs) {
  for (const auto& output : outputs) {
    check_output_is_not_an_input(output, inputs);
    check_output_writable(output);
  }
}

}  // namespace

ViewResult Stylizer::texture(const TextureJob& job, const JobEvents& events,
                             const std::atomic<bool>* cancel) {
  if (job.style_paths.empty()) throw ConfigError("no style image given");
  std::vector<std::string> inputs = job.style_paths;
  inputs.push_back(model_.path());
  check_outputs({job.output_path}, inputs);
  auto [width, height] = std::pair{job.width_px, job.height_px};
  if (width <= 0 || height <= 0) {
    const auto bytes = read_file_bytes(job.style_paths.front());
    const auto [w, h] = encoded_image_size(bytes, job.style_paths.front());
    std::tie(width, height) = longest_side_size(w, h, config_.size_px);
  }
  StyleConfig config = config_;
  config.size_px = std::max(width, height);
  config.init = InitKind::kNoise;
  LayerPlan plan = plan_;
  plan.content.clear();  // style statistics only
  const StyleTransfer engine(model_, plan, device_);
  const auto canvas = at::full({1, 3, height, width}, 0.5);
  auto guides_for_side = [&](int side) {
    // The painting's statistics are an ordinary image's: never with the texture's circular
    // padding (and cached so for every later run).
    model_.set_circular_padding(false);
    const auto& targets = targets_for(job.style_paths, {}, config.style_blend, side, "", canvas,
                                      config, events);
    model_.set_circular_padding(config.tileable);
    return std::vector<StyleGuide>{{&targets, {}, 1.0}};
  };
  guides_for_side(style_side_px(config.size_px, config.style_scale));  // read the paintings now
  if (events.on_start) {
    events.on_start({width, height,
                     scale_ladder(config.size_px, config.min_size_px, config.scale_step), config});
  }
  const CircularPadding circular(model_, config.tileable);
  const int period = 1 << model_.pools_before(plan.deepest_index());
  if (config.tileable && (width % period != 0 || height % period != 0)) {
    if (events.on_notice) {
      events.on_notice({JobNotice::Level::kWarning,
                        "--tileable: " + std::to_string(width) + "x" + std::to_string(height) +
                            " px is not a multiple of " + std::to_string(period) +
                            " px, so the deepest layers wrap only nearly (pooling drops the odd "
                            "rows); use multiples of " + std::to_string(period) +
                            " for an exact wrap"});
    }
  }
  ViewResult result;
  result.label = "texture";
  result.path = job.output_path;
  result.transfer = engine.run_coarse_to_fine(canvas, guides_for_side, config, {},
                                              events.on_progress, cancel);
  if (result.transfer.iterations_run > 0) {
    write_output(result.transfer.image_rgb01, job.output_path, result.transfer.cancelled, {},
                 {job.settings, {}});
  }
  return result;
}

std::vector<ViewResult> Stylizer::reconstruct(const ReconstructJob& job, const JobEvents& events,
                                              const std::atomic<bool>* cancel) {
  if (job.layers.empty()) throw ConfigError("no layer given");
  std::vector<int> indices;
  for (const auto& layer : job.layers) indices.push_back(layer_index(model_, layer));
  std::vector<std::string> outputs;
  for (const auto& layer : job.layers) {
    outputs.push_back(job.layers.size() == 1 ? job.output_path
                                             : snapshot_path(job.output_path, layer));
  }
  if (job.layers.size() > 1) outputs.push_back(job.output_path);
  check_outputs(outputs, {job.content_path, model_.path()});
  const Image photo = read_reporting(job.content_path, config_.size_px, events);
  const at::Tensor& content = photo.rgb01;
  StyleConfig config = config_;
  config.init = InitKind::kNoise;
  std::vector<ViewResult> results;
  for (std::size_t k = 0; k < job.layers.size(); ++k) {
    const ProgressCallback progress = numbered(events.on_progress, k);
    LayerPlan plan;
    plan.content = {{job.layers[k], indices[k], 1.0}};
    const StyleTransfer engine(model_, plan, device_);
    notify(events, "reconstructing from " + job.layers[k] + " (" + std::to_string(k + 1) + "/" +
                       std::to_string(job.layers.size()) + ")");
    if (events.on_start && k == 0) {
      events.on_start({static_cast<int>(content.size(3)), static_cast<int>(content.size(2)),
                       scale_ladder(config.size_px, config.min_size_px, config.scale_step),
                       config});
    }
    ViewResult view;
    view.label = job.layers[k];
    view.path = outputs[k];
    view.transfer = engine.run_coarse_to_fine(
        content, [](int) { return std::vector<StyleGuide>{}; }, config, {}, progress, cancel);
    {
      torch::NoGradGuard no_grad;
      const auto features = model_.extract(view.transfer.image_rgb01.to(device_), {indices[k]});
      const auto target = model_.extract(content.to(device_), {indices[k]});
      view.score = relative_mse(features.front(), target.front(), mean_square(target.front()))
                       .item<double>();
    }
    if (view.transfer.iterations_run == 0) break;  // cancelled before the first step
    write_output(view.transfer.image_rgb01, view.path, view.transfer.cancelled, {},
                 {job.settings, {}});
    const bool cancelled = view.transfer.cancelled;
    results.push_back(std::move(view));
    if (cancelled) break;
  }
  if (job.layers.size() > 1 && !results.empty()) {
    std::vector<at::Tensor> images{content};
    std::vector<std::string> labels{"photo"};
    for (const auto& view : results) {
      images.push_back(view.transfer.image_rgb01);
      char label[64];
      std::snprintf(label, sizeof label, "%s (error %.1e)", view.label.c_str(), view.score);
      labels.emplace_back(label);
    }
    write_output(contact_sheet(images, labels, static_cast<int>(images.size())),
                 job.output_path, results.back().transfer.cancelled, {}, {job.settings, {}});
  }
  return results;
}

std::vector<ViewResult> Stylizer::visualize(const VisualizeJob& job, const JobEvents& events,
                                            const std::atomic<bool>* cancel) {
  const int index = layer_index(model_, job.layer);
  if (job.channels.empty()) throw ConfigError("no channel given");
  const auto side = static_cast<std::int64_t>(config_.size_px);
  const at::Tensor reference = grey_noise(side, side, config_.seed).to(device_);
  std::int64_t channel_count = 0;
  {
    torch::NoGradGuard no_grad;
    channel_count = model_.extract(reference, {index}).front().size(1);
  }
  std::vector<std::string> outputs;
  for (const auto channel : job.channels) {
    if (channel < 0 || channel >= channel_count) {
      throw ConfigError("channel " + std::to_string(channel) + " out of range: " + job.layer +
                        " has " + std::to_string(channel_count) + " channels (0-" +
                        std::to_string(channel_count - 1) + ")");
    }
    char name[64];
    std::snprintf(name, sizeof name, "%s_%04lld.png", job.layer.c_str(),
                  static_cast<long long>(channel));
    outputs.push_back((fs::path(job.output_dir) / name).string());
  }
  std::vector<std::string> all_outputs = outputs;
  if (!job.sheet_path.empty()) all_outputs.push_back(job.sheet_path);
  check_outputs(all_outputs, {model_.path()});
  LayerPlan plan;  // no content or style layers: the objective is the channel's activation
  const StyleTransfer engine(model_, plan, device_);
  std::vector<ViewResult> results;
  for (std::size_t k = 0; k < job.channels.size(); ++k) {
    const auto channel = job.channels[k];
    notify(events, job.layer + " channel " + std::to_string(channel) + " (" +
                       std::to_string(k + 1) + "/" + std::to_string(job.channels.size()) + ")");
    std::unique_ptr<ChannelObjective> last;
    const StyleTransfer::ScaleRun run_scale =
        [&](std::int64_t h, std::int64_t w, const StyleConfig& scale_config,
            const at::Tensor& previous, const ProgressCallback& progress) {
          last = std::make_unique<ChannelObjective>(model_, index, channel, reference,
                                                    scale_config.tv_weight, scale_config.jitter_px,
                                                    scale_config.seed + static_cast<std::uint64_t>(k),
                                                    scale_config.channel_contrast);
          const at::Tensor start =
              previous.defined() ? previous : grey_noise(h, w, scale_config.seed);
          return engine.optimise(*last, start, scale_config, progress, cancel);
        };
    ViewResult view;
    view.label = job.layer + " #" + std::to_string(channel);
    view.path = outputs[k];
    view.transfer =
        engine.run_ladder(side, side, config_, run_scale, numbered(events.on_progress, k));
    if (view.transfer.iterations_run == 0) break;  // cancelled before the first step
    view.score = last->activation(view.transfer.image_rgb01.to(device_));
    write_output(view.transfer.image_rgb01, view.path, view.transfer.cancelled, {},
                 {job.settings, {}});
    const bool cancelled = view.transfer.cancelled;
    results.push_back(std::move(view));
    if (cancelled) break;
  }
  if (!job.sheet_path.empty() && !results.empty()) {
    std::vector<at::Tensor> images;
    std::vector<std::string> labels;
    for (const auto& view : results) {
      images.push_back(view.transfer.image_rgb01);
      labels.push_back(view.label);
    }
    write_output(contact_sheet(images, labels, 8), job.sheet_path,
                 results.back().transfer.cancelled, {}, {job.settings, {}});
  }
  return results;
}

}  // namespace stylize
