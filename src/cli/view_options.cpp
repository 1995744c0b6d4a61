#include "options.hpp"

#include "option_groups.hpp"

#include <stylize/errors.hpp>
#include <stylize/version.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>
#include <tuple>

// The subcommands' option tables and values: stylize texture, reconstruct, visualize.
namespace stylize::cli {
namespace {
using namespace option_groups;  // NOLINT(google-build-using-namespace)

void add_view_diagnostics(CLI::App& app, CliOptions& o) {
  const GroupFrom grouped(app, kDiagnostics);
  app.add_option("--print-every", o.config.report_every_iters,
                 "Log losses every N iterations (0: off)")
      ->capture_default_str();
  app.add_option("--progress-json", o.progress_json,
                 "Write JSON-lines progress to FILE, or - for standard output");
  app.add_flag_function(
      "-q,--quiet", [&o](std::int64_t) { o.verbosity = -1; }, "Only warnings and errors");
  app.add_flag_function(
      "-v,--verbose", [&o](std::int64_t) { o.verbosity = 1; }, "Debug output");
  app.get_help_ptr()->group(kInputOutput);
}

/// The groups after a subcommand's own: optimisation, performance (no memory budget: the
/// views do not check one), diagnostics.
void add_view_tail(CLI::App& app, CliOptions& o) {
  add_optimisation(app, o.config, o);
  add_performance(app, o, false);
  add_view_diagnostics(app, o);
}

void add_model(CLI::App& app, CliOptions& o) {
  app.add_option("--model", o.model_path,
                 "TorchScript VGG model (default: as for style transfer, see stylize --help)");
}

void configure_texture(CLI::App& app, CliOptions& o) {
  StyleConfig& c = o.config;
  apply_look(Look::kSubtle, c);  // one scale of 500 iterations, as its results were judged
  {
    const GroupFrom grouped(app, kInputOutput);
    app.add_option("-s,--style", o.style_paths, "Style image (the painting); repeat to blend")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_option("-o,--output", o.output_path, "Output image (png, jpg, webp, tif, bmp)");
    app.add_option_function<std::string>(
           "--size",
           [&o](const std::string& text) {
             std::tie(o.texture_width_px, o.texture_height_px) =
                 parse_texture_size(text, &o.config.size_px);
           },
           "WIDTHxHEIGHT in px, or the longest side (the painting's aspect)")
        ->type_name("WxH|N")
        ->default_str(std::to_string(c.size_px));
    app.add_flag("--tileable", c.tileable,
                 "Make the texture wrap around seamlessly, left-right and top-bottom");
    app.add_option("-n,--iterations", c.iterations, "Optimisation steps")->capture_default_str();
    add_model(app, o);
  }
  {
    const GroupFrom grouped(app, kLook);
    add_style_look(app, c);
  }
  add_view_tail(app, o);
}

void configure_reconstruct(CLI::App& app, CliOptions& o) {
  StyleConfig& c = o.config;
  apply_look(Look::kSubtle, c);  // one scale of 500 iterations, as its results were judged
  {
    const GroupFrom grouped(app, kInputOutput);
    app.add_option("-c,--content", o.content_paths, "The photo")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_option("--layer", o.layers,
                   "Layer whose activations to match, e.g. relu3_1; repeat for a labelled sheet "
                   "across layers")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.add_option("-o,--output", o.output_path,
                   "Output image; with several --layer the sheet, each layer's image beside it "
                   "as <name>_<layer>.<ext>");
    app.add_option("--size", c.size_px, "Longest side in px")->capture_default_str();
    app.add_option("-n,--iterations", c.iterations, "Optimisation steps")->capture_default_str();
    add_model(app, o);
  }
  {
    const GroupFrom grouped(app, kLook);
    app.add_option("--tv-weight", c.tv_weight, "Weight of the total-variation loss")
        ->capture_default_str();
    add_pooling(app, c);
  }
  add_view_tail(app, o);
}

void configure_visualize(CLI::App& app, CliOptions& o) {
  StyleConfig& c = o.config;
  c.size_px = kDefaultVisualizeSizePx;
  c.min_size_px = kDefaultVisualizeMinSizePx;
  c.iterations = kDefaultVisualizeIterations;
  c.optimizer = OptimizerKind::kAdam;
  c.learning_rate = kDefaultVisualizeLearningRate;
  c.tv_weight = kDefaultVisualizeTvWeight;
  c.channel_contrast = kDefaultVisualizeContrast;
  {
    const GroupFrom grouped(app, kInputOutput);
    app.add_option("--layer", o.layers, "The layer, e.g. relu3_1");
    app.add_option_function<std::string>(
           "--channels", [&o](const std::string& text) { o.channels = parse_channels(text); },
           "Channels: ranges and lists, e.g. 0-15 or 5,40")
        ->type_name("LIST");
    app.add_option("--output-dir", o.output_dir,
                   "Directory for one image per channel, <layer>_<channel>.png (created)");
    app.add_option("-o,--output", o.output_path, "Also a labelled contact sheet of them all");
    app.add_option("--size", c.size_px, "Side of the square images in px")->capture_default_str();
    app.add_option("-n,--iterations", c.iterations, "Optimisation steps per octave")
        ->capture_default_str();
    add_model(app, o);
  }
  {
    const GroupFrom grouped(app, kLook);
    app.add_option("--tv-weight", c.tv_weight, "Weight of the total-variation loss")
        ->capture_default_str();
    app.add_option("--jitter", c.jitter_px, "Shift the image by up to this many px each step")
        ->capture_default_str();
    app.add_option("--contrast", c.channel_contrast,
                   "Subtract this x the layer's mean activation from the channel's (favours "
                   "images that excite this channel rather than the whole layer)")
        ->capture_default_str();
    add_pooling(app, c);
  }
  add_view_tail(app, o);
}

}  // namespace

const std::vector<std::string>& subcommands() {
  static const std::vector<std::string> names = {"texture", "reconstruct", "visualize"};
  return names;
}

std::vector<std::int64_t> parse_channels(const std::string& text) {
  const std::string problem = "invalid --channels '" + text + "': ";
  std::vector<std::int64_t> channels;
  std::stringstream items(text);
  std::string item;
  auto number = [&](const std::string& part) {
    std::size_t used = 0;
    long long value = -1;
    try {
      value = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (part.empty() || used != part.size() || value < 0) {
      throw ConfigError(problem + "expected channel numbers and ranges like 0-15,40");
    }
    return static_cast<std::int64_t>(value);
  };
  while (std::getline(items, item, ',')) {
    const auto dash = item.find('-', 1);
    const auto first = number(item.substr(0, dash));
    const auto last = dash == std::string::npos ? first : number(item.substr(dash + 1));
    if (last < first) throw ConfigError(problem + "the range " + item + " runs backwards");
    if (last - first >= kMaxChannels) {
      throw ConfigError(problem + "more than " + std::to_string(kMaxChannels) + " channels");
    }
    for (auto c = first; c <= last; ++c) channels.push_back(c);
  }
  if (channels.empty()) throw ConfigError(problem + "no channel given");
  return channels;
}

std::pair<int, int> parse_texture_size(const std::string& text, int* longest_side) {
  const std::string problem = "invalid --size '" + text + "': ";
  auto side = [&](const std::string& part) {
    std::size_t used = 0;
    int value = 0;
    try {
      value = std::stoi(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (part.empty() || used != part.size()) {
      throw ConfigError(problem + "expected WIDTHxHEIGHT (e.g. 256x160) or one number of px");
    }
    if (value < kMinSizePxForConfig || value > kMaxSizePx) {
      throw ConfigError(problem + "each side must be from " + std::to_string(kMinSizePxForConfig) +
                        " to " + std::to_string(kMaxSizePx) + " px");
    }
    return value;
  };
  const auto x = text.find('x');
  if (x == std::string::npos) {
    *longest_side = side(text);
    return {0, 0};
  }
  const int width = side(text.substr(0, x));
  const int height = side(text.substr(x + 1));
  *longest_side = std::max(width, height);
  return {width, height};
}

std::string view_settings(const std::vector<std::string>& args, std::uint64_t seed,
                          const std::string& model) {
  std::vector<std::string> kept;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--seed" && i + 1 < args.size()) {
      ++i;
      continue;
    }
    if (args[i].rfind("--seed=", 0) == 0) continue;
    kept.push_back(args[i]);
  }
  kept.insert(kept.end(), {"--seed", std::to_string(seed)});
  return settings_json(kept, seed, model);
}

ParsedArgs parse_subcommand(const std::string& command, const std::vector<std::string>& args) {
  ParsedArgs parsed;
  parsed.options.command = command;
  CLI::App app("stylize " + command + ": " +
                   (command == "texture"       ? "a texture with a painting's style and no content"
                    : command == "reconstruct" ? "the image a layer's activations describe"
                                               : "what excites each channel of a layer"),
               "stylize " + command);
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  if (command == "texture") configure_texture(app, parsed.options);
  if (command == "reconstruct") configure_reconstruct(app, parsed.options);
  if (command == "visualize") configure_visualize(app, parsed.options);
  parsed.effective_args = args;
  parsed.effective_args.insert(parsed.effective_args.begin(), command);
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 wants them so
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    parsed.print_and_exit = app.help();
  } catch (const CLI::CallForAllHelp&) {
    parsed.print_and_exit = app.help("", CLI::AppFormatMode::All);
  } catch (const CLI::ParseError& e) {
    throw UsageError(e.what());
  }
  return parsed;
}

}  // namespace stylize::cli
