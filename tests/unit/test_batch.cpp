#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "batch.hpp"
#include "cli.hpp"
#include "test_support.hpp"

namespace stylize::cli {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

using test::error_of;

TEST(batch_inputs_test, expands_directories_patterns_and_files_in_order) {
  TempDir dir;
  fs::create_directory(dir.path() / "photos");
  for (const char* name : {"b.jpg", "a.png", "c.txt", "d.JPEG"}) {
    std::ofstream(dir.path() / "photos" / name) << "x";
  }
  const auto photos = (dir.path() / "photos").string();
  EXPECT_EQ(expand_inputs({photos}),
            (std::vector<std::string>{photos + "/a.png", photos + "/b.jpg", photos + "/d.JPEG"}));
  EXPECT_EQ(expand_inputs({photos + "/*.jpg", "x.png", photos + "/b.jpg"}),
            (std::vector<std::string>{photos + "/b.jpg", "x.png"}));
  EXPECT_EQ(error_of([&] { expand_inputs({photos + "/*.gif"}); }),
            "pattern '" + photos + "/*.gif' matches no file");
  fs::create_directory(dir.path() / "empty");
  EXPECT_EQ(error_of([&] { expand_inputs({(dir.path() / "empty").string()}); }),
            "directory '" + (dir.path() / "empty").string() + "' has no image files");
}

TEST(batch_names_test, placeholders) {
  Job job;
  job.content = "/photos/cat.jpg";
  job.styles = {"/art/starry night.jpg", "/art/wave.png"};
  job.index = 7;
  EXPECT_EQ(format_output_name("{content}_{style}.png", job, 512),
            "cat_starry night+wave.png");
  EXPECT_EQ(format_output_name("{index}-{content}-{size}px.jpg", job, 512), "7-cat-512px.jpg");
  EXPECT_EQ(error_of([&] { format_output_name("{colour}.png", job, 1); }),
            "invalid name pattern '{colour}.png': unknown placeholder {colour} (use {content}, "
            "{style}, {index} or {size})");
  EXPECT_EQ(error_of([&] { format_output_name("{content.png", job, 1); }),
            "invalid name pattern '{content.png': unmatched '{'");
}

TEST(batch_jobs_test, blend_or_each_style) {
  WorkSpec spec;
  spec.contents = {"a.jpg", "b.jpg"};
  spec.styles = {"s1.jpg", "s2.jpg"};
  spec.output_dir = "out";
  spec.name_pattern = "{content}_{style}.png";
  auto jobs = plan_jobs(spec);
  ASSERT_EQ(jobs.size(), 2U);
  EXPECT_EQ(jobs[0].styles, (std::vector<std::string>{"s1.jpg", "s2.jpg"}));
  EXPECT_EQ(jobs[1].output, "out/b_s1+s2.png");
  spec.each_style = true;
  jobs = plan_jobs(spec);
  ASSERT_EQ(jobs.size(), 4U);
  EXPECT_EQ(jobs[1].output, "out/a_s2.png");
  EXPECT_EQ(jobs[1].style_set, 1U);
  EXPECT_EQ(jobs[3].index, 3U);
  spec.name_pattern = "{content}.png";
  EXPECT_EQ(error_of([&] { plan_jobs(spec); }),
            "name pattern '{content}.png' gives two jobs the output 'out/a.png': add {index} or "
            "{style} to it");
  spec.output_dir.clear();
  spec.output = "x.png";
  EXPECT_EQ(error_of([&] { plan_jobs(spec); }),
            "4 images to make but one output file: use --output-dir DIR (and optionally --name "
            "PATTERN) instead of --output");
}

TEST(batch_jobs_test, masks_follow_their_styles_and_the_content_name) {
  WorkSpec spec;
  spec.contents = {"photos/a.jpg", "photos/b.png"};
  spec.styles = {"s1.jpg", "s2.jpg"};
  spec.output_dir = "out";
  spec.name_pattern = "{content}_{style}.png";
  spec.each_style = true;
  auto jobs = plan_jobs(spec);
  MaskSpec masks{{"m1.png", "masks/{content}-2.png"}, {}, "keep/{content}.png"};
  assign_masks(jobs, spec.styles, masks);
  ASSERT_EQ(jobs.size(), 4U);
  EXPECT_EQ(jobs[0].style_masks, (std::vector<std::string>{"m1.png"}));
  EXPECT_EQ(jobs[3].style_masks, (std::vector<std::string>{"masks/b-2.png"}));
  EXPECT_TRUE(jobs[3].style_regions.empty());
  EXPECT_EQ(jobs[2].mask, "keep/b.png");
  spec.each_style = false;
  jobs = plan_jobs(spec);
  assign_masks(jobs, spec.styles, {{}, {"r1.png", "r2.png"}, ""});
  EXPECT_EQ(jobs[1].style_regions, (std::vector<std::string>{"r1.png", "r2.png"}));
  EXPECT_TRUE(jobs[1].style_masks.empty());
  EXPECT_TRUE(jobs[1].mask.empty());
  EXPECT_EQ(error_of([&] { assign_masks(jobs, spec.styles, {{"m1.png"}, {}, ""}); }),
            "got 1 --style-mask for 2 style images: give one --style-mask per --style, in the "
            "same order");
}

TEST(batch_shard_test, parses_and_rejects) {
  EXPECT_EQ(parse_shard("1/4").index, 0);
  EXPECT_EQ(parse_shard("4/4").index, 3);
  EXPECT_EQ(parse_shard("4/4").count, 4);
  for (const char* bad : {"0/4", "5/4", "1/0", "x/2", "1-2", "", "1/", "-1/3"}) {
    EXPECT_EQ(error_of([&] { parse_shard(bad); }),
              "invalid shard '" + std::string(bad) + "': expected I/N with 1 <= I <= N, e.g. 2/8");
  }
}

TEST(batch_shard_test, every_job_lands_in_exactly_one_shard_in_stable_order) {
  std::vector<Job> jobs(23);
  for (std::size_t i = 0; i < jobs.size(); ++i) jobs[i].index = i;
  for (int count : {1, 2, 3, 5, 30}) {
    std::multiset<std::size_t> seen;
    for (int shard = 0; shard < count; ++shard) {
      const auto part = select_shard(jobs, {shard, count});
      for (std::size_t k = 1; k < part.size(); ++k) EXPECT_LT(part[k - 1].index, part[k].index);
      EXPECT_LE(part.size(), jobs.size() / count + 1) << "balanced";
      for (const auto& job : part) seen.insert(job.index);
    }
    EXPECT_EQ(seen.size(), jobs.size());
    for (std::size_t i = 0; i < jobs.size(); ++i) EXPECT_EQ(seen.count(i), 1U) << count;
  }
}

TEST(batch_shard_test, slurm_array_variables) {
  std::map<std::string, std::string> env;
  auto getenv = [&env](const char* name) -> const char* {
    const auto found = env.find(name);
    return found == env.end() ? nullptr : found->second.c_str();
  };
  EXPECT_FALSE(shard_from_environment(getenv).has_value());
  env = {{"SLURM_ARRAY_TASK_ID", "2"}, {"SLURM_ARRAY_TASK_COUNT", "4"}};
  auto shard = shard_from_environment(getenv);
  ASSERT_TRUE(shard.has_value());
  EXPECT_EQ(shard->index, 2);
  EXPECT_EQ(shard->count, 4);
  env = {{"SLURM_ARRAY_TASK_ID", "5"}, {"SLURM_ARRAY_TASK_MIN", "1"},
         {"SLURM_ARRAY_TASK_MAX", "8"}};
  shard = shard_from_environment(getenv);
  EXPECT_EQ(shard->index, 4);
  EXPECT_EQ(shard->count, 8);
  env = {{"SLURM_ARRAY_TASK_ID", "3"}};
  EXPECT_THROW(shard_from_environment(getenv), ConfigError);
  env = {{"SLURM_ARRAY_TASK_ID", "9"}, {"SLURM_ARRAY_TASK_COUNT", "4"}};
  EXPECT_THROW(shard_from_environment(getenv), ConfigError);
}

/// Three small photos, one corrupt one and two styles in a temp dir.
class BatchRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directory(dir_.path() / "photos");
    test::write_test_image(photo("a.png"), 40, 30, 5);
    test::write_test_image(photo("b.jpg"), 30, 40, 7);
    test::write_test_image(photo("c.png"), 36, 36, 3);
    test::write_test_image(dir_.file("s1.png"), 32, 32, 2);
    test::write_test_image(dir_.file("s2.png"), 32, 32, 6);
  }
  std::string photo(const std::string& name) const {
    return (dir_.path() / "photos" / name).string();
  }
  std::vector<std::string> batch_args(const std::vector<std::string>& more) const {
    std::vector<std::string> args{"--content",    (dir_.path() / "photos").string(),
                                  "--style",      dir_.file("s1.png"),
                                  "--output-dir", dir_.file("out"),
                                  "--model",      test::random_model_path(),
                                  "--size",       "24",
                                  "--iterations", "2",
                                  "--seed",       "1"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }
  static std::vector<nlohmann::json> json_lines(const std::string& text) {
    std::vector<nlohmann::json> events;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) events.push_back(nlohmann::json::parse(line));
    return events;
  }
  TempDir dir_;
  test::ScopedThreadCount threads_;  // every run sets torch's thread count (--threads)
};

