#include "cli.hpp"

#include "batch.hpp"
#include "interrupt.hpp"
#include "progress.hpp"
#include "tensor_heap.hpp"

#include <stylize/colour.hpp>
#include <stylize/device.hpp>
#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>
#include <stylize/memory.hpp>
#include <stylize/quality.hpp>
#include <stylize/style_transfer.hpp>
#include <stylize/version.hpp>
#include <stylize/vgg_features.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <tuple>

namespace stylize::cli {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDefaultModelName = "vgg19.pt";
constexpr const char* kDefaultOutput = "out.png";

void add_options(CLI::App& app, CliOptions& o) {
  StyleConfig& c = o.config;
  // A repeated single-value option overrides the earlier one, so scripts can append overrides.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("-c,--content", o.content_paths,
                 "Content image (the photo); repeat, or give directories or quoted patterns "
                 "like 'photos/*.jpg', for a batch")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("-s,--style", o.style_paths,
                 "Style image (the painting); repeat to blend several styles")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--style-blend", c.style_blend,
                 "Weights of the style images, comma-separated (default: equal)")
      ->delimiter(',')
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("-o,--output", o.output_path,
                 std::string("Output image; format from the extension: png, jpg, webp, tif, "
                             "bmp (default: ") + kDefaultOutput + ")");
  app.add_option("--output-dir", o.output_dir,
                 "Batch output directory (created if missing); files named by --name");
  app.add_option("--name", o.name_pattern,
                 "Output file name in --output-dir; placeholders {content} {style} {index} {size}")
      ->capture_default_str();
  app.add_flag("--each-style", o.each_style,
               "Run each --style on its own (every content with every style) instead of "
               "blending them");
  app.add_flag("--skip-existing", o.skip_existing,
               "Skip images whose output already exists (outputs are written atomically)");
  app.add_option("--shard", o.shard,
                 "Process shard I of N (1-based, e.g. 2/8) of the work list; default: from "
                 "SLURM_ARRAY_TASK_ID/_COUNT when set");
  app.add_option("--progress-json", o.progress_json,
                 "Write JSON-lines progress to FILE, or - for standard output");
  app.add_flag("--dry-run", o.dry_run, "Print the planned work list and exit");
  app.add_option("--size", c.size_px, "Longest side of the output in px")->capture_default_str();
  app.add_option("--style-scale", c.style_scale,
                 "Style image's longest side, as a multiple of --size")
      ->capture_default_str();
  app.add_option("-n,--iterations", c.iterations, "Optimisation steps (one evaluation each)")
      ->capture_default_str();
  app.add_option("--min-size", c.min_size_px,
                 "Coarse-to-fine: start at this size (px) and grow by --scale-step up to --size, "
                 "each scale starting from the last (0: one scale)")
      ->capture_default_str();
  app.add_option("--scale-step", c.scale_step, "Coarse-to-fine: size factor between scales")
      ->capture_default_str();
  app.add_option("--initial-iterations", c.initial_iterations,
                 "Coarse-to-fine: iterations at the first scale (0: --iterations)")
      ->capture_default_str();
  app.add_option("--pooling", o.pooling, "max or avg (average pooling is smoother)")
      ->check(CLI::IsMember({"max", "avg"}))
      ->capture_default_str();
  app.add_option("--preserve-colors", o.preserve_colors,
                 "none; luminance (transfer brightness only, keep the photo's colours); stats "
                 "(recolour the style to the photo's colour statistics first)")
      ->check(CLI::IsMember({"none", "luminance", "stats"}))
      ->capture_default_str();
  app.add_option("--optimizer", o.optimizer, "lbfgs or adam")
      ->check(CLI::IsMember({"lbfgs", "adam"}))
      ->capture_default_str();
  app.add_option("--learning-rate", c.learning_rate,
                 fmt::format("Step size (default: {} for lbfgs, {} for adam, pixels in [0,1])",
                             kDefaultLbfgsLearningRate, kDefaultAdamLearningRate));
  app.add_option("--lbfgs-history", c.lbfgs_history,
                 "L-BFGS correction pairs kept; memory grows with it")
      ->capture_default_str();
  app.add_option("--average-decay", c.average_decay,
                 "Adam: output the moving average of the iterates with this decay (0: the last)")
      ->capture_default_str();
  app.add_option("--style-loss", o.style_loss,
                 "gram (Gatys); mean-cov (channel means and covariances); w2 (Wasserstein-2 "
                 "between the features' Gaussians: stronger, truer colours and contrast)")
      ->check(CLI::IsMember({"gram", "mean-cov", "w2"}))
      ->capture_default_str();
  app.add_flag("--normalize-weights", c.normalize_weights,
               "Divide each layer's weight by its channel count (favours fine texture)");
  app.add_flag("--normalize-gradients", c.normalize_gradients,
               "Scale each layer's gradient to unit L1 norm times its weight (L-BFGS then runs "
               "without line search)");
  app.add_option("--precision", o.precision,
                 "Network arithmetic: fp32; tf32, fp16 (CUDA); bf16 (image and losses stay fp32)")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16", "fp16"}))
      ->capture_default_str();
  app.add_option("--conv", o.conv,
                 "CPU convolutions: winograd (oneDNN, ~1.5x faster where the CPU has AVX-512), "
                 "direct (as PyTorch), auto (winograd where it runs)")
      ->check(CLI::IsMember({"auto", "direct", "winograd"}))
      ->capture_default_str();
  app.add_option("--content-weight", c.content_weight, "Weight of the content loss")
      ->capture_default_str();
  app.add_option("--style-weight", c.style_weight, "Weight of the style loss")
      ->capture_default_str();
  app.add_option("--tv-weight", c.tv_weight, "Weight of the total-variation (smoothness) loss")
      ->capture_default_str();
  app.add_option("--content-layers", o.content_layers,
                 "Content layers with optional weights, e.g. relu4_2 or relu3_2:1,relu4_2:2 "
                 "(default: relu4_2, or the deepest reluB_2 the model has)");
  app.add_option("--style-layers", o.style_layers,
                 "Style layers with optional weights, e.g. relu1_1:2,relu2_1 "
                 "(default: relu1_1 relu2_1 relu3_1 relu4_1 relu5_1 where present)");
  app.add_option("--tolerance", c.tolerance,
                 "Stop early when the loss improved by less than this fraction over "
                 "--tolerance-window iterations (0: run all iterations)")
      ->capture_default_str();
  app.add_option("--tolerance-window", c.tolerance_window_iters,
                 "Iterations over which --tolerance measures the improvement")
      ->capture_default_str();
  app.add_option("--init", o.init,
                 "Start image: auto (style-colors, or content with --preserve-colors); content; "
                 "style-colors (the photo recoloured to the style's colour statistics: reaches "
                 "the same loss sooner); noise; or an image file")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "Random seed (default: random, and printed)");
  app.add_option("--device", o.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads (0: all cores)")->capture_default_str();
  app.add_option("--model", o.model_path,
                 "TorchScript VGG model (default: $STYLIZE_MODEL, ./models/vgg19.pt, "
                 "<exe>/../models/vgg19.pt, <exe>/../share/stylize/vgg19.pt)");
  app.add_option("--save-every", c.snapshot_every_iters,
                 "Write an intermediate image every N iterations as <output>_<N>.<ext> (0: off)")
      ->capture_default_str();
  app.add_option("--print-every", c.report_every_iters, "Log losses every N iterations (0: off)")
      ->capture_default_str();
  app.add_option("--max-memory", o.max_memory,
                 "Memory budget, e.g. 4G or 800M (default: what the machine has available)");
  app.add_flag("--fit-memory", o.fit_memory,
               "Lower --size to the largest size whose estimated peak memory fits");
  app.add_flag("--list-layers", o.list_layers, "List the model's layers and exit");
  app.add_option("--measure", o.measure_paths,
                 "Make nothing: score these images against --content and --style (one JSON "
                 "line each: content and style distance, style ratio to the untouched photo)")
      ->expected(1, -1);
  app.add_option("--measure-size", o.measure_size_px,
                 "Longest side, in px, at which --measure compares all images")
      ->capture_default_str();
  app.add_flag_function(
      "-q,--quiet", [&o](std::int64_t) { o.verbosity = -1; }, "Only warnings and errors");
  app.add_flag_function(
      "-v,--verbose", [&o](std::int64_t) { o.verbosity = 1; }, "Debug output");
  app.set_version_flag("--version", std::string("stylize ") + kVersion);
}

