#include "cli.hpp"

#include "interrupt.hpp"

#include <stylize/device.hpp>
#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>
#include <stylize/memory.hpp>
#include <stylize/style_transfer.hpp>
#include <stylize/version.hpp>
#include <stylize/vgg_features.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <random>

namespace stylize::cli {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDefaultModelName = "vgg19.pt";

void add_options(CLI::App& app, CliOptions& o) {
  StyleConfig& c = o.config;
  // A repeated single-value option overrides the earlier one, so scripts can append overrides.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("-c,--content", o.content_path, "Content image (the photo)");
  app.add_option("-s,--style", o.style_paths,
                 "Style image (the painting); repeat to blend several styles")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--style-blend", c.style_blend,
                 "Weights of the style images, comma-separated (default: equal)")
      ->delimiter(',')
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("-o,--output", o.output_path,
                 "Output image; format from the extension: png, jpg, webp, tif, bmp")
      ->capture_default_str();
  app.add_option("--size", c.size_px, "Longest side of the output in px")->capture_default_str();
  app.add_option("--style-scale", c.style_scale,
                 "Style image's longest side, as a multiple of --size")
      ->capture_default_str();
  app.add_option("-n,--iterations", c.iterations, "Optimisation steps (one evaluation each)")
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
  app.add_option("--init", o.init, "Start image: content, noise, or an image file")
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

std::string snapshot_path(const std::string& output, int iteration) {
  const fs::path path(output);
  auto name = path.stem().string() + "_" + std::to_string(iteration) + path.extension().string();
  return (path.parent_path() / name).string();
}

std::string format_duration(double seconds) {
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  const auto total = static_cast<long>(seconds);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60);
}

std::string format_losses(const LossBreakdown& l) {
  return fmt::format("loss {:.4g} (content {:.4g}, style {:.4g}, tv {:.4g})", l.total, l.content,
                     l.style, l.tv);
}

/// Turns engine reports into a live line (terminal) or periodic log lines (pipes, files).
class ProgressPrinter {
 public:
  ProgressPrinter(spdlog::logger& log, std::ostream& err, bool live, const CliOptions& options,
                  at::Tensor alpha01)
      : log_(log), err_(err), live_(live), options_(options), alpha01_(std::move(alpha01)) {}

  void operator()(const IterationReport& report) {
    if (report.losses) last_losses_ = *report.losses;
    if (!report.notice.empty()) {
      clear_line();
      log_.warn("{}", report.notice);
      ++notices_seen_;
    }
    const double per_iter = report.elapsed_s / report.iteration;
    const double eta = per_iter * (report.total_iterations - report.iteration);
    if (report.snapshot_rgb01.defined()) {
      const auto path = snapshot_path(options_.output_path, report.iteration);
      save_image(report.snapshot_rgb01, path, alpha01_);
      clear_line();
      log_.info("iteration {}: saved {}", report.iteration, path);
    }
    if (live_ && log_.should_log(spdlog::level::info)) {
      err_ << "\r\033[K"
           << fmt::format("iteration {}/{}  {}  {} elapsed, ETA {}", report.iteration,
                          report.total_iterations,
                          last_losses_ ? format_losses(*last_losses_) : std::string(),
                          format_duration(report.elapsed_s), format_duration(eta))
           << std::flush;
      line_open_ = true;
    } else if (report.losses && report.iteration != report.total_iterations) {
      log_.info("iteration {}/{}: {}, {:.2f} s/iteration, ETA {}", report.iteration,
                report.total_iterations, format_losses(*report.losses), per_iter,
                format_duration(eta));
    }
  }

  /// Warns about engine notices that no report carried (e.g. one raised at the very end).
  void flush_notices(const std::vector<std::string>& notices) {
    for (std::size_t i = notices_seen_; i < notices.size(); ++i) {
      clear_line();
      log_.warn("{}", notices[i]);
    }
    notices_seen_ = notices.size();
  }

  void clear_line() {
    if (line_open_) err_ << "\r\033[K" << std::flush;
    line_open_ = false;
  }

 private:
  spdlog::logger& log_;
  std::ostream& err_;
  bool live_;
  const CliOptions& options_;
  at::Tensor alpha01_;
  std::optional<LossBreakdown> last_losses_;
  bool line_open_ = false;
  std::size_t notices_seen_ = 0;
};

