#include "cli.hpp"

#include "batch.hpp"
#include "inspect.hpp"
#include "interrupt.hpp"
#include "progress.hpp"
#include "setup.hpp"
#include "video_cli.hpp"
#include "views.hpp"

#include <stylize/device.hpp>
#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>
#include <stylize/stylizer.hpp>

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <random>
#include <set>

namespace stylize::cli {
namespace fs = std::filesystem;
namespace {



bool fails_only_this_job(ErrorKind kind) {
  return kind == ErrorKind::kInput || kind == ErrorKind::kOutput || kind == ErrorKind::kMemory;
}

/// The jobs this process will run (after sharding and --skip-existing) and those it skips.
struct WorkPlan {
  std::vector<Job> jobs;
  std::vector<Job> skipped;
  std::string shard_text = "1/1";
};

/// A mask that is black everywhere is a usage error for the whole run (exit 2), found before
/// any work; a missing or broken one fails only its job when the job reads it.
void check_masks_select_something(const std::vector<Job>& jobs) {
  std::set<std::string> seen;
  for (const auto& job : jobs) {
    std::vector<std::string> paths = job.style_masks;
    paths.insert(paths.end(), job.style_regions.begin(), job.style_regions.end());
    if (!job.mask.empty()) paths.push_back(job.mask);
    for (const auto& path : paths) {
      std::error_code ec;
      if (!seen.insert(path).second || !fs::is_regular_file(path, ec)) continue;
      try {
        read_mask(path, kMinImageSidePx, kMinImageSidePx);
      } catch (const InputError&) {
        // reported by the job that reads it
      }
    }
  }
}

StylizeJob stylize_job(const Job& job, const std::string& settings) {
  StylizeJob out;
  out.content_path = job.content;
  out.style_paths = job.styles;
  out.output_path = job.output;
  out.settings = settings;
  out.style_mask_paths = job.style_masks;
  out.style_region_paths = job.style_regions;
  out.mask_path = job.mask;
  return out;
}

WorkPlan plan_work(const CliOptions& o) {
  if (o.content_paths.empty()) throw UsageError("--content is required");
  if (o.style_paths.empty()) throw UsageError("--style is required");
  if (!o.output_path.empty() && !o.output_dir.empty()) {
    throw ConfigError("--output and --output-dir contradict each other: give one");
  }
  if (o.each_style && !o.config.style_blend.empty()) {
    throw ConfigError("--style-blend and --each-style contradict each other: give one");
  }
  WorkSpec spec;
  spec.contents = expand_inputs(o.content_paths);
  spec.styles = expand_inputs(o.style_paths);
  validate(o.config, o.each_style ? 1 : spec.styles.size());
  spec.each_style = o.each_style;
  spec.output = o.output_path.empty() ? kDefaultOutput : o.output_path;
  spec.output_dir = o.output_dir;
  spec.name_pattern = o.name_pattern;
  spec.size_px = o.config.size_px;
  WorkPlan plan;
  plan.jobs = plan_jobs(spec);
  assign_masks(plan.jobs, spec.styles, o.masks);
  const auto shard = !o.shard.empty() ? std::optional(parse_shard(o.shard))
                                      : shard_from_environment(std::getenv);
  if (shard) {
    plan.jobs = select_shard(plan.jobs, *shard);
    plan.shard_text = std::to_string(shard->index + 1) + "/" + std::to_string(shard->count);
  }
  // Never an input as an output: checked for every job before any work starts.
  const std::string model = find_model(o.model_path, nullptr);
  for (const auto& job : plan.jobs) {
    auto inputs = job_inputs(stylize_job(job, ""), o.config, model);
    if (!o.settings_from.empty()) inputs.push_back(o.settings_from);
    check_output_is_not_an_input(job.output, inputs);
  }
  check_masks_select_something(plan.jobs);
  if (o.skip_existing) {  // an interrupted job's best-so-far image does not count as done
    std::vector<Job> to_do;
    for (auto& job : plan.jobs) (output_is_complete(job.output) ? plan.skipped : to_do).push_back(job);
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

JobRecord record_for(const Job& job, const char* status) {
  JobRecord record;
  record.job = job.index;
  record.status = status;
  record.input = job.content;
  record.styles = job.styles;
  record.output = job.output;
  return record;
}

/// What every job of a run shares: the engine, the log and the progress outputs.
struct Session {
  const CliOptions& options;
  const std::vector<std::string>& args;  ///< in force, for the settings stored in each output
  std::uint64_t seed;
  Stylizer& stylizer;
  c10::Device device;
  spdlog::logger& log;
  std::ostream& err;
  bool err_is_terminal;
  JsonLines* json;
  const InterruptGuard& interrupt;
};

void log_job_start(Session& session, const std::string& label, const JobPlan& plan) {
  const StyleConfig& config = plan.config;
  std::string scales;
  if (plan.scales_px.size() > 1) {
    for (int side : plan.scales_px) scales += (scales.empty() ? "" : ", ") + std::to_string(side);
    scales = fmt::format(" coarse to fine over {} px ({} iterations first, then {} per scale)",
                         scales,
                         config.initial_iterations > 0 ? config.initial_iterations
                                                       : config.iterations,
                         config.iterations);
  } else {
    scales = fmt::format(" x {} iteration{}", config.iterations, config.iterations == 1 ? "" : "s");
  }
  if (config.tile_size_px > 0 && std::max(plan.width_px, plan.height_px) > config.tile_size_px) {
    scales += fmt::format(", sides over {} px in tiles of that size ({} px overlap, {} passes)",
                          config.tile_size_px, config.tile_overlap_px,
                          std::min(config.tile_passes, config.iterations));
  }
  session.log.info("{}{}x{} px, {}{} on {}, seed {}", label, plan.width_px, plan.height_px,
                   name_of(config.optimizer), scales, describe_device(session.device),
                   config.seed);
}

/// Runs one job through the engine; throws stylize::Error for what makes this job fail.
JobRecord run_job(Session& session, const Job& job, const std::string& label) {
  auto& log = session.log;
  const auto start = std::chrono::steady_clock::now();
  if (!session.options.output_dir.empty()) {  // --name may put outputs in subdirectories
    std::error_code ec;
    fs::create_directories(fs::path(job.output).parent_path(), ec);
  }
  ProgressPrinter printer(log, session.err, session.err_is_terminal, session.json,
                          {label, job.index, job.content});
  JobEvents events;
  events.on_notice = [&](const JobNotice& notice) {
    printer.clear_line();
    switch (notice.level) {
      case JobNotice::Level::kWarning:
        log.warn("{}{}", label, notice.text);
        break;
      case JobNotice::Level::kInfo:
        log.info("{}{}", label, notice.text);
        break;
      case JobNotice::Level::kDebug:
        log.debug("{}{}", label, notice.text);
        break;
    }
  };
  events.on_start = [&](const JobPlan& plan) { log_job_start(session, label, plan); };
  events.on_progress = std::ref(printer);
  const auto settings =
      job_settings(session.args, job, session.seed, session.stylizer.model().path());
  const JobResult result =
      session.stylizer.run(stylize_job(job, settings), events, &session.interrupt.flag());
  printer.clear_line();
  printer.flush_notices(result.transfer.notices);
  JobRecord record = record_for(job, "failed");
  record.width_px = result.width_px;
  record.height_px = result.height_px;
  record.iterations = result.transfer.iterations_run;
  record.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!result.written) {
    log.warn("{}interrupted before the first iteration: nothing written", label);
    record.status = "interrupted";
    record.output.clear();
    return record;
  }
  const auto& transfer = result.transfer;
  record.losses = transfer.final_losses;
  const auto summary = fmt::format(
      "{} after {} iterations in {} ({:.2f} s/iteration), final {}", job.output,
      transfer.iterations_run, format_duration(transfer.elapsed_s),
      transfer.elapsed_s / std::max(1, transfer.iterations_run),
      format_losses(transfer.final_losses));
  if (transfer.cancelled) {
    log.warn("{}interrupted: wrote the best image so far to {}", label, summary);
    record.status = "interrupted";
  } else {
    log.info("{}wrote {}{}", label, summary,
             transfer.converged ? " (converged: --tolerance reached)" : "");
    record.status = "done";
  }
  return record;
}

/// Runs the jobs in order; returns the exit code. A job's input, output or memory failure is
/// reported and the batch goes on; an interrupt stops it after the job it interrupted.
int run_jobs(Session& session, const WorkPlan& work) {
  const auto run_start = std::chrono::steady_clock::now();
  const auto& jobs = work.jobs;
  const bool batch = jobs.size() + work.skipped.size() > 1;
  std::size_t done = 0;
  std::vector<int> failure_codes;
  bool interrupted = false;
  for (std::size_t k = 0; k < jobs.size() && !interrupted; ++k) {
    const auto& job = jobs[k];
    const std::string label = batch ? fmt::format("[{}/{}] ", k + 1, jobs.size()) : std::string();
    JobRecord record;
    try {
      record = run_job(session, job, label);
    } catch (const Error& e) {
      if (!batch || !fails_only_this_job(e.kind())) throw;
      session.err << "stylize: error: " << e.what() << '\n' << std::flush;
      record = record_for(job, "failed");
      record.error = e.what();
      failure_codes.push_back(exit_code_for(e.kind()));
    }
    if (record.status == "done") ++done;
    if (record.status == "interrupted") interrupted = true;
    if (session.json != nullptr) session.json->image(record);
  }
  int code = kExitOk;
  if (interrupted) {
    code = 128 + session.interrupt.signal_number();
  } else if (!failure_codes.empty()) {
    code = done == 0 ? failure_codes.front() : kExitPartial;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
  if (batch) {
    const auto summary = fmt::format(
        "{} done, {} failed, {} skipped in {}{}", done, failure_codes.size(), work.skipped.size(),
        format_duration(seconds), interrupted ? " (interrupted: the rest was not started)" : "");
    if (failure_codes.empty() && !interrupted) {
      session.log.info("batch: {}", summary);
    } else {
      session.log.warn("batch: {}", summary);
    }
  }
  if (session.json != nullptr) {
    session.json->summary(done, failure_codes.size(), work.skipped.size(), interrupted, seconds,
                          code);
  }
  return code;
}

}  // namespace





namespace {

/// The batch: output folder, engine, progress outputs, then every job.
int make_images(const ParsedArgs& parsed, const WorkPlan& work, VggFeatures model,
                const c10::Device& device, std::ostream& out, std::ostream& err,
                bool err_is_terminal, spdlog::logger& log) {
  const CliOptions& o = parsed.options;
  StyleConfig config = o.config;
  std::random_device entropy;
  config.seed = o.seed ? *o.seed : (static_cast<std::uint64_t>(entropy()) << 32U) | entropy();
  Stylizer stylizer(std::move(model), config, device);
  const LayerPlan& plan = stylizer.plan();
  if (plan.fell_back_to_shallower) {
    log.info("model ends at {}: using the deepest layers it has ({})",
             stylizer.model().layer_names().back(), plan.describe());
  } else {
    log.debug("layers: {}", plan.describe());
  }
  if (const int winograd = stylizer.model().winograd_layer_count(); winograd > 0) {
    log.debug("{} Winograd convolutions: {}", winograd, stylizer.model().winograd_backend());
  } else {
    log.debug("direct convolutions (ATen)");
  }
  std::unique_ptr<JsonLines> json;
  if (!o.progress_json.empty()) json = std::make_unique<JsonLines>(o.progress_json, out);
  if (json) json->start(work.jobs.size(), work.shard_text, describe_device(device), config.seed);
  if (work.jobs.size() + work.skipped.size() > 1) {
    log.info("{} images to make{}{}", work.jobs.size(),
             work.skipped.empty()
                 ? ""
                 : fmt::format(", {} skipped (output exists)", work.skipped.size()),
             work.shard_text == "1/1" ? "" : ", shard " + work.shard_text);
  }
  for (const auto& job : work.skipped) {
    if (json) json->image(record_for(job, "skipped"));
  }
  const InterruptGuard interrupt;
  Session session{o,   parsed.effective_args, config.seed, stylizer, device, log, err,
                  err_is_terminal, json.get(), interrupt};
  return run_jobs(session, work);
}

int run_parsed(const ParsedArgs& parsed, std::ostream& out, std::ostream& err,
               bool err_is_terminal) {
  const CliOptions& o = parsed.options;
  if (!o.command.empty()) return run_view(parsed, out, err, err_is_terminal);
  const auto log = make_logger(err, o.verbosity);
  if (wants_video(o) && !o.list_layers && o.measure_paths.empty()) {
    return make_video(parsed, out, err, err_is_terminal, *log);
  }
  // Cheap checks first, so a typo fails in milliseconds, not after loading the model.
  WorkPlan work;
  const bool makes_images = !o.list_layers && o.measure_paths.empty();
  if (makes_images) {
    work = plan_work(o);
    if (o.dry_run) {
      print_work_list(out, work);
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
    if (work.jobs.size() == 1) check_output_writable(work.jobs.front().output);
  }
  c10::ScalarType network_dtype = c10::ScalarType::Float;
  const c10::Device device = set_up_process(o, makes_images, *log, network_dtype);
  VggFeatures model = load_model(o, device, network_dtype, *log);
  if (o.list_layers) {
    list_layers(out, model, o.config);
    return kExitOk;
  }
  if (!o.measure_paths.empty()) {
    measure_images(out, o, model, device);
    return kExitOk;
  }
  return make_images(parsed, work, std::move(model), device, out, err, err_is_terminal, *log);
}

}  // namespace


int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
        bool err_is_terminal) {
  auto fail = [&err](int code, const std::string& message) {
    err << "stylize: error: " << message << '\n' << std::flush;
    return code;
  };
  try {
    (void)cpu_kernel_isa();  // first: STYLIZE_MAX_ISA caps oneDNN before any convolution
    if (args.empty()) {  // the usage, not just the first missing option
      err << parse_args({"--help"}).print_and_exit.value_or("") << std::flush;
      return fail(kExitUsage, "--content and --style are required");
    }
    const ParsedArgs parsed = parse_args(args);
    if (parsed.print_and_exit) {
      out << *parsed.print_and_exit << std::flush;
      return kExitOk;
    }
    return run_parsed(parsed, out, err, err_is_terminal);
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
  // OpenMP threads (torch's, oneDNN's, OpenBLAS's) spin while they wait for work: two stylize
  // processes on the same cores then spend their time spinning against each other (a shard per
  // core, a shared CI runner). libgomp reads OMP_WAIT_POLICY as it loads, before main: so
  // stylize sets it to passive and starts itself again, once (docs/performance.md, "Running
  // beside other jobs"). A user's own setting stands.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    ::setenv("OMP_WAIT_POLICY", "passive", 1);
    ::execv("/proc/self/exe", argv);  // returns only on failure: then run as we are
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  return run(args, std::cout, std::cerr, ::isatty(STDERR_FILENO) == 1);
}

}  // namespace stylize::cli