std::string executable_dir() {
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

}  // namespace

StyleConfig resolve_config(const CliOptions& o) {
  StyleConfig config = o.config;
  if (!o.content_layers.empty()) config.content_layers = parse_layer_list(o.content_layers);
  if (!o.style_layers.empty()) config.style_layers = parse_layer_list(o.style_layers);
  config.optimizer = o.optimizer == "adam" ? OptimizerKind::kAdam : OptimizerKind::kLbfgs;
  config.average_pooling = o.pooling == "avg";
  config.style_loss = o.style_loss == "w2"         ? StyleLossKind::kW2
                      : o.style_loss == "mean-cov" ? StyleLossKind::kMeanCov
                                                   : StyleLossKind::kGram;
  config.precision = o.precision == "tf32"   ? Precision::kTf32
                     : o.precision == "bf16" ? Precision::kBf16
                     : o.precision == "fp16" ? Precision::kFp16
                                             : Precision::kFp32;
  config.conv_algorithm = o.conv == "direct"     ? ConvAlgorithm::kDirect
                          : o.conv == "winograd" ? ConvAlgorithm::kWinograd
                                                 : ConvAlgorithm::kAuto;
  // The warm start would paint the photo in the style's colours, which --preserve-colors keeps
  // out of the result.
  const std::string init =
      o.init != "auto" ? o.init : (o.preserve_colors == "none" ? "style-colors" : "content");
  if (init == "content") {
    config.init = InitKind::kContent;
  } else if (init == "noise") {
    config.init = InitKind::kNoise;
  } else if (init == "style-colors") {
    config.init = InitKind::kStyleColours;
  } else {
    config.init = InitKind::kImage;
    config.init_path = init;
  }
  return config;
}

