#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>
#include <stylize/memory.hpp>
#include <stylize/stylizer.hpp>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "test_support.hpp"

namespace stylize {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

/// A Stylizer over the random full VGG-19, with a small photo and painting on disk.
class StylizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::write_test_image(dir_.file("photo.png"), 48, 36, 12);
    test::write_test_image(dir_.file("style.png"), 40, 40, 3);
    config_.size_px = 32;
    config_.iterations = 4;
    config_.seed = 3;
    config_.report_every_iters = 1;
  }
  Stylizer make() const {
    return Stylizer(VggFeatures::load(test::random_model_path(), c10::kCPU), config_, c10::kCPU);
  }
  StylizeJob job(const std::string& output) const {
    StylizeJob job;
    job.content_path = dir_.file("photo.png");
    job.style_paths = {dir_.file("style.png")};
    job.output_path = output;
    return job;
  }
  TempDir dir_;
  StyleConfig config_;
  test::ScopedThreadCount threads_;
};

TEST_F(StylizerTest, runs_a_job_end_to_end_as_the_engine_does) {
  Stylizer stylizer = make();
  std::vector<JobPlan> plans;
  JobEvents events;
  events.on_start = [&](const JobPlan& plan) { plans.push_back(plan); };
  const auto result = stylizer.run(job(dir_.file("out.png")), events);
  ASSERT_TRUE(result.written);
  EXPECT_EQ(result.transfer.iterations_run, 4);
  ASSERT_EQ(plans.size(), 1U);
  EXPECT_EQ(plans[0].width_px, 32);
  EXPECT_EQ(plans[0].height_px, 24);
  EXPECT_EQ(plans[0].config.init, InitKind::kStyleColours) << "auto resolved";
  const auto written = read_image(dir_.file("out.png"), 0).rgb01;
  EXPECT_EQ(written.sizes(), (at::IntArrayRef{1, 3, 24, 32}));
  EXPECT_LT((written - result.transfer.image_rgb01).abs().max().item<float>(), 1.0F / 255 + 1e-6);
  EXPECT_TRUE(output_is_complete(dir_.file("out.png")));
  // Same seed, same settings, a second engine: the same image.
  Stylizer again = make();
  const auto repeat = again.run(job(dir_.file("again.png")));
  EXPECT_DOUBLE_EQ(repeat.transfer.final_losses.total, result.transfer.final_losses.total);
}

TEST_F(StylizerTest, an_interrupted_job_is_written_but_not_complete_until_finished) {
  Stylizer stylizer = make();
  std::atomic<bool> cancel{false};
  JobEvents events;
  events.on_progress = [&](const IterationReport& report) {
    if (report.iteration == 2) cancel = true;
  };
  const auto out = dir_.file("out.png");
  const auto interrupted = stylizer.run(job(out), events, &cancel);
  EXPECT_TRUE(interrupted.transfer.cancelled);
  EXPECT_TRUE(interrupted.written);
  EXPECT_TRUE(fs::exists(out)) << "the best image so far is written";
  EXPECT_FALSE(output_is_complete(out)) << "but not counted as done";
  const auto finished = stylizer.run(job(out));
  EXPECT_FALSE(finished.transfer.cancelled);
  EXPECT_TRUE(output_is_complete(out));
}

TEST_F(StylizerTest, refuses_an_output_that_is_one_of_its_inputs) {
  Stylizer stylizer = make();
  const auto photo = dir_.file("photo.png");
  const auto before = fs::last_write_time(photo);
  EXPECT_ERROR_MSG(stylizer.run(job(photo)), ConfigError,
                   "output '" + photo + "' is the input '" + photo +
                       "': refusing to overwrite an input (choose another output name)");
  // Another spelling of the same file.
  const auto spelled = (dir_.path() / "." / ".." / dir_.path().filename() / "style.png").string();
  EXPECT_ERROR_MSG(stylizer.run(job(spelled)), ConfigError,
                   "output '" + spelled + "' is the input '" + dir_.file("style.png") +
                       "': refusing to overwrite an input (choose another output name)");
  EXPECT_EQ(fs::last_write_time(photo), before);
}

