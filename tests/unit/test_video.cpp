#include "video_io.hpp"

#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>
#include <stylize/video.hpp>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>

#include "test_support.hpp"

namespace stylize {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

constexpr int kFrames = 5;
constexpr int kPanPx = 2;

/// Frame t (0-based) of a clip panning kPanPx a frame over a smooth colour texture, 48x36.
cv::Mat pan_frame(int t) {
  static const cv::Mat texture = test::smooth_texture(80, 60, 3, 11);
  return texture(cv::Rect(4 + kPanPx * t, 10, 48, 36)).clone();
}

/// The clip as PNG files "<dir>/f%03d.png" numbered from 1; returns the pattern.
std::string write_pan_frames(const fs::path& dir) {
  for (int t = 0; t < kFrames; ++t) {
    cv::imwrite(format_frame_path((dir / "f%03d.png").string(), t + 1), pan_frame(t));
  }
  return (dir / "f%03d.png").string();
}

/// The clip as a Motion-JPEG AVI (OpenCV writes it without any external encoder).
std::string write_pan_video(const fs::path& dir) {
  const std::string path = (dir / "pan.avi").string();
  cv::VideoWriter writer(path, cv::CAP_FFMPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 12.0,
                         cv::Size(48, 36));
  if (!writer.isOpened()) throw std::runtime_error("cannot write the test clip");
  for (int t = 0; t < kFrames; ++t) writer.write(pan_frame(t));
  return path;
}

/// Mean absolute difference (0-1) between frame t+1 and frame t moved by the pan, over all pairs.
double pan_flicker(const std::string& pattern) {
  double sum = 0.0;
  for (int t = 1; t < kFrames; ++t) {
    const auto a = load_image_rgb01(format_frame_path(pattern, t), 0);
    const auto b = load_image_rgb01(format_frame_path(pattern, t + 1), 0);
    const auto w = a.size(3) - kPanPx;
    sum += (b.narrow(3, 0, w) - a.narrow(3, kPanPx, w)).abs().mean().item<double>();
  }
  return sum / (kFrames - 1);
}

TEST(VideoPaths, patterns_and_video_files_are_told_apart) {
  EXPECT_TRUE(is_frame_pattern("frames/%04d.png"));
  EXPECT_TRUE(is_frame_pattern("f%d.jpg"));
  EXPECT_TRUE(is_frame_pattern("100%%/f%03d.png"));
  EXPECT_FALSE(is_frame_pattern("100%.png"));
  EXPECT_FALSE(is_frame_pattern("a%d_%d.png"));
  EXPECT_FALSE(is_frame_pattern("%s.png"));
  EXPECT_TRUE(is_video_path("clip.MP4"));
  EXPECT_TRUE(is_video_path("a/b.webm"));
  EXPECT_TRUE(is_video_path("out/%04d.png"));
  EXPECT_FALSE(is_video_path("photo.png"));
  EXPECT_TRUE(is_video_file_output("out.mkv"));
  EXPECT_FALSE(is_video_file_output("out/%04d.png"));
  EXPECT_EQ(video_frame_pattern("a/out.mp4"), "a/out.mp4.frames/%06d.png");
  EXPECT_EQ(video_frame_pattern("out/%04d.png"), "out/%04d.png");
  EXPECT_EQ(video_frame_pattern("100%.mp4"), "100%%.mp4.frames/%06d.png");
  EXPECT_EQ(format_frame_path(video_frame_pattern("100%.mp4"), 3), "100%.mp4.frames/000003.png");
  EXPECT_FALSE(is_video_file_output("out.mpg"));  // read, not written
  EXPECT_EQ(format_frame_path("out/%04d.png", 12), "out/0012.png");
}

TEST(FrameSource, reads_a_video_file_in_order) {
  TempDir dir;
  FrameSource source(write_pan_video(dir.path()));
  EXPECT_EQ(source.frame_count(), kFrames);
  EXPECT_EQ(source.width_px(), 48);
  EXPECT_EQ(source.height_px(), 36);
  EXPECT_NEAR(source.fps(), 12.0, 0.01);
  const cv::Mat third = source.read(3);  // skipping frames 1 and 2
  ASSERT_EQ(third.size(), cv::Size(48, 36));
  cv::Mat diff;
  cv::absdiff(third, pan_frame(2), diff);
  EXPECT_LT(cv::mean(diff)[0], 8.0);  // Motion-JPEG is lossy
  EXPECT_ERROR_MSG(source.read(2), InputError,
                   "frames of '" + (dir.path() / "pan.avi").string() + "' must be read in order");
}

TEST(FrameSource, reads_a_frame_pattern_from_its_first_number) {
  TempDir dir;
  FrameSource source(write_pan_frames(dir.path()));
  EXPECT_EQ(source.frame_count(), kFrames);
  cv::Mat diff;
  cv::absdiff(source.read(5), pan_frame(4), diff);
  EXPECT_EQ(cv::countNonZero(diff.reshape(1)), 0);
}

TEST(FrameSource, says_what_is_wrong_with_a_clip) {
  TempDir dir;
  EXPECT_ERROR_MSG(FrameSource(dir.file("f%03d.png")), InputError,
                   "no frames match '" + dir.file("f%03d.png") +
                       "' (the first must be numbered 0 to 4)");
  EXPECT_ERROR_MSG(FrameSource(dir.file("none.mp4")), InputError,
                   "cannot read '" + dir.file("none.mp4") + "': no such file");
  std::ofstream(dir.file("text.mp4")) << "not a video";
  EXPECT_ERROR_MSG(FrameSource(dir.file("text.mp4")), InputError,
                   "cannot read video '" + dir.file("text.mp4") +
                       "': OpenCV's FFmpeg backend cannot open it (not a video, or a codec it "
                       "lacks)");
}

TEST(AssembleVideo, without_ffmpeg_opencv_writes_the_video_alone) {
  TempDir dir;
  const std::string frames = write_pan_frames(dir.path());
  const auto done = assemble_video(frames, 2, 5, 10.0, dir.file("out.avi"), "", 0.0, "");
  EXPECT_FALSE(done.with_ffmpeg);
  EXPECT_EQ(done.problem, "ffmpeg is not installed: the video has no audio");
  FrameSource video(dir.file("out.avi"));
  EXPECT_EQ(video.frame_count(), 4);
  EXPECT_NEAR(video.fps(), 10.0, 0.01);
}

TEST(AssembleVideo, ffmpeg_writes_h264_with_even_sides) {
  if (find_program("ffmpeg").empty()) GTEST_SKIP() << "ffmpeg is not installed";
  TempDir dir;
  for (int t = 1; t <= 3; ++t) {
    cv::imwrite(format_frame_path(dir.file("o%02d.png"), t), pan_frame(t)(cv::Rect(0, 0, 47, 35)));
  }
  const auto done = assemble_video(dir.file("o%02d.png"), 1, 3, 12.0, dir.file("out.mp4"), "",
                                   0.0, "ffmpeg");
  EXPECT_TRUE(done.with_ffmpeg) << done.problem;
  FrameSource video(dir.file("out.mp4"));
  EXPECT_EQ(video.frame_count(), 3);
  EXPECT_EQ(video.width_px(), 48);
  EXPECT_EQ(video.height_px(), 36);
}

/// True when the file has an audio stream (ffprobe, which comes with ffmpeg).
bool has_audio(const std::string& path) {
  std::string errors;
  return run_program({"sh", "-c",
                      "ffprobe -v error -show_entries stream=codec_type -of csv=p=0 '" + path +
                          "' | grep -q audio"},
                     &errors) == 0;
}

TEST(AssembleVideo, ffmpeg_takes_the_sources_audio_whole_or_cut_to_the_frames) {
  if (find_program("ffmpeg").empty()) GTEST_SKIP() << "ffmpeg is not installed";
  TempDir dir;
  const std::string frames = write_pan_frames(dir.path());
  std::string errors;
  ASSERT_EQ(run_program({"ffmpeg", "-nostdin", "-y", "-framerate", "10", "-i", frames, "-f", "lavfi",
                         "-i", "sine=frequency=440:duration=1", "-c:v", "mpeg4", "-c:a", "aac",
                         "-shortest", dir.file("source.mp4")},
                        &errors),
            0)
      << errors;
  ASSERT_TRUE(has_audio(dir.file("source.mp4")));
  auto done = assemble_video(frames, 1, 5, 10.0, dir.file("whole.mp4"), dir.file("source.mp4"),
                             0.0, "ffmpeg");
  EXPECT_TRUE(done.with_ffmpeg) << done.problem;
  EXPECT_TRUE(has_audio(dir.file("whole.mp4")));
  done = assemble_video(frames, 2, 4, 10.0, dir.file("cut.mkv"), dir.file("source.mp4"), 0.1,
                        "ffmpeg");
  EXPECT_TRUE(done.with_ffmpeg) << done.problem;
  EXPECT_TRUE(has_audio(dir.file("cut.mkv")));
  EXPECT_EQ(FrameSource(dir.file("cut.mkv")).frame_count(), 3);
}

/// A w x h frame of one grey level (0-255) with settings text, as a run writes frames.
void write_grey_frame(const std::string& path, int level, int w = 20, int h = 16) {
  save_image(at::full({1, 3, h, w}, level / 255.0), path, {}, {"settings " + path, {}});
}

/// The grey level of a frame's first pixel (0-255).
int grey_level(const std::string& path) {
  return static_cast<int>(std::lround(load_image_rgb01(path, 0)[0][1][0][0].item<double>() * 255));
}

TEST(FadeInShardLead, blends_the_chunk_before_into_the_lead_frame_by_frame) {
  const TempDir dir;
  const std::string pattern = dir.file("%d.png");
  for (int k = 1; k <= 6; ++k) write_grey_frame(format_frame_path(pattern, k), 51);
  write_grey_frame(lead_frame_path(pattern, 3), 204);
  write_grey_frame(lead_frame_path(pattern, 4), 204);
  EXPECT_EQ(lead_frame_path(pattern, 3), dir.file(".lead-3.png"));

  EXPECT_EQ(fade_in_shard_lead(pattern, 3, 5), 2);
  EXPECT_EQ(grey_level(dir.file("2.png")), 51);
  EXPECT_EQ(grey_level(dir.file("3.png")), 102);  // 1/3 of the way to the lead
  EXPECT_EQ(grey_level(dir.file("4.png")), 153);  // 2/3
  EXPECT_EQ(grey_level(dir.file("5.png")), 51);   // the next chunk's own frame
  EXPECT_EQ(read_image_metadata(read_file_bytes(dir.file("3.png"))).settings,
            "settings " + dir.file("3.png"));
  EXPECT_FALSE(fs::exists(lead_frame_path(pattern, 3)));
  EXPECT_FALSE(fs::exists(dir.file(".chain-3.png")));
  EXPECT_EQ(fade_in_shard_lead(pattern, 3, 5), 0);  // done: nothing fades twice
  EXPECT_EQ(grey_level(dir.file("3.png")), 102);
}

TEST(FadeInShardLead, an_interrupted_fade_run_again_gives_the_same_frames) {
  const TempDir dir;
  const std::string pattern = dir.file("%d.png");
  write_grey_frame(dir.file("1.png"), 102);         // faded, its lead not yet removed
  write_grey_frame(dir.file(".chain-1.png"), 51);   // the original, kept
  write_grey_frame(lead_frame_path(pattern, 1), 204);
  write_grey_frame(dir.file("2.png"), 153);         // faded and its lead removed
  write_grey_frame(dir.file(".chain-2.png"), 51);
  EXPECT_EQ(fade_in_shard_lead(pattern, 1, 3), 1);
  EXPECT_EQ(grey_level(dir.file("1.png")), 102);
  EXPECT_EQ(grey_level(dir.file("2.png")), 153);
  EXPECT_FALSE(fs::exists(dir.file(".chain-1.png")));
  EXPECT_FALSE(fs::exists(dir.file(".chain-2.png")));
}

TEST(FadeInShardLead, a_lead_of_another_size_is_refused) {
  const TempDir dir;
  const std::string pattern = dir.file("%d.png");
  write_grey_frame(dir.file("1.png"), 51);
  write_grey_frame(lead_frame_path(pattern, 1), 204, 24, 16);
  EXPECT_ERROR_MSG(fade_in_shard_lead(pattern, 1, 2), ConfigError,
                   "lead frame '" + lead_frame_path(pattern, 1) + "' is not the size of '" +
                       dir.file("1.png") + "': shards of one clip must run with the same settings");
  EXPECT_EQ(grey_level(dir.file("1.png")), 51);
  EXPECT_FALSE(fs::exists(dir.file(".chain-1.png")));
}

TEST(RunProgram, reports_the_exit_status_and_the_last_error_line) {
  std::string errors;
  EXPECT_EQ(run_program({"sh", "-c", "echo first >&2; echo last >&2; exit 3"}, &errors), 3);
  EXPECT_EQ(errors, "last");
  EXPECT_EQ(run_program({"no-such-program-for-stylize"}, &errors), -1);
}

/// Stylizer::run_video over the random full VGG-19 with tiny clips.
class VideoRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::write_test_image(dir_.file("style.png"), 40, 40, 3);
    config_.size_px = 32;
    config_.iterations = 6;
    config_.seed = 3;
  }
  Stylizer make() const {
    return Stylizer(VggFeatures::load(test::random_model_path(), c10::kCPU), config_, c10::kCPU);
  }
  VideoJob job(const std::string& content, const std::string& output) const {
    VideoJob job;
    job.content_path = content;
    job.style_paths = {dir_.file("style.png")};
    job.output_path = output;
    job.video.ffmpeg = "";
    return job;
  }
  TempDir dir_;
  StyleConfig config_;
  test::ScopedThreadCount threads_;
};