namespace {

/// --measure: one JSON line per image with its distances from the content and the style.
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

int exit_code_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kConfig:
      return kExitUsage;
    case ErrorKind::kInput:
      return kExitInput;
    case ErrorKind::kModel:
      return kExitModel;
    case ErrorKind::kOutput:
      return kExitOutput;
    case ErrorKind::kDevice:
      return kExitDevice;
    case ErrorKind::kMemory:
      return kExitMemory;
  }
  return kExitInternal;
}

/// Checks the estimated peak memory against --max-memory or what is available, before any large
/// allocation; with --fit-memory lowers config.size_px instead of failing.
/// Returns true when it changed the size (the content must then be loaded again).
bool fit_memory_budget(const CliOptions& o, const VggFeatures& model, const LayerPlan& plan,
                       const c10::Device& device, const at::Tensor& content,
                       StyleConfig& config, spdlog::logger& log) {
  const auto budget = o.max_memory.empty() ? available_memory_bytes(device)
                                           : std::optional(parse_memory_size(o.max_memory));
  if (!budget) return false;
  const int width = static_cast<int>(content.size(3));
  const int height = static_cast<int>(content.size(2));
  std::error_code ec;
  const auto model_bytes = fs::file_size(model.path(), ec);
  const auto estimate = estimate_memory(model.layer_names(), plan, width, height, config,
                                        ec ? 0 : model_bytes);
  log.debug("estimated peak memory {} for {}x{} px (budget {})",
            format_bytes(estimate.total_bytes()), width, height, format_bytes(*budget));
  if (estimate.total_bytes() <= *budget) return false;
  const auto fitting = largest_fitting_size(model.layer_names(), plan,
                                            static_cast<double>(width) / height, config,
                                            ec ? 0 : model_bytes, *budget);
  const std::string budget_text =
      format_bytes(*budget) + (o.max_memory.empty() ? " available" : " of --max-memory");
  if (!fitting) {
    throw MemoryError("estimated peak memory " + format_bytes(estimate.total_bytes()) + " for " +
                      std::to_string(width) + "x" + std::to_string(height) + " px exceeds the " +
                      budget_text + ", and no size fits");
  }
  if (!o.fit_memory) {
    throw MemoryError("estimated peak memory " + format_bytes(estimate.total_bytes()) + " for " +
                      std::to_string(width) + "x" + std::to_string(height) + " px exceeds the " +
                      budget_text + "; the largest size that fits is " +
                      std::to_string(*fitting) + " px (use --size " + std::to_string(*fitting) +
                      ", or --fit-memory to pick it)");
  }
  log.warn("--fit-memory: {} px needs an estimated {}, more than the {}: using {} px",
           config.size_px, format_bytes(estimate.total_bytes()), budget_text, *fitting);
  config.size_px = *fitting;
  return true;
}

