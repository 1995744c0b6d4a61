#include "progress.hpp"

#include <stylize/errors.hpp>
#include <stylize/version.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace stylize::cli {
namespace fs = std::filesystem;
using nlohmann::json;

std::string format_duration(double seconds) {
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  const auto total = static_cast<long>(seconds);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60);
}

std::string format_losses(const LossBreakdown& l) {
  if (l.has_activation) {  // stylize visualize: the channel's activation, not a distance
    return fmt::format("loss {:.4g} (activation {:.4g}, tv {:.4g})", l.total, -l.activation,
                       l.tv);
  }
  return fmt::format("loss {:.4g} (content {:.4g}, style {:.4g}, tv {:.4g}{})", l.total, l.content,
                     l.style, l.tv,
                     l.temporal != 0.0 ? fmt::format(", temporal {:.4g}", l.temporal) : "");
}

ProgressPrinter::ProgressPrinter(spdlog::logger& log, std::ostream& err, bool live,
                                 JsonLines* json_lines, Target target)
    : log_(log), err_(err), live_(live), json_(json_lines), target_(std::move(target)) {}

void ProgressPrinter::operator()(const IterationReport& report) {
  if (report.losses) last_losses_ = *report.losses;
  std::string label =
      report.scale_count > 1
          ? fmt::format("{}scale {}/{} ({}x{}) ", target_.label, report.scale_index + 1,
                        report.scale_count, report.width_px, report.height_px)
          : target_.label;
  if (report.tile_count > 1) {
    label += fmt::format("tile {}/{} ", report.tile_index + 1, report.tile_count);
  }
  if (report.frame > 0) label = fmt::format("frame {} {}", report.frame, label);
  if (!report.notice.empty()) {
    clear_line();
    log_.warn("{}{}", target_.label, report.notice);
    ++notices_seen_;
  }
  if (json_ != nullptr && report.losses) {
    json_->iteration(target_.job + static_cast<std::size_t>(report.image_index), target_.input,
                     report);
  }
  const double per_iter = report.elapsed_s / report.iteration;
  // Over several scales, the whole run's ETA (its work is pixels x iterations per scale).
  const double eta =
      report.scale_count > 1 && report.run_done_fraction > 0.0
          ? report.run_elapsed_s * (1.0 - report.run_done_fraction) / report.run_done_fraction
          : per_iter * (report.total_iterations - report.iteration);
  if (!report.snapshot_path.empty()) {
    clear_line();
    log_.info("{}iteration {}: saved {}", target_.label, report.iteration, report.snapshot_path);
  }
  if (live_ && log_.should_log(spdlog::level::info)) {
    err_ << "\r\033[K"
         << fmt::format("{}iteration {}/{}  {}  {} elapsed, ETA {}", label,
                        report.iteration, report.total_iterations,
                        last_losses_ ? format_losses(*last_losses_) : std::string(),
                        format_duration(report.elapsed_s), format_duration(eta))
         << std::flush;
    line_open_ = true;
  } else if (report.losses && report.iteration != report.total_iterations) {
    log_.info("{}iteration {}/{}: {}, {:.2f} s/iteration, ETA {}", label,
              report.iteration, report.total_iterations, format_losses(*report.losses), per_iter,
              format_duration(eta));
  }
}

void ProgressPrinter::flush_notices(const std::vector<std::string>& notices) {
  for (std::size_t i = notices_seen_; i < notices.size(); ++i) {
    clear_line();
    log_.warn("{}{}", target_.label, notices[i]);
  }
  notices_seen_ = notices.size();
}

void ProgressPrinter::clear_line() {
  if (line_open_) err_ << "\r\033[K" << std::flush;
  line_open_ = false;
}

namespace {
json losses_json(const LossBreakdown& l) {
  nlohmann::json json = {{"total", l.total}, {"content", l.content}, {"style", l.style}, {"tv", l.tv}};
  if (l.has_activation) json["activation"] = -l.activation;
  if (l.temporal != 0.0) json["temporal"] = l.temporal;
  return json;
}
}  // namespace

struct JsonLines::Impl {
  std::ofstream file;
  std::ostream* out = nullptr;
  void write(const json& event) {
    // dump() with error_handler::replace: a non-UTF-8 file name must not abort the run.
    *out << event.dump(-1, ' ', false, json::error_handler_t::replace) << '\n' << std::flush;
  }
};

JsonLines::JsonLines(const std::string& path, std::ostream& out) : impl_(std::make_unique<Impl>()) {
  if (path == "-") {
    impl_->out = &out;
    return;
  }
  errno = 0;
  impl_->file.open(path, std::ios::out | std::ios::trunc);
  if (!impl_->file) {
    throw OutputError("cannot write progress file '" + path +
                      "': " + (errno != 0 ? std::strerror(errno) : "cannot open it"));
  }
  impl_->out = &impl_->file;
}

JsonLines::~JsonLines() = default;

void JsonLines::start(std::size_t jobs, const std::string& shard, const std::string& device,
                      std::uint64_t seed) {
  impl_->write({{"type", "start"},
                {"version", kVersion},
                {"jobs", jobs},
                {"shard", shard},
                {"device", device},
                {"seed", seed}});
}

void JsonLines::iteration(std::size_t job, const std::string& input,
                          const IterationReport& report) {
  json event = {{"type", "iteration"},
                {"job", job},
                {"input", input},
                {"iteration", report.iteration},
                {"iterations", report.total_iterations},
                {"elapsed_s", report.elapsed_s},
                {"scale", report.scale_index},
                {"scales", report.scale_count},
                {"width", report.width_px},
                {"height", report.height_px},
                {"tile", report.tile_index},
                {"tiles", report.tile_count},
                {"loss", losses_json(*report.losses)}};
  if (report.frame > 0) event["frame"] = report.frame;
  impl_->write(event);
}

void JsonLines::frame(const FrameReport& r) {
  impl_->write({{"type", "frame"},
                {"frame", r.frame},
                {"index", r.index},
                {"count", r.count},
                {"iterations", r.iterations},
                {"seconds", r.seconds},
                {"consistent", r.consistent_share},
                {"output", r.path.empty() ? json(nullptr) : json(r.path)},
                {"loss", losses_json(r.losses)}});
}

void JsonLines::image(const JobRecord& r) {
  json event = {{"type", "image"},   {"job", r.job},         {"status", r.status},
                {"input", r.input},  {"styles", r.styles},   {"output", r.output},
                {"width", r.width_px}, {"height", r.height_px}, {"iterations", r.iterations},
                {"seconds", r.seconds}};
  event["loss"] = r.losses ? losses_json(*r.losses) : json(nullptr);
  event["error"] = r.error.empty() ? json(nullptr) : json(r.error);
  impl_->write(event);
}

void JsonLines::summary(std::size_t done, std::size_t failed, std::size_t skipped,
                        bool interrupted, double seconds, int exit_code) {
  impl_->write({{"type", "summary"},
                {"done", done},
                {"failed", failed},
                {"skipped", skipped},
                {"interrupted", interrupted},
                {"seconds", seconds},
                {"exit_code", exit_code}});
}

}  // namespace stylize::cli