TEST_F(StylizerTest, memory_is_checked_from_the_header_before_decoding) {
  // A PNG header claiming 12000x9000 px over no pixel data: decoding it would fail (exit 3), so
  // a memory error proves the check came first.
  std::vector<std::uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                                   'I',  'H', 'D', 'R', 0, 0, 0x2e, 0xe0, 0, 0, 0x23, 0x28,
                                   8,    2,   0,   0,   0, 0, 0, 0, 0};
  std::ofstream(dir_.file("huge.png"), std::ios::binary)
      .write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  config_.size_px = 12000;
  config_.max_memory_bytes = 1ULL << 30U;
  Stylizer stylizer = make();
  StylizeJob huge = job(dir_.file("out.png"));
  huge.content_path = dir_.file("huge.png");
  try {
    stylizer.run(huge);
    FAIL() << "no error";
  } catch (const MemoryError& e) {
    EXPECT_NE(std::string(e.what()).find("for 12000x9000 px exceeds the 1.00 GiB of --max-memory"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_.file("out.png")));
}

TEST_F(StylizerTest, an_image_too_large_for_the_budget_is_tiled_at_full_size) {
  config_.size_px = 160;
  config_.tile_overlap_px = 16;  // the smallest tile tried: 64 px
  config_.style_layers = {{"relu1_1", 1.0}, {"relu2_1", 1.0}};  // shallow: fast
  config_.content_layers = {{"relu2_1", 1.0}};
  auto model = VggFeatures::load(test::random_model_path(), c10::kCPU);
  const auto plan = plan_layers(model.layer_names(), config_);
  // The model as the Stylizer counts it: the file and what its kernels keep (on AVX2 CPUs the
  // Winograd convolutions' transformed weights).
  const auto model_bytes =
      fs::file_size(test::random_model_path()) + model.kernel_cache_bytes(plan.deepest_index(), 160, 120);
  const auto whole = estimate_memory(model.layer_names(), plan, 160, 120, config_, model_bytes);
  const auto tiled = estimate_tiled_memory(model.layer_names(), plan, 160, 120, 80, config_,
                                           model_bytes);
  ASSERT_LT(tiled.total_bytes(), whole.total_bytes());
  config_.max_memory_bytes = tiled.total_bytes();  // 80 px tiles fit, the whole image does not
  Stylizer stylizer = make();
  std::vector<JobPlan> plans;
  std::vector<std::string> notices;
  int most_tiles = 1;
  JobEvents events;
  events.on_start = [&](const JobPlan& p) { plans.push_back(p); };
  events.on_notice = [&](const JobNotice& n) { notices.push_back(n.text); };
  events.on_progress = [&](const IterationReport& r) {
    most_tiles = std::max(most_tiles, r.tile_count);
  };
  const auto result = stylizer.run(job(dir_.file("out.png")), events);
  ASSERT_TRUE(result.written);
  EXPECT_EQ(read_image(dir_.file("out.png"), 0).rgb01.sizes(), (at::IntArrayRef{1, 3, 120, 160}));
  ASSERT_EQ(plans.size(), 1U);
  EXPECT_EQ(plans[0].config.size_px, 160);
  EXPECT_EQ(plans[0].config.tile_size_px, 80);
  // Coarse to fine from the largest size that fits whole.
  EXPECT_GT(plans[0].scales_px.size(), 1U);
  EXPECT_LT(plans[0].scales_px.front(), 160);
  EXPECT_GT(most_tiles, 1);
  ASSERT_FALSE(notices.empty());
  EXPECT_NE(notices.back().find(" for 160x120 px exceeds the "), std::string::npos) << notices.back();
  EXPECT_NE(notices.back().find(": scales above 80 px run in tiles of 80 px (estimated peak "),
            std::string::npos)
      << notices.back();
}