/// The model, engine and per-style-set targets shared by every job of a run.
struct Session {
  const CliOptions& options;
  StyleConfig config;
  VggFeatures& model;
  const LayerPlan& plan;
  c10::Device device;
  spdlog::logger& log;
  std::ostream& err;
  bool err_is_terminal;
  JsonLines* json;
  const InterruptGuard& interrupt;
  /// Style targets by (style set, style side in px, content for --preserve-colors stats):
  /// computed once, reused by every content image.
  std::map<std::tuple<std::size_t, int, std::string>, StyleTargets> targets;
  /// Style images by style set for --init style-colors (only their colours are used): loaded once.
  std::map<std::size_t, std::vector<at::Tensor>> init_palettes;
};

JobRecord record_for(const Job& job, const char* status) {
  JobRecord record;
  record.job = job.index;
  record.status = status;
  record.input = job.content;
  record.styles = job.styles;
  record.output = job.output;
  return record;
}

/// Runs one job; throws stylize::Error for what makes this job (not the run) fail.
JobRecord run_job(Session& session, const Job& job, const std::string& label) {
  const auto& o = session.options;
  auto& log = session.log;
  const auto start = std::chrono::steady_clock::now();
  JobRecord record = record_for(job, "failed");
  if (!o.output_dir.empty()) {  // --name may put outputs in subdirectories
    std::error_code ec;
    fs::create_directories(fs::path(job.output).parent_path(), ec);
  }
  check_output_writable(job.output);
  StyleConfig config = session.config;
  Image content_image = read_image(job.content, config.size_px);
  if (fit_memory_budget(o, session.model, session.plan, session.device, content_image.rgb01,
                        config, log)) {
    content_image = read_image(job.content, config.size_px);
  }
  const at::Tensor& content = content_image.rgb01;
  if (content_image.alpha01.defined() && !format_keeps_alpha(job.output)) {
    log.info("{}{} has transparency, which {} cannot store: the output will be opaque", label,
             job.content, fs::path(job.output).extension().string());
  }
  const StyleTransfer engine(session.model, session.plan, session.device);
  // Style targets are computed once per style set and style size, then reused by every content
  // image (and every run at that scale).
  auto targets_for_side = [&](int side) -> const StyleTargets& {
    const auto key = std::make_tuple(job.style_set, side,
                                     o.preserve_colors == "stats" ? job.content : std::string());
    auto found = session.targets.find(key);
    if (found == session.targets.end()) {
      std::vector<at::Tensor> styles;
      for (const auto& path : job.styles) {
        auto style = load_image_rgb01(path, side);
        // Colour-statistics mode: the style's palette becomes the photo's before its Grams.
        if (o.preserve_colors == "stats") style = match_colour_statistics(style, content);
        styles.push_back(style);
      }
      found = session.targets.emplace(key, engine.compute_style_targets(styles, config.style_blend))
                  .first;
    }
    return found->second;
  };
  // Load every style image once up front, so a broken one fails the job before any work.
  targets_for_side(style_side_px(
      scale_ladder(config.size_px, config.min_size_px, config.scale_step).front(),
      config.style_scale));
  at::Tensor init;
  if (config.init == InitKind::kImage) {
    init = load_image_rgb01_exact(config.init_path, static_cast<int>(content.size(3)),
                                  static_cast<int>(content.size(2)));
  } else if (config.init == InitKind::kStyleColours) {
    auto& styles = session.init_palettes[job.style_set];
    if (styles.empty()) {
      for (const auto& path : job.styles) styles.push_back(load_image_rgb01(path, config.size_px));
    }
    init = match_colour_statistics(content, styles);
  }
  record.width_px = static_cast<int>(content.size(3));
  record.height_px = static_cast<int>(content.size(2));
  const auto ladder = scale_ladder(config.size_px, config.min_size_px, config.scale_step);
  std::string scales;
  if (ladder.size() > 1) {
    for (int side : ladder) scales += (scales.empty() ? "" : ", ") + std::to_string(side);
    scales = fmt::format(" coarse to fine over {} px ({} iterations first, then {} per scale)",
                         scales,
                         config.initial_iterations > 0 ? config.initial_iterations
                                                       : config.iterations,
                         config.iterations);
  } else {
    scales = fmt::format(" x {} iterations", config.iterations);
  }
  log.info("{}{}x{} px, {}{} on {}, seed {}", label, record.width_px, record.height_px,
           config.optimizer == OptimizerKind::kLbfgs ? "lbfgs" : "adam", scales,
           describe_device(session.device), config.seed);

  ProgressPrinter printer(log, session.err, session.err_is_terminal, session.json,
                          {label, job.index, job.content, job.output, content_image.alpha01});
  const StyleTransferResult result = engine.run_coarse_to_fine(
      content, targets_for_side, config, init, std::ref(printer), &session.interrupt.flag());
  printer.clear_line();
  printer.flush_notices(result.notices);
  at::Tensor output = result.image_rgb01;
  if (o.preserve_colors == "luminance") output = keep_content_colours(output, content);
  record.iterations = result.iterations_run;
  record.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (result.cancelled && result.iterations_run == 0) {
    log.warn("{}interrupted before the first iteration: nothing written", label);
    record.status = "interrupted";
    record.output.clear();
    return record;
  }
  save_image(output, job.output, content_image.alpha01);
  record.losses = result.final_losses;
  const auto summary = fmt::format(
      "{} after {} iterations in {} ({:.2f} s/iteration), final {}", job.output,
      result.iterations_run, format_duration(result.elapsed_s),
      result.elapsed_s / std::max(1, result.iterations_run), format_losses(result.final_losses));
  if (result.cancelled) {
    log.warn("{}interrupted: wrote the best image so far to {}", label, summary);
    record.status = "interrupted";
  } else {
    log.info("{}wrote {}{}", label, summary,
             result.converged ? " (converged: --tolerance reached)" : "");
    record.status = "done";
  }
  return record;
}

