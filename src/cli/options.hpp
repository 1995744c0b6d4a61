#pragma once

#include "batch.hpp"

#include <stylize/config.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
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
};

/// The default output of a single image.
inline constexpr const char* kDefaultOutput = "out.png";

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

/// The settings text stored in a job's output: the stylize version, the seed, the model and
/// the arguments that make that one image again (args with the job's own input, styles, masks
/// and output, and --seed), as JSON.
std::string job_settings(const std::vector<std::string>& args, const Job& job, std::uint64_t seed,
                         const std::string& model);

}  // namespace stylize::cli
