#pragma once
// The engine's video files (internal): reading a clip's frames, assembling frames into a video.

#include <opencv2/core/mat.hpp>
#include <opencv2/videoio.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace stylize {

/// The frames of a clip in order: a video file through OpenCV's FFmpeg backend, or the files of
/// a printf pattern ("frames/%04d.png": the first file numbered 0 to 4, then on to the first gap,
/// as ffmpeg does). Frames are counted from 1 whatever the files' numbers.
class FrameSource {
 public:
  /// Throws InputError naming path when it cannot be opened or has no frames.
  explicit FrameSource(const std::string& path);
  [[nodiscard]] int frame_count() const { return frame_count_; }
  [[nodiscard]] double fps() const { return fps_; }
  [[nodiscard]] int width_px() const { return width_px_; }
  [[nodiscard]] int height_px() const { return height_px_; }
  /// The frame at 1-based position `frame` (8-bit BGR), decoding forward from the last frame
  /// read. Frames must be asked for in increasing order. Throws InputError when the clip ends
  /// early or a frame cannot be decoded.
  cv::Mat read(int frame);
  /// A frame pattern's file of frame (1-based); empty for a video file.
  [[nodiscard]] std::string frame_file(int frame) const;

 private:
  std::string path_;
  bool pattern_ = false;
  int first_number_ = 0;  ///< a pattern's number of frame 1
  int frame_count_ = 0;
  double fps_ = 25.0;
  int width_px_ = 0;
  int height_px_ = 0;
  int position_ = 0;  ///< frames read so far (video files)
  cv::VideoCapture capture_;
};

/// An exclusive lock (flock) while it lives: on a lock file (created), or with `directory` on
/// the folder itself (nothing is created). One shard fades and assembles the video.
class FileLock {
 public:
  explicit FileLock(const std::string& path, bool directory = false);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

/// printf's expansion of a frame pattern with one integer ("%04d", "%d").
std::string format_frame_path(const std::string& pattern, int number);

/// Where a shard keeps its lead frame `frame` (its chain's start, before its chunk) until the
/// boundary is faded: ".lead-<name>" beside the frame's own file.
std::string lead_frame_path(const std::string& frame_pattern, int frame);

/// Fades a sharded clip's chunk in over the end of the one before: frames lead_first..
/// chunk_first-1 (the previous chunk's last L frames, which the later shard also made as its
/// lead) become (1 - a) x the frame + a x its lead frame, a = 1/(L+1) .. L/(L+1), so the jump
/// between two independent chains is spread over L+1 frame pairs. Each faded frame's lead file
/// goes; a frame without one is left as it is. Frames stay complete throughout and a fade
/// interrupted and run again gives the same frames (the frame's original is kept as a link
/// until its lead is gone). Returns the number of frames faded.
int fade_in_shard_lead(const std::string& frame_pattern, int lead_first, int chunk_first);

/// The path of an executable found on PATH (or name itself when it holds a '/'), empty when
/// there is none.
std::string find_program(const std::string& name);

/// Runs argv (argv[0] found on PATH) with no input, waiting for it. Returns its exit status
/// (-1 when it could not be started) and puts the last lines it wrote to stderr in *errors.
int run_program(const std::vector<std::string>& argv, std::string* errors);

/// What assemble_video did.
struct AssembledVideo {
  bool with_ffmpeg = false;  ///< else OpenCV's VideoWriter, without audio
  std::string codec;         ///< e.g. "H.264 (libx264)"
  std::string problem;       ///< why ffmpeg was not used or failed (a warning for the user)
  bool cancelled = false;    ///< cancel was raised while ffmpeg ran: nothing was written
};

/// Writes frames first..last of frame_pattern (PNG files) as the video `output` (its extension
/// picks the container) at fps, atomically. With the ffmpeg program (ffmpeg: its name, empty for
/// none), the video is H.264 (MPEG-4 Part 2 in .avi, VP9 in .webm) and the audio of audio_source
/// from audio_start_s on goes in, when it has any (encoded: AAC, MP3 in .avi, Opus in .webm); without ffmpeg, or when it fails, OpenCV writes the video alone. cancel
/// raised while ffmpeg runs (Ctrl-C reaches it too): nothing is written. Throws OutputError
/// naming output when neither can write it.
AssembledVideo assemble_video(const std::string& frame_pattern, int first, int last, double fps,
                              const std::string& output, const std::string& audio_source,
                              double audio_start_s, const std::string& ffmpeg,
                              const std::atomic<bool>* cancel = nullptr);

}  // namespace stylize
