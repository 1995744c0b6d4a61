#include "atomic_file.hpp"

#include <stylize/colour.hpp>
#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>
#include <stylize/masks.hpp>
#include <stylize/memory.hpp>
#include <stylize/resize.hpp>
#include <stylize/stylizer.hpp>

#include <algorithm>
#include <cmath>
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

void warn_stretched(const std::string& mask, const std::string& image, const JobEvents& events) {
  notify(events, JobNotice::Level::kWarning,
         "mask '" + mask + "' has another aspect ratio than '" + image +
             "' (more than 1 % apart): it is stretched to fit");
}

void require_one_per_style(const std::vector<std::string>& paths, std::size_t styles,
                           const char* what) {
  if (!paths.empty() && paths.size() != styles) {
    throw ConfigError("got " + std::to_string(paths.size()) + " " + what + " for " +
                      std::to_string(styles) + " style images: give one per style, in order");
  }
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
  inputs.insert(inputs.end(), job.style_mask_paths.begin(), job.style_mask_paths.end());
  inputs.insert(inputs.end(), job.style_region_paths.begin(), job.style_region_paths.end());
  if (!job.mask_path.empty()) inputs.push_back(job.mask_path);
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

StyleConfig Stylizer::fit_memory(int width_px, int height_px, int masked_guides,
                                 const JobEvents& events) const {
  StyleConfig config = config_;
  const auto budget = config.max_memory_bytes > 0 ? std::optional(config.max_memory_bytes)
                                                  : available_memory_bytes(device_);
  if (!budget) return config;
  const auto [width, height] = longest_side_size(width_px, height_px, config.size_px);
  std::error_code ec;
  const auto file_bytes = fs::file_size(model_.path(), ec);
  const std::uint64_t model_bytes =
      (ec ? 0 : file_bytes) + model_.kernel_cache_bytes(plan_.deepest_index(), width, height);
  const auto& names = model_.layer_names();
  const std::string budget_text = format_bytes(*budget) + (config.max_memory_bytes > 0
                                                               ? " of --max-memory"
                                                               : " available");
  const std::string size_text = std::to_string(width) + "x" + std::to_string(height) + " px";
  if (config.tile_size_px > 0 && std::max(width, height) > config.tile_size_px) {
    const auto tiled = estimate_tiled_memory(names, plan_, width, height, config.tile_size_px,
                                             config, model_bytes, masked_guides)
                           .total_bytes();
    if (tiled <= *budget) return config;  // the user's tiles must fit
    throw MemoryError("estimated peak memory " + format_bytes(tiled) + " for " + size_text +
                      " in " + std::to_string(config.tile_size_px) + " px tiles exceeds the " +
                      budget_text + ": use a smaller --tile-size or --size");
  }
  const auto estimate =
      estimate_memory(names, plan_, width, height, config, model_bytes, masked_guides)
          .total_bytes();
  if (estimate <= *budget) return config;
  const std::string problem = "estimated peak memory " + format_bytes(estimate) + " for " +
                              size_text + " exceeds the " + budget_text;
  // Tiles whose core is at least half their side; margins round up to the deepest stride.
  const int align = 1 << model_.pools_before(plan_.deepest_index());
  const int margin = (config.tile_overlap_px + align - 1) / align * align;
  const int min_tile = std::max({kMinTileSizePx, 4 * margin, 2 * margin + align});
  const auto tile = largest_fitting_tile(names, plan_, width, height, min_tile, config,
                                         model_bytes, *budget, masked_guides);
  if (tile) return tile_to_fit(config, width, height, *tile, model_bytes, *budget, masked_guides,
                               problem, events);
  const auto fitting = largest_fitting_size(names, plan_, static_cast<double>(width) / height,
                                            config, model_bytes, *budget, masked_guides);
  if (!fitting) throw MemoryError(problem + ", and no size fits");
  if (!config.fit_memory) {
    throw MemoryError(problem + ", even in " + std::to_string(min_tile) +
                      " px tiles; the largest size that fits is " + std::to_string(*fitting) +
                      " px (use --size " + std::to_string(*fitting) +
                      ", or --fit-memory to pick it)");
  }
  notify(events, JobNotice::Level::kWarning,
         "--fit-memory: " + std::to_string(config.size_px) + " px needs an estimated " +
             format_bytes(estimate) + " (not even " + std::to_string(min_tile) +
             " px tiles fit the " + budget_text + "): using " + std::to_string(*fitting) + " px");
  config.size_px = *fitting;
  return config;
}

StyleConfig Stylizer::tile_to_fit(StyleConfig config, int width_px, int height_px, int tile_px,
                                  std::uint64_t model_bytes, std::uint64_t budget_bytes,
                                  int masked_guides, const std::string& problem,
                                  const JobEvents& events) const {
  config.tile_size_px = tile_px;
  // Coarse to fine up to the largest size that fits whole (beside the full-size buffers), in
  // equal steps of at most 4x, unless the user chose the ladder.
  const auto whole_image = estimate_tiled_memory(model_.layer_names(), plan_, width_px,
                                                 height_px, tile_px, config, model_bytes,
                                                 masked_guides)
                               .whole_image_bytes;
  const auto whole = largest_fitting_size(
      model_.layer_names(), plan_, static_cast<double>(width_px) / height_px, config, model_bytes,
      budget_bytes > whole_image ? budget_bytes - whole_image : 0, masked_guides);
  if (config.min_size_px == 0 && whole && *whole < config.size_px) {
    const double ratio = static_cast<double>(config.size_px) / *whole;
    const double steps = std::ceil(std::log(ratio) / std::log(4.0));
    config.min_size_px = *whole;
    config.scale_step = std::max(1.01, std::pow(ratio, 1.0 / steps));
  }
  const auto tiled = estimate_tiled_memory(model_.layer_names(), plan_, width_px, height_px,
                                           tile_px, config, model_bytes, masked_guides)
                         .total_bytes();
  notify(events, JobNotice::Level::kInfo,
         problem + ": scales above " + std::to_string(tile_px) + " px run in tiles of " +
             std::to_string(tile_px) + " px (estimated peak " + format_bytes(tiled) + ")");
  return config;
}

const StyleTargets& Stylizer::targets_for(const std::vector<std::string>& styles,
                                          const std::vector<std::string>& regions,
                                          const std::vector<double>& blend, int style_side,
                                          const std::string& content_path,
                                          const at::Tensor& content, const StyleConfig& config,
                                          const JobEvents& events) {
  const bool recolour = config.colour_mode == ColourMode::kStatistics;
  // Read in windows (a tiled job's large painting), deep layers differ slightly: their own key.
  const int windows = style_side > config.tile_size_px ? config.tile_size_px : 0;
  const auto key = std::make_tuple(styles, regions, style_side,
                                   recolour ? content_path : std::string(), windows);
  auto found = targets_.find(key);
  if (found != targets_.end()) return found->second;
  std::vector<at::Tensor> images;
  std::vector<at::Tensor> region_masks;
  for (std::size_t s = 0; s < styles.size(); ++s) {
    auto style = read_reporting(styles[s], style_side, events).rgb01;
    // Colour-statistics mode: the style's palette becomes the photo's before its statistics.
    if (recolour) style = match_colour_statistics(style, content);
    if (!regions.empty()) {
      bool stretched = false;
      region_masks.push_back(read_mask(regions[s], static_cast<int>(style.size(3)),
                                       static_cast<int>(style.size(2)), &stretched));
      if (stretched) warn_stretched(regions[s], styles[s], events);
    }
    images.push_back(style);
  }
  auto targets = compute_style_targets(model_, plan_, device_, images, blend, config.style_loss,
                                       region_masks,
                                       {config.tile_size_px, config.tile_overlap_px});
  return targets_.emplace(key, std::move(targets)).first->second;
}

std::vector<StyleGuide> Stylizer::guides_for(const StylizeJob& job, int style_side,
                                             const std::vector<at::Tensor>& style_masks,
                                             const at::Tensor& region, const at::Tensor& content,
                                             const StyleConfig& config,
                                             const JobEvents& events) {
  if (style_masks.empty()) {
    return {{&targets_for(job.style_paths, job.style_region_paths, config.style_blend, style_side,
                          job.content_path, content, config, events),
             region, 1.0}};
  }
  // Each style its own targets and mask; blend weights scaled to average 1, so masks that
  // tile the image push every pixel as hard as one style over the whole image does.
  const std::size_t count = job.style_paths.size();
  std::vector<double> weights(count, 1.0);
  if (!config.style_blend.empty()) {
    double sum = 0.0;
    for (double w : config.style_blend) sum += w;
    for (std::size_t k = 0; k < count; ++k) weights[k] = config.style_blend[k] * count / sum;
  }
  std::vector<StyleGuide> guides;
  for (std::size_t k = 0; k < count; ++k) {
    const std::vector<std::string> regions =
        job.style_region_paths.empty() ? std::vector<std::string>{}
                                       : std::vector<std::string>{job.style_region_paths[k]};
    const auto& targets = targets_for({job.style_paths[k]}, regions, {}, style_side,
                                      job.content_path, content, config, events);
    guides.push_back({&targets, region.defined() ? style_masks[k].mul(region) : style_masks[k],
                      weights[k]});
  }
  return guides;
}

const std::vector<at::Tensor>& Stylizer::palette(const std::vector<std::string>& styles,
                                                 const std::vector<std::string>& regions,
                                                 int side_px, const JobEvents& events) {
  auto& images = palettes_[{styles, regions}];
  if (images.empty()) {
    for (std::size_t s = 0; s < styles.size(); ++s) {
      auto image = read_reporting(styles[s], side_px, events).rgb01;
      if (!regions.empty()) {  // --style-region: the colours of that part of the painting
        image = pixels_where(image, read_mask(regions[s], static_cast<int>(image.size(3)),
                                              static_cast<int>(image.size(2))));
      }
      images.push_back(image);
    }
  }
  return images;
}

at::Tensor Stylizer::start_image(const StylizeJob& job, const at::Tensor& content,
                                 const JobMasks& masks, const StyleConfig& config,
                                 const JobEvents& events) {
  if (config.init == InitKind::kImage) {
    return load_image_rgb01_exact(config.init_path, static_cast<int>(content.size(3)),
                                  static_cast<int>(content.size(2)));
  }
  if (config.init != InitKind::kStyleColours) return {};  // StyleTransfer makes it
  // Each style's region in that style's colours (with --mask, only inside it: the feathered
  // edge of the composite must not show a recoloured but unstylized photo).
  std::vector<at::Tensor> recoloured;
  std::vector<at::Tensor> regions;
  if (masks.styles.empty()) {
    recoloured.push_back(
        match_colour_statistics(content, palette(job.style_paths, job.style_region_paths,
                                                 config.size_px, events)));
    if (!masks.region.defined()) return recoloured.front();
    regions.push_back(masks.region);
  }
  for (std::size_t k = 0; k < masks.styles.size(); ++k) {
    const std::vector<std::string> region =
        job.style_region_paths.empty() ? std::vector<std::string>{}
                                       : std::vector<std::string>{job.style_region_paths[k]};
    recoloured.push_back(match_colour_statistics(
        content, palette({job.style_paths[k]}, region, config.size_px, events)));
    regions.push_back(masks.region.defined() ? masks.styles[k].mul(masks.region)
                                             : masks.styles[k]);
  }
  return blend_by_masks(recoloured, regions, content);
}

JobResult Stylizer::optimise(const StylizeJob& job, const Image& content_image,
                             const StyleConfig& config, const JobEvents& events,
                             const std::atomic<bool>* cancel) {
  const at::Tensor& content = content_image.rgb01;
  const at::Tensor& alpha = content_image.alpha01;
  const StyleTransfer engine(model_, plan_, device_);
  JobResult result;
  result.width_px = static_cast<int>(content.size(3));
  result.height_px = static_cast<int>(content.size(2));
  const JobMasks masks = read_masks(job, result.width_px, result.height_px, events);
  auto guides_for_side = [&](int side) {
    return guides_for(job, side, masks.styles, masks.region, content, config, events);
  };
  const auto scales = scale_ladder(config.size_px, config.min_size_px, config.scale_step);
  // Every style image is read up front, so a broken one fails the job before any work.
  guides_for_side(style_side_px(scales.front(), config.style_scale));
  const at::Tensor init = start_image(job, content, masks, config, events);
  if (events.on_start) events.on_start({result.width_px, result.height_px, scales, config});
  const at::Tensor keep_photo_alpha =
      masks.region.defined() ? feather_mask(masks.region, config.mask_feather_px) : at::Tensor();
  auto finish = [&](at::Tensor image) {  // colour mode and mask, applied to snapshots too
    if (config.colour_mode == ColourMode::kLuminance) image = keep_content_colours(image, content);
    return keep_photo_alpha.defined() ? composite(image, content, keep_photo_alpha) : image;
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
      engine.run_coarse_to_fine(content, guides_for_side, config, init, on_progress, cancel);
  result.transfer.image_rgb01 = finish(result.transfer.image_rgb01);
  return result;
}

Stylizer::JobMasks Stylizer::read_masks(const StylizeJob& job, int width_px, int height_px,
                                        const JobEvents& events) const {
  JobMasks masks;
  auto read = [&](const std::string& path) {
    bool stretched = false;
    auto mask = read_mask(path, width_px, height_px, &stretched);
    if (stretched) warn_stretched(path, job.content_path, events);
    return mask;
  };
  for (const auto& path : job.style_mask_paths) masks.styles.push_back(read(path));
  if (!job.mask_path.empty()) masks.region = read(job.mask_path);
  return masks;
}

JobResult Stylizer::run(const StylizeJob& job, const JobEvents& events,
                        const std::atomic<bool>* cancel) {
  require_one_per_style(job.style_mask_paths, job.style_paths.size(), "style masks");
  require_one_per_style(job.style_region_paths, job.style_paths.size(), "style regions");
  check_output_is_not_an_input(job.output_path, job_inputs(job, config_, model_.path()));
  check_output_writable(job.output_path);
  // The memory check needs only the header: nothing large is decoded before it passes.
  const auto bytes = read_file_bytes(job.content_path);
  const auto [width, height] = encoded_image_size(bytes, job.content_path);
  const int masked_guides = !job.style_mask_paths.empty()
                                ? static_cast<int>(job.style_mask_paths.size())
                                : (job.mask_path.empty() ? 0 : 1);
  StyleConfig config = fit_memory(width, height, masked_guides, events);
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
  // The photo's colour profile stays with it, and the settings that made the image go along.
  write_output(result.transfer.image_rgb01, job.output_path, result.transfer.cancelled,
               content.alpha01, {job.settings, content.icc_profile});
  result.written = true;
  return result;
}

void write_output(const at::Tensor& image_rgb01, const std::string& path, bool unfinished,
                  const at::Tensor& alpha01, const ImageMetadata& metadata) {
  const auto mark = interrupted_mark(path);
  if (unfinished) {  // marked first: a crash in between leaves it unfinished
    write_file_atomically(mark.string(), std::vector<std::uint8_t>{'\n'});
  }
  save_image(image_rgb01, path, alpha01, metadata);
  if (!unfinished) {
    std::error_code ec;
    fs::remove(mark, ec);
  }
}

}  // namespace stylize