bool fails_only_this_job(ErrorKind kind) {
  return kind == ErrorKind::kInput || kind == ErrorKind::kOutput || kind == ErrorKind::kMemory;
}

/// The jobs this process will run (after sharding and --skip-existing) and those it skips.
struct WorkPlan {
  std::vector<Job> jobs;
  std::vector<Job> skipped;
  std::string shard_text = "1/1";
};

WorkPlan plan_work(const CliOptions& o, const StyleConfig& config) {
  if (o.content_paths.empty()) throw UsageError("--content is required");
  if (o.style_paths.empty()) throw UsageError("--style is required");
  if (!o.output_path.empty() && !o.output_dir.empty()) {
    throw ConfigError("--output and --output-dir contradict each other: give one");
  }
  if (o.each_style && !config.style_blend.empty()) {
    throw ConfigError("--style-blend and --each-style contradict each other: give one");
  }
  WorkSpec spec;
  spec.contents = expand_inputs(o.content_paths);
  spec.styles = expand_inputs(o.style_paths);
  validate(config, o.each_style ? 1 : spec.styles.size());
  if (!o.max_memory.empty()) parse_memory_size(o.max_memory);
  spec.each_style = o.each_style;
  spec.output = o.output_path.empty() ? kDefaultOutput : o.output_path;
  spec.output_dir = o.output_dir;
  spec.name_pattern = o.name_pattern;
  spec.size_px = config.size_px;
  WorkPlan plan;
  plan.jobs = plan_jobs(spec);
  const auto shard = !o.shard.empty() ? std::optional(parse_shard(o.shard))
                                      : shard_from_environment(std::getenv);
  if (shard) {
    plan.jobs = select_shard(plan.jobs, *shard);
    plan.shard_text = std::to_string(shard->index + 1) + "/" + std::to_string(shard->count);
  }
  if (o.skip_existing) {
    std::vector<Job> to_do;
    for (auto& job : plan.jobs) {
      std::error_code ec;
      (fs::exists(job.output, ec) ? plan.skipped : to_do).push_back(job);
    }
    plan.jobs = std::move(to_do);
  }
  return plan;
}

/// --dry-run's output: one line per job, then the skipped outputs and a count.
void print_work_list(std::ostream& out, const WorkPlan& plan) {
  for (const auto& job : plan.jobs) {
    out << job.content;
    for (std::size_t i = 0; i < job.styles.size(); ++i) {
      out << (i == 0 ? " + " : ", ") << job.styles[i];
    }
    out << " -> " << job.output << '\n';
  }
  for (const auto& job : plan.skipped) out << "skip (exists): " << job.output << '\n';
  out << plan.jobs.size() << " to do, " << plan.skipped.size() << " skipped, shard "
      << plan.shard_text << '\n';
}