TEST_F(StylizerTest, a_mask_keeps_the_photo_outside_its_region) {
  // Left half white: stylized there, the photo itself beyond the feather on the right.
  cv::Mat left(24, 32, CV_8UC1, cv::Scalar(0));
  left(cv::Rect(0, 0, 16, 24)).setTo(cv::Scalar(255));
  ASSERT_TRUE(cv::imwrite(dir_.file("left.png"), left));
  config_.mask_feather_px = 2.0;
  config_.iterations = 6;
  Stylizer stylizer = make();
  StylizeJob masked = job(dir_.file("out.png"));
  masked.mask_path = dir_.file("left.png");
  stylizer.run(masked);
  const auto out = read_image(dir_.file("out.png"), 0).rgb01;
  const auto photo = read_image(dir_.file("photo.png"), 32).rgb01;
  const auto diff = (out - photo).abs();
  EXPECT_LE(diff.narrow(3, 16 + 3, 32 - 19).max().item<float>(), 0.5F / 255 + 1e-6F);
  EXPECT_GT(diff.narrow(3, 0, 12).mean().item<float>(), 5.0F / 255);
}

TEST_F(StylizerTest, mask_problems_are_named) {
  Stylizer stylizer = make();
  StylizeJob two_masks = job(dir_.file("out.png"));
  two_masks.style_mask_paths = {dir_.file("photo.png"), dir_.file("photo.png")};
  EXPECT_ERROR_MSG(stylizer.run(two_masks), ConfigError,
                   "got 2 style masks for 1 style images: give one per style, in order");
  StylizeJob missing = job(dir_.file("out.png"));
  missing.mask_path = dir_.file("none.png");
  EXPECT_ERROR_MSG(stylizer.run(missing), InputError,
                   "cannot read image '" + dir_.file("none.png") + "': no such file");
  ASSERT_TRUE(cv::imwrite(dir_.file("black.png"), cv::Mat(8, 8, CV_8UC1, cv::Scalar(0))));
  StylizeJob black = job(dir_.file("out.png"));
  black.style_mask_paths = {dir_.file("black.png")};
  EXPECT_ERROR_MSG(stylizer.run(black), ConfigError,
                   "mask '" + dir_.file("black.png") + "' selects nothing: it is black everywhere");
  EXPECT_FALSE(fs::exists(dir_.file("out.png")));
}

TEST_F(StylizerTest, style_masks_start_each_region_in_its_own_styles_colours) {
  // A red and a blue painting on the left and right halves: the style-colours start is reddish
  // on the left and bluish on the right (one iteration barely moves it).
  cv::Mat red(40, 40, CV_8UC3, cv::Scalar(30, 30, 220));
  cv::Mat blue(40, 40, CV_8UC3, cv::Scalar(220, 30, 30));
  red(cv::Rect(0, 0, 40, 20)).setTo(cv::Scalar(20, 60, 250));  // some variance
  blue(cv::Rect(0, 0, 40, 20)).setTo(cv::Scalar(250, 60, 20));
  ASSERT_TRUE(cv::imwrite(dir_.file("red.png"), red));
  ASSERT_TRUE(cv::imwrite(dir_.file("blue.png"), blue));
  cv::Mat left(24, 32, CV_8UC1, cv::Scalar(0));
  left(cv::Rect(0, 0, 16, 24)).setTo(cv::Scalar(255));
  ASSERT_TRUE(cv::imwrite(dir_.file("left.png"), left));
  ASSERT_TRUE(cv::imwrite(dir_.file("right.png"), 255 - left));
  config_.iterations = 1;
  Stylizer stylizer = make();
  StylizeJob two = job(dir_.file("out.png"));
  two.style_paths = {dir_.file("red.png"), dir_.file("blue.png")};
  two.style_mask_paths = {dir_.file("left.png"), dir_.file("right.png")};
  const auto image = stylizer.run(two).transfer.image_rgb01;
  const auto left_half = image.narrow(3, 0, 14).mean({0, 2, 3});
  const auto right_half = image.narrow(3, 18, 14).mean({0, 2, 3});
  EXPECT_GT(left_half[0].item<float>(), left_half[2].item<float>() + 0.3F);
  EXPECT_GT(right_half[2].item<float>(), right_half[0].item<float>() + 0.3F);
}

