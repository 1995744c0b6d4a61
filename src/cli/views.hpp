#pragma once

#include "options.hpp"

#include <ostream>

namespace stylize::cli {

/// Runs a subcommand (texture, reconstruct, visualize: parsed.options.command) to the end:
/// checks, process set-up, model, the engine's view, progress and log lines. Returns the exit
/// code; throws stylize::Error and UsageError as run_parsed does.
int run_view(const ParsedArgs& parsed, std::ostream& out, std::ostream& err,
             bool err_is_terminal);

}  // namespace stylize::cli
