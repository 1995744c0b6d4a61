#include "views.hpp"

#include "batch.hpp"
#include "cli.hpp"
#include "interrupt.hpp"
#include "progress.hpp"
#include "setup.hpp"

#include <stylize/device.hpp>
#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>
#include <stylize/stylizer.hpp>

#include <fmt/format.h>
#include <spdlog/logger.h>

#include <filesystem>
#include <random>

namespace stylize::cli {
namespace fs = std::filesystem;
namespace {

/// The command line's own checks, before the model loads: a typo fails in milliseconds.
void check_view_options(const CliOptions& o) {
  const std::string& command = o.command;
  if (command == "texture" && o.style_paths.empty()) throw UsageError("--style is required");
  if (command == "reconstruct" && o.content_paths.size() != 1) {
    throw UsageError("reconstruct takes one --content");
  }
  if (command != "texture" && o.layers.empty()) throw UsageError("--layer is required");
  if (command == "visualize") {
    if (o.channels.empty()) throw UsageError("--channels is required");
    if (o.output_dir.empty()) throw UsageError("--output-dir is required");
  }
  if (command != "visualize" && o.output_path.empty()) throw UsageError("--output is required");
  validate(o.config, command == "texture" ? expand_inputs(o.style_paths).size() : 1);
}

void log_results(spdlog::logger& log, const std::string& command,
                 const std::vector<ViewResult>& results) {
  for (const auto& view : results) {
    const auto& t = view.transfer;
    const std::string score =
        command == "reconstruct"   ? fmt::format(", relative feature error {:.4f}", view.score)
        : command == "visualize"
            ? fmt::format(", activation {:.2f} (layer's mean on grey = 1)", view.score)
                                   : std::string();
    log.info("{}{}: {} after {} iterations in {}{}", t.cancelled ? "interrupted: " : "wrote ",
             view.path, view.label, t.iterations_run, format_duration(t.elapsed_s), score);
  }
}

}  // namespace

int run_view(const ParsedArgs& parsed, std::ostream& out, std::ostream& err,
             bool err_is_terminal) {
  const CliOptions& o = parsed.options;
  const auto log = make_logger(err, o.verbosity);
  check_view_options(o);
  if (!o.settings_from.empty() && !o.output_path.empty()) {
    check_output_is_not_an_input(o.output_path, {o.settings_from});
  }
  if (!o.output_dir.empty()) {
    std::error_code ec;
    fs::create_directories(o.output_dir, ec);
    if (ec) {
      throw OutputError("cannot create output directory '" + o.output_dir + "': " + ec.message());
    }
  }
  c10::ScalarType network_dtype = c10::ScalarType::Float;
  const c10::Device device = set_up_process(o, true, *log, network_dtype);
  VggFeatures model = load_model(o, device, network_dtype, *log);
  StyleConfig config = o.config;
  std::random_device entropy;
  config.seed = o.seed ? *o.seed : (static_cast<std::uint64_t>(entropy()) << 32U) | entropy();
  const std::string settings = view_settings(parsed.effective_args, config.seed, model.path());
  Stylizer stylizer(std::move(model), config, device);
  std::unique_ptr<JsonLines> json;
  if (!o.progress_json.empty()) json = std::make_unique<JsonLines>(o.progress_json, out);
  const std::size_t images = o.command == "texture"       ? 1
                             : o.command == "reconstruct" ? o.layers.size()
                                                          : o.channels.size();
  if (json) json->start(images, "1/1", describe_device(device), config.seed);
  const InterruptGuard interrupt;
  const std::string input = o.command == "reconstruct" ? o.content_paths.front() : std::string();
  ProgressPrinter printer(*log, err, err_is_terminal, json.get(), {"", 0, input});
  JobEvents events;
  events.on_notice = [&](const JobNotice& notice) {
    printer.clear_line();
    if (notice.level == JobNotice::Level::kWarning) {
      log->warn("{}", notice.text);
    } else if (notice.level == JobNotice::Level::kInfo) {
      log->info("{}", notice.text);
    } else {
      log->debug("{}", notice.text);
    }
  };
  events.on_start = [&](const JobPlan& plan) {
    log->info("{} {}x{} px, {} x {} iterations on {}, seed {}", o.command, plan.width_px,
              plan.height_px, name_of(plan.config.optimizer), plan.config.iterations,
              describe_device(device), plan.config.seed);
  };
  events.on_progress = std::ref(printer);
  const auto start = std::chrono::steady_clock::now();
  std::vector<ViewResult> results;
  if (o.command == "texture") {
    results.push_back(stylizer.texture({expand_inputs(o.style_paths), o.output_path,
                                        o.texture_width_px, o.texture_height_px, settings},
                                       events, &interrupt.flag()));
  } else if (o.command == "reconstruct") {
    results = stylizer.reconstruct({o.content_paths.front(), o.layers, o.output_path, settings},
                                   events, &interrupt.flag());
  } else {
    results = stylizer.visualize({o.layers.front(), o.channels, o.output_dir, o.output_path,
                                  settings},
                                 events, &interrupt.flag());
  }
  printer.clear_line();
  log_results(*log, o.command, results);
  const bool interrupted = interrupt.flag().load();
  const int code = interrupted ? 128 + interrupt.signal_number() : kExitOk;
  if (json) {
    for (std::size_t k = 0; k < results.size(); ++k) {
      JobRecord record;
      record.job = k;
      record.status = results[k].transfer.cancelled ? "interrupted" : "done";
      record.input = input;
      record.output = results[k].path;
      record.width_px = static_cast<int>(results[k].transfer.image_rgb01.size(3));
      record.height_px = static_cast<int>(results[k].transfer.image_rgb01.size(2));
      record.iterations = results[k].transfer.iterations_run;
      record.losses = results[k].transfer.final_losses;
      record.seconds = results[k].transfer.elapsed_s;
      json->image(record);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::size_t done = 0;
    for (const auto& view : results) done += view.transfer.cancelled ? 0 : 1;
    json->summary(done, 0, 0, interrupted, seconds, code);
  }
  return code;
}

}  // namespace stylize::cli
