#include "batch.hpp"

#include <stylize/errors.hpp>

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <set>

namespace stylize::cli {
namespace fs = std::filesystem;
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool is_image_name(const fs::path& path) {
  const auto& exts = image_extensions();
  return std::find(exts.begin(), exts.end(), lower(path.extension().string())) != exts.end();
}

std::vector<std::string> glob_paths(const std::string& pattern) {
  glob_t matches{};
  std::vector<std::string> paths;
  if (::glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
    for (std::size_t i = 0; i < matches.gl_pathc; ++i) paths.emplace_back(matches.gl_pathv[i]);
  }
  ::globfree(&matches);
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::string stem_of(const std::string& path) { return fs::path(path).stem().string(); }

}  // namespace

const std::vector<std::string>& image_extensions() {
  static const std::vector<std::string> extensions = {".jpg", ".jpeg", ".png", ".webp",
                                                      ".tif", ".tiff", ".bmp"};
  return extensions;
}

std::vector<std::string> expand_inputs(const std::vector<std::string>& specs) {
  std::vector<std::string> paths;
  std::set<std::string> seen;
  auto add = [&](const std::string& path) {
    if (seen.insert(path).second) paths.push_back(path);
  };
  for (const auto& spec : specs) {
    std::error_code ec;
    if (fs::is_directory(spec, ec)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::directory_iterator(spec, ec)) {
        if (entry.is_regular_file(ec) && is_image_name(entry.path())) {
          found.push_back(entry.path().string());
        }
      }
      if (found.empty()) throw InputError("directory '" + spec + "' has no image files");
      std::sort(found.begin(), found.end());
      for (const auto& path : found) add(path);
    } else if (spec.find_first_of("*?[") != std::string::npos && !fs::exists(spec, ec)) {
      std::vector<std::string> found;
      for (const auto& path : glob_paths(spec)) {
        if (!fs::is_directory(path, ec)) found.push_back(path);
      }
      if (found.empty()) throw InputError("pattern '" + spec + "' matches no file");
      for (const auto& path : found) add(path);
    } else {
      add(spec);
    }
  }
  return paths;
}

std::string format_output_name(const std::string& pattern, const Job& job, int size_px) {
  std::string style;
  for (const auto& path : job.styles) style += (style.empty() ? "" : "+") + stem_of(path);
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '}') {
      throw ConfigError("invalid name pattern '" + pattern + "': unmatched '}'");
    }
    if (pattern[i] != '{') {
      out += pattern[i];
      continue;
    }
    const auto close = pattern.find('}', i);
    if (close == std::string::npos) {
      throw ConfigError("invalid name pattern '" + pattern + "': unmatched '{'");
    }
    const std::string key = pattern.substr(i + 1, close - i - 1);
    if (key == "content") {
      out += stem_of(job.content);
    } else if (key == "style") {
      out += style;
    } else if (key == "index") {
      out += std::to_string(job.index);
    } else if (key == "size") {
      out += std::to_string(size_px);
    } else {
      throw ConfigError("invalid name pattern '" + pattern + "': unknown placeholder {" + key +
                        "} (use {content}, {style}, {index} or {size})");
    }
    i = close;
  }
  return out;
}

namespace {

std::string with_content(std::string path, const std::string& content) {
  const std::string placeholder = "{content}";
  for (auto at = path.find(placeholder); at != std::string::npos;
       at = path.find(placeholder, at)) {
    const auto stem = stem_of(content);
    path.replace(at, placeholder.size(), stem);
    at += stem.size();
  }
  return path;
}

/// For each of the job's styles, the entry of per_style at that style's position in styles.
std::vector<std::string> per_job(const std::vector<std::string>& per_style,
                                 const std::vector<std::string>& styles, const Job& job) {
  std::vector<std::string> chosen;
  if (per_style.empty()) return chosen;
  for (const auto& style : job.styles) {
    const auto at = std::find(styles.begin(), styles.end(), style) - styles.begin();
    chosen.push_back(with_content(per_style.at(static_cast<std::size_t>(at)), job.content));
  }
  return chosen;
}

}  // namespace

void assign_masks(std::vector<Job>& jobs, const std::vector<std::string>& styles,
                  const MaskSpec& masks) {
  for (const auto& [list, option] : {std::pair{&masks.style_masks, "--style-mask"},
                                     std::pair{&masks.style_regions, "--style-region"}}) {
    if (!list->empty() && list->size() != styles.size()) {
      throw ConfigError("got " + std::to_string(list->size()) + " " + option + " for " +
                        std::to_string(styles.size()) + " style images: give one " + option +
                        " per --style, in the same order");
    }
  }
  for (auto& job : jobs) {
    job.style_masks = per_job(masks.style_masks, styles, job);
    job.style_regions = per_job(masks.style_regions, styles, job);
    job.mask = masks.mask.empty() ? std::string() : with_content(masks.mask, job.content);
  }
}

