// Fuzzes option parsing and validation: NUL-separated arguments must either parse into a config
// that validates, or fail with a UsageError / stylize::Error; nothing may crash or escape.
#include <stylize/config.hpp>
#include <stylize/errors.hpp>
#include <stylize/memory.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "cli.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> args(1);
  for (std::size_t i = 0; i < size && args.size() <= 64; ++i) {
    if (data[i] == 0) {
      args.emplace_back();
    } else {
      args.back() += static_cast<char>(data[i]);
    }
  }
  try {
    const auto parsed = stylize::cli::parse_args(args);
    if (parsed.print_and_exit) return 0;
    const auto& options = parsed.options;
    stylize::validate(options.config, options.style_paths.empty() ? 1 : options.style_paths.size());
  } catch (const stylize::cli::UsageError&) {
  } catch (const stylize::Error&) {
  }
  return 0;
}
