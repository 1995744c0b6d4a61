#include <stylize/colour.hpp>
#include <stylize/image_io.hpp>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <torch/cuda.h>

#include <malloc.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "cli.hpp"
#include "test_support.hpp"

namespace stylize::cli {
namespace {
namespace fs = std::filesystem;
using test::run_cli;
using test::TempDir;

std::string usage_error(const std::vector<std::string>& args) {
  try {
    parse_args(args);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "no error";
}

/// A temp dir with a small content and style image, and the argument list of a tiny run.
class CliRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::write_test_image(dir_.file("photo.png"), 48, 36, 12);
    test::write_test_image(dir_.file("style.jpg"), 40, 40, 3);
  }
  std::vector<std::string> tiny_args(const std::string& output) const {
    return {"--content", dir_.file("photo.png"), "--style",      dir_.file("style.jpg"),
            "--output",  output,                 "--model",      test::random_model_path(),
            "--size",    "32",                   "--iterations", "3", "--seed", "5"};
  }
  /// args plus more; a flag of more already in args (--content, --style) has its value replaced,
  /// as those flags accumulate rather than override.
  static std::vector<std::string> with(std::vector<std::string> args,
                                       const std::vector<std::string>& more) {
    for (std::size_t i = 0; i < more.size(); ++i) {
      const bool accumulating = more[i] == "--content" || more[i] == "--style";
      const auto found = std::find(args.begin(), args.end(), more[i]);
      if (accumulating && found != args.end() && i + 1 < more.size()) {
        *(found + 1) = more[++i];
      } else {
        args.push_back(more[i]);
      }
    }
    return args;
  }
  std::size_t files_in_dir() const {
    return static_cast<std::size_t>(
        std::distance(fs::directory_iterator(dir_.path()), fs::directory_iterator()));
  }
  TempDir dir_;
  test::ScopedThreadCount threads_;  // every run sets torch's thread count (--threads)
};

TEST(cli_parse_test, defaults_come_from_the_engine_config) {
  const auto parsed = parse_args({"--content", "a.jpg", "--style", "b.jpg"});
  const auto& o = parsed.options;
  const StyleConfig defaults;
  EXPECT_EQ(o.content_paths, (std::vector<std::string>{"a.jpg"}));
  EXPECT_EQ(o.style_paths, (std::vector<std::string>{"b.jpg"}));
  EXPECT_EQ(o.output_path, "");
  EXPECT_EQ(o.config.size_px, defaults.size_px);
  EXPECT_EQ(o.config.iterations, defaults.iterations);
  EXPECT_EQ(o.config.optimizer, defaults.optimizer);
  EXPECT_EQ(o.config.init, defaults.init);
  EXPECT_EQ(o.config.colour_mode, defaults.colour_mode);
  EXPECT_EQ(o.config.style_loss, defaults.style_loss);
  EXPECT_EQ(o.config.precision, defaults.precision);
  EXPECT_EQ(o.config.conv_algorithm, defaults.conv_algorithm);
  EXPECT_EQ(o.config.average_pooling, defaults.average_pooling);
  EXPECT_EQ(o.config.max_memory_bytes, defaults.max_memory_bytes);
  EXPECT_FALSE(o.seed.has_value());
  EXPECT_EQ(o.device, "auto");
  EXPECT_FALSE(parsed.print_and_exit.has_value());
}

/// The README's table of --look (the numbers are the documented ones, not the constants).
void expect_look(const StyleConfig& c, double content_weight, int min_size_px, int iterations) {
  EXPECT_EQ(c.content_weight, content_weight);
  EXPECT_EQ(c.style_weight, 20.0);
  EXPECT_EQ(c.tv_weight, 0.5);
  EXPECT_EQ(c.min_size_px, min_size_px);
  EXPECT_EQ(c.iterations, iterations);
  EXPECT_EQ(c.initial_iterations, 0);
}

TEST(cli_parse_test, look_sets_the_documented_weights_and_options_given_win) {
  expect_look(parse_args({}).options.config, 0.04, 64, 150);
  expect_look(parse_args({"--look", "painterly"}).options.config, 0.04, 64, 150);
  expect_look(parse_args({"--look", "subtle"}).options.config, 1.0, 0, 500);
  for (const auto& args : {std::vector<std::string>{"--look", "subtle", "--content-weight", "3",
                                                    "-n", "9"},
                           std::vector<std::string>{"--content-weight", "3", "-n", "9", "--look",
                                                    "subtle"}}) {
    const auto c = parse_args(args).options.config;
    EXPECT_EQ(c.content_weight, 3.0);
    EXPECT_EQ(c.iterations, 9);
    EXPECT_EQ(c.min_size_px, 0);  // the look's, not given
  }
  EXPECT_ERROR_MSG(parse_args({"--look", "bold"}), UsageError,
                   "--look: bold not in {painterly,subtle}");
  // The other commands keep one scale of 500 iterations whatever the look.
  EXPECT_EQ(parse_args({"texture", "-s", "a.jpg"}).options.config.min_size_px, 0);
  EXPECT_EQ(parse_args({"reconstruct", "-c", "a.jpg"}).options.config.iterations, 500);
}

TEST(cli_parse_test, settings_from_an_older_output_keep_its_balance_and_a_look_given_wins) {
  const test::TempDir dir;
  auto stored = [&](const std::string& version, const std::vector<std::string>& args) {
    const auto path = dir.file(version + ".png");
    const nlohmann::json json{{"stylize", version}, {"seed", 1}, {"model", "m.pt"}, {"args", args}};
    save_image(at::zeros({1, 3, 16, 16}), path, {}, {json.dump(), {}});
    return path;
  };
  // Made before --look: the photo-faithful balance it was made with.
  const auto old = stored("0.1.0", {"-c", "a.jpg", "-s", "b.jpg", "--style-weight", "7"});
  auto c = parse_args({"--settings-from", old, "-o", "x.png"}).options.config;
  EXPECT_EQ(c.content_weight, 1.0);
  EXPECT_EQ(c.min_size_px, 0);
  EXPECT_EQ(c.style_weight, 7.0);
  const auto now = stored("0.2.0", {"-c", "a.jpg", "-s", "b.jpg", "--content-weight", "5", "-n",
                                    "800", "--tv-weight=2"});
  c = parse_args({"--settings-from", now, "-o", "x.png"}).options.config;
  EXPECT_EQ(c.content_weight, 5.0);
  EXPECT_EQ(c.iterations, 800);
  EXPECT_EQ(c.min_size_px, 64);
  // A look given replaces what the stored run set of its settings, in the run and in what it
  // stores.
  const auto parsed = parse_args({"--settings-from", now, "--look", "subtle", "-o", "x.png"});
  c = parsed.options.config;
  EXPECT_EQ(c.content_weight, 1.0);
  EXPECT_EQ(c.iterations, 500);
  EXPECT_EQ(c.tv_weight, 0.5);
  EXPECT_EQ(parsed.effective_args,
            (std::vector<std::string>{"-c", "a.jpg", "-s", "b.jpg", "--look", "subtle", "-o",
                                      "x.png"}));
}

TEST(cli_parse_test, help_shows_the_engine_defaults_of_enum_options) {
  const auto help = parse_args({"--help"}).print_and_exit.value();
  for (const auto* expected :
       {"--optimizer lbfgs|adam=lbfgs", "--init auto|content|style-colors|noise|FILE=auto",
        "--style-loss gram|mean-cov|w2=gram", "--pooling max|avg=max",
        "--preserve-colors none|luminance|stats=none", "--conv auto|direct|winograd=auto"}) {
    EXPECT_NE(help.find(expected), std::string::npos) << expected << " in\n" << help;
  }
  // Grouped, the five that matter first.
  EXPECT_LT(help.find("--content"), help.find("Look:"));
  EXPECT_LT(help.find("Look:"), help.find("Optimisation:"));
  EXPECT_LT(help.find("Optimisation:"), help.find("Batch:"));
}

TEST(cli_parse_test, job_settings_name_the_jobs_own_inputs_and_output) {
  const auto settings = nlohmann::json::parse(job_settings(
      {"-cphotos/", "--style=a.jpg", "-s", "b.jpg", "c.jpg", "--output-dir", "out",
       "--style-weight", "7", "--skip-existing", "--seed=3"},
      Job{"photos/x.png", {"b.jpg"}, 0, "out/x_b.png", 0, {}, {}, ""}, 42, "m.pt"));
  EXPECT_EQ(settings["args"].get<std::vector<std::string>>(),
            (std::vector<std::string>{"--style-weight", "7", "-c", "photos/x.png", "-s", "b.jpg",
                                      "-o", "out/x_b.png", "--seed", "42"}));
  EXPECT_EQ(settings["seed"], 42);
  EXPECT_EQ(settings["model"], "m.pt");
}

TEST(cli_parse_test, the_default_init_is_the_warm_start_unless_colours_are_preserved) {
  auto init_of = [](std::vector<std::string> args) {
    const auto config = parse_args(std::move(args)).options.config;
    return resolve_init(config.init, config.colour_mode);
  };
  EXPECT_EQ(init_of({}), InitKind::kStyleColours);
  EXPECT_EQ(init_of({"--init", "auto"}), InitKind::kStyleColours);
  EXPECT_EQ(init_of({"--preserve-colors", "luminance"}), InitKind::kContent);
  EXPECT_EQ(init_of({"--preserve-colors", "stats"}), InitKind::kContent);
  EXPECT_EQ(init_of({"--preserve-colors", "stats", "--init", "style-colors"}),
            InitKind::kStyleColours)
      << "an explicit choice stands";
  EXPECT_EQ(init_of({"--init", "content"}), InitKind::kContent);
  EXPECT_EQ(init_of({"--init", "noise"}), InitKind::kNoise);
  const auto from_file = parse_args({"--init", "start.png"}).options.config;
  EXPECT_EQ(from_file.init, InitKind::kImage);
  EXPECT_EQ(from_file.init_path, "start.png");
}

TEST(cli_parse_test, reads_every_option) {
  const auto o =
      parse_args({"-c", "a.jpg", "-s", "b.jpg", "--style", "c.png", "--style-blend", "2,1", "-o",
                  "x.webp", "--size", "256", "--style-scale", "0.5", "-n", "42", "--optimizer",
                  "adam", "--learning-rate", "0.1", "--lbfgs-history", "7", "--content-weight",
                  "2", "--style-weight", "30", "--tv-weight", "0.1", "--content-layers",
                  "relu3_2", "--style-layers", "relu1_1:2,relu2_1", "--init", "noise", "--seed",
                  "123", "--device", "cpu", "--threads", "1", "--model", "m.pt", "--save-every",
                  "10", "--print-every", "5", "--style-loss", "w2", "--normalize-weights",
                  "--normalize-gradients", "--precision", "bf16", "--conv", "direct", "-v",
                  "--pooling", "avg", "--preserve-colors", "luminance", "--max-memory", "2M",
                  "--fit-memory"})
          .options;
  const StyleConfig& config = o.config;
  EXPECT_EQ(o.style_paths, (std::vector<std::string>{"b.jpg", "c.png"}));
  EXPECT_EQ(config.style_blend, (std::vector<double>{2.0, 1.0}));
  EXPECT_EQ(o.output_path, "x.webp");
  EXPECT_EQ(config.size_px, 256);
  EXPECT_DOUBLE_EQ(config.style_scale, 0.5);
  EXPECT_EQ(config.iterations, 42);
  EXPECT_EQ(config.optimizer, OptimizerKind::kAdam);
  EXPECT_DOUBLE_EQ(*config.learning_rate, 0.1);
  EXPECT_EQ(config.lbfgs_history, 7);
  EXPECT_DOUBLE_EQ(config.content_weight, 2.0);
  EXPECT_DOUBLE_EQ(config.style_weight, 30.0);
  EXPECT_DOUBLE_EQ(config.tv_weight, 0.1);
  EXPECT_EQ(config.content_layers, (std::vector<LayerWeight>{{"relu3_2", 1.0}}));
  EXPECT_EQ(config.style_layers, (std::vector<LayerWeight>{{"relu1_1", 2.0}, {"relu2_1", 1.0}}));
  EXPECT_EQ(config.init, InitKind::kNoise);
  EXPECT_EQ(o.seed, 123U);
  EXPECT_EQ(o.device, "cpu");
  EXPECT_EQ(o.threads, 1);
  EXPECT_EQ(o.model_path, "m.pt");
  EXPECT_EQ(config.snapshot_every_iters, 10);
  EXPECT_EQ(config.report_every_iters, 5);
  EXPECT_EQ(o.verbosity, 1);
  EXPECT_EQ(config.style_loss, StyleLossKind::kW2);
  EXPECT_EQ(config.precision, Precision::kBf16);
  EXPECT_EQ(config.conv_algorithm, ConvAlgorithm::kDirect);
  EXPECT_TRUE(config.average_pooling);
  EXPECT_EQ(config.colour_mode, ColourMode::kLuminance);
  EXPECT_EQ(config.max_memory_bytes, 2U * 1024 * 1024);
  EXPECT_TRUE(config.fit_memory);
  EXPECT_EQ(parse_args({"--conv", "winograd"}).options.config.conv_algorithm,
            ConvAlgorithm::kWinograd);
  EXPECT_TRUE(config.normalize_weights);
  EXPECT_TRUE(config.normalize_gradients);
  EXPECT_EQ(parse_args({"--style-loss", "mean-cov"}).options.config.style_loss,
            StyleLossKind::kMeanCov);
  EXPECT_EQ(parse_args({"--preserve-colors", "stats"}).options.config.colour_mode,
            ColourMode::kStatistics);
  EXPECT_EQ(parse_args({"-q"}).options.verbosity, -1);
  // A repeated single-value option: the last one wins, so scripts can append overrides.
  EXPECT_EQ(parse_args({"--size", "64", "--size", "128"}).options.config.size_px, 128);
}

TEST(cli_parse_test, help_and_version_print_and_exit) {
  const auto help = parse_args({"--help"});
  ASSERT_TRUE(help.print_and_exit.has_value());
  for (const char* option :
       {"--content", "--style", "--style-blend", "--output", "--size", "--style-scale",
        "--iterations", "--optimizer", "--learning-rate", "--lbfgs-history", "--content-weight",
        "--style-weight", "--tv-weight", "--content-layers", "--style-layers", "--init", "--seed",
        "--device", "--threads", "--model", "--save-every", "--print-every", "--list-layers",
        "--quiet", "--verbose", "--version"}) {
    EXPECT_NE(help.print_and_exit->find(option), std::string::npos) << option;
  }
  const auto version = parse_args({"--version"}).print_and_exit.value_or("");
  EXPECT_EQ(version.rfind("stylize 0.2.0 (LibTorch ", 0), 0U) << version;
  EXPECT_NE(version.find(", OpenCV "), std::string::npos) << version;
}

TEST(cli_parse_test, bad_arguments_are_usage_errors) {
  EXPECT_EQ(usage_error({"--bogus"}), "The following argument was not expected: --bogus");
  EXPECT_EQ(usage_error({"--optimizer", "sgd"}),
            "--optimizer: sgd not in {lbfgs,adam}");
  EXPECT_EQ(usage_error({"--size", "big"}), "Could not convert: --size = big");
  EXPECT_EQ(usage_error({"--style-loss", "l1"}), "--style-loss: l1 not in {gram,mean-cov,w2}");
  EXPECT_EQ(usage_error({"--precision", "fp8"}), "--precision: fp8 not in {fp32,tf32,bf16,fp16}");
  EXPECT_EQ(usage_error({"--conv", "fft"}), "--conv: fft not in {auto,direct,winograd}");
}

TEST_F(CliRunTest, tiny_run_writes_the_output_and_a_summary) {
  const auto out = dir_.file("out.png");
  const auto run = run_cli(tiny_args(out));
  EXPECT_EQ(run.exit_code, kExitOk) << run.err;
  const auto image = load_image_rgb01(out, 0);
  EXPECT_EQ(image.sizes(), (at::IntArrayRef{1, 3, 24, 32}));
  EXPECT_NE(run.err.find("seed 5"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("wrote " + out + " after 3 iterations"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("RANDOM weights"), std::string::npos) << run.err;
}

TEST_F(CliRunTest, random_seed_is_printed_so_the_run_can_be_repeated) {
  auto args = tiny_args(dir_.file("out.png"));
  args.resize(args.size() - 2);  // drop --seed 5
  const auto run = run_cli(with(args, {"--init", "noise"}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  const auto at = run.err.find(", seed ");
  ASSERT_NE(at, std::string::npos) << run.err;
  const auto seed = run.err.substr(at + 7, run.err.find('\n', at) - at - 7);
  const auto again = run_cli(with(args, {"--init", "noise", "--seed", seed, "-o",
                                         dir_.file("again.png")}));
  ASSERT_EQ(again.exit_code, kExitOk) << again.err;
  EXPECT_TRUE(at::equal(load_image_rgb01(dir_.file("out.png"), 0),
                        load_image_rgb01(dir_.file("again.png"), 0)));
}

TEST_F(CliRunTest, save_every_writes_numbered_snapshots) {
  const auto run = run_cli(with(tiny_args(dir_.file("out.jpg")), {"--save-every", "1"}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  for (const char* name : {"out_1.jpg", "out_2.jpg", "out_3.jpg", "out.jpg"}) {
    EXPECT_TRUE(fs::exists(dir_.path() / name)) << name;
  }
}

TEST_F(CliRunTest, output_keeps_the_contents_alpha) {
  cv::Mat rgba(36, 48, CV_8UC4, cv::Scalar(40, 90, 200, 255));
  rgba(cv::Rect(0, 0, 24, 36)).setTo(cv::Scalar(40, 90, 200, 0));  // left half transparent
  ASSERT_TRUE(cv::imwrite(dir_.file("cutout.png"), rgba));
  auto args = tiny_args(dir_.file("out.png"));
  args[1] = dir_.file("cutout.png");
  const auto run = run_cli(args);
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  const cv::Mat out = cv::imread(dir_.file("out.png"), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(out.channels(), 4);
  EXPECT_EQ(out.at<cv::Vec4b>(12, 2)[3], 0);
  EXPECT_EQ(out.at<cv::Vec4b>(12, 29)[3], 255);
}

TEST_F(CliRunTest, colour_and_pooling_modes_change_the_result_as_documented) {
  auto run = run_cli(with(tiny_args(dir_.file("plain.png")), {"-n", "6"}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  run = run_cli(with(tiny_args(dir_.file("luma.png")), {"-n", "6", "--preserve-colors", "luminance"}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  run = run_cli(with(tiny_args(dir_.file("stats.png")), {"-n", "6", "--preserve-colors", "stats"}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  run = run_cli(with(tiny_args(dir_.file("avg.png")), {"-n", "6", "--pooling", "avg"}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  const auto content = load_image_rgb01(dir_.file("photo.png"), 32);
  const auto plain = load_image_rgb01(dir_.file("plain.png"), 0);
  const auto luma = load_image_rgb01(dir_.file("luma.png"), 0);
  auto chroma_error = [&](const at::Tensor& image) {
    return (rgb_to_ycbcr(image).slice(1, 1, 3) - rgb_to_ycbcr(content).slice(1, 1, 3))
        .abs()
        .mean()
        .item<float>();
  };
  EXPECT_LT(chroma_error(luma), 0.02F);
  EXPECT_LT(chroma_error(luma), chroma_error(plain));
  EXPECT_FALSE(at::allclose(load_image_rgb01(dir_.file("stats.png"), 0), plain));
  EXPECT_FALSE(at::allclose(load_image_rgb01(dir_.file("avg.png"), 0), plain));
  EXPECT_EQ(run_cli(with(tiny_args(dir_.file("x.png")), {"--pooling", "min"})).exit_code,
            kExitUsage);
  run = run_cli(with(tiny_args(dir_.file("w2.png")), {"-n", "6", "--style-loss", "w2"}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_FALSE(at::allclose(load_image_rgb01(dir_.file("w2.png"), 0), plain));
}

TEST_F(CliRunTest, list_layers_marks_the_defaults) {
  const auto run = run_cli({"--list-layers", "--model", test::random_model_path()});
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_NE(run.out.find("conv1_1\nrelu1_1 [style]\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("relu4_2 [content]\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("pool4\n"), std::string::npos) << run.out;
}

TEST_F(CliRunTest, errors_give_one_line_an_exit_code_and_no_output) {
  const auto out = dir_.file("out.png");
  struct Case {
    std::vector<std::string> extra;
    int code;
    std::string message;
  };
  fs::create_directory(dir_.file("empty-dir"));
  const std::vector<Case> cases = {
      {{"--content", dir_.file("nope.png")},
       kExitInput,
       "stylize: error: cannot read image '" + dir_.file("nope.png") + "': no such file"},
      {{"--style", dir_.file("empty-dir")},
       kExitInput,
       "stylize: error: directory '" + dir_.file("empty-dir") + "' has no image files"},
      {{"--content", dir_.file("*.gif")},
       kExitInput,
       "stylize: error: pattern '" + dir_.file("*.gif") + "' matches no file"},
      {{"--model", dir_.file("none.pt")},
       kExitModel,
       "stylize: error: cannot load model '" + dir_.file("none.pt") +
           "': no such file (make one with scripts/export_vgg19.py)"},
      {{"--output", dir_.file("out.gif")},
       kExitOutput,
       "stylize: error: cannot write '" + dir_.file("out.gif") +
           "': unknown image format '.gif' (use .png, .jpg, .webp, .tif or .bmp)"},
      {{"--style-layers", "relu9_1"},
       kExitUsage,
       "stylize: error: unknown style layer 'relu9_1': the model has relu1_1 relu1_2 relu2_1 "
       "relu2_2 relu3_1 relu3_2 relu3_3 relu3_4 relu4_1 relu4_2 relu4_3 relu4_4 relu5_1 relu5_2 "
       "relu5_3 relu5_4"},
      {{"--iterations", "0"}, kExitUsage, "stylize: error: invalid iterations 0: must be from 1 to 1000000"},
      {{"--device", "tpu"},
       kExitUsage,
       "stylize: error: invalid device 'tpu': expected auto, cpu, cuda or cuda:N"},
      {{"--style-blend", "1,2"},
       kExitUsage,
       "stylize: error: got 2 style blend weights for 1 style images"},
      {{"--device", "cpu", "--precision", "fp16"},
       kExitUsage,
       "stylize: error: invalid precision fp16 on the CPU: it needs a CUDA device (use fp32, or "
       "bf16 on CPUs with bf16 instructions)"},
      {{"--device", "cpu", "--precision", "bf16", "--conv", "winograd"},
       kExitUsage,
       "stylize: error: invalid conv algorithm winograd: the network does not run in fp32"},
      {{"--init", dir_.file("missing-init.png")},
       kExitInput,
       "stylize: error: cannot read image '" + dir_.file("missing-init.png") +
           "': no such file"},
  };
  for (const auto& c : cases) {
    const auto run = run_cli(with(tiny_args(out), c.extra));
    EXPECT_EQ(run.exit_code, c.code) << c.message;
    const auto lines = test::lines_of(run.err);
    ASSERT_FALSE(lines.empty()) << c.message;
    EXPECT_EQ(lines.back(), c.message);
    EXPECT_FALSE(fs::exists(out)) << c.message;
  }
  EXPECT_EQ(files_in_dir(), 3U) << "nothing but the two inputs and the empty directory";
}

TEST(cli_heap_test, tensor_sized_blocks_get_their_own_mapping) {
  // glibc's own mmap threshold rises to the size of a freed mapped block (up to 32 MiB), so
  // with its default the second 16 MiB block would come from the heap. With the process heap
  // the test main installs, as stylize's does, every block from 1 MiB up is its own mapping,
  // and smaller ones come from the heap.
  constexpr std::size_t kLarge = std::size_t{16} << 20U;
  const auto mapped_before = mallinfo2().hblks;
  void* volatile first = std::malloc(kLarge);  // volatile: the compiler may not elide the pair
  EXPECT_EQ(mallinfo2().hblks, mapped_before + 1);
  std::free(first);
  void* volatile second = std::malloc(kLarge);
  EXPECT_EQ(mallinfo2().hblks, mapped_before + 1);
  void* volatile small = std::malloc(std::size_t{256} << 10U);
  EXPECT_EQ(mallinfo2().hblks, mapped_before + 1);
  std::free(small);
  std::free(second);
  EXPECT_EQ(mallinfo2().hblks, mapped_before);
}

TEST_F(CliRunTest, style_colors_init_starts_from_the_styles_palette) {
  // One iteration barely moves the image: the output shows where each run started.
  auto run = run_cli(with(tiny_args(dir_.file("content.png")), {"-n", "1", "--init", "content"}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  run = run_cli(with(tiny_args(dir_.file("warm.png")), {"-n", "1", "--init", "style-colors"}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  const auto style_mean = load_image_rgb01(dir_.file("style.jpg"), 32).mean({0, 2, 3});
  auto distance = [&](const std::string& name) {
    return (load_image_rgb01(dir_.file(name), 0).mean({0, 2, 3}) - style_mean).norm().item<float>();
  };
  EXPECT_LT(distance("warm.png"), 0.03F);
  EXPECT_LT(distance("warm.png"), 0.5F * distance("content.png"));
  run = run_cli(with(tiny_args(dir_.file("default.png")), {"-n", "1"}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_LT(distance("default.png"), 0.03F) << "the default starts from the style's colours";
}

TEST_F(CliRunTest, style_colors_init_serves_every_image_of_a_batch) {
  // The style set's images are loaded once for the first job and reused by the second.
  test::write_test_image(dir_.file("other.png"), 36, 48, 21);
  const auto out_dir = dir_.file("out");
  const auto run = run_cli({"--content", dir_.file("photo.png"), "--content", dir_.file("other.png"),
                            "--style", dir_.file("style.jpg"), "--output-dir", out_dir, "--name",
                            "{content}.png", "--model", test::random_model_path(), "--size", "32",
                            "-n", "1", "--seed", "5", "--init", "style-colors"});
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  const auto style_mean = load_image_rgb01(dir_.file("style.jpg"), 32).mean({0, 2, 3});
  for (const auto* name : {"photo.png", "other.png"}) {
    const auto made = load_image_rgb01(out_dir + "/" + name, 0);
    EXPECT_LT((made.mean({0, 2, 3}) - style_mean).norm().item<float>(), 0.03F) << name;
  }
}

TEST_F(CliRunTest, measure_scores_images_as_json_lines) {
  const auto made = dir_.file("made.png");
  auto run = run_cli(with(tiny_args(made), {"-n", "8"}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  run = run_cli({"--measure", dir_.file("photo.png"), made, "--content", dir_.file("photo.png"),
                 "--style", dir_.file("style.jpg"), "--model", test::random_model_path(),
                 "--measure-size", "32"});
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  const auto lines = test::lines_of(run.out);
  ASSERT_EQ(lines.size(), 2U) << run.out;
  const auto photo = nlohmann::json::parse(lines[0]);
  const auto stylized = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(photo["image"], dir_.file("photo.png"));
  EXPECT_EQ(photo["measure_size_px"], 32);
  EXPECT_NEAR(photo["content_distance"].get<double>(), 0.0, 1e-9);
  EXPECT_DOUBLE_EQ(photo["style_ratio"].get<double>(), 1.0);
  EXPECT_EQ(stylized["image"], made);
  EXPECT_GT(stylized["content_distance"].get<double>(), 0.0);
  EXPECT_LT(stylized["style_ratio"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(photo["multiscale_style_ratio"].get<double>(), 1.0);  // 1 at every size
  EXPECT_NEAR(photo["content_ratio"].get<double>(), 0.0, 1e-9);
  EXPECT_GT(stylized["content_ratio"].get<double>(), 0.0);
  EXPECT_EQ(stylized["multiscale_sizes_px"], photo["multiscale_sizes_px"]);
  EXPECT_EQ(stylized["multiscale_sizes_px"].back(), 32);
  EXPECT_EQ(files_in_dir(), 3U) << "measuring writes nothing";

  run = run_cli({"--measure", made, "--style", dir_.file("style.jpg"), "--model",
                 test::random_model_path()});
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_EQ(test::lines_of(run.err).back(),
            "stylize: error: --measure needs exactly one --content image (got 0)");
}

TEST_F(CliRunTest, memory_budget_is_checked_before_the_run) {
  const auto out = dir_.file("out.png");
  // 500 MiB: the runtime, the model and a 2048 px image's buffers leave no room even for tiles.
  // Direct convolutions: the same estimate on every CPU (stylize's AVX2 Winograd kernels keep
  // ~0.4 GiB of transformed weights for this model, which would leave no size that fits).
  auto run = run_cli(
      with(tiny_args(out), {"--size", "2048", "--max-memory", "500M", "--conv", "direct"}));
  EXPECT_EQ(run.exit_code, kExitMemory) << run.err;
  const auto message = test::lines_of(run.err).back();
  EXPECT_EQ(message.rfind("stylize: error: estimated peak memory ", 0), 0U) << message;
  EXPECT_NE(message.find(" for 2048x1536 px exceeds the 500 MiB of --max-memory, even in 320 px "
                         "tiles; the largest size that fits is "),
            std::string::npos)
      << message;
  EXPECT_FALSE(fs::exists(out));

  run = run_cli(with(tiny_args(out), {"--size", "2048", "--max-memory", "500M", "--fit-memory",
                                       "--conv", "direct"}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_NE(run.err.find("--fit-memory: 2048 px needs an estimated"), std::string::npos);
  const auto image = load_image_rgb01(out, 0);
  EXPECT_LT(image.size(3), 2048);
  EXPECT_GT(image.size(3), 32);

  run = run_cli(with(tiny_args(out), {"--max-memory", "lots"}));
  EXPECT_EQ(run.exit_code, kExitUsage);
}

TEST_F(CliRunTest, tiles_are_reported_and_the_output_has_the_full_size) {
  const auto out = dir_.file("out.png");
  const auto run = run_cli(with(tiny_args(out), {"--size", "96", "--tile-size", "64",
                                                 "--tile-overlap", "8", "--tile-passes", "1",
                                                 "--style-layers", "relu1_1,relu2_1",
                                                 "--content-layers", "relu2_1", "-v"}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_EQ(load_image_rgb01(out, 0).sizes(), (at::IntArrayRef{1, 3, 72, 96}));
  // 48 px cores: 2 rows of 2 tiles, 3 iterations each.
  EXPECT_NE(run.err.find("tile 3/4 iteration 9/12: loss "), std::string::npos) << run.err;
}

TEST_F(CliRunTest, missing_required_inputs_are_usage_errors) {
  auto run = run_cli({"--style", dir_.file("style.jpg")});
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_EQ(run.err, "stylize: error: --content is required (see stylize --help)\n");
  run = run_cli({"--content", dir_.file("photo.png")});
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_EQ(run.err, "stylize: error: --style is required (see stylize --help)\n");
}

TEST_F(CliRunTest, corrupt_model_file_is_a_model_error) {
  std::ofstream(dir_.file("broken.pt")) << "garbage";
  const auto run = run_cli(with(tiny_args(dir_.file("out.png")), {"--model", dir_.file("broken.pt")}));
  EXPECT_EQ(run.exit_code, kExitModel);
  EXPECT_NE(run.err.find("stylize: error: cannot load model '" + dir_.file("broken.pt") +
                         "': not a TorchScript model file"),
            std::string::npos)
      << run.err;
  EXPECT_EQ(test::lines_of(run.err).size(), 1U) << run.err;
}

TEST_F(CliRunTest, cuda_on_a_cpu_machine_is_a_device_error) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this machine has CUDA";
  const auto run = run_cli(with(tiny_args(dir_.file("out.png")), {"--device", "cuda"}));
  EXPECT_EQ(run.exit_code, kExitDevice);
  EXPECT_EQ(test::lines_of(run.err).back(),
            "stylize: error: device 'cuda' is not available: this build or machine has no CUDA "
            "device (use --device cpu or auto)");
}

/// find_model reads $STYLIZE_MODEL and looks in the working directory: both are set here (the
/// directory to an empty one) and put back afterwards.
class CliModelLookupTest : public ::testing::Test {
 protected:
  TempDir dir_;
  test::ScopedEnvVar model_env_{"STYLIZE_MODEL"};
  test::ScopedWorkingDirectory cwd_{dir_.path()};
};

TEST_F(CliModelLookupTest, explicit_then_environment_then_the_usual_places) {
  EXPECT_EQ(find_model("given.pt", nullptr), "given.pt");
  std::ofstream(dir_.file("env.pt")) << "x";
  model_env_.set(dir_.file("env.pt"));
  EXPECT_EQ(find_model("", nullptr), dir_.file("env.pt"));
  // A $STYLIZE_MODEL that does not exist is an error, not a reason to take another model ...
  model_env_.set(dir_.file("absent.pt"));
  fs::create_directory(dir_.path() / "models");
  std::ofstream(dir_.file("models/vgg19.pt")) << "x";
  EXPECT_ERROR_MSG(find_model("", nullptr), ModelError,
                   "STYLIZE_MODEL names '" + dir_.file("absent.pt") + "', which is not a file");
  model_env_.unset();
  EXPECT_EQ(find_model("", nullptr), "models/vgg19.pt");
  fs::remove(dir_.file("models/vgg19.pt"));
  // ... and then to the executable's ../models and ../share/stylize. Whether a model lies there
  // beside this test binary is the build tree's business: either way the answer is exact.
  const auto exe_dir = fs::read_symlink("/proc/self/exe").parent_path();
  const std::vector<std::string> places = {
      "", "models/vgg19.pt", (exe_dir / ".." / "models" / "vgg19.pt").string(),
      (exe_dir / ".." / "share" / "stylize" / "vgg19.pt").string()};
  std::string installed;  // the first of the executable's places that holds a model
  for (std::size_t i = 2; i < places.size() && installed.empty(); ++i) {
    if (fs::is_regular_file(places[i])) installed = places[i];
  }
  std::vector<std::string> searched;
  // Unset (or empty), $STYLIZE_MODEL is no place to look.
  for (const bool empty : {false, true}) {
    if (empty) {
      model_env_.set("");
    } else {
      model_env_.unset();
    }
    searched.clear();
    EXPECT_EQ(find_model("", &searched), installed);
    EXPECT_EQ(searched, installed.empty()
                            ? std::vector<std::string>(places.begin() + 1, places.end())
                            : std::vector<std::string>{});
  }
}

// Runs the real binary: the suite is named *Binary* (ctest label cli).
TEST(CliBinaryTest, exit_codes_reach_the_shell) {
  TempDir dir;
  auto run = test::run_binary({"--content", dir.file("none.png"), "--style", dir.file("s.png"),
                               "--model", test::random_model_path()});
  EXPECT_EQ(run.exit_code, kExitInput) << run.out;
  run = test::run_binary({"--nonsense"});
  EXPECT_EQ(run.exit_code, kExitUsage) << run.out;
  EXPECT_EQ(run.out,
            "stylize: error: The following argument was not expected: --nonsense (see stylize "
            "--help)\n");
}

TEST(CliBinaryTest, an_unknown_STYLIZE_MAX_ISA_is_a_one_line_usage_error) {
  const test::ScopedEnvVar cap("STYLIZE_MAX_ISA");  // restored: ctest's kernels.* runs set it
  cap.set("sse9");  // the child inherits it; this process read its own at its first use
  const auto run = test::run_binary({"--version"});
  EXPECT_EQ(run.exit_code, kExitUsage) << run.out;
  EXPECT_EQ(run.out,
            "stylize: error: invalid STYLIZE_MAX_ISA 'sse9': expected avx512, avx2 or baseline\n");
}

TEST_F(CliRunTest, never_writes_over_an_input) {
  const auto photo = dir_.file("photo.png");
  const auto before = fs::last_write_time(photo);
  const std::string refusal = "': refusing to overwrite an input (choose another output name)";
  auto run = run_cli(tiny_args(photo));
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_EQ(run.err, "stylize: error: output '" + photo + "' is the input '" + photo + refusal + "\n");
  // The default output, when the photo is ./out.png, spelled another way.
  std::filesystem::copy_file(photo, dir_.file("out.png"));
  const test::ScopedWorkingDirectory cwd(dir_.path());
  run = run_cli({"-c", "./../" + dir_.path().filename().string() + "/out.png", "-s", "style.jpg",
                 "--model", test::random_model_path(), "--size", "32", "-n", "2"});
  EXPECT_EQ(run.exit_code, kExitUsage) << run.err;
  EXPECT_NE(run.err.find("output 'out.png' is the input"), std::string::npos) << run.err;
  // A batch whose outputs land on its inputs.
  fs::create_directory(dir_.file("in"));
  fs::copy_file(photo, dir_.file("in/a.png"));
  run = run_cli({"-c", dir_.file("in"), "-s", "style.jpg", "--output-dir", dir_.file("in"),
                 "--name", "{content}.png", "--model", test::random_model_path()});
  EXPECT_EQ(run.exit_code, kExitUsage) << run.err;
  EXPECT_EQ(run.err, "stylize: error: output '" + dir_.file("in") + "/a.png' is the input '" +
                         dir_.file("in/a.png") + refusal + "\n");
  // The model.
  fs::copy_file(test::random_model_path(), dir_.file("model.png"));
  run = run_cli({"-c", photo, "-s", "style.jpg", "--model", dir_.file("model.png"), "-o",
                 dir_.file("model.png")});
  EXPECT_EQ(run.exit_code, kExitUsage) << run.err;
  EXPECT_EQ(fs::last_write_time(photo), before);
}

TEST_F(CliRunTest, skip_existing_redoes_an_interrupted_image) {
  fs::create_directory(dir_.file("out"));
  const auto args = std::vector<std::string>{
      "-c", dir_.file("photo.png"), "-s", dir_.file("style.jpg"), "--output-dir",
      dir_.file("out"), "--skip-existing", "--dry-run"};
  const auto output = dir_.file("out") + "/photo_style.png";
  std::ofstream(output) << "an interrupted job's best image so far";
  std::ofstream(dir_.file("out") + "/.photo_style.png.interrupted") << "\n";
  auto run = run_cli(args);
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_NE(run.out.find("1 to do, 0 skipped"), std::string::npos) << run.out;
  fs::remove(dir_.file("out") + "/.photo_style.png.interrupted");
  run = run_cli(args);
  EXPECT_NE(run.out.find("0 to do, 1 skipped"), std::string::npos) << run.out;
}

TEST_F(CliRunTest, names_may_not_leave_the_output_directory) {
  for (const auto* name : {"../x.png", "/tmp/x.png", "a/../../x.png"}) {
    const auto run = run_cli({"-c", dir_.file("photo.png"), "-s", dir_.file("style.jpg"),
                              "--output-dir", dir_.file("out"), "--name", name, "--dry-run"});
    EXPECT_EQ(run.exit_code, kExitUsage) << name;
    EXPECT_EQ(run.err, std::string("stylize: error: name pattern '") + name +
                           "' gives the output '" + name + "', outside --output-dir '" +
                           dir_.file("out") + "': use a relative name without '..'\n");
  }
}

TEST_F(CliRunTest, absurd_values_are_refused_at_once) {
  const auto out = dir_.file("out.png");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--style-scale", "100"}, "invalid style scale 100: must be > 0 and at most 10"},
      {{"--size", "4096", "--style-scale", "8"},
       "invalid style scale 8: the style image would be 32768 px, more than 16384"},
      {{"--learning-rate", "1e6"}, "invalid learning rate 1e+06: must be at most 1000"},
      {{"--lbfgs-history", "100000"}, "invalid lbfgs history 100000: must be from 1 to 1000"},
      {{"--iterations", "0"}, "invalid iterations 0: must be from 1 to 1000000"},
  };
  for (const auto& [extra, message] : cases) {
    const auto run = run_cli(with(tiny_args(out), extra));
    EXPECT_EQ(run.exit_code, kExitUsage) << extra.front();
    EXPECT_NE(run.err.find("stylize: error: " + message), std::string::npos) << run.err;
  }
  // The scale step case needs a ladder to count: a size above --min-size.
  const auto run = run_cli(with(tiny_args(out), {"--size", "512", "--min-size", "64",
                                                 "--scale-step", "1.0001"}));
  EXPECT_EQ(run.err, "stylize: error: invalid scale step 1.0001: from --min-size 64 to --size "
                     "512 px it makes 20492 scales, more than 16\n");
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(CliRunTest, small_faults_get_one_clear_line) {
  const auto out = dir_.file("out.png");
  // No arguments: the usage, then the error.
  auto run = run_cli({});
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_NE(run.err.find("Usage: stylize [OPTIONS]"), std::string::npos);
  EXPECT_EQ(test::lines_of(run.err).back(), "stylize: error: --content and --style are required");
  // A progress file that cannot be written says why.
  run = run_cli(with(tiny_args(out), {"--progress-json", dir_.file("no/such/dir.jsonl")}));
  EXPECT_EQ(run.exit_code, kExitOutput);
  EXPECT_EQ(test::lines_of(run.err).back(), "stylize: error: cannot write progress file '" +
                                                dir_.file("no/such/dir.jsonl") +
                                                "': No such file or directory");
  // More threads than CPUs: a warning, and the CPUs' count.
  run = run_cli(with(tiny_args(out), {"--threads", "1000"}));
  EXPECT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_NE(run.err.find("warning: --threads 1000: this process may use "), std::string::npos)
      << run.err;
  // One thread, one iteration: singular.
  run = run_cli(with(tiny_args(out), {"--threads", "1", "-n", "1"}));
  EXPECT_NE(run.err.find(" x 1 iteration on cpu (1 thread), seed 5"), std::string::npos)
      << run.err;
}

TEST_F(CliRunTest, a_missing_stylize_model_file_is_an_error_not_a_fallback) {
  const test::ScopedEnvVar model("STYLIZE_MODEL");
  model.set(dir_.file("gone.pt"));
  auto args = tiny_args(dir_.file("out.png"));
  args.erase(std::find(args.begin(), args.end(), "--model"), std::find(args.begin(), args.end(), "--model") + 2);
  const auto run = run_cli(args);
  EXPECT_EQ(run.exit_code, kExitModel);
  EXPECT_EQ(run.err, "stylize: error: STYLIZE_MODEL names '" + dir_.file("gone.pt") +
                         "', which is not a file\n");
}

TEST_F(CliRunTest, outputs_carry_their_settings_and_settings_from_repeats_them) {
  const auto out = dir_.file("out.png");
  auto args = tiny_args(out);
  args.resize(args.size() - 2);  // a random seed: the stored settings must name it
  ASSERT_EQ(run_cli(with(args, {"--init", "noise", "--style-weight", "7"})).exit_code, kExitOk);
  const auto settings =
      nlohmann::json::parse(read_image_metadata(read_file_bytes(out)).settings);
  EXPECT_EQ(settings["model"], test::random_model_path());
  const auto stored = settings["args"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(stored.begin(), stored.end(), "7"), stored.end());
  EXPECT_EQ(stored.back(), std::to_string(settings["seed"].get<std::uint64_t>()));
  // The same image again from the file alone (and another output name).
  const auto again = dir_.file("again.png");
  auto run = run_cli({"--settings-from", out, "-o", again});
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_TRUE(at::equal(load_image_rgb01(out, 0), load_image_rgb01(again, 0)));
  // Not over the file it came from, and not from a file without settings.
  run = run_cli({"--settings-from", out});
  EXPECT_EQ(run.exit_code, kExitUsage) << run.err;
  run = run_cli({"--settings-from", dir_.file("photo.png"), "-o", again});
  EXPECT_EQ(run.err, "stylize: error: --settings-from '" + dir_.file("photo.png") +
                         "': the file carries no stylize settings\n");
}

TEST_F(CliRunTest, masks_follow_each_photo_and_their_errors_have_exit_codes) {
  cv::Mat left(36, 48, CV_8UC1, cv::Scalar(0));
  left(cv::Rect(0, 0, 24, 36)).setTo(cv::Scalar(255));
  ASSERT_TRUE(cv::imwrite(dir_.file("photo-mask.png"), left));
  ASSERT_TRUE(cv::imwrite(dir_.file("black.png"), cv::Mat(4, 4, CV_8UC1, cv::Scalar(0))));
  const auto out = dir_.file("out.png");
  auto run = run_cli(with(tiny_args(out), {"--mask", dir_.file("{content}-mask.png")}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  const auto stored = nlohmann::json::parse(read_image_metadata(read_file_bytes(out)).settings)["args"]
                          .get<std::vector<std::string>>();
  const auto mask = std::find(stored.begin(), stored.end(), "--mask");
  ASSERT_NE(mask, stored.end());
  EXPECT_EQ(*(mask + 1), dir_.file("photo-mask.png")) << "the mask this photo used";
  fs::remove(out);
  struct Case {
    std::vector<std::string> extra;
    int code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--style-mask", dir_.file("photo-mask.png"), "--style-mask", dir_.file("photo-mask.png")},
       kExitUsage,
       "stylize: error: got 2 --style-mask for 1 style images: give one --style-mask per "
       "--style, in the same order"},
      {{"--mask", dir_.file("none.png")},
       kExitInput,
       "stylize: error: cannot read image '" + dir_.file("none.png") + "': no such file"},
      {{"--style-mask", dir_.file("black.png")},
       kExitUsage,
       "stylize: error: mask '" + dir_.file("black.png") +
           "' selects nothing: it is black everywhere"},
      {{"--mask-feather", "-1"},
       kExitUsage,
       "stylize: error: invalid mask feather -1: must be a finite number >= 0"},
  };
  for (const auto& c : cases) {
    run = run_cli(with(tiny_args(out), c.extra));
    EXPECT_EQ(run.exit_code, c.code) << c.message;
    const auto lines = test::lines_of(run.err);
    ASSERT_FALSE(lines.empty()) << c.message;
    EXPECT_EQ(lines.back(), c.message);
    EXPECT_FALSE(fs::exists(out)) << c.message;
  }
}

TEST(cli_parse_test, subcommands_parse_sizes_and_channel_lists) {
  const auto texture = parse_args({"texture", "-s", "a.jpg", "--size", "256x160", "--tileable"});
  EXPECT_EQ(texture.options.command, "texture");
  EXPECT_EQ(texture.options.texture_width_px, 256);
  EXPECT_EQ(texture.options.texture_height_px, 160);
  EXPECT_EQ(texture.options.config.size_px, 256);
  EXPECT_TRUE(texture.options.config.tileable);
  const auto longest = parse_args({"texture", "--size", "300"}).options;
  EXPECT_EQ(longest.texture_width_px, 0);
  EXPECT_EQ(longest.config.size_px, 300);
  EXPECT_EQ(parse_channels("0-3,9"), (std::vector<std::int64_t>{0, 1, 2, 3, 9}));
  EXPECT_ERROR_MSG(parse_channels("5-2"), ConfigError,
                   "invalid --channels '5-2': the range 5-2 runs backwards");
  EXPECT_ERROR_MSG(parse_channels("a"), ConfigError,
                   "invalid --channels 'a': expected channel numbers and ranges like 0-15,40");
  EXPECT_ERROR_MSG(parse_args({"texture", "--size", "10x10"}), ConfigError,
                   "invalid --size '10x10': each side must be from 16 to 16384 px");
  const auto visualize = parse_args({"visualize", "--layer", "relu3_1"}).options;
  EXPECT_EQ(visualize.config.optimizer, OptimizerKind::kAdam) << "visualize's own defaults";
  EXPECT_EQ(visualize.config.size_px, kDefaultVisualizeSizePx);
  EXPECT_NE(parse_args({"reconstruct", "--help"}).print_and_exit->find("Usage: stylize reconstruct"),
            std::string::npos);
  EXPECT_NE(parse_args({"--help"}).print_and_exit->find("stylize texture | reconstruct | visualize"),
            std::string::npos);
}

TEST_F(CliRunTest, subcommands_make_their_images_and_refuse_what_the_model_lacks) {
  const std::vector<std::string> model = {"--model", test::random_model_path(), "--seed", "1"};
  auto with_model = [&](std::vector<std::string> args) {
    args.insert(args.end(), model.begin(), model.end());
    return run_cli(args);
  };
  auto run = with_model({"texture", "-s", dir_.file("style.jpg"), "-o", dir_.file("tex.png"),
                         "--size", "40x24", "-n", "2", "--tileable"});
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_EQ(load_image_rgb01(dir_.file("tex.png"), 0).sizes(), (at::IntArrayRef{1, 3, 24, 40}));
  // JSON progress numbers the images of a run.
  run = with_model({"visualize", "--layer", "relu2_1", "--channels", "3,7", "--output-dir",
                    dir_.file("vis2"), "--size", "32", "--min-size", "0", "-n", "2",
                    "--print-every", "1", "--progress-json", dir_.file("progress.jsonl")});
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  std::set<int> iteration_jobs;
  std::vector<std::string> image_outputs;
  std::ifstream progress(dir_.file("progress.jsonl"));
  for (std::string line; std::getline(progress, line);) {
    const auto event = nlohmann::json::parse(line);
    if (event["type"] == "iteration") iteration_jobs.insert(event["job"].get<int>());
    if (event["type"] == "image") image_outputs.push_back(event["output"]);
    if (event["type"] == "start") {
      EXPECT_EQ(event["jobs"], 2);
    }
  }
  EXPECT_EQ(iteration_jobs, (std::set<int>{0, 1}));
  EXPECT_EQ(image_outputs, (std::vector<std::string>{dir_.file("vis2") + "/relu2_1_0003.png",
                                                     dir_.file("vis2") + "/relu2_1_0007.png"}));
  // The settings stored in the texture make it again.
  run = run_cli({"--settings-from", dir_.file("tex.png"), "-o", dir_.file("again.png")});
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_TRUE(at::equal(load_image_rgb01(dir_.file("tex.png"), 0),
                        load_image_rgb01(dir_.file("again.png"), 0)));
  run = with_model({"visualize", "--layer", "relu3_1", "--channels", "999", "--output-dir",
                    dir_.file("vis")});
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_EQ(test::lines_of(run.err).back(),
            "stylize: error: channel 999 out of range: relu3_1 has 256 channels (0-255)");
  run = with_model({"reconstruct", "-c", dir_.file("photo.png"), "--layer", "relu9_1", "-o",
                    dir_.file("rec.png")});
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_NE(test::lines_of(run.err).back().find("unknown layer 'relu9_1'"), std::string::npos);
  run = with_model({"reconstruct", "-c", dir_.file("photo.png"), "-o", dir_.file("rec.png")});
  EXPECT_EQ(run.err, "stylize: error: --layer is required (see stylize --help)\n");
  EXPECT_FALSE(fs::exists(dir_.file("rec.png")));
}

}  // namespace
}  // namespace stylize::cli

namespace stylize::cli {
namespace {

TEST(cli_parse_test, frame_ranges_and_offsets) {
  VideoSettings video;
  parse_frame_range("3-7", video);
  EXPECT_EQ(video.first_frame, 3);
  EXPECT_EQ(video.last_frame, 7);
  parse_frame_range("4-", video);
  EXPECT_EQ(video.first_frame, 4);
  EXPECT_EQ(video.last_frame, 0);
  parse_frame_range("9", video);
  EXPECT_EQ(video.first_frame, 9);
  EXPECT_EQ(video.last_frame, 9);
  EXPECT_ERROR_MSG(parse_frame_range("0-3", video), ConfigError,
                   "invalid --frames '0-3': expected FIRST-LAST, FIRST- or N, frames counted "
                   "from 1");
  EXPECT_ERROR_MSG(parse_frame_range("5-2", video), ConfigError,
                   "invalid --frames '5-2': the last frame is before the first");
  EXPECT_EQ(parse_frame_offsets("1,2,4"), (std::vector<int>{1, 2, 4}));
  EXPECT_ERROR_MSG(parse_frame_offsets("1,,2"), ConfigError,
                   "invalid --temporal-frames '1,,2': expected frame offsets like 1,2,4");
  const auto parsed = parse_args({"-c", "clip.mp4", "-s", "s.jpg", "--flow", "farneback",
                                  "--temporal-weight", "20", "--frame-iterations", "40",
                                  "--temporal-frames", "1,3", "--frames", "2-5"});
  const VideoSettings& v = parsed.options.video;
  EXPECT_EQ(v.flow, FlowMethod::kFarneback);
  EXPECT_EQ(v.temporal_weight, 20.0);
  EXPECT_EQ(v.frame_iterations, 40);
  EXPECT_EQ(v.temporal_frames, (std::vector<int>{1, 3}));
  EXPECT_EQ(v.first_frame, 2);
  EXPECT_EQ(v.last_frame, 5);
}

class CliVideoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::write_test_image(dir_.file("style.jpg"), 40, 40, 3);
    test::write_test_image(dir_.file("wide.png"), 60, 36, 12);
    const cv::Mat wide = cv::imread(dir_.file("wide.png"));
    for (int t = 0; t < 3; ++t) {
      cv::imwrite(dir_.file("f" + std::to_string(t + 1) + ".png"), wide(cv::Rect(2 * t, 0, 48, 36)));
    }
  }
  [[nodiscard]] std::vector<std::string> video_args(const std::string& output) const {
    return {"-c",      dir_.file("f%d.png"), "-s",   dir_.file("style.jpg"),     "-o", output,
            "--model", test::random_model_path(), "--size", "32", "-n", "3", "--seed", "5"};
  }
  TempDir dir_;
  test::ScopedThreadCount threads_;
};

TEST_F(CliVideoTest, a_clip_is_made_frame_by_frame_with_progress) {
  auto args = video_args(dir_.file("out/%02d.png"));
  args.insert(args.end(), {"--frame-iterations", "2", "--progress-json", dir_.file("p.jsonl")});
  const auto run = run_cli(args);
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  for (const char* name : {"out/01.png", "out/02.png", "out/03.png"}) {
    EXPECT_EQ(load_image_rgb01(dir_.file(name), 0).sizes(), (at::IntArrayRef{1, 3, 24, 32}));
  }
  EXPECT_NE(run.err.find("frames 1-3 of 3, 32x24 px at 25 fps, temporal weight 50 over dis flow, "
                         "2 iterations a frame after the first; 3 iterations first"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("frame 2 (2/3): 2 iterations in "), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("wrote 3 frames as " + dir_.file("out/%02d.png")), std::string::npos)
      << run.err;
  std::ifstream events(dir_.file("p.jsonl"));
  std::string line;
  int frames = 0;
  while (std::getline(events, line)) {
    const auto event = nlohmann::json::parse(line);
    if (event["type"] != "frame") continue;
    ++frames;
    EXPECT_EQ(event["frame"], frames);
    EXPECT_EQ(event["output"], dir_.file(frames == 1 ? "out/01.png" : frames == 2 ? "out/02.png"
                                                                                   : "out/03.png"));
    EXPECT_EQ(event["loss"].contains("temporal"), frames > 1) << line;
  }
  EXPECT_EQ(frames, 3);
}

TEST_F(CliVideoTest, what_applies_to_images_only_is_refused_for_a_video) {
  auto args = video_args(dir_.file("out.mp4"));
  args.insert(args.end(), {"--mask", dir_.file("style.jpg")});
  auto run = run_cli(args);
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_EQ(run.err,
            "stylize: error: --mask, --style-mask and --style-region apply to images, not to a "
            "video\n");
  run = run_cli(video_args(dir_.file("out.png")));
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_EQ(test::lines_of(run.err).back(),
            "stylize: error: the output of a video must be a video file (.mp4, .m4v, .mov, .mkv, "
            ".avi, .webm) or a frame pattern such as out/%04d.png, not '" +
                dir_.file("out.png") + "'");
  EXPECT_FALSE(fs::exists(dir_.file("out.png")));
}

}  // namespace
}  // namespace stylize::cli
