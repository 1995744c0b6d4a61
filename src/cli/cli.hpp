#pragma once

#include "options.hpp"

#include <ostream>
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