TEST_F(VideoRunTest, a_clip_becomes_frames_each_held_to_the_previous_one) {
  config_.size_px = 48;  // the clip's own size: the pan stays a whole number of pixels
  Stylizer stylizer = make();
  const auto clip = write_pan_frames(dir_.path());
  std::vector<FrameReport> frames;
  VideoEvents events;
  events.on_frame = [&](const FrameReport& report) { frames.push_back(report); };
  auto temporal = job(clip, dir_.file("t/%02d.png"));
  temporal.video.temporal_weight = 1000.0;
  const VideoResult result = stylizer.run_video(temporal, events);
  EXPECT_EQ(result.frames_made, kFrames);
  EXPECT_FALSE(result.assembled);  // a frame pattern is the output itself
  ASSERT_EQ(frames.size(), static_cast<std::size_t>(kFrames));
  EXPECT_EQ(frames[0].path, dir_.file("t/01.png"));
  EXPECT_EQ(frames[0].losses.temporal, 0.0);
  EXPECT_EQ(frames[0].consistent_share, 0.0);
  for (int k = 1; k < kFrames; ++k) {
    EXPECT_EQ(frames[k].frame, k + 1);
    EXPECT_GT(frames[k].losses.temporal, 0.0);
    EXPECT_GT(frames[k].consistent_share, 0.8);  // all but what the pan brings in
  }
  EXPECT_EQ(load_image_rgb01(dir_.file("t/03.png"), 0).size(3), 48);

  auto independent = job(clip, dir_.file("i/%02d.png"));
  independent.video.temporal_weight = 0.0;
  stylizer.run_video(independent, {});
  EXPECT_LT(pan_flicker(dir_.file("t/%02d.png")), 0.5 * pan_flicker(dir_.file("i/%02d.png")));
}

