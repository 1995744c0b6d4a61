#include "setup.hpp"

#include "cli.hpp"

#include <stylize/device.hpp>
#include <stylize/errors.hpp>

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include <cstdlib>
#include <filesystem>

namespace stylize::cli {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDefaultModelName = "vgg19.pt";

std::string executable_dir() {
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

}  // namespace

int exit_code_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kConfig:
      return kExitUsage;
    case ErrorKind::kInput:
      return kExitInput;
    case ErrorKind::kModel:
      return kExitModel;
    case ErrorKind::kOutput:
      return kExitOutput;
    case ErrorKind::kDevice:
      return kExitDevice;
    case ErrorKind::kMemory:
      return kExitMemory;
  }
  return kExitInternal;
}

/// Threads, device, precision and a BLAS speed check: the process-wide set-up, done once.
c10::Device set_up_process(const CliOptions& o, bool makes_images, spdlog::logger& log,
                           c10::ScalarType& network_dtype) {
  const int threads = configure_threads(o.threads);
  if (o.threads > threads) {
    log.warn("--threads {}: this process may use {} CPU{}, so it runs {} thread{}", o.threads,
             threads, threads == 1 ? "" : "s", threads, threads == 1 ? "" : "s");
  }
  const c10::Device device = resolve_device(o.device);
  const PrecisionSetup precision = configure_precision(device, o.config.precision);
  if (!precision.notice.empty()) log.warn("{}", precision.notice);
  network_dtype = precision.network_dtype;
  if (device.is_cpu() && makes_images) {
    const double gflops = measure_cpu_matmul_gflops();
    log.debug("matrix product: {:.0f} GFLOP/s", gflops);
    if (gflops < kSlowMatmulGflops) {
      log.warn("matrix products run at only {:.1f} GFLOP/s: the system BLAS looks slow (the "
               "reference BLAS?); install OpenBLAS (apt-get install libopenblas0-pthread, as "
               "scripts/setup.sh does) for a 5-10x faster run",
               gflops);
    }
  }
  return device;
}

VggFeatures load_model(const CliOptions& o, const c10::Device& device,
                       c10::ScalarType network_dtype, spdlog::logger& log) {
  std::vector<std::string> searched;
  const std::string model_path = find_model(o.model_path, &searched);
  if (model_path.empty()) {
    std::string places;
    for (const auto& place : searched) places += (places.empty() ? "" : ", ") + place;
    throw ModelError("no model file found (looked for " + places +
                     "); run scripts/setup.sh --weights FILE or pass --model FILE");
  }
  VggFeatures model = VggFeatures::load(model_path, device);
  model.set_compute_dtype(network_dtype);
  log.debug("model {}: {} layers, {} convention", model_path, model.layer_names().size(),
            model.convention());
  if (model.random_init()) {
    log.warn("model {} has RANDOM weights (made for tests): the output will not look stylized",
             model_path);
  }
  return model;
}

std::unique_ptr<spdlog::logger> make_logger(std::ostream& err, int verbosity) {
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(err, /*force_flush=*/true);
  auto log = std::make_unique<spdlog::logger>("stylize", sink);
  log->set_pattern("[%H:%M:%S] %^%l%$: %v");
  log->set_level(verbosity < 0   ? spdlog::level::warn
                 : verbosity > 0 ? spdlog::level::debug
                                 : spdlog::level::info);
  return log;
}

std::string find_model(const std::string& explicit_path, std::vector<std::string>* searched) {
  if (!explicit_path.empty()) return explicit_path;  // its absence is reported by the loader
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("STYLIZE_MODEL"); env != nullptr && *env != '\0') {
    // Named on purpose: a missing file is an error, not a reason to take another model.
    std::error_code ec;
    if (!fs::is_regular_file(env, ec)) {
      throw ModelError("STYLIZE_MODEL names '" + std::string(env) + "', which is not a file");
    }
    return env;
  }
  candidates.push_back((fs::path("models") / kDefaultModelName).string());
  if (const auto dir = executable_dir(); !dir.empty()) {
    candidates.push_back((fs::path(dir) / ".." / "models" / kDefaultModelName).string());
    candidates.push_back(
        (fs::path(dir) / ".." / "share" / "stylize" / kDefaultModelName).string());
  }
  for (const auto& candidate : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec)) return candidate;
  }
  if (searched != nullptr) *searched = candidates;
  return {};
}

}  // namespace stylize::cli