int run_parsed(const CliOptions& o, std::ostream& out, std::ostream& err, bool err_is_terminal) {
  const auto run_start = std::chrono::steady_clock::now();
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(err, /*force_flush=*/true);
  spdlog::logger log("stylize", sink);
  log.set_pattern("[%H:%M:%S] %^%l%$: %v");
  log.set_level(o.verbosity < 0   ? spdlog::level::warn
                : o.verbosity > 0 ? spdlog::level::debug
                                  : spdlog::level::info);

  // Cheap checks first, so a typo fails in milliseconds, not after loading the model.
  StyleConfig config = resolve_config(o);
  WorkPlan plan_of_work;
  const bool makes_images = !o.list_layers && o.measure_paths.empty();
  if (makes_images) {
    plan_of_work = plan_work(o, config);
    if (o.dry_run) {
      print_work_list(out, plan_of_work);
      return kExitOk;
    }
    if (!o.output_dir.empty()) {
      std::error_code ec;
      fs::create_directories(o.output_dir, ec);
      if (ec) {
        throw OutputError("cannot create output directory '" + o.output_dir +
                          "': " + ec.message());
      }
    }
    if (plan_of_work.jobs.size() == 1) check_output_writable(plan_of_work.jobs.front().output);
  }
  const auto& jobs = plan_of_work.jobs;
  const auto& skipped = plan_of_work.skipped;
  const auto& shard_text = plan_of_work.shard_text;

  configure_threads(o.threads);
  const c10::Device device = resolve_device(o.device);
  const PrecisionSetup precision = configure_precision(device, config.precision);
  if (!precision.notice.empty()) log.warn("{}", precision.notice);
  if (device.is_cpu() && makes_images) {
    const double gflops = measure_cpu_matmul_gflops();
    log.debug("matrix product: {:.0f} GFLOP/s", gflops);
    if (gflops < kSlowMatmulGflops) {
      log.warn("matrix products run at only {:.1f} GFLOP/s: the system BLAS looks slow (the "
               "reference BLAS?); install OpenBLAS (apt-get install libopenblas0-pthread, as "
               "scripts/setup.sh does) for a 5-10x faster run",
               gflops);
    }
  }
  std::vector<std::string> searched;
  const std::string model_path = find_model(o.model_path, &searched);
  if (model_path.empty()) {
    std::string places;
    for (const auto& place : searched) places += (places.empty() ? "" : ", ") + place;
    throw ModelError("no model file found (looked for " + places +
                     "); run scripts/setup.sh --weights FILE or pass --model FILE");
  }
  VggFeatures model = VggFeatures::load(model_path, device);
  model.set_average_pooling(config.average_pooling);
  model.set_compute_dtype(precision.network_dtype);
  model.set_conv_algorithm(config.conv_algorithm);
  log.debug("model {}: {} layers, {} convention, {} Winograd convolutions", model_path,
            model.layer_names().size(), model.convention(), model.winograd_layer_count());
  if (model.random_init()) {
    log.warn("model {} has RANDOM weights (made for tests): the output will not look stylized",
             model_path);
  }
  if (o.list_layers) {
    list_layers(out, model, config);
    return kExitOk;
  }
  if (!o.measure_paths.empty()) {
    measure_images(out, o, model, device);
    return kExitOk;
  }

  const LayerPlan plan = plan_layers(model.layer_names(), config);
  if (plan.fell_back_to_shallower) {
    log.info("model ends at {}: using the deepest layers it has ({})",
             model.layer_names().back(), plan.describe());
  } else {
    log.debug("layers: {}", plan.describe());
  }
  if (!o.seed) {
    std::random_device entropy;
    config.seed = (static_cast<std::uint64_t>(entropy()) << 32U) | entropy();
  } else {
    config.seed = *o.seed;
  }

  std::unique_ptr<JsonLines> json;
  if (!o.progress_json.empty()) json = std::make_unique<JsonLines>(o.progress_json, out);
  if (json) json->start(jobs.size(), shard_text, describe_device(device), config.seed);
  const bool batch = jobs.size() + skipped.size() > 1;
  if (batch) {
    log.info("{} images to make{}{}", jobs.size(),
             skipped.empty() ? "" : fmt::format(", {} skipped (output exists)", skipped.size()),
             shard_text == "1/1" ? "" : ", shard " + shard_text);
  }
  for (const auto& job : skipped) {
    if (json) json->image(record_for(job, "skipped"));
  }

  const InterruptGuard interrupt;
  Session session{o,   config, model, plan, device, log, err, err_is_terminal, json.get(),
                  interrupt, {}, {}};
  std::size_t done = 0;
  std::vector<int> failure_codes;
  bool interrupted = false;
  for (std::size_t k = 0; k < jobs.size() && !interrupted; ++k) {
    const auto& job = jobs[k];
    const std::string label =
        batch ? fmt::format("[{}/{}] ", k + 1, jobs.size()) : std::string();
    JobRecord record;
    try {
      record = run_job(session, job, label);
    } catch (const Error& e) {
      if (!batch || !fails_only_this_job(e.kind())) throw;
      err << "stylize: error: " << e.what() << '\n' << std::flush;
      record = record_for(job, "failed");
      record.error = e.what();
      failure_codes.push_back(exit_code_for(e.kind()));
    }
    if (record.status == "done") ++done;
    if (record.status == "interrupted") interrupted = true;
    if (json) json->image(record);
  }

  int code = kExitOk;
  if (interrupted) {
    code = 128 + interrupt.signal_number();
  } else if (!failure_codes.empty()) {
    code = done == 0 ? failure_codes.front() : kExitPartial;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
  if (batch) {
    const auto summary =
        fmt::format("{} done, {} failed, {} skipped in {}{}", done, failure_codes.size(),
                    skipped.size(), format_duration(seconds),
                    interrupted ? " (interrupted: the rest was not started)" : "");
    if (failure_codes.empty() && !interrupted) {
      log.info("batch: {}", summary);
    } else {
      log.warn("batch: {}", summary);
    }
  }
  if (json) json->summary(done, failure_codes.size(), skipped.size(), interrupted, seconds, code);
  return code;
}

}  // namespace