TEST_F(VideoRunTest, an_interrupted_clip_continues_at_its_first_missing_frame) {
  const auto clip = write_pan_video(dir_.path());
  const std::string output = dir_.file("out.avi");
  std::atomic<bool> cancel{false};
  VideoEvents events;
  events.on_frame = [&](const FrameReport& report) { cancel = report.frame == 2; };
  Stylizer stylizer = make();
  const auto first = stylizer.run_video(job(clip, output), events, &cancel);
  EXPECT_TRUE(first.cancelled);
  EXPECT_EQ(first.frames_made, 2);
  EXPECT_FALSE(fs::exists(output));
  EXPECT_TRUE(output_is_complete(format_frame_path(video_frame_pattern(output), 2)));
  EXPECT_FALSE(fs::exists(format_frame_path(video_frame_pattern(output), 3)));

  std::vector<int> made;
  double first_temporal = 0.0;
  events.on_frame = [&](const FrameReport& report) {
    if (made.empty()) first_temporal = report.losses.temporal;
    made.push_back(report.frame);
  };
  cancel = false;
  const auto second = stylizer.run_video(job(clip, output), events, &cancel);
  EXPECT_EQ(second.frames_resumed, 2);
  EXPECT_EQ(made, (std::vector<int>{3, 4, 5}));
  EXPECT_GT(first_temporal, 0.0);  // the chain goes on from frame 2's file
  EXPECT_TRUE(second.assembled);
  EXPECT_FALSE(second.with_audio);
  EXPECT_EQ(FrameSource(output).frame_count(), kFrames);
  EXPECT_FALSE(fs::exists(output + ".frames"));  // the work folder goes once the video is made
}

