#pragma once
// stylize -c clip.mp4: the command line's side of a video (cli.cpp hands it over).

#include "options.hpp"

#include <ostream>

namespace spdlog {
class logger;
}

namespace stylize::cli {

/// True when the command line asks for a video: one --content that is a video file or a frame
/// pattern.
bool wants_video(const CliOptions& o);

/// Checks the options (before the model loads), then stylizes the clip with progress per
/// frame. Returns the exit code; throws what cli::run maps to exit codes.
int make_video(const ParsedArgs& parsed, std::ostream& out, std::ostream& err,
               bool err_is_terminal, spdlog::logger& log);

}  // namespace stylize::cli
