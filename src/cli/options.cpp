#include "options.hpp"
#include "settings_from.hpp"

#include "option_groups.hpp"

#include <stylize/device.hpp>
#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>
#include <stylize/memory.hpp>
#include <stylize/version.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/core/version.hpp>

#include <algorithm>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

namespace stylize::cli {
namespace option_groups {

void add_pooling(CLI::App& app, StyleConfig& c) {
  app.add_option("--pooling", c.average_pooling, "max or avg (average pooling is smoother)")
      ->transform(one_of(std::vector<std::pair<std::string, bool>>{{"max", false},
                                                                    {"avg", true}}))
      ->type_name("max|avg")
      ->default_str(c.average_pooling ? "avg" : "max");
}

/// The look options that concern the painting (style transfer and texture).
void add_style_look(CLI::App& app, StyleConfig& c) {
  app.add_option("--style-weight", c.style_weight, "Weight of the style loss")
      ->capture_default_str();
  app.add_option("--tv-weight", c.tv_weight, "Weight of the total-variation (smoothness) loss")
      ->capture_default_str();
  app.add_option("--style-scale", c.style_scale,
                 "Style image's longest side, as a multiple of --size")
      ->capture_default_str();
  app.add_option("--style-blend", c.style_blend,
                 "Weights of the style images, comma-separated (default: equal)")
      ->delimiter(',')
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  add_enum(app, "--style-loss", c.style_loss,
           "gram (Gatys); mean-cov (channel means and covariances); w2 (Wasserstein-2 "
           "between the features' Gaussians: stronger, truer colours and contrast)");
  add_pooling(app, c);
  app.add_option_function<std::string>(
      "--style-layers", [&c](const std::string& text) { c.style_layers = parse_layer_list(text); },
      "Style layers with optional weights, e.g. relu1_1:2,relu2_1 (default: relu1_1 relu2_1 "
      "relu3_1 relu4_1 relu5_1 where present)");
  app.add_flag("--normalize-weights", c.normalize_weights,
               "Divide each layer's weight by its channel count (favours fine texture)");
}

void add_optimisation(CLI::App& app, StyleConfig& c, CliOptions& o) {
  const GroupFrom grouped(app, kOptimisation);
  CLI::App* group = &app;
  add_enum(*group, "--optimizer", c.optimizer, "lbfgs or adam");
  group->add_option("--learning-rate", c.learning_rate,
                    fmt::format("Step size (default: {} for lbfgs, {} for adam, pixels in [0,1])",
                                kDefaultLbfgsLearningRate, kDefaultAdamLearningRate));
  group->add_option("--lbfgs-history", c.lbfgs_history,
                    "L-BFGS correction pairs kept; memory grows with it")
      ->capture_default_str();
  group->add_option("--average-decay", c.average_decay,
                    "Adam: output the moving average of the iterates with this decay (0: the last)")
      ->capture_default_str();
  group->add_flag("--normalize-gradients", c.normalize_gradients,
                  "Scale each layer's gradient to unit L1 norm times its weight (L-BFGS then runs "
                  "without line search)");
  group->add_option("--min-size", c.min_size_px,
                    "Coarse-to-fine: start at this size (px) and grow by --scale-step up to "
                    "--size, each scale starting from the last (0: one scale)")
      ->capture_default_str();
  group->add_option("--scale-step", c.scale_step, "Coarse-to-fine: size factor between scales")
      ->capture_default_str();
  group->add_option("--initial-iterations", c.initial_iterations,
                    "Coarse-to-fine: iterations at the first scale (0: --iterations)")
      ->capture_default_str();
  group->add_option("--tolerance", c.tolerance,
                    "Stop early when the loss improved by less than this fraction over "
                    "--tolerance-window iterations (0: run all iterations)")
      ->capture_default_str();
  group->add_option("--tolerance-window", c.tolerance_window_iters,
                    "Iterations over which --tolerance measures the improvement")
      ->capture_default_str();
  group->add_option("--seed", o.seed, "Random seed (default: random, and printed)");
}

void add_performance(CLI::App& app, CliOptions& o, bool with_memory) {
  StyleConfig& c = o.config;
  const GroupFrom grouped(app, kPerformance);
  CLI::App* group = &app;
  group->add_option("--device", o.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  group->add_option("--threads", o.threads, "CPU threads (0: all cores)")->capture_default_str();
  add_enum(*group, "--precision", c.precision,
           "Network arithmetic: fp32; tf32, fp16 (CUDA); bf16 (image and losses stay fp32)");
  add_enum(*group, "--conv", c.conv_algorithm,
           "CPU convolutions: winograd (F(4x4,3x3) on AVX2 or AVX-512 CPUs, 1.7-2x faster per "
           "iteration; STYLIZE_MAX_ISA=avx2|baseline caps the CPU kernels), direct (as "
           "PyTorch), auto (winograd where it runs)");
  if (!with_memory) return;
  group->add_option_function<std::string>(
      "--max-memory",
      [&c](const std::string& text) { c.max_memory_bytes = parse_memory_size(text); },
      "Memory budget, e.g. 4G or 800M (default: what the machine has available)");
  group->add_flag("--fit-memory", c.fit_memory,
                  "When not even tiles fit the budget, lower --size to the largest size that "
                  "fits instead of failing");
  group->add_option("--tile-size", c.tile_size_px,
                    "Optimise scales larger than this many px in overlapping tiles of this size "
                    "(default: only when the image does not fit the memory budget)");
  group->add_option("--tile-overlap", c.tile_overlap_px,
                    "Context around each tile, optimised and blended away, in px")
      ->capture_default_str();
  group->add_option("--tile-passes", c.tile_passes,
                    "Passes over a tiled scale, each with the tile grid shifted")
      ->capture_default_str();
}

std::string settings_json(const std::vector<std::string>& args, std::uint64_t seed,
                          const std::string& model) {
  nlohmann::ordered_json json;
  json["stylize"] = kVersion;
  json["seed"] = seed;
  json["model"] = model;
  json["args"] = args;
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace option_groups

namespace {
using namespace option_groups;  // NOLINT(google-build-using-namespace): this file's own groups

void add_input_output(CLI::App& app, CliOptions& o) {
  const GroupFrom grouped(app, kInputOutput);
  StyleConfig& c = o.config;
  app.add_option("-c,--content", o.content_paths,
                 "Content image (the photo); repeat, or give directories or quoted patterns "
                 "like 'photos/*.jpg', for a batch; or one video (mp4, m4v, mov, mkv, avi, webm, "
                 "mpg, wmv, or frames as a pattern like 'frames/%04d.png')")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("-s,--style", o.style_paths,
                 "Style image (the painting); repeat to blend several styles")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("-o,--output", o.output_path,
                 fmt::format("Output image; format from the extension: png, jpg, webp, tif, bmp "
                             "(default: {}). A video's: .mp4/.m4v/.mov/.mkv (H.264), .avi "
                             "(MPEG-4), .webm (VP9), with the source's audio when ffmpeg is installed, or "
                             "frames as a pattern like 'out/%04d.png' (default: {})",
                             kDefaultOutput, kDefaultVideoOutput));
  // Before the options it sets: CLI11 applies options in the order they are defined, so those
  // given explicitly win over the look's, wherever they stand on the command line.
  app.add_option_function<std::string>(
         "--look",
         [&c](const std::string& text) {
           for (const auto& entry : enum_names(Look{})) {
             if (text == entry.name) return apply_look(entry.value, c);
           }
           throw CLI::ValidationError("--look", text + " not in {painterly,subtle}");
         },
         fmt::format("painterly: the scene repainted in the painting's strokes (--content-weight "
                     "{}, --min-size {}, -n {}); subtle: the photo kept, the painting's texture "
                     "over it (--content-weight {}, one scale, -n {}); options given as well win",
                     kPainterlyLook.content_weight, kPainterlyLook.min_size_px,
                     kPainterlyLook.iterations, kSubtleLook.content_weight,
                     kSubtleLook.iterations))
      ->type_name("painterly|subtle")
      ->default_str("painterly");
  app.add_option("--size", c.size_px, "Longest side of the output in px")->capture_default_str();
  app.add_option("-n,--iterations", c.iterations,
                 "Optimisation steps (one evaluation each) at each scale")
      ->capture_default_str();
  app.add_option("--settings-from", o.settings_from,
                 "Re-run with the settings stored in a stylize output (PNG, JPEG); options given "
                 "as well override them");
  app.add_option("--model", o.model_path,
                 "TorchScript VGG model (default: $STYLIZE_MODEL, ./models/vgg19.pt, "
                 "<exe>/../models/vgg19.pt, <exe>/../share/stylize/vgg19.pt)");
}

void add_look(CLI::App& app, StyleConfig& c) {
  const GroupFrom grouped(app, kLook);
  add_style_look(app, c);
  app.add_option("--content-weight", c.content_weight, "Weight of the content loss")
      ->capture_default_str();
  add_enum(app, "--preserve-colors", c.colour_mode,
           "none; luminance (transfer brightness only, keep the photo's colours); stats "
           "(recolour the style to the photo's colour statistics first)");
  app.add_option_function<std::string>(
      "--content-layers", [&c](const std::string& text) { c.content_layers = parse_layer_list(text); },
      "Content layers with optional weights, e.g. relu4_2 or relu3_2:1,relu4_2:2 (default: "
      "relu4_2, or the deepest reluB_2 the model has)");
  app.add_option_function<std::string>(
         "--init",
         [&c](const std::string& text) {
           c.init = InitKind::kImage;
           c.init_path = text;
           for (const auto& entry : enum_names(InitKind{})) {
             if (text == entry.name) c.init = entry.value;
           }
         },
         "Start image: auto (style-colors, or content with --preserve-colors); content; "
         "style-colors (the photo recoloured to the style's colour statistics: reaches the "
         "same loss sooner); noise; or an image file")
      ->type_name("auto|content|style-colors|noise|FILE")
      ->default_str(name_of(c.init));
}

void add_masks(CLI::App& app, CliOptions& o) {
  const GroupFrom grouped(app, kMasks);
  app.add_option("--style-mask", o.masks.style_masks,
                 "One per --style, in order: the style applies where its mask is white (grey: "
                 "partly; the alpha channel if it has one, else brightness). {content} in the "
                 "path stands for the photo's name")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--mask", o.masks.mask,
                 "Stylize only where this mask is white; elsewhere the output is the photo");
  app.add_option("--mask-feather", o.config.mask_feather_px,
                 "Width in px of the soft edge between --mask's region and the photo")
      ->capture_default_str();
  app.add_option("--style-region", o.masks.style_regions,
                 "One per --style, in order: take that painting's style only from where this "
                 "mask is white (e.g. only its sky)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

void add_video(CLI::App& app, CliOptions& o) {
  const GroupFrom grouped(app, kVideo);
  VideoSettings& v = o.video;
  add_enum(app, "--flow", v.flow,
           "Optical flow between frames: dis (fast); deepflow (Ruder et al.'s, slower); "
           "farneback");
  app.add_option("--temporal-weight", v.temporal_weight,
                 "Weight of the loss that holds each frame to the previous ones warped by the "
                 "flow (0: every frame on its own, flickering)")
      ->capture_default_str();
  app.add_option("--frame-iterations", v.frame_iterations,
                 "Iterations of each frame after the first, which starts from the previous "
                 "one (0: as --iterations)")
      ->capture_default_str();
  app.add_option_function<std::string>(
         "--temporal-frames",
         [&v](const std::string& text) { v.temporal_frames = parse_frame_offsets(text); },
         "The earlier frames each frame is held to, 1 the previous: e.g. 1,2,4 for long-term "
         "consistency")
      ->default_str("1");
  app.add_option_function<std::string>(
         "--frames", [&v](const std::string& text) { parse_frame_range(text, v); },
         "Only these frames of the video, 1-based: FIRST-LAST, FIRST- or N")
      ->type_name("RANGE");
  app.add_option("--shard-lead", v.shard_lead_frames,
                 "With --shard: frames each chunk after the first starts early, to set its "
                 "chain going and fade in over the end of the chunk before")
      ->capture_default_str();
}

void add_batch(CLI::App& app, CliOptions& o) {
  const GroupFrom grouped(app, kBatch);
  CLI::App* group = &app;
  group->add_option("--output-dir", o.output_dir,
                    "Batch output directory (created if missing); files named by --name");
  group->add_option("--name", o.name_pattern,
                    "Output file name in --output-dir; placeholders {content} {style} {index} "
                    "{size}")
      ->capture_default_str();
  group->add_flag("--each-style", o.each_style,
                  "Run each --style on its own (every content with every style) instead of "
                  "blending them");
  group->add_flag("--skip-existing", o.skip_existing,
                  "Skip images whose output already exists (outputs are written atomically)");
  group->add_option("--shard", o.shard,
                    "Process shard I of N (1-based, e.g. 2/8) of the work list; default: from "
                    "SLURM_ARRAY_TASK_ID/_COUNT when set");
  group->add_option("--progress-json", o.progress_json,
                    "Write JSON-lines progress to FILE, or - for standard output");
  group->add_flag("--dry-run", o.dry_run, "Print the planned work list and exit");
}

void add_diagnostics(CLI::App& app, CliOptions& o) {
  StyleConfig& c = o.config;
  const GroupFrom grouped(app, kDiagnostics);
  CLI::App* group = &app;
  group->add_option("--save-every", c.snapshot_every_iters,
                    "Write an intermediate image every N iterations as <output>_<N>.<ext> (0: off)")
      ->capture_default_str();
  group->add_option("--print-every", c.report_every_iters, "Log losses every N iterations (0: off)")
      ->capture_default_str();
  group->add_flag("--list-layers", o.list_layers, "List the model's layers and exit");
  group->add_option("--measure", o.measure_paths,
                    "Make nothing: score these images against --content and --style (one JSON "
                    "line each: content and style distance, style ratio to the untouched photo)")
      ->expected(1, -1);
  group->add_option("--measure-size", o.measure_size_px,
                    "Longest side, in px, at which --measure compares all images")
      ->capture_default_str();
  group->add_flag_function(
      "-q,--quiet", [&o](std::int64_t) { o.verbosity = -1; }, "Only warnings and errors");
  group->add_flag_function(
      "-v,--verbose", [&o](std::int64_t) { o.verbosity = 1; }, "Debug output");
  app.set_version_flag("--version", std::string("stylize ") + kVersion + " (" +
                                        library_versions() + ", OpenCV " CV_VERSION ")");
  app.get_help_ptr()->group(kInputOutput);
}

// Options that name a job's inputs and outputs or the batch around it: a job's stored settings
// replace them with that job's own.
const std::vector<std::string> kJobValueOptions = {
    "-c",     "--content",         "-s",     "--style",      "--style-mask", "--style-region",
    "--mask", "-o",                "--output", "--output-dir", "--name",      "--shard",
    "--progress-json", "--seed"};
const std::vector<std::string> kJobFlags = {"--each-style", "--skip-existing", "--dry-run"};

}  // namespace

std::string job_settings(const std::vector<std::string>& args, const Job& job, std::uint64_t seed,
                         const std::string& model) {
  std::vector<std::string> kept;
  auto listed = [](const std::vector<std::string>& names, const std::string& arg) {
    for (const auto& name : names) {
      // --name, --name=value, and for one-letter names the value attached (-cphoto.jpg)
      const bool short_name = name.size() == 2;
      if (arg == name || arg.rfind(name + "=", 0) == 0 ||
          (short_name && arg.rfind(name, 0) == 0)) {
        return true;
      }
    }
    return false;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (listed(kJobFlags, args[i])) continue;
    if (listed(kJobValueOptions, args[i])) {
      // "-c a.jpg b.jpg" takes every value up to the next option
      const bool value_attached = args[i].find('=') != std::string::npos ||
                                  (args[i].size() > 2 && args[i][1] != '-');
      if (!value_attached) {
        while (i + 1 < args.size() && (args[i + 1].empty() || args[i + 1][0] != '-')) ++i;
      }
      continue;
    }
    kept.push_back(args[i]);
  }
  kept.insert(kept.end(), {"-c", job.content});
  for (const auto& style : job.styles) kept.insert(kept.end(), {"-s", style});
  for (const auto& mask : job.style_masks) kept.insert(kept.end(), {"--style-mask", mask});
  for (const auto& region : job.style_regions) kept.insert(kept.end(), {"--style-region", region});
  if (!job.mask.empty()) kept.insert(kept.end(), {"--mask", job.mask});
  kept.insert(kept.end(), {"-o", job.output, "--seed", std::to_string(seed)});
  return option_groups::settings_json(kept, seed, model);
}

namespace {

CLI::App& configure(CLI::App& app, ParsedArgs& parsed) {
  // A repeated single-value option overrides the earlier one, so scripts can append overrides.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  add_input_output(app, parsed.options);
  add_look(app, parsed.options.config);
  add_masks(app, parsed.options);
  add_optimisation(app, parsed.options.config, parsed.options);
  add_video(app, parsed.options);
  add_batch(app, parsed.options);
  add_performance(app, parsed.options);
  add_diagnostics(app, parsed.options);
  return app;
}

}  // namespace

void parse_frame_range(const std::string& text, VideoSettings& video) {
  auto number = [&text](const std::string& part) {
    if (part.empty() || part.size() > 7 ||
        part.find_first_not_of("0123456789") != std::string::npos || std::stoi(part) < 1) {
      throw ConfigError("invalid --frames '" + text +
                        "': expected FIRST-LAST, FIRST- or N, frames counted from 1");
    }
    return std::stoi(part);
  };
  const auto dash = text.find('-');
  if (dash == std::string::npos) {
    video.first_frame = video.last_frame = number(text);
    return;
  }
  video.first_frame = number(text.substr(0, dash));
  video.last_frame = dash + 1 == text.size() ? 0 : number(text.substr(dash + 1));
  if (video.last_frame != 0 && video.last_frame < video.first_frame) {
    throw ConfigError("invalid --frames '" + text + "': the last frame is before the first");
  }
}

std::vector<int> parse_frame_offsets(const std::string& text) {
  std::vector<int> offsets;
  std::stringstream parts(text);
  std::string part;
  while (std::getline(parts, part, ',')) {
    if (part.empty() || part.size() > 3 || part.find_first_not_of("0123456789") != std::string::npos) {
      throw ConfigError("invalid --temporal-frames '" + text +
                        "': expected frame offsets like 1,2,4");
    }
    offsets.push_back(std::stoi(part));
  }
  if (offsets.empty()) throw ConfigError("invalid --temporal-frames '': expected e.g. 1,2,4");
  return offsets;
}

ParsedArgs parse_args(const std::vector<std::string>& args) {
  if (!args.empty()) {
    const auto& names = subcommands();
    if (std::find(names.begin(), names.end(), args.front()) != names.end()) {
      return parse_subcommand(args.front(), {args.begin() + 1, args.end()});
    }
  }
  ParsedArgs parsed;
  CLI::App app("stylize: neural style transfer (Gatys et al.) from the command line", "stylize");
  app.footer("Also: stylize texture | reconstruct | visualize (see stylize COMMAND --help): "
             "textures, reconstructions and channel pictures from the same network.");
  configure(app, parsed);
  const auto given = without_settings_from(args, &parsed.options.settings_from);
  std::vector<std::string> stored;
  if (!parsed.options.settings_from.empty()) stored = stored_args(parsed.options.settings_from);
  const auto& names = subcommands();
  if (!stored.empty() && std::find(names.begin(), names.end(), stored.front()) != names.end()) {
    // A subcommand's output: its stored arguments, then those given (a later value wins).
    std::vector<std::string> rest(stored.begin() + 1, stored.end());
    rest.insert(rest.end(), given.begin(), given.end());
    ParsedArgs view = parse_subcommand(stored.front(), rest);
    view.options.settings_from = parsed.options.settings_from;
    return view;
  }
  auto given_look = [&given] {
    return std::any_of(given.begin(), given.end(), [](const std::string& arg) {
      return arg == "--look" || arg.rfind("--look=", 0) == 0;
    });
  };
  if (given_look()) stored = without_look_options(stored);  // the look given replaces them
  parsed.effective_args = stored;
  parsed.effective_args.insert(parsed.effective_args.end(), given.begin(), given.end());
  try {
    // Two passes over the same options: what is given replaces what is stored, a repeated
    // option (--content, --style) wholesale.
    for (const std::vector<std::string>* pass : {static_cast<const std::vector<std::string>*>(&stored), &given}) {
      if (pass == &stored && stored.empty()) continue;
      std::vector<std::string> reversed(pass->rbegin(), pass->rend());  // CLI11 wants them so
      app.parse(reversed);
    }
  } catch (const CLI::CallForHelp&) {
    parsed.print_and_exit = app.help();
  } catch (const CLI::CallForAllHelp&) {
    parsed.print_and_exit = app.help("", CLI::AppFormatMode::All);
  } catch (const CLI::CallForVersion& e) {
    parsed.print_and_exit = std::string(e.what()) + "\n";
  } catch (const CLI::ParseError& e) {
    throw UsageError(e.what());
  }
  return parsed;
}

}  // namespace stylize::cli
