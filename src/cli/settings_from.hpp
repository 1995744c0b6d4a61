#pragma once
// --settings-from: the arguments an output stores and how they combine with those given.

#include <string>
#include <vector>

namespace stylize::cli {

/// The arguments stored in a stylize output (job_settings' "args"); settings of a version
/// before --look (0.1.x, not a subcommand's) start with "--look subtle", the balance they were
/// made with. Throws ConfigError naming the file when it carries none.
std::vector<std::string> stored_args(const std::string& path);

/// args without the options a look sets (and --look itself): what a --look given replaces.
std::vector<std::string> without_look_options(const std::vector<std::string>& args);

/// args without --settings-from and its value; that value in *from.
std::vector<std::string> without_settings_from(const std::vector<std::string>& args,
                                               std::string* from);

}  // namespace stylize::cli
