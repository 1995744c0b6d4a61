#include "atomic_file.hpp"

#include <stylize/colour.hpp>
#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>
#include <stylize/memory.hpp>
#include <stylize/resize.hpp>
#include <stylize/stylizer.hpp>

#include <filesystem>
#include <utility>

namespace stylize {
namespace fs = std::filesystem;
namespace {

/// The hidden file beside an output that marks it as an interrupted job's best-so-far image.
fs::path interrupted_mark(const std::string& output) {
  const fs::path path(output);
  return path.parent_path() / ("." + path.filename().string() + ".interrupted");
}

void notify(const JobEvents& events, JobNotice::Level level, const std::string& text) {
  if (events.on_notice) events.on_notice({level, text});
}

/// A decoder's warnings as notices: a corrupt but decodable file deserves a warning; remarks on
/// metadata (libpng's "iCCP: known incorrect sRGB profile") only a debug line.
void report_decoder(const std::string& path, const std::vector<std::string>& messages,
                    const JobEvents& events) {
  for (const auto& message : messages) {
    const bool corrupt = message.find("orrupt") != std::string::npos ||
                         message.find("premature") != std::string::npos;
    notify(events, corrupt ? JobNotice::Level::kWarning : JobNotice::Level::kDebug,
           "'" + path + "': " + (corrupt ? "damaged image data, decoded anyway (" + message + ")"
                                         : "decoder: " + message));
  }
}

}  // namespace

void check_output_is_not_an_input(const std::string& output,
                                  const std::vector<std::string>& inputs) {
  std::error_code ec;
  if (!fs::exists(output, ec)) return;  // an input exists, so a missing output is none of them
  for (const auto& input : inputs) {
    if (!input.empty() && fs::equivalent(output, input, ec) && !ec) {
      throw ConfigError("output '" + output + "' is the input '" + input +
                        "': refusing to overwrite an input (choose another output name)");
    }
  }
}

std::vector<std::string> job_inputs(const StylizeJob& job, const StyleConfig& config,
                                    const std::string& model_path) {
  std::vector<std::string> inputs = job.style_paths;
  inputs.push_back(job.content_path);
  inputs.push_back(model_path);
  if (config.init == InitKind::kImage) inputs.push_back(config.init_path);
  return inputs;
}

bool output_is_complete(const std::string& output) {
  std::error_code ec;
  return fs::exists(output, ec) && !fs::exists(interrupted_mark(output), ec);
}

std::string snapshot_path(const std::string& output, const std::string& tag) {
  const fs::path path(output);
  auto name = path.stem().string() + "_" + tag + path.extension().string();
  return (path.parent_path() / name).string();
}

Stylizer::Stylizer(VggFeatures model, const StyleConfig& config, c10::Device device)
    : model_(std::move(model)),
      config_(config),
      device_(device),
      plan_(plan_layers(model_.layer_names(), config_)) {
  model_.set_average_pooling(config_.average_pooling);
  model_.set_conv_algorithm(config_.conv_algorithm);
}

Image Stylizer::read_reporting(const std::string& path, int max_side_px,
                               const JobEvents& events) const {
  Image image = read_image(path, max_side_px);
  report_decoder(path, image.decoder_messages, events);
  return image;
}

StyleConfig Stylizer::fit_memory(int width_px, int height_px, const JobEvents& events) const {
  StyleConfig config = config_;
  const auto budget = config.max_memory_bytes > 0 ? std::optional(config.max_memory_bytes)
                                                  : available_memory_bytes(device_);
  if (!budget) return config;
  const auto [width, height] = longest_side_size(width_px, height_px, config.size_px);
  std::error_code ec;
  const auto file_bytes = fs::file_size(model_.path(), ec);
  const std::uint64_t model_bytes = ec ? 0 : file_bytes;
  const auto estimate =
      estimate_memory(model_.layer_names(), plan_, width, height, config, model_bytes).total_bytes();
  if (estimate <= *budget) return config;
  const auto fitting = largest_fitting_size(model_.layer_names(), plan_,
                                            static_cast<double>(width) / height, config,
                                            model_bytes, *budget);
  const std::string budget_text = format_bytes(*budget) + (config.max_memory_bytes > 0
                                                               ? " of --max-memory"
                                                               : " available");
  const std::string problem = "estimated peak memory " + format_bytes(estimate) + " for " +
                              std::to_string(width) + "x" + std::to_string(height) +
                              " px exceeds the " + budget_text;
  if (!fitting) throw MemoryError(problem + ", and no size fits");
  if (!config.fit_memory) {
    throw MemoryError(problem + "; the largest size that fits is " + std::to_string(*fitting) +
                      " px (use --size " + std::to_string(*fitting) +
                      ", or --fit-memory to pick it)");
  }
  notify(events, JobNotice::Level::kWarning,
         "--fit-memory: " + std::to_string(config.size_px) + " px needs an estimated " +
             format_bytes(estimate) + ", more than the " + budget_text + ": using " +
             std::to_string(*fitting) + " px");
  config.size_px = *fitting;
  return config;
}

const StyleTargets& Stylizer::targets_for(const StylizeJob& job, int style_side,
                                          const at::Tensor& content, const StyleConfig& config,
                                          const JobEvents& events) {
  const bool recolour = config.colour_mode == ColourMode::kStatistics;
  const auto key =
      std::make_tuple(job.style_paths, style_side, recolour ? job.content_path : std::string());
  auto found = targets_.find(key);
  if (found != targets_.end()) return found->second;
  std::vector<at::Tensor> styles;
  for (const auto& path : job.style_paths) {
    auto style = read_reporting(path, style_side, events).rgb01;
    // Colour-statistics mode: the style's palette becomes the photo's before its statistics.
    if (recolour) style = match_colour_statistics(style, content);
    styles.push_back(style);
  }
  auto targets = compute_style_targets(model_, plan_, device_, styles, config.style_blend,
                                       config.style_loss);
  return targets_.emplace(key, std::move(targets)).first->second;
}

at::Tensor Stylizer::start_image(const StylizeJob& job, const at::Tensor& content,
                                 const StyleConfig& config, const JobEvents& events) {
  if (config.init == InitKind::kImage) {
    return load_image_rgb01_exact(config.init_path, static_cast<int>(content.size(3)),
                                  static_cast<int>(content.size(2)));
  }
  if (config.init == InitKind::kStyleColours) {
    auto& palette = palettes_[job.style_paths];
    if (palette.empty()) {
      for (const auto& path : job.style_paths) {
        palette.push_back(read_reporting(path, config.size_px, events).rgb01);
      }
    }
    return match_colour_statistics(content, palette);
  }
  return {};  // content or noise: StyleTransfer makes it
}

JobResult Stylizer::optimise(const StylizeJob& job, const Image& content_image,
                             const StyleConfig& config, const JobEvents& events,
                             const std::atomic<bool>* cancel) {
  const at::Tensor& content = content_image.rgb01;
  const at::Tensor& alpha = content_image.alpha01;
  const StyleTransfer engine(model_, plan_, device_);
  auto targets_for_side = [&](int side) -> const StyleTargets& {
    return targets_for(job, side, content, config, events);
  };
  const auto scales = scale_ladder(config.size_px, config.min_size_px, config.scale_step);
  // Every style image is read up front, so a broken one fails the job before any work.
  targets_for_side(style_side_px(scales.front(), config.style_scale));
  const at::Tensor init = start_image(job, content, config, events);
  JobResult result;
  result.width_px = static_cast<int>(content.size(3));
  result.height_px = static_cast<int>(content.size(2));
  if (events.on_start) events.on_start({result.width_px, result.height_px, scales, config});
  auto finish = [&](at::Tensor image) {  // the colour mode, applied to snapshots too
    return config.colour_mode == ColourMode::kLuminance ? keep_content_colours(image, content)
                                                        : image;
  };
  ProgressCallback on_progress = [&](const IterationReport& report) {
    if (!report.snapshot_rgb01.defined()) {
      if (events.on_progress) events.on_progress(report);
      return;
    }
    IterationReport with_file = report;
    // Snapshots of a coarse scale are named after their scale too, so they do not overwrite.
    with_file.snapshot_path = snapshot_path(
        job.output_path, report.scale_count > 1 ? "s" + std::to_string(report.scale_index + 1) +
                                                      "_" + std::to_string(report.iteration)
                                                : std::to_string(report.iteration));
    const bool same_size = report.snapshot_rgb01.sizes() == content.sizes();
    save_image(same_size ? finish(report.snapshot_rgb01) : report.snapshot_rgb01,
               with_file.snapshot_path, same_size ? alpha : at::Tensor(),
               {job.settings, content_image.icc_profile});
    if (events.on_progress) events.on_progress(with_file);
  };
  result.transfer =
      engine.run_coarse_to_fine(content, targets_for_side, config, init, on_progress, cancel);
  result.transfer.image_rgb01 = finish(result.transfer.image_rgb01);
  return result;
}

JobResult Stylizer::run(const StylizeJob& job, const JobEvents& events,
                        const std::atomic<bool>* cancel) {
  check_output_is_not_an_input(job.output_path, job_inputs(job, config_, model_.path()));
  check_output_writable(job.output_path);
  // The memory check needs only the header: nothing large is decoded before it passes.
  const auto bytes = read_file_bytes(job.content_path);
  const auto [width, height] = encoded_image_size(bytes, job.content_path);
  StyleConfig config = fit_memory(width, height, events);
  config.init = resolve_init(config.init, config.colour_mode);
  Image content = decode_image(bytes, job.content_path, config.size_px);
  report_decoder(job.content_path, content.decoder_messages, events);
  if (content.alpha01.defined() && !format_keeps_alpha(job.output_path)) {
    notify(events, JobNotice::Level::kInfo,
           job.content_path + " has transparency, which " +
               fs::path(job.output_path).extension().string() +
               " cannot store: the output will be opaque");
  }
  JobResult result = optimise(job, content, config, events, cancel);
  if (result.transfer.cancelled && result.transfer.iterations_run == 0) return result;
  const auto mark = interrupted_mark(job.output_path);
  if (result.transfer.cancelled) {  // marked first: a crash in between leaves it unfinished
    write_file_atomically(mark.string(), std::vector<std::uint8_t>{'\n'});
  }
  // The photo's colour profile stays with it, and the settings that made the image go along.
  save_image(result.transfer.image_rgb01, job.output_path, content.alpha01,
             {job.settings, content.icc_profile});
  if (!result.transfer.cancelled) {
    std::error_code ec;
    fs::remove(mark, ec);
  }
  result.written = true;
  return result;
}

}  // namespace stylize
