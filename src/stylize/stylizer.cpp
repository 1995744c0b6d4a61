#include <stylize/colour.hpp>
#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>
#include <stylize/memory.hpp>
#include <stylize/stylizer.hpp>

#include <filesystem>
#include <utility>

namespace stylize {
namespace fs = std::filesystem;

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

StyleConfig Stylizer::fit_memory(const std::string& content_path, at::Tensor& content,
                                 at::Tensor& alpha, const JobEvents& events) const {
  StyleConfig config = config_;
  const auto budget = config.max_memory_bytes > 0 ? std::optional(config.max_memory_bytes)
                                                  : available_memory_bytes(device_);
  if (!budget) return config;
  const int width = static_cast<int>(content.size(3));
  const int height = static_cast<int>(content.size(2));
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
  if (events.on_notice) {
    events.on_notice({true, "--fit-memory: " + std::to_string(config.size_px) +
                                " px needs an estimated " + format_bytes(estimate) +
                                ", more than the " + budget_text + ": using " +
                                std::to_string(*fitting) + " px"});
  }
  config.size_px = *fitting;
  Image smaller = read_image(content_path, config.size_px);
  content = smaller.rgb01;
  alpha = smaller.alpha01;
  return config;
}

const StyleTargets& Stylizer::targets_for(const StylizeJob& job, int style_side,
                                          const at::Tensor& content, const StyleConfig& config) {
  const bool recolour = config.colour_mode == ColourMode::kStatistics;
  const auto key =
      std::make_tuple(job.style_paths, style_side, recolour ? job.content_path : std::string());
  auto found = targets_.find(key);
  if (found != targets_.end()) return found->second;
  std::vector<at::Tensor> styles;
  for (const auto& path : job.style_paths) {
    auto style = load_image_rgb01(path, style_side);
    // Colour-statistics mode: the style's palette becomes the photo's before its statistics.
    if (recolour) style = match_colour_statistics(style, content);
    styles.push_back(style);
  }
  auto targets = compute_style_targets(model_, plan_, device_, styles, config.style_blend,
                                       config.style_loss);
  return targets_.emplace(key, std::move(targets)).first->second;
}

at::Tensor Stylizer::start_image(const StylizeJob& job, const at::Tensor& content,
                                 const StyleConfig& config) {
  if (config.init == InitKind::kImage) {
    return load_image_rgb01_exact(config.init_path, static_cast<int>(content.size(3)),
                                  static_cast<int>(content.size(2)));
  }
  if (config.init == InitKind::kStyleColours) {
    auto& palette = palettes_[job.style_paths];
    if (palette.empty()) {
      for (const auto& path : job.style_paths) {
        palette.push_back(load_image_rgb01(path, config.size_px));
      }
    }
    return match_colour_statistics(content, palette);
  }
  return {};  // content or noise: StyleTransfer makes it
}

JobResult Stylizer::run(const StylizeJob& job, const JobEvents& events,
                        const std::atomic<bool>* cancel) {
  check_output_writable(job.output_path);
  Image content_image = read_image(job.content_path, config_.size_px);
  StyleConfig config = fit_memory(job.content_path, content_image.rgb01, content_image.alpha01,
                                  events);
  config.init = resolve_init(config.init, config.colour_mode);
  const at::Tensor& content = content_image.rgb01;
  const at::Tensor& alpha = content_image.alpha01;
  if (alpha.defined() && !format_keeps_alpha(job.output_path) && events.on_notice) {
    events.on_notice({false, job.content_path + " has transparency, which " +
                                 fs::path(job.output_path).extension().string() +
                                 " cannot store: the output will be opaque"});
  }
  const StyleTransfer engine(model_, plan_, device_);
  auto targets_for_side = [&](int side) -> const StyleTargets& {
    return targets_for(job, side, content, config);
  };
  const auto scales = scale_ladder(config.size_px, config.min_size_px, config.scale_step);
  // Every style image is read up front, so a broken one fails the job before any work.
  targets_for_side(style_side_px(scales.front(), config.style_scale));
  const at::Tensor init = start_image(job, content, config);
  JobResult job_result;
  job_result.width_px = static_cast<int>(content.size(3));
  job_result.height_px = static_cast<int>(content.size(2));
  if (events.on_start) events.on_start({job_result.width_px, job_result.height_px, scales, config});

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
               with_file.snapshot_path, same_size ? alpha : at::Tensor());
    if (events.on_progress) events.on_progress(with_file);
  };
  job_result.transfer =
      engine.run_coarse_to_fine(content, targets_for_side, config, init, on_progress, cancel);
  job_result.transfer.image_rgb01 = finish(job_result.transfer.image_rgb01);
  if (job_result.transfer.cancelled && job_result.transfer.iterations_run == 0) return job_result;
  save_image(job_result.transfer.image_rgb01, job.output_path, alpha);
  job_result.written = true;
  return job_result;
}

}  // namespace stylize
