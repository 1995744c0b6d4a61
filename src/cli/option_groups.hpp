#pragma once

// The option groups that style transfer and the subcommands share (options.cpp,
// view_options.cpp): headings, enum options, and the groups themselves.
#include "options.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace stylize::cli::option_groups {

inline constexpr const char* kInputOutput = "Input and output";
inline constexpr const char* kLook = "Look";
inline constexpr const char* kMasks = "Masks";
inline constexpr const char* kOptimisation = "Optimisation";
inline constexpr const char* kVideo = "Video";
inline constexpr const char* kBatch = "Batch";
inline constexpr const char* kPerformance = "Performance";
inline constexpr const char* kDiagnostics = "Diagnostics";

/// Accepts one of names' keys and replaces it by its value's number (which CLI11 then converts
/// to the bound variable); otherwise "X not in {a,b,c}", as CLI::IsMember words it.
template <typename Value>
inline CLI::Validator one_of(const std::vector<std::pair<std::string, Value>>& names) {
  std::string listed;
  for (const auto& entry : names) listed += (listed.empty() ? "" : ",") + entry.first;
  return CLI::Validator(
      [names, listed](std::string& text) -> std::string {
        for (const auto& [name, value] : names) {
          if (text == name) {
            text = std::to_string(static_cast<int>(value));
            return {};
          }
        }
        return text + " not in {" + listed + "}";
      },
      "", "one_of");
}

/// An option bound straight to an engine enum: its spellings come from enum_names, the default
/// shown is the config's initial value.
template <typename Enum>
inline CLI::Option* add_enum(CLI::App& app, const std::string& flags, Enum& value,
                      const std::string& help) {
  std::vector<std::pair<std::string, Enum>> names;
  std::string choices;
  for (const auto& entry : enum_names(value)) {
    names.emplace_back(entry.name, entry.value);
    choices += (choices.empty() ? "" : "|") + std::string(entry.name);
  }
  return app.add_option(flags, value, help)
      ->transform(one_of(names))
      ->type_name(choices)
      ->default_str(name_of(value));
}

/// Puts the options added during its lifetime under one heading of --help.
class GroupFrom {
 public:
  GroupFrom(CLI::App& app, const char* name)
      : app_(app), name_(name), first_(app.get_options().size()) {}
  ~GroupFrom() {
    const auto options = app_.get_options();
    for (std::size_t i = first_; i < options.size(); ++i) options[i]->group(name_);
  }
  GroupFrom(const GroupFrom&) = delete;
  GroupFrom& operator=(const GroupFrom&) = delete;

 private:
  CLI::App& app_;
  const char* name_;
  std::size_t first_;
};


/// --pooling max|avg.
void add_pooling(CLI::App& app, StyleConfig& c);
/// The look options that concern the painting (style transfer and texture).
void add_style_look(CLI::App& app, StyleConfig& c);
/// The "Optimisation" group: optimiser, learning rate, coarse to fine, tolerance, seed.
void add_optimisation(CLI::App& app, StyleConfig& c, CliOptions& o);
/// The "Performance" group; with_memory adds --max-memory and --fit-memory.
void add_performance(CLI::App& app, CliOptions& o, bool with_memory = true);
/// The settings stored in an output: version, seed, model and the arguments, as JSON.
std::string settings_json(const std::vector<std::string>& args, std::uint64_t seed,
                          const std::string& model);

}  // namespace stylize::cli::option_groups

namespace stylize::cli {
/// A subcommand's arguments (after its name) parsed by its own option table (view_options.cpp).
ParsedArgs parse_subcommand(const std::string& command, const std::vector<std::string>& args);
}  // namespace stylize::cli