TEST_F(StylizerTest, texture_has_the_size_asked_or_the_paintings_aspect) {
  config_.iterations = 3;
  Stylizer stylizer = make();
  const auto sized = stylizer.texture({{dir_.file("style.png")}, dir_.file("tex.png"), 40, 24, ""});
  EXPECT_EQ(sized.transfer.iterations_run, 3);
  EXPECT_EQ(read_image(dir_.file("tex.png"), 0).rgb01.sizes(), (at::IntArrayRef{1, 3, 24, 40}));
  cv::Mat wide(30, 60, CV_8UC3, cv::Scalar(30, 90, 200));
  ASSERT_TRUE(cv::imwrite(dir_.file("wide.png"), wide));
  stylizer.texture({{dir_.file("wide.png")}, dir_.file("tex2.png"), 0, 0, ""});
  EXPECT_EQ(read_image(dir_.file("tex2.png"), 0).rgb01.sizes(), (at::IntArrayRef{1, 3, 16, 32}))
      << "--size 32 on the longest side, the painting's 2:1";
  EXPECT_TRUE(output_is_complete(dir_.file("tex.png")));
  // Ctrl-C: the texture so far is written, marked unfinished.
  std::atomic<bool> cancel{false};
  JobEvents events;
  events.on_progress = [&](const IterationReport& report) { cancel = report.iteration == 2; };
  const auto stopped = stylizer.texture({{dir_.file("style.png")}, dir_.file("tex3.png"), 40, 24,
                                         ""},
                                        events, &cancel);
  EXPECT_TRUE(stopped.transfer.cancelled);
  EXPECT_EQ(stopped.transfer.iterations_run, 2);
  EXPECT_TRUE(fs::exists(dir_.file("tex3.png")));
  EXPECT_FALSE(output_is_complete(dir_.file("tex3.png")));
}

TEST_F(StylizerTest, reconstruct_writes_each_layer_and_a_sheet_and_scores_the_match) {
  apply_look(Look::kSubtle, config_);  // as `stylize reconstruct` runs it
  config_.iterations = 30;
  Stylizer stylizer = make();
  const auto single = stylizer.reconstruct(
      {dir_.file("photo.png"), {"relu1_1"}, dir_.file("rec.png"), ""});
  ASSERT_EQ(single.size(), 1U);
  EXPECT_TRUE(fs::exists(dir_.file("rec.png")));
  EXPECT_LT(single[0].score, 0.05) << "relu1_1 is nearly invertible";
  const auto two = stylizer.reconstruct(
      {dir_.file("photo.png"), {"relu1_1", "relu2_1"}, dir_.file("sheet.png"), ""});
  ASSERT_EQ(two.size(), 2U);
  EXPECT_EQ(two[1].path, dir_.file("sheet_relu2_1.png"));
  EXPECT_TRUE(fs::exists(dir_.file("sheet_relu1_1.png")));
  EXPECT_TRUE(fs::exists(dir_.file("sheet.png")));
  EXPECT_GT(read_image(dir_.file("sheet.png"), 0).rgb01.size(3), 3 * 32) << "photo + 2 tiles";
  EXPECT_ERROR_MSG(stylizer.reconstruct({dir_.file("photo.png"), {"pool1"}, dir_.file("x.png"), ""}),
                   ConfigError,
                   "layer 'pool1' is not a ReLU layer: the model has relu1_1 relu1_2 relu2_1 relu2_2 relu3_1 "
                   "relu3_2 relu3_3 relu3_4 relu4_1 relu4_2 relu4_3 relu4_4 relu5_1 relu5_2 "
                   "relu5_3 relu5_4");
}

