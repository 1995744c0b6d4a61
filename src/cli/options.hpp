#pragma once

#include "batch.hpp"

#include <stylize/config.hpp>
#include <stylize/video.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace stylize::cli {

/// Everything the command line sets. Engine tunables are bound straight into `config`, whose
/// member initialisers are the single home of their defaults; the rest is the CLI's own.
struct CliOptions {
  StyleConfig config;
  std::vector<std::string> content_paths;  ///< files, directories or glob patterns
  std::vector<std::string> style_paths;    ///< files, directories or glob patterns
  MaskSpec masks;                          ///< --style-mask, --style-region, --mask
  std::string output_path;                 ///< empty: out.png (single image only)
  std::string output_dir;
  std::string name_pattern = "{content}_{style}.png";
  bool each_style = false;
  bool skip_existing = false;
  std::string shard;          ///< "I/N"; empty: from the Slurm environment, else everything
  std::string progress_json;  ///< file, "-" for stdout, empty for none
  bool dry_run = false;
  std::string model_path;  ///< empty: the lookup order of find_model()
  std::string device = "auto";
  int threads = 0;  ///< 0: every core
  std::optional<std::uint64_t> seed;
  bool list_layers = false;
  std::vector<std::string> measure_paths;  ///< --measure: score these images, make nothing
  int measure_size_px = kDefaultMeasureSizePx;
  int verbosity = 0;  ///< -1 quiet, 0 normal, 1 verbose
  std::string settings_from;  ///< --settings-from: the output whose stored settings were used
  /// The subcommand: empty for style transfer, else "texture", "reconstruct" or "visualize".
  std::string command;
  int texture_width_px = 0;   ///< texture --size WxH; 0: --size N, the painting's aspect
  int texture_height_px = 0;
  std::vector<std::string> layers;     ///< reconstruct, visualize --layer
  std::vector<std::int64_t> channels;  ///< visualize --channels
  /// A video --content: flow, temporal loss, frame range (its shard is set from --shard).
  VideoSettings video;
};

/// The subcommands besides style transfer (the plain command).
const std::vector<std::string>& subcommands();

/// "0-15", "5,40" or "0-3,9": the channel numbers, in order. Throws ConfigError naming the text.
std::vector<std::int64_t> parse_channels(const std::string& text);

/// "256x160" (width x height) or "256" (longest side): {width, height}, 0 x 0 for one number
/// (then *longest_side is set). Throws ConfigError for other text or sizes out of range.
std::pair<int, int> parse_texture_size(const std::string& text, int* longest_side);

/// The default output of a single image, and of a video.
inline constexpr const char* kDefaultOutput = "out.png";
inline constexpr const char* kDefaultVideoOutput = "out.mp4";

/// --frames "FIRST-LAST" (1-based, inclusive), "FIRST-" (to the end) or "N" (one frame): sets
/// video's first_frame and last_frame (0: the end). Throws ConfigError naming the text.
void parse_frame_range(const std::string& text, VideoSettings& video);

/// --temporal-frames "1,2,4": the earlier frames, as written. Throws ConfigError naming the text.
std::vector<int> parse_frame_offsets(const std::string& text);

/// A command-line problem; the message is one line without the "stylize: error: " prefix.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The result of parsing: options to run with, or text to print and exit 0 (--help, --version).
struct ParsedArgs {
  CliOptions options;
  std::optional<std::string> print_and_exit;
  /// The arguments in force: with --settings-from, the stored ones followed by those given.
  std::vector<std::string> effective_args;
};

/// Parses args (without the program name). `--settings-from FILE` first applies the arguments
/// stored in FILE (a stylize output), then the others given, which override them. Throws
/// UsageError for bad arguments, ConfigError for malformed values (layer lists, memory sizes)
/// or a FILE without stored settings, InputError for an unreadable FILE.
ParsedArgs parse_args(const std::vector<std::string>& args);

/// The settings stored in the output of a subcommand: version, seed, model and its arguments
/// (with --seed), as JSON.
std::string view_settings(const std::vector<std::string>& args, std::uint64_t seed,
                          const std::string& model);

/// The settings text stored in a job's output: the stylize version, the seed, the model and
/// the arguments that make that one image again (args with the job's own input, styles, masks
/// and output, and --seed), as JSON.
std::string job_settings(const std::vector<std::string>& args, const Job& job, std::uint64_t seed,
                         const std::string& model);

}  // namespace stylize::cli
