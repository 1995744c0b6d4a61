#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace stylize::cli {

/// Image file extensions picked up when a directory is given as an input.
const std::vector<std::string>& image_extensions();

/// Expands input specs in order: a directory gives its image files (sorted, not recursive), a
/// pattern with * ? or [ gives its sorted matches, anything else is kept as a path (a missing
/// file is reported when it is read). Duplicates are dropped, keeping the first. Throws
/// InputError when a directory or pattern yields no image.
std::vector<std::string> expand_inputs(const std::vector<std::string>& specs);

/// One unit of work: a content image, the style images blended for it, and the output path.
struct Job {
  std::string content;
  std::vector<std::string> styles;
  std::size_t style_set = 0;  ///< index of `styles` among the run's distinct style sets
  std::string output;
  std::size_t index = 0;  ///< position in the full work list (before sharding), 0-based
  std::vector<std::string> style_masks;    ///< one per entry of styles, or empty
  std::vector<std::string> style_regions;  ///< one per entry of styles, or empty
  std::string mask;                        ///< empty: stylize everywhere
};

/// The mask options as given: --style-mask and --style-region one per style of the run (in
/// --style order, after expansion), --mask one for all. "{content}" in a path stands for the
/// content file's stem, so a batch can give each photo its own mask.
struct MaskSpec {
  std::vector<std::string> style_masks;
  std::vector<std::string> style_regions;
  std::string mask;
};

/// Gives each job its masks: for each of the job's styles, the mask given for that style's
/// position in styles, with every "{content}" replaced. Throws ConfigError when a list's length
/// is not the number of styles.
void assign_masks(std::vector<Job>& jobs, const std::vector<std::string>& styles,
                  const MaskSpec& masks);

/// "{content}_{style}.png" with {content} the content file's stem, {style} the style stems joined
/// by '+', {index} the job's position, {size} the --size value. Throws ConfigError for an unknown
/// placeholder or an unmatched brace.
std::string format_output_name(const std::string& pattern, const Job& job, int size_px);

/// What plan_jobs needs to know.
struct WorkSpec {
  std::vector<std::string> contents;  ///< expanded
  std::vector<std::string> styles;    ///< expanded
  bool each_style = false;            ///< one job per (content, style) instead of one blend
  std::string output;                 ///< --output: only valid with exactly one job
  std::string output_dir;             ///< --output-dir
  std::string name_pattern;           ///< --name
  int size_px = 0;
};

/// The full work list in a stable order (contents in input order, then styles), with outputs
/// named. Throws ConfigError when several jobs would write one file, several jobs have no
/// --output-dir, or a name leads outside --output-dir (absolute, or through '..').
std::vector<Job> plan_jobs(const WorkSpec& spec);

/// A 0-based shard index of a shard count.
struct Shard {
  int index = 0;
  int count = 1;
};

/// Parses --shard "I/N" with 1 <= I <= N (1-based, as "shard 1 of 4"). Throws ConfigError.
Shard parse_shard(const std::string& text);

/// The shard from Slurm job-array variables when set (SLURM_ARRAY_TASK_ID with
/// SLURM_ARRAY_TASK_COUNT, or with SLURM_ARRAY_TASK_MIN/MAX), else nullopt. getenv is injected so
/// tests need not touch the process environment. Throws ConfigError for inconsistent values.
std::optional<Shard> shard_from_environment(
    const std::function<const char*(const char*)>& getenv);

/// The jobs of one shard: job k belongs to shard k mod count. Every job lands in exactly one
/// shard, and each shard keeps the work list's order.
std::vector<Job> select_shard(const std::vector<Job>& jobs, const Shard& shard);

}  // namespace stylize::cli