StyleConfig finish_config(const CliOptions& o) {
  StyleConfig config = o.config;
  if (!o.content_layers.empty()) config.content_layers = parse_layer_list(o.content_layers);
  if (!o.style_layers.empty()) config.style_layers = parse_layer_list(o.style_layers);
  config.optimizer = o.optimizer == "adam" ? OptimizerKind::kAdam : OptimizerKind::kLbfgs;
  if (o.init == "content") {
    config.init = InitKind::kContent;
  } else if (o.init == "noise") {
    config.init = InitKind::kNoise;
  } else {
    config.init = InitKind::kImage;
    config.init_path = o.init;
  }
  return config;
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

int run_parsed(const CliOptions& o, std::ostream& out, std::ostream& err, bool err_is_terminal) {
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(err, /*force_flush=*/true);
  spdlog::logger log("stylize", sink);
  log.set_pattern("[%H:%M:%S] %^%l%$: %v");
  log.set_level(o.verbosity < 0   ? spdlog::level::warn
                : o.verbosity > 0 ? spdlog::level::debug
                                  : spdlog::level::info);

  // Cheap checks first, so a typo fails in milliseconds, not after loading the model.
  StyleConfig config = finish_config(o);
  if (!o.list_layers) {
    if (o.content_path.empty()) throw UsageError("--content is required");
    if (o.style_paths.empty()) throw UsageError("--style is required");
    validate(config, o.style_paths.size());
    if (!o.max_memory.empty()) parse_memory_size(o.max_memory);
    check_output_writable(o.output_path);
  }

  const int threads = configure_threads(o.threads);
  const c10::Device device = resolve_device(o.device);
  std::vector<std::string> searched;
  const std::string model_path = find_model(o.model_path, &searched);
  if (model_path.empty()) {
    std::string places;
    for (const auto& place : searched) places += (places.empty() ? "" : ", ") + place;
    throw ModelError("no model file found (looked for " + places +
                     "); run scripts/setup.sh --weights FILE or pass --model FILE");
  }
  VggFeatures model = VggFeatures::load(model_path, device);
  log.debug("model {}: {} layers, {} convention", model_path, model.layer_names().size(),
            model.convention());
  if (model.random_init()) {
    log.warn("model {} has RANDOM weights (made for tests): the output will not look stylized",
             model_path);
  }
  if (o.list_layers) {
    list_layers(out, model, config);
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

  Image content_image = read_image(o.content_path, config.size_px);
  if (fit_memory_budget(o, model, plan, device, content_image.rgb01, config, log)) {
    content_image = read_image(o.content_path, config.size_px);
  }
  const at::Tensor& content = content_image.rgb01;
  if (content_image.alpha01.defined() && !format_keeps_alpha(o.output_path)) {
    log.info("{} has transparency, which {} cannot store: the output will be opaque",
             o.content_path, fs::path(o.output_path).extension().string());
  }
  const int style_side = std::max(
      kMinImageSidePx, static_cast<int>(std::lround(config.size_px * config.style_scale)));
  std::vector<at::Tensor> styles;
  for (const auto& path : o.style_paths) styles.push_back(load_image_rgb01(path, style_side));
  at::Tensor init;
  if (config.init == InitKind::kImage) {
    init = load_image_rgb01_exact(config.init_path, static_cast<int>(content.size(3)),
                                  static_cast<int>(content.size(2)));
  }
  log.info("{}x{} px, {} x {} iterations on {}, seed {}", content.size(3), content.size(2),
           config.optimizer == OptimizerKind::kLbfgs ? "lbfgs" : "adam", config.iterations,
           describe_device(device), config.seed);
  (void)threads;

  const StyleTransfer engine(model, plan, device);
  const InterruptGuard interrupt;
  const StyleTargets targets = engine.compute_style_targets(styles, config.style_blend);
  ProgressPrinter printer(log, err, err_is_terminal, o, content_image.alpha01);
  const StyleTransferResult result =
      engine.run(content, targets, config, init, std::ref(printer), &interrupt.flag());
  printer.clear_line();
  printer.flush_notices(result.notices);
  if (result.cancelled && result.iterations_run == 0) {
    log.warn("interrupted before the first iteration: nothing written");
    return 128 + interrupt.signal_number();
  }
  save_image(result.image_rgb01, o.output_path, content_image.alpha01);
  const auto summary = fmt::format(
      "{} after {} iterations in {} ({:.2f} s/iteration), final {}", o.output_path,
      result.iterations_run, format_duration(result.elapsed_s),
      result.elapsed_s / std::max(1, result.iterations_run), format_losses(result.final_losses));
  if (result.cancelled) {
    log.warn("interrupted: wrote the best image so far to {}", summary);
    return 128 + interrupt.signal_number();
  }
  log.info("wrote {}{}", summary, result.converged ? " (converged: --tolerance reached)" : "");
  return kExitOk;
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

int run_main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return run(args, std::cout, std::cerr, ::isatty(STDERR_FILENO) == 1);
}

}  // namespace stylize::cli
