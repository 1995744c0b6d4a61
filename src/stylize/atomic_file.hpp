#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace stylize {

/// A name for a temporary file beside target, hidden and marked with this host and process:
/// ".<name>.tmp-<host>-<pid>-<random>".
std::string temp_name_beside(const std::filesystem::path& target);

/// Writes bytes to a temporary beside path, flushes it to disk and renames it into place, so a
/// crash or kill -9 at any moment leaves the old file or the new one, never a partial one.
/// Throws OutputError naming path, leaving no temporary behind.
void write_file_atomically(const std::string& path, const std::vector<std::uint8_t>& bytes);

/// Removes the temporaries (temp_name_beside's pattern) in dir written on this host by a process
/// that is gone, at least ten minutes ago: what a kill -9 during a write leaves. (Another host's
/// or PID namespace's writer sharing the folder cannot be asked, hence the age.) Returns how many
/// it removed; never throws.
int remove_stale_temporaries(const std::filesystem::path& dir);

}  // namespace stylize