TEST_F(VideoRunTest, shards_make_their_own_chunks_after_a_lead_and_the_last_one_assembles) {
  const auto clip = write_pan_frames(dir_.path());
  const std::string output = dir_.file("out.avi");
  Stylizer stylizer = make();
  std::vector<FrameReport> frames;
  VideoEvents events;
  events.on_frame = [&](const FrameReport& report) { frames.push_back(report); };
  auto second_half = job(clip, output);
  second_half.video.shard_index = 1;
  second_half.video.shard_count = 2;
  second_half.video.shard_lead_frames = 1;
  const auto second = stylizer.run_video(second_half, events);
  ASSERT_EQ(frames.size(), 4U);  // frame 2 settles the chain, frames 3-5 are the shard's
  EXPECT_EQ(frames[0].frame, 2);
  EXPECT_TRUE(frames[0].path.empty());
  EXPECT_EQ(frames[1].frame, 3);
  EXPECT_GT(frames[1].losses.temporal, 0.0);  // held to the lead frame
  EXPECT_EQ(second.frames_made, 3);
  EXPECT_FALSE(second.assembled);
  EXPECT_FALSE(fs::exists(format_frame_path(video_frame_pattern(output), 2)));
  EXPECT_TRUE(fs::exists(lead_frame_path(video_frame_pattern(output), 2)));  // kept to fade

  frames.clear();  // again: its frames are there, so not even the lead is made
  const auto again = stylizer.run_video(second_half, events);
  EXPECT_EQ(again.frames_made, 0);
  EXPECT_EQ(again.frames_resumed, 3);
  EXPECT_TRUE(frames.empty());

  auto first_half = job(clip, output);
  first_half.video.shard_count = 2;
  const auto first = stylizer.run_video(first_half, {});
  EXPECT_EQ(first.frames_made, 2);
  EXPECT_EQ(first.frames_faded, 1);  // frame 2, half way to the second shard's lead
  EXPECT_TRUE(first.assembled);
  EXPECT_EQ(FrameSource(output).frame_count(), kFrames);
}

