#pragma once

#include <stylize/config.hpp>

#include <cstdint>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace stylize::cli {

/// The process exit codes; documented in README.md ("Exit codes").
enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,     ///< a bug: an unexpected exception
  kExitUsage = 2,        ///< bad command line: unknown option, invalid or contradictory value
  kExitInput = 3,        ///< an input image is missing, unreadable, corrupt or too small
  kExitModel = 4,        ///< the model file is missing, broken or lacks a requested layer
  kExitOutput = 5,       ///< an output file cannot be written
  kExitDevice = 6,       ///< the requested device is not available
  kExitMemory = 7,       ///< the run would not fit in memory (see --max-memory, --fit-memory)
  kExitPartial = 8,      ///< a batch finished, but some (not all) of its images failed
  // 130 / 143: interrupted by SIGINT / SIGTERM (128 + signal); the best image so far was written
};

/// Everything the command line sets. Engine tunables live in `config`, whose member
/// initialisers are the single home of their defaults.
struct CliOptions {
  StyleConfig config;
  std::vector<std::string> content_paths;  ///< files, directories or glob patterns
  std::vector<std::string> style_paths;    ///< files, directories or glob patterns
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
  std::string optimizer = "lbfgs";
  std::string pooling = "max";
  std::string style_loss = "gram";
  std::string precision = "fp32";
  std::string conv = "auto";
  std::string preserve_colors = "none";
  /// auto: style-colors, or content with --preserve-colors (README "Time to a good image")
  std::string init = "auto";
  std::optional<std::uint64_t> seed;
  std::string content_layers;
  std::string style_layers;
  std::string max_memory;  ///< empty: what the device has available
  bool fit_memory = false;
  bool list_layers = false;
  std::vector<std::string> measure_paths;  ///< --measure: score these images, make nothing
  int measure_size_px = kDefaultMeasureSizePx;
  int verbosity = 0;  ///< -1 quiet, 0 normal, 1 verbose
};

/// A command-line problem; the message is one line without the "stylize: error: " prefix.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The result of parsing: options to run with, or text to print and exit 0 (--help, --version).
struct ParsedArgs {
  CliOptions options;
  std::optional<std::string> print_and_exit;
};

/// Sets the process's heap policy (README "Performance", the heap): glibc maps blocks from 1 MiB
/// up on their own, and torch's CPU tensors come from the tensor heap (tensor_heap.hpp). Does
/// nothing when the environment has STYLIZE_MALLOC=default. run_main calls it first, before
/// anything is allocated.
void tune_heap();

/// Parses args (without the program name). Throws UsageError for bad arguments.
ParsedArgs parse_args(const std::vector<std::string>& args);

/// The engine config the options ask for (layer lists parsed, --init and --optimizer resolved).
/// Throws ConfigError for malformed layer lists; call validate() on the result for the rest.
StyleConfig resolve_config(const CliOptions& options);

/// The model file to use: --model, else $STYLIZE_MODEL, else ./models/vgg19.pt, else
/// <directory of the executable>/../models/vgg19.pt, else
/// <directory of the executable>/../share/stylize/vgg19.pt. Returns the first that exists, or the
/// list of places searched, joined, when none does (the caller reports it).
std::string find_model(const std::string& explicit_path, std::vector<std::string>* searched);

/// Runs the whole program in-process: parse, load, optimise, save. Never exits or throws.
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
        bool err_is_terminal);

/// main()'s body.
int run_main(int argc, char** argv);

}  // namespace stylize::cli
