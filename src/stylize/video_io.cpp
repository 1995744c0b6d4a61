#include "atomic_file.hpp"
#include "video_io.hpp"

#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>
#include <stylize/video.hpp>

#include <fcntl.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;  // NOLINT: posix_spawn passes the environment on

namespace stylize {
namespace fs = std::filesystem;
namespace {

bool is_file(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

/// ffmpeg's video encoder arguments for a container, by the output's extension, and its audio
/// encoder. (The audio is encoded, not copied: ffmpeg 5.1 drops some copied AAC streams without
/// a word, and a cut one must be re-encoded anyway.)
std::vector<std::string> ffmpeg_video_codec(const std::string& ext, std::string* codec,
                                            std::string* audio_codec) {
  if (ext == ".avi") {
    *codec = "MPEG-4 Part 2 (ffmpeg)";
    *audio_codec = "libmp3lame";
    return {"-c:v", "mpeg4", "-q:v", "2"};
  }
  if (ext == ".webm") {
    *codec = "VP9 (libvpx)";
    *audio_codec = "libopus";
    return {"-c:v", "libvpx-vp9", "-crf", "30", "-b:v", "0", "-pix_fmt", "yuv420p"};
  }
  *codec = "H.264 (libx264)";
  *audio_codec = "aac";
  return {"-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p"};
}

/// OpenCV's FourCC codes to try for a container, best first.
std::vector<std::string> opencv_codecs(const std::string& ext) {
  if (ext == ".avi") return {"MJPG", "XVID"};
  if (ext == ".webm") return {"VP90", "VP80"};
  if (ext == ".mkv") return {"avc1", "MJPG"};
  return {"avc1", "mp4v"};
}

/// A temporary beside output with output's extension (the encoders pick the container by it).
std::string temp_video_beside(const std::string& output) {
  return temp_name_beside(output) + lower_extension(output);
}

AssembledVideo assemble_with_opencv(const std::string& pattern, int first, int last, double fps,
                                    const std::string& output, AssembledVideo done) {
  const cv::Mat first_frame = cv::imread(format_frame_path(pattern, first), cv::IMREAD_COLOR);
  if (first_frame.empty()) {
    throw OutputError("cannot assemble '" + output + "': frame " +
                      format_frame_path(pattern, first) + " cannot be read");
  }
  // 4:2:0 encoders need even sides: the last row or column is repeated where one is odd.
  const cv::Size size(first_frame.cols + first_frame.cols % 2, first_frame.rows + first_frame.rows % 2);
  const std::string temp = temp_video_beside(output);
  for (const auto& code : opencv_codecs(lower_extension(output))) {
    cv::VideoWriter writer;
    try {
      writer.open(temp, cv::CAP_FFMPEG, cv::VideoWriter::fourcc(code[0], code[1], code[2], code[3]),
                  fps, size);
    } catch (const cv::Exception&) {
      continue;
    }
    if (!writer.isOpened()) continue;
    for (int k = first; k <= last; ++k) {
      cv::Mat frame = cv::imread(format_frame_path(pattern, k), cv::IMREAD_COLOR);
      if (frame.empty() || frame.cols + frame.cols % 2 != size.width) {
        writer.release();
        std::error_code ec;
        fs::remove(temp, ec);
        throw OutputError("cannot assemble '" + output + "': frame " +
                          format_frame_path(pattern, k) + " is missing or of another size");
      }
      cv::copyMakeBorder(frame, frame, 0, size.height - frame.rows, 0, size.width - frame.cols,
                         cv::BORDER_REPLICATE);
      writer.write(frame);
    }
    writer.release();
    std::error_code ec;
    if (fs::file_size(temp, ec) > 0 && !ec) {
      fs::rename(temp, output, ec);
      if (!ec) {
        done.codec = code + " (OpenCV)";
        return done;
      }
    }
    fs::remove(temp, ec);
  }
  throw OutputError("cannot write video '" + output + "': OpenCV's FFmpeg backend has no encoder for " +
                    lower_extension(output) + " (try .avi, or install ffmpeg)");
}

}  // namespace

FrameSource::FrameSource(const std::string& path) : path_(path) {
  pattern_ = is_frame_pattern(path);
  if (pattern_) {
    for (int start = 0; start <= 4 && frame_count_ == 0; ++start) {
      if (!is_file(format_frame_path(path, start))) continue;
      first_number_ = start;
      while (is_file(format_frame_path(path, start + frame_count_))) ++frame_count_;
    }
    if (frame_count_ == 0) {
      throw InputError("no frames match '" + path + "' (the first must be numbered 0 to 4)");
    }
    const cv::Mat first = read(1);
    position_ = 0;
    width_px_ = first.cols;
    height_px_ = first.rows;
    return;
  }
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError("cannot read '" + path + "': no such file");
  if (!is_file(path)) throw InputError("cannot read '" + path + "': not a file");
  try {
    capture_.open(path, cv::CAP_FFMPEG);
  } catch (const cv::Exception&) {
    // reported below
  }
  if (!capture_.isOpened()) {
    throw InputError("cannot read video '" + path +
                     "': OpenCV's FFmpeg backend cannot open it (not a video, or a codec it lacks)");
  }
  fps_ = capture_.get(cv::CAP_PROP_FPS);
  if (!(fps_ > 0.0 && fps_ < 1000.0)) fps_ = 25.0;
  width_px_ = static_cast<int>(capture_.get(cv::CAP_PROP_FRAME_WIDTH));
  height_px_ = static_cast<int>(capture_.get(cv::CAP_PROP_FRAME_HEIGHT));
  // The header's count can be missing or off by a frame: decoding to the end is the truth.
  cv::Mat frame;
  while (capture_.grab()) ++frame_count_;
  if (frame_count_ == 0 || width_px_ <= 0 || height_px_ <= 0) {
    throw InputError("cannot read video '" + path + "': it has no frames that decode");
  }
  capture_.release();
  if (!capture_.open(path, cv::CAP_FFMPEG)) {
    throw InputError("cannot read video '" + path + "': it cannot be opened a second time");
  }
}

std::string FrameSource::frame_file(int frame) const {
  return pattern_ ? format_frame_path(path_, first_number_ + frame - 1) : std::string();
}

cv::Mat FrameSource::read(int frame) {
  if (frame < 1 || frame > frame_count_) {
    throw InputError("'" + path_ + "' has no frame " + std::to_string(frame));
  }
  cv::Mat image;
  if (pattern_) {
    const std::string file = frame_file(frame);
    image = cv::imread(file, cv::IMREAD_COLOR);
    if (image.empty()) throw InputError("cannot read frame '" + file + "': not a decodable image");
    if (width_px_ > 0 && (image.cols != width_px_ || image.rows != height_px_)) {
      throw InputError("frame '" + file + "' is " + std::to_string(image.cols) + "x" +
                       std::to_string(image.rows) + " px, the first frame " +
                       std::to_string(width_px_) + "x" + std::to_string(height_px_));
    }
    return image;
  }
  if (frame <= position_) {
    throw InputError("frames of '" + path_ + "' must be read in order");
  }
  while (position_ < frame - 1 && capture_.grab()) ++position_;
  if (position_ == frame - 1 && capture_.read(image)) ++position_;
  if (image.empty()) {
    throw InputError("cannot decode frame " + std::to_string(frame) + " of '" + path_ + "'");
  }
  return image;
}

std::string format_frame_path(const std::string& pattern, int number) {
  std::array<char, 4096> buffer{};
  // The pattern is the user's, checked to hold one integer conversion (is_frame_pattern).
  // NOLINTNEXTLINE(clang-diagnostic-format-nonliteral)
  const int n = std::snprintf(buffer.data(), buffer.size(), pattern.c_str(), number);
  return n > 0 ? std::string(buffer.data(), std::min<std::size_t>(n, buffer.size() - 1)) : pattern;
}

namespace {
/// A file beside frame_path named prefix + its name.
std::string beside(const std::string& frame_path, const std::string& prefix) {
  const fs::path path(frame_path);
  return (path.parent_path() / (prefix + path.filename().string())).string();
}
}  // namespace

FileLock::FileLock(const std::string& path, bool directory)
    : fd_(directory ? ::open(path.c_str(), O_RDONLY | O_DIRECTORY)
                    : ::open(path.c_str(), O_CREAT | O_RDWR, 0644)) {
  if (fd_ >= 0) ::flock(fd_, LOCK_EX);
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

std::string lead_frame_path(const std::string& frame_pattern, int frame) {
  return beside(format_frame_path(frame_pattern, frame), ".lead-");
}

int fade_in_shard_lead(const std::string& frame_pattern, int lead_first, int chunk_first) {
  const int lead_frames = chunk_first - lead_first;
  int faded = 0;
  for (int k = lead_first; k < chunk_first; ++k) {
    const std::string frame = format_frame_path(frame_pattern, k);
    const std::string lead = lead_frame_path(frame_pattern, k);
    const std::string original = beside(frame, ".chain-");
    std::error_code ec;
    if (!fs::exists(lead, ec)) {
      fs::remove(original, ec);  // faded, interrupted before the link went
      continue;
    }
    const bool linked = fs::exists(original, ec);  // a fade interrupted after the link
    const at::Tensor chain = load_image_rgb01(linked ? original : frame, 0);
    const at::Tensor lead_image = load_image_rgb01(lead, 0);
    if (!lead_image.sizes().equals(chain.sizes())) {
      throw ConfigError("lead frame '" + lead + "' is not the size of '" + frame +
                        "': shards of one clip must run with the same settings");
    }
    if (!linked) {  // kept until the lead is gone: a fade run again starts from the original
      fs::create_hard_link(frame, original, ec);
      if (ec) write_file_atomically(original, read_file_bytes(frame));
    }
    const double lead_share = static_cast<double>(k - lead_first + 1) / (lead_frames + 1);
    const at::Tensor blend = chain.mul(1.0 - lead_share).add(lead_image, lead_share);
    save_image(blend, frame, {}, read_image_metadata(read_file_bytes(original)));
    fs::remove(lead, ec);
    fs::remove(original, ec);
    ++faded;
  }
  return faded;
}

std::string find_program(const std::string& name) {
  if (name.empty()) return {};
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0 && is_file(candidate)) return candidate;
  }
  return {};
}

int run_program(const std::vector<std::string>& argv, std::string* errors) {
  char log_name[] = "/tmp/stylize-ffmpeg-XXXXXX";
  const int log_fd = ::mkstemp(log_name);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  if (log_fd >= 0) posix_spawn_file_actions_adddup2(&actions, log_fd, STDERR_FILENO);
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  int status = -1;
  if (spawned == 0) {
    int wait_status = 0;
    while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
    }
    status = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
  }
  if (log_fd >= 0) {
    ::close(log_fd);
    std::ifstream log(log_name);
    std::string line;
    std::string last;
    while (std::getline(log, line)) {
      if (!line.empty()) last = line;
    }
    if (errors != nullptr) *errors = spawned == 0 ? last : "cannot start " + argv.front();
    ::unlink(log_name);
  }
  return status;
}