TEST_F(VideoRunTest, the_last_shard_to_finish_fades_each_chunk_into_the_next_ones_lead) {
  const auto clip = write_pan_frames(dir_.path());
  Stylizer stylizer = make();
  auto shard = [&](const std::string& pattern, int index) {
    auto chunk = job(clip, pattern);
    chunk.video.shard_index = index;
    chunk.video.shard_count = 2;
    chunk.video.shard_lead_frames = 1;
    return stylizer.run_video(chunk, {});
  };
  const std::string alone = dir_.file("a/%d.png");
  shard(alone, 0);  // the first chunk's frames as they are before any fade

  fs::create_directory(dir_.file("s"));
  const test::ScopedWorkingDirectory in_s(dir_.file("s"));
  const std::string pattern = "%d.png";  // in the working directory
  const auto second = shard(pattern, 1);  // frames 3-5 after a lead frame 2
  EXPECT_EQ(second.frames_made, 3);
  EXPECT_EQ(second.frames_faded, 0);  // frames 1-2 are not made yet
  const auto lead = load_image_rgb01(lead_frame_path(pattern, 2), 0);
  EXPECT_FALSE(fs::exists(lead_frame_path(pattern, 1)));

  const auto first = shard(pattern, 0);
  EXPECT_EQ(first.frames_faded, 1);
  const auto chain = load_image_rgb01(format_frame_path(alone, 2), 0);
  const auto faded = load_image_rgb01(format_frame_path(pattern, 2), 0);
  EXPECT_LE((faded - (chain + lead) * 0.5).abs().max().item<double>(), 1.5 / 255);
  EXPECT_GT((faded - chain).abs().mean().item<double>(), 1.0 / 255);  // the chains differ
  EXPECT_TRUE(load_image_rgb01(format_frame_path(pattern, 1), 0)
                  .equal(load_image_rgb01(format_frame_path(alone, 1), 0)));
  std::set<std::string> files;  // the frames alone: no lead, link or lock file is left
  for (const auto& entry : fs::directory_iterator(dir_.file("s"))) {
    files.insert(entry.path().filename().string());
  }
  EXPECT_EQ(files, (std::set<std::string>{"1.png", "2.png", "3.png", "4.png", "5.png"}));
}