TEST_F(BatchRunTest, every_content_with_every_style) {
  const auto run = test::run_cli(batch_args({"--style", dir_.file("s2.png"), "--each-style"}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  for (const char* name : {"a_s1.png", "a_s2.png", "b_s1.png", "b_s2.png", "c_s1.png",
                           "c_s2.png"}) {
    EXPECT_NO_THROW(load_image_rgb01(dir_.file(std::string("out/") + name), 0)) << name;
  }
  EXPECT_NE(run.err.find("batch: 6 done, 0 failed, 0 skipped"), std::string::npos) << run.err;
}

TEST_F(BatchRunTest, name_pattern_may_make_subdirectories) {
  const auto run = test::run_cli(batch_args({"--name", "{style}/{index}-{content}.jpg"}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_TRUE(fs::exists(dir_.file("out/s1/0-a.jpg")));
  EXPECT_TRUE(fs::exists(dir_.file("out/s1/2-c.jpg")));
}

TEST_F(BatchRunTest, a_failing_input_is_skipped_and_reported_with_exit_8) {
  std::ofstream(photo("broken.png")) << "not an image";
  const auto run = test::run_cli(batch_args({"--progress-json", dir_.file("progress.jsonl")}));
  EXPECT_EQ(run.exit_code, kExitPartial) << run.err;
  EXPECT_NE(run.err.find("stylize: error: cannot read image '" + photo("broken.png") +
                         "': not a supported image format, or the file is corrupt"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("batch: 3 done, 1 failed, 0 skipped"), std::string::npos) << run.err;
  EXPECT_TRUE(fs::exists(dir_.file("out/c_s1.png"))) << "work after the failure continues";
  EXPECT_FALSE(fs::exists(dir_.file("out/broken_s1.png")));

  std::ifstream in(dir_.file("progress.jsonl"));
  const auto events =
      json_lines(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
  ASSERT_GE(events.size(), 6U);
  EXPECT_EQ(events.front()["type"], "start");
  EXPECT_EQ(events.front()["jobs"], 4);
  EXPECT_EQ(events.back()["type"], "summary");
  EXPECT_EQ(events.back()["done"], 3);
  EXPECT_EQ(events.back()["failed"], 1);
  EXPECT_EQ(events.back()["exit_code"], kExitPartial);
  int images = 0;
  for (const auto& e : events) {
    if (e["type"] == "iteration") {
      for (const char* key : {"job", "input", "iteration", "iterations", "elapsed_s", "loss"}) {
        EXPECT_TRUE(e.contains(key)) << key;
      }
      EXPECT_TRUE(e["loss"]["total"].is_number());
    }
    if (e["type"] != "image") continue;
    ++images;
    for (const char* key : {"job", "status", "input", "styles", "output", "width", "height",
                            "iterations", "loss", "seconds", "error"}) {
      EXPECT_TRUE(e.contains(key)) << key;
    }
    if (e["input"] == photo("broken.png")) {
      EXPECT_EQ(e["status"], "failed");
      EXPECT_TRUE(e["error"].is_string());
      EXPECT_TRUE(e["loss"].is_null());
    } else {
      EXPECT_EQ(e["status"], "done");
      EXPECT_EQ(e["iterations"], 2);
      EXPECT_EQ(std::max(e["width"].get<int>(), e["height"].get<int>()), 24);
      EXPECT_TRUE(e["loss"]["style"].is_number());
    }
  }
  EXPECT_EQ(images, 4);
}

TEST_F(BatchRunTest, all_inputs_failing_is_a_total_failure) {
  const auto only_missing = test::run_cli(
      {"--content", dir_.file("nope1.png"), "--content", dir_.file("nope2.png"), "--style",
       dir_.file("s1.png"), "--output-dir", dir_.file("out"), "--model",
       test::random_model_path(), "--size", "24", "-n", "1"});
  EXPECT_EQ(only_missing.exit_code, kExitInput) << only_missing.err;
  EXPECT_NE(only_missing.err.find("batch: 0 done, 2 failed"), std::string::npos);
}

TEST_F(BatchRunTest, skip_existing_redoes_only_what_is_missing) {
  ASSERT_EQ(test::run_cli(batch_args({})).exit_code, kExitOk);
  fs::remove(dir_.file("out/b_s1.png"));
  const auto before = fs::last_write_time(dir_.file("out/a_s1.png"));
  const auto run = test::run_cli(batch_args({"--skip-existing"}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  EXPECT_NE(run.err.find("batch: 1 done, 0 failed, 2 skipped"), std::string::npos) << run.err;
  EXPECT_TRUE(fs::exists(dir_.file("out/b_s1.png")));
  EXPECT_EQ(fs::last_write_time(dir_.file("out/a_s1.png")), before);
}

TEST_F(BatchRunTest, dry_run_lists_the_shard_without_computing) {
  const auto run = test::run_cli(batch_args({"--dry-run", "--shard", "2/2", "--each-style",
                                             "--style", dir_.file("s2.png")}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  const auto s1 = dir_.file("s1.png");
  const auto s2 = dir_.file("s2.png");
  const auto out = dir_.file("out");
  EXPECT_EQ(run.out, photo("a.png") + " + " + s2 + " -> " + out + "/a_s2.png\n" +
                         photo("b.jpg") + " + " + s2 + " -> " + out + "/b_s2.png\n" +
                         photo("c.png") + " + " + s2 + " -> " + out + "/c_s2.png\n" +
                         "3 to do, 0 skipped, shard 2/2\n");
  EXPECT_FALSE(fs::exists(dir_.file("out")));
}

TEST_F(BatchRunTest, contradictions_are_usage_errors) {
  auto run = test::run_cli(batch_args({"--output", dir_.file("x.png")}));
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_EQ(test::lines_of(run.err).back(),
            "stylize: error: --output and --output-dir contradict each other: give one");
  run = test::run_cli(batch_args({"--each-style", "--style-blend", "1"}));
  EXPECT_EQ(run.exit_code, kExitUsage);
  run = test::run_cli({"--content", photo("a.png"), "--content", photo("c.png"), "--style",
                       dir_.file("s1.png")});
  EXPECT_EQ(run.exit_code, kExitUsage);
  EXPECT_EQ(test::lines_of(run.err).back(),
            "stylize: error: 2 images to make but one output file: use --output-dir DIR (and "
            "optionally --name PATTERN) instead of --output");
}

TEST_F(BatchRunTest, json_progress_to_stdout) {
  const auto run = test::run_cli(batch_args({"--progress-json", "-", "--print-every", "1"}));
  ASSERT_EQ(run.exit_code, kExitOk) << run.err;
  const auto events = json_lines(run.out);
  std::size_t iterations = 0;
  for (const auto& e : events) iterations += e["type"] == "iteration" ? 1 : 0;
  EXPECT_EQ(iterations, 6U) << "2 iterations x 3 images";
}

}  // namespace
}  // namespace stylize::cli
