#pragma once
// Video: a clip in, a steady stylized clip out (Ruder, Dosovitskiy and Brox 2016).

#include <stylize/stylizer.hpp>

#include <atomic>
#include <functional>
#include <string>
#include <vector>

namespace stylize {

/// True for a printf frame pattern: exactly one integer conversion ("%d", "%04d"), "%%" aside.
bool is_frame_pattern(const std::string& path);
/// True for a video file by its extension (.mp4 .avi .mkv .mov .webm .m4v .mpg .mpeg .wmv) or a
/// frame pattern: what makes --content a video and --output a video's.
bool is_video_path(const std::string& path);
/// True when the output is a video file stylize writes: .mp4 .m4v .mov .mkv (H.264), .avi
/// (MPEG-4 Part 2), .webm (VP9).
bool is_video_file_output(const std::string& path);
/// Where a video output's frames are kept until it is assembled: "<output>.frames", one
/// "%06d.png" per frame of the clip (a '%' of the output's name escaped). A frame pattern
/// output is its own frame pattern.
std::string video_frame_pattern(const std::string& output);

/// How a clip is stylized, besides the StyleConfig of each frame.
struct VideoSettings {
  FlowMethod flow = FlowMethod::kDis;
  /// Weight of the temporal loss (TemporalTarget); 0: every frame independent, made as an image
  /// is (coarse to fine, config.init).
  double temporal_weight = kDefaultTemporalWeight;
  /// Iterations of each frame that starts from the previous one's warp (one scale); 0: as
  /// config.iterations.
  int frame_iterations = 0;
  /// The earlier frames the temporal loss compares with, nearest first: 1 is the previous
  /// frame; {1, 2, 4} adds long-term consistency (Ruder et al.'s J).
  std::vector<int> temporal_frames{1};
  int first_frame = 1;  ///< 1-based, inclusive
  int last_frame = 0;   ///< 0: the clip's last
  /// This process makes chunk shard_index of shard_count contiguous chunks of the range, after
  /// shard_lead_frames frames before it (within the chunk before) that start its chain; the
  /// shard that finds every frame made fades each chunk in over these frames.
  int shard_index = 0;
  int shard_count = 1;
  int shard_lead_frames = kDefaultShardLeadFrames;
  /// The program that assembles the video with the source's audio; empty: OpenCV, no audio.
  std::string ffmpeg = "ffmpeg";
};

/// A clip to stylize.
struct VideoJob {
  std::string content_path;  ///< a video file or a frame pattern
  std::vector<std::string> style_paths;
  std::string output_path;  ///< a video file or a frame pattern
  std::string settings;     ///< stored in every frame (as StylizeJob::settings)
  VideoSettings video;
};

/// What a video run is about to do.
struct VideoPlan {
  int width_px = 0;  ///< of each frame of the output
  int height_px = 0;
  int clip_frames = 0;  ///< frames in the clip
  int first_frame = 0;  ///< this run's own frames (1-based, inclusive)
  int last_frame = 0;
  int lead_first_frame = 0;  ///< the first frame it makes (before first_frame: a shard's lead)
  int frames_done = 0;       ///< of its own, found finished (resumed)
  double fps = 0.0;
  std::string frame_pattern;  ///< where frames are written
  StyleConfig config;         ///< of the first frame of a chain, as run
};

/// One frame made.
struct FrameReport {
  int frame = 0;       ///< 1-based position in the clip
  int index = 0;       ///< 0-based among the frames this run makes
  int count = 0;       ///< frames this run makes (lead included, resumed ones not)
  int iterations = 0;
  LossBreakdown losses;
  double seconds = 0.0;
  /// Share of the frame's pixels the temporal loss covers (0 for the first frame of a chain).
  double consistent_share = 0.0;
  std::string path;    ///< the frame's file; empty for a lead frame (kept as lead_frame_path)
  double run_elapsed_s = 0.0;
};

struct VideoEvents {
  std::function<void(const JobNotice&)> on_notice;
  std::function<void(const VideoPlan&)> on_start;
  ProgressCallback on_progress;  ///< each frame's iterations
  std::function<void(const FrameReport&)> on_frame;
};

struct VideoResult {
  int frames_made = 0;     ///< written by this run
  int frames_resumed = 0;  ///< found finished
  int frames_faded = 0;    ///< at the shards' boundaries, into the next chunk's lead
  bool cancelled = false;
  bool assembled = false;  ///< the video file was written (every frame of the range exists)
  bool with_audio = false; ///< assembled by ffmpeg, with the source's audio where it has any
  std::string codec;
  double elapsed_s = 0.0;
};

}  // namespace stylize