TEST_F(VideoRunTest, bad_lead_is_refused) {
  auto bad = job(write_pan_frames(dir_.path()), dir_.file("o/%d.png"));
  bad.video.shard_lead_frames = -1;
  EXPECT_ERROR_MSG(make().run_video(bad, {}), ConfigError, "--shard-lead must be between 0 and 1000");
}

TEST_F(VideoRunTest, a_frame_range_takes_part_of_the_clip) {
  const auto clip = write_pan_frames(dir_.path());
  Stylizer stylizer = make();
  auto part = job(clip, dir_.file("p/%d.png"));
  part.video.first_frame = 4;
  const auto result = stylizer.run_video(part, {});
  EXPECT_EQ(result.frames_made, 2);
  EXPECT_TRUE(fs::exists(dir_.file("p/4.png")));
  EXPECT_TRUE(fs::exists(dir_.file("p/5.png")));
  EXPECT_FALSE(fs::exists(dir_.file("p/3.png")));
}

TEST_F(VideoRunTest, bad_ranges_and_outputs_are_refused_before_any_work) {
  const auto clip = write_pan_frames(dir_.path());
  Stylizer stylizer = make();
  auto past_the_end = job(clip, dir_.file("o/%d.png"));
  past_the_end.video.first_frame = 7;
  past_the_end.video.last_frame = 9;
  EXPECT_ERROR_MSG(stylizer.run_video(past_the_end, {}), ConfigError,
                   "--frames 7-9: '" + clip + "' has 5 frames");
  EXPECT_ERROR_MSG(stylizer.run_video(job(clip, dir_.file("out.png")), {}), ConfigError,
                   "the output of a video must be a video file (.mp4, .m4v, .mov, .mkv, .avi, "
                   ".webm) or a frame pattern such as out/%04d.png, not '" + dir_.file("out.png") +
                       "'");
  EXPECT_ERROR_MSG(stylizer.run_video(job(clip, dir_.file("f%03d.png")), {}), ConfigError,
                   "output frame '" + dir_.file("f001.png") + "' is one of the frames of '" +
                       clip + "': refusing to overwrite an input (choose another output)");
  EXPECT_ERROR_MSG(stylizer.run_video(job(clip, dir_.file("no/such/dir/out.mp4")), {}), OutputError,
                   "cannot write '" + dir_.file("no/such/dir/out.mp4") + "': no such directory");
  auto bad_frames = job(clip, dir_.file("o/%d.png"));
  bad_frames.video.temporal_frames = {2, 4};
  EXPECT_ERROR_MSG(stylizer.run_video(bad_frames, {}), ConfigError,
                   "--temporal-frames must start with 1 (the previous frame)");
  EXPECT_FALSE(fs::exists(dir_.file("o")));
}

}  // namespace
}  // namespace stylize