std::vector<Job> plan_jobs(const WorkSpec& spec) {
  std::vector<std::vector<std::string>> style_sets;
  if (spec.each_style) {
    for (const auto& style : spec.styles) style_sets.push_back({style});
  } else {
    style_sets.push_back(spec.styles);
  }
  std::vector<Job> jobs;
  for (const auto& content : spec.contents) {
    for (std::size_t s = 0; s < style_sets.size(); ++s) {
      Job job;
      job.content = content;
      job.styles = style_sets[s];
      job.style_set = s;
      job.index = jobs.size();
      jobs.push_back(job);
    }
  }
  if (spec.output_dir.empty()) {
    if (jobs.size() > 1) {
      throw ConfigError(std::to_string(jobs.size()) +
                        " images to make but one output file: use --output-dir DIR (and "
                        "optionally --name PATTERN) instead of --output");
    }
    for (auto& job : jobs) job.output = spec.output;
    return jobs;
  }
  std::set<std::string> outputs;
  for (auto& job : jobs) {
    const fs::path name = format_output_name(spec.name_pattern, job, spec.size_px);
    const auto normal = name.lexically_normal();
    if (name.is_absolute() || normal.empty() || *normal.begin() == "..") {
      throw ConfigError("name pattern '" + spec.name_pattern + "' gives the output '" +
                        name.string() + "', outside --output-dir '" + spec.output_dir +
                        "': use a relative name without '..'");
    }
    job.output = (fs::path(spec.output_dir) / name).string();
    if (!outputs.insert(job.output).second) {
      throw ConfigError("name pattern '" + spec.name_pattern + "' gives two jobs the output '" +
                        job.output + "': add {index} or {style} to it");
    }
  }
  return jobs;
}

Shard parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  auto bad = [&text]() {
    return ConfigError("invalid shard '" + text + "': expected I/N with 1 <= I <= N, e.g. 2/8");
  };
  if (slash == std::string::npos) throw bad();
  const std::string index_text = text.substr(0, slash);
  const std::string count_text = text.substr(slash + 1);
  auto digits = [](const std::string& s) {
    return !s.empty() && s.size() <= 6 && s.find_first_not_of("0123456789") == std::string::npos;
  };
  if (!digits(index_text) || !digits(count_text)) throw bad();
  const int index = std::stoi(index_text);
  const int count = std::stoi(count_text);
  if (count < 1 || index < 1 || index > count) throw bad();
  return {index - 1, count};
}

std::optional<Shard> shard_from_environment(
    const std::function<const char*(const char*)>& getenv) {
  auto number = [&getenv](const char* name) -> std::optional<long> {
    const char* value = getenv(name);
    if (value == nullptr || *value == '\0') return std::nullopt;
    try {
      std::size_t used = 0;
      const long parsed = std::stol(value, &used);
      if (used == std::string(value).size()) return parsed;
    } catch (const std::exception&) {
    }
    throw ConfigError(std::string("invalid ") + name + " '" + value + "': not a number");
  };
  const auto id = number("SLURM_ARRAY_TASK_ID");
  if (!id) return std::nullopt;
  const auto min = number("SLURM_ARRAY_TASK_MIN").value_or(0);
  const auto max = number("SLURM_ARRAY_TASK_MAX");
  auto count = number("SLURM_ARRAY_TASK_COUNT");
  if (!count && max) count = *max - min + 1;
  if (!count) {
    throw ConfigError(
        "SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor "
        "SLURM_ARRAY_TASK_MAX is: cannot tell the number of shards");
  }
  const long index = *id - min;
  if (*count < 1 || index < 0 || index >= *count) {
    throw ConfigError("SLURM_ARRAY_TASK_ID " + std::to_string(*id) +
                      " is outside the array (min " + std::to_string(min) + ", count " +
                      std::to_string(*count) + "); stylize needs a contiguous array like 0-7");
  }
  return Shard{static_cast<int>(index), static_cast<int>(*count)};
}

std::vector<Job> select_shard(const std::vector<Job>& jobs, const Shard& shard) {
  std::vector<Job> selected;
  for (const auto& job : jobs) {
    if (static_cast<int>(job.index % static_cast<std::size_t>(shard.count)) == shard.index) {
      selected.push_back(job);
    }
  }
  return selected;
}

}  // namespace stylize::cli