AssembledVideo assemble_video(const std::string& frame_pattern, int first, int last, double fps,
                              const std::string& output, const std::string& audio_source,
                              double audio_start_s, const std::string& ffmpeg,
                              const std::atomic<bool>* cancel) {
  AssembledVideo done;
  const std::string program = find_program(ffmpeg);
  if (program.empty()) {
    done.problem = "ffmpeg is not installed: the video has no audio";
    return assemble_with_opencv(frame_pattern, first, last, fps, output, done);
  }
  const std::string temp = temp_video_beside(output);
  const int frames = last - first + 1;
  std::string audio_codec;
  const auto video_codec = ffmpeg_video_codec(lower_extension(output), &done.codec, &audio_codec);
  std::vector<std::string> argv{program,      "-nostdin", "-hide_banner", "-loglevel", "error",
                                "-y",         "-framerate", std::to_string(fps), "-start_number",
                                std::to_string(first), "-i", frame_pattern};
  if (!audio_source.empty()) {
    argv.insert(argv.end(), {"-ss", std::to_string(audio_start_s), "-t",
                             std::to_string(frames / fps), "-i", audio_source, "-map", "0:v:0",
                             "-map", "1:a?", "-c:a", audio_codec});
  }
  argv.insert(argv.end(), video_codec.begin(), video_codec.end());
  argv.insert(argv.end(), {"-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-frames:v",
                           std::to_string(frames), temp});
  std::string errors;
  const int status = run_program(argv, &errors);
  std::error_code ec;
  if (status == 0 && fs::file_size(temp, ec) > 0 && !ec) {
    fs::rename(temp, output, ec);
    if (!ec) {
      done.with_ffmpeg = true;
      return done;
    }
  }
  fs::remove(temp, ec);
  if (cancel != nullptr && cancel->load()) {  // Ctrl-C reaches ffmpeg too: not a failure
    done.cancelled = true;
    return done;
  }
  done.problem = "ffmpeg failed (" + (errors.empty() ? "exit " + std::to_string(status) : errors) +
                 "): the video has no audio";
  return assemble_with_opencv(frame_pattern, first, last, fps, output, done);
}

}  // namespace stylize
