#pragma once

#include <stylize/style_transfer.hpp>
#include <stylize/video.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace stylize::cli {

std::string format_duration(double seconds);
std::string format_losses(const LossBreakdown& losses);

class JsonLines;

/// Turns engine reports for one image into a live line (terminal), periodic log lines (pipes,
/// files), notes on --save-every snapshots and JSON-lines events.
class ProgressPrinter {
 public:
  struct Target {
    std::string label;  ///< e.g. "[2/8] " in a batch, empty for a single image
    std::size_t job = 0;
    std::string input;
  };
  ProgressPrinter(spdlog::logger& log, std::ostream& err, bool live, JsonLines* json,
                  Target target);

  void operator()(const IterationReport& report);
  /// Warns about engine notices that no report carried (e.g. one raised at the very end).
  void flush_notices(const std::vector<std::string>& notices);
  void clear_line();

 private:
  spdlog::logger& log_;
  std::ostream& err_;
  bool live_;
  JsonLines* json_;
  Target target_;
  std::optional<LossBreakdown> last_losses_;
  bool line_open_ = false;
  std::size_t notices_seen_ = 0;
};

/// The outcome of one job, as logged and written to --progress-json.
struct JobRecord {
  std::size_t job = 0;
  std::string status;  ///< "done", "failed", "skipped" or "interrupted"
  std::string input;
  std::vector<std::string> styles;
  std::string output;
  int width_px = 0;
  int height_px = 0;
  int iterations = 0;
  std::optional<LossBreakdown> losses;
  double seconds = 0.0;
  std::string error;
};

/// --progress-json: one JSON object per line, flushed as written so another program can follow
/// it live. Event types: "start", "iteration", "image", "frame" and "summary" (schema in the
/// README).
class JsonLines {
 public:
  /// path "-" is standard output (given as out). Throws OutputError when the file cannot be
  /// opened.
  JsonLines(const std::string& path, std::ostream& out);
  ~JsonLines();
  JsonLines(const JsonLines&) = delete;
  JsonLines& operator=(const JsonLines&) = delete;

  void start(std::size_t jobs, const std::string& shard, const std::string& device,
             std::uint64_t seed);
  void iteration(std::size_t job, const std::string& input, const IterationReport& report);
  void image(const JobRecord& record);
  /// A video's frame, made (output: the file, empty for a shard's lead frame).
  void frame(const FrameReport& report);
  void summary(std::size_t done, std::size_t failed, std::size_t skipped, bool interrupted,
               double seconds, int exit_code);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stylize::cli