ParsedArgs parse_args(const std::vector<std::string>& args) {
  ParsedArgs parsed;
  CLI::App app("stylize: neural style transfer (Gatys et al.) from the command line", "stylize");
  add_options(app, parsed.options);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 wants them reversed
  try {
    app.parse(reversed);
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

std::string find_model(const std::string& explicit_path, std::vector<std::string>* searched) {
  if (!explicit_path.empty()) return explicit_path;  // its absence is reported by the loader
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("STYLIZE_MODEL"); env != nullptr && *env != '\0') {
    candidates.emplace_back(env);
  }
  candidates.push_back((fs::path("models") / kDefaultModelName).string());
  if (const auto dir = executable_dir(); !dir.empty()) {
    candidates.push_back((fs::path(dir) / ".." / "models" / kDefaultModelName).string());
    candidates.push_back(
        (fs::path(dir) / ".." / "share" / "stylize" / kDefaultModelName).string());
  }
  for (const auto& candidate : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec)) return candidate;
  }
  if (searched != nullptr) *searched = candidates;
  return {};
}

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
        bool err_is_terminal) {
  auto fail = [&err](int code, const std::string& message) {
    err << "stylize: error: " << message << '\n' << std::flush;
    return code;
  };
  try {
    const ParsedArgs parsed = parse_args(args);
    if (parsed.print_and_exit) {
      out << *parsed.print_and_exit << std::flush;
      return kExitOk;
    }
    return run_parsed(parsed.options, out, err, err_is_terminal);
  } catch (const UsageError& e) {
    return fail(kExitUsage, std::string(e.what()) + " (see stylize --help)");
  } catch (const Error& e) {
    return fail(exit_code_for(e.kind()), e.what());
  } catch (const std::exception& e) {
    std::string what = e.what();
    return fail(kExitInternal, "internal error: " + what.substr(0, what.find('\n')));
  }
}

void tune_heap() {
  const char* mode = std::getenv("STYLIZE_MALLOC");
  if (mode != nullptr && std::string(mode) == "default") return;
  // README "Performance", the heap. glibc serves blocks above a threshold that adapts upwards to
  // 32 MiB from their own mappings, and smaller ones from its heap, which blocks of many sizes
  // fragment. A fixed 1 MiB threshold gives every large block its own mapping, returned whole
  // when freed (images, OpenCV buffers).
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(kTensorMappingMinBytes));
  // Tensors from 1 MiB up come from the tensor arena instead, through torch's allocator hook
  // (tensor_heap.hpp).
  install_tensor_heap();
}

int run_main(int argc, char** argv) {
  tune_heap();
  std::vector<std::string> args(argv + 1, argv + argc);
  return run(args, std::cout, std::cerr, ::isatty(STDERR_FILENO) == 1);
}

}  // namespace stylize::cli
