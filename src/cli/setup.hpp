#pragma once

#include "options.hpp"

#include <stylize/errors.hpp>
#include <stylize/vgg_features.hpp>

#include <c10/core/Device.h>

#include <memory>
#include <ostream>

namespace spdlog {
class logger;
}

// The process set-up every command shares (cli.cpp): style transfer and the subcommands.
namespace stylize::cli {

/// The exit code of an engine error (README "Exit codes").
int exit_code_for(ErrorKind kind);

/// Threads, device, precision and (when makes_images) a BLAS speed check: the process-wide
/// set-up, done once. Sets network_dtype for the model.
c10::Device set_up_process(const CliOptions& o, bool makes_images, spdlog::logger& log,
                           c10::ScalarType& network_dtype);

/// The model of --model or the usual places (find_model), in network_dtype; warns about a
/// random-weights model.
VggFeatures load_model(const CliOptions& o, const c10::Device& device,
                       c10::ScalarType network_dtype, spdlog::logger& log);

/// The log: "[time] level: text" on err; -q warnings only, -v debug.
std::unique_ptr<spdlog::logger> make_logger(std::ostream& err, int verbosity);

}  // namespace stylize::cli
