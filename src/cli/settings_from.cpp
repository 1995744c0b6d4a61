#include "settings_from.hpp"

#include "options.hpp"

#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string_view>

namespace stylize::cli {

std::vector<std::string> stored_args(const std::string& path) {
  const auto settings = read_image_metadata(read_file_bytes(path)).settings;
  const auto json = nlohmann::json::parse(settings, nullptr, /*allow_exceptions=*/false);
  if (settings.empty() || !json.is_object() || !json.contains("args") || !json["args"].is_array()) {
    throw ConfigError("--settings-from '" + path + "': the file carries no stylize settings");
  }
  std::vector<std::string> args;
  // Made before --look (0.1.x): the balance of that time, unless the subcommand sets its own.
  const bool before_looks = !json.contains("stylize") || !json["stylize"].is_string() ||
                            json["stylize"].get<std::string>().rfind("0.1.", 0) == 0;
  for (const auto& arg : json["args"]) {
    if (arg.is_string()) args.push_back(arg.get<std::string>());
  }
  const auto& names = subcommands();
  const bool subcommand =
      !args.empty() && std::find(names.begin(), names.end(), args.front()) != names.end();
  if (before_looks && !subcommand) args.insert(args.begin(), {"--look", "subtle"});
  return args;
}

std::vector<std::string> without_look_options(const std::vector<std::string>& args) {
  static const std::vector<std::string> kSet = {"--look",       "--content-weight",
                                                "--style-weight", "--tv-weight",
                                                "--min-size",   "--initial-iterations",
                                                "--iterations", "-n"};
  std::vector<std::string> rest;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    bool dropped = false;
    for (const auto& option : kSet) {
      if (arg == option) {
        ++i;  // and its value
        dropped = true;
      } else if (arg.rfind(option + "=", 0) == 0 || (option == "-n" && arg.rfind("-n", 0) == 0)) {
        dropped = true;
      }
      if (dropped) break;
    }
    if (!dropped) rest.push_back(arg);
  }
  return rest;
}

std::vector<std::string> without_settings_from(const std::vector<std::string>& args,
                                               std::string* from) {
  std::vector<std::string> rest;
  constexpr std::string_view kOption = "--settings-from";
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == kOption && i + 1 < args.size()) {
      *from = args[++i];
    } else if (args[i].rfind(std::string(kOption) + "=", 0) == 0) {
      *from = args[i].substr(kOption.size() + 1);
    } else {
      rest.push_back(args[i]);
    }
  }
  return rest;
}

}  // namespace stylize::cli
