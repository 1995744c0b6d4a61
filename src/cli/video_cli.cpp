#include "video_cli.hpp"

#include "batch.hpp"
#include "cli.hpp"
#include "interrupt.hpp"
#include "progress.hpp"
#include "setup.hpp"

#include <stylize/device.hpp>
#include <stylize/errors.hpp>
#include <stylize/video.hpp>

#include <fmt/format.h>
#include <spdlog/logger.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>

namespace stylize::cli {
namespace fs = std::filesystem;
namespace {

/// The video job of the options, its shard from --shard or Slurm; usage problems thrown before
/// anything loads.
VideoJob video_job(const CliOptions& o, std::string* shard_text) {
  if (o.style_paths.empty()) throw UsageError("--style is required");
  if (!o.output_dir.empty()) {
    throw ConfigError("--output-dir is for a batch of images: a video's output is --output (a "
                      "video file or a frame pattern like out/%04d.png)");
  }
  if (!o.masks.style_masks.empty() || !o.masks.style_regions.empty() || !o.masks.mask.empty()) {
    throw ConfigError("--mask, --style-mask and --style-region apply to images, not to a video");
  }
  if (o.each_style) throw ConfigError("--each-style applies to images, not to a video");
  VideoJob job;
  job.content_path = o.content_paths.front();
  job.style_paths = expand_inputs(o.style_paths);
  validate(o.config, job.style_paths.size());
  job.output_path = o.output_path.empty() ? kDefaultVideoOutput : o.output_path;
  job.video = o.video;
  const auto shard = !o.shard.empty() ? std::optional(parse_shard(o.shard))
                                      : shard_from_environment(std::getenv);
  if (shard) {
    job.video.shard_index = shard->index;
    job.video.shard_count = shard->count;
  }
  *shard_text = fmt::format("{}/{}", job.video.shard_index + 1, job.video.shard_count);
  return job;
}

void log_video_start(spdlog::logger& log, const VideoJob& job, const VideoPlan& plan,
                     const c10::Device& device) {
  const VideoSettings& v = job.video;
  std::string range = fmt::format("frames {}-{} of {}", plan.first_frame, plan.last_frame,
                                  plan.clip_frames);
  if (v.shard_count > 1) {
    range += fmt::format(" (shard {}/{}", v.shard_index + 1, v.shard_count);
    if (plan.lead_first_frame < plan.first_frame) {
      range += fmt::format(", its chain from frame {}", plan.lead_first_frame);
    }
    range += ")";
  }
  if (plan.frames_done > 0) range += fmt::format(", {} already made", plan.frames_done);
  const int frame_iterations = v.frame_iterations > 0 ? v.frame_iterations : plan.config.iterations;
  const std::string temporal =
      v.temporal_weight > 0.0
          ? fmt::format("temporal weight {} over {} flow, {} iterations a frame after the first",
                        v.temporal_weight, name_of(v.flow), frame_iterations)
          : std::string("every frame on its own (--temporal-weight 0)");
  log.info("{}: {}, {}x{} px at {:.3g} fps, {}; {} iterations first, on {}, seed {}",
           job.content_path, range, plan.width_px, plan.height_px, plan.fps, temporal,
           plan.config.iterations, describe_device(device), plan.config.seed);
}

}  // namespace

bool wants_video(const CliOptions& o) {
  if (o.content_paths.size() != 1 || !o.command.empty()) return false;
  std::error_code ec;
  return is_video_path(o.content_paths.front()) && !fs::is_directory(o.content_paths.front(), ec);
}

int make_video(const ParsedArgs& parsed, std::ostream& out, std::ostream& err,
               bool err_is_terminal, spdlog::logger& log) {
  const CliOptions& o = parsed.options;
  std::string shard_text;
  VideoJob job = video_job(o, &shard_text);
  if (o.skip_existing && is_video_file_output(job.output_path) &&
      output_is_complete(job.output_path)) {
    log.info("skip (exists): {}", job.output_path);
    return kExitOk;
  }
  if (o.dry_run) {
    out << job.content_path << " + " << fmt::format("{}", fmt::join(job.style_paths, ", "))
        << " -> " << job.output_path << " (video, shard " << shard_text << ")\n";
    return kExitOk;
  }
  c10::ScalarType network_dtype = c10::ScalarType::Float;
  const c10::Device device = set_up_process(o, true, log, network_dtype);
  VggFeatures model = load_model(o, device, network_dtype, log);
  StyleConfig config = o.config;
  std::random_device entropy;
  config.seed = o.seed ? *o.seed : (static_cast<std::uint64_t>(entropy()) << 32U) | entropy();
  Stylizer stylizer(std::move(model), config, device);
  Job settings_job;
  settings_job.content = job.content_path;
  settings_job.styles = job.style_paths;
  settings_job.output = job.output_path;
  job.settings = job_settings(parsed.effective_args, settings_job, config.seed,
                              stylizer.model().path());
  std::unique_ptr<JsonLines> json;
  if (!o.progress_json.empty()) json = std::make_unique<JsonLines>(o.progress_json, out);
  if (json) json->start(1, shard_text, describe_device(device), config.seed);
  ProgressPrinter printer(log, err, err_is_terminal, json.get(), {"", 0, job.content_path});
  VideoEvents events;
  events.on_notice = [&](const JobNotice& notice) {
    printer.clear_line();
    if (notice.level == JobNotice::Level::kWarning) {
      log.warn("{}", notice.text);
    } else if (notice.level == JobNotice::Level::kInfo) {
      log.info("{}", notice.text);
    } else {
      log.debug("{}", notice.text);
    }
  };
  events.on_start = [&](const VideoPlan& plan) { log_video_start(log, job, plan, device); };
  events.on_progress = std::ref(printer);
  events.on_frame = [&](const FrameReport& frame) {
    printer.clear_line();
    const int left = frame.count - frame.index - 1;
    const double eta = frame.run_elapsed_s / (frame.index + 1) * left;
    log.info("frame {} ({}/{}): {} iterations in {}, {}{}{}", frame.frame, frame.index + 1,
             frame.count, frame.iterations, format_duration(frame.seconds),
             format_losses(frame.losses),
             frame.consistent_share > 0.0
                 ? fmt::format(", flow trusted on {:.0f} %", 100.0 * frame.consistent_share)
                 : std::string(),
             left > 0 ? ", ETA " + format_duration(eta) : std::string());
    if (json) json->frame(frame);
  };
  const InterruptGuard interrupt;
  const VideoResult result = stylizer.run_video(job, events, &interrupt.flag());
  printer.clear_line();
  int code = kExitOk;
  const int made = result.frames_made;
  if (result.cancelled) {
    code = 128 + interrupt.signal_number();
    log.warn("interrupted after {} new frame{}: the same command continues from there", made,
             made == 1 ? "" : "s");
  } else if (result.assembled) {
    if (result.frames_faded > 0) {
      log.info("faded {} frames at the shards' boundaries", result.frames_faded);
    }
    log.info("wrote {} ({}{}) in {}", job.output_path, result.codec,
             result.with_audio ? ", with the source's audio if it has any" : "",
             format_duration(result.elapsed_s));
  } else if (is_video_file_output(job.output_path)) {
    log.info("{} frame{} made in {}", made, made == 1 ? "" : "s",
             format_duration(result.elapsed_s));
  } else {
    log.info("wrote {} frame{} as {} in {}{}", made, made == 1 ? "" : "s", job.output_path,
             format_duration(result.elapsed_s),
             result.frames_faded > 0
                 ? fmt::format(", faded {} at the shards' boundaries", result.frames_faded)
                 : std::string());
  }
  if (json) {
    json->summary(static_cast<std::size_t>(made), 0,
                  static_cast<std::size_t>(result.frames_resumed), result.cancelled,
                  result.elapsed_s, code);
  }
  return code;
}

}  // namespace stylize::cli