TEST_F(StylizerTest, visualize_names_each_channels_file_and_refuses_channels_the_layer_lacks) {
  config_.iterations = 5;
  config_.optimizer = OptimizerKind::kAdam;
  config_.learning_rate = 0.05;
  Stylizer stylizer = make();
  const auto results = stylizer.visualize({"relu2_1", {5, 40}, dir_.path().string(),
                                           dir_.file("vis.png"), ""});
  ASSERT_EQ(results.size(), 2U);
  EXPECT_EQ(results[0].path, dir_.file("relu2_1_0005.png"));
  EXPECT_TRUE(fs::exists(dir_.file("relu2_1_0040.png")));
  EXPECT_TRUE(fs::exists(dir_.file("vis.png")));
  EXPECT_GT(results[0].score, 1.0) << "above its activation on the grey start";
  EXPECT_ERROR_MSG(stylizer.visualize({"relu2_1", {3, 128}, dir_.path().string(), "", ""}),
                   ConfigError, "channel 128 out of range: relu2_1 has 128 channels (0-127)");
  EXPECT_FALSE(fs::exists(dir_.file("relu2_1_0003.png"))) << "checked before any work";
}

TEST_F(StylizerTest, a_style_region_gives_the_start_that_regions_colours) {
  // A painting red on top and blue below; its region is the top: the start is reddish.
  cv::Mat painting(40, 40, CV_8UC3, cv::Scalar(230, 40, 20));
  painting(cv::Rect(0, 0, 40, 20)).setTo(cv::Scalar(20, 40, 230));
  painting(cv::Rect(0, 0, 40, 5)).setTo(cv::Scalar(20, 90, 250));  // some variance
  ASSERT_TRUE(cv::imwrite(dir_.file("painting.png"), painting));
  cv::Mat top(40, 40, CV_8UC1, cv::Scalar(0));
  top(cv::Rect(0, 0, 40, 20)).setTo(cv::Scalar(255));
  ASSERT_TRUE(cv::imwrite(dir_.file("top.png"), top));
  config_.iterations = 1;
  Stylizer stylizer = make();
  StylizeJob job_with_region = job(dir_.file("out.png"));
  job_with_region.style_paths = {dir_.file("painting.png")};
  job_with_region.style_region_paths = {dir_.file("top.png")};
  const auto mean = stylizer.run(job_with_region).transfer.image_rgb01.mean({0, 2, 3});
  EXPECT_GT(mean[0].item<float>(), mean[2].item<float>() + 0.3F);
}

TEST_F(StylizerTest, the_output_carries_the_photos_colour_profile_and_the_settings) {
  // A photo with an ICC profile (any bytes will do: stylize copies, it does not interpret).
  const auto profile = test::test_icc_profile(3000);
  auto bytes = read_file_bytes(dir_.file("photo.png"));
  add_image_metadata(bytes, {"", profile});
  std::ofstream(dir_.file("tagged.png"), std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  Stylizer stylizer = make();
  for (const auto* name : {"out.png", "out.jpg"}) {
    StylizeJob tagged = job(dir_.file(name));
    tagged.content_path = dir_.file("tagged.png");
    tagged.settings = R"({"args":["-n","4"]})";
    stylizer.run(tagged);
    const auto metadata = read_image_metadata(read_file_bytes(dir_.file(name)));
    EXPECT_EQ(metadata.icc_profile, profile) << name;
    EXPECT_EQ(metadata.settings, tagged.settings) << name;
    // ... and the file still decodes.
    EXPECT_EQ(read_image(dir_.file(name), 0).rgb01.size(3), 32) << name;
  }
}

}  // namespace
}  // namespace stylize
