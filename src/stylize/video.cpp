#include "atomic_file.hpp"
#include "video_io.hpp"

#include <stylize/colour.hpp>
#include <stylize/errors.hpp>
#include <stylize/optical_flow.hpp>
#include <stylize/video.hpp>

#include <opencv2/imgproc.hpp>
#include <sys/stat.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <deque>
#include <filesystem>
#include <map>
#include <set>

namespace stylize {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

const std::vector<std::string>& video_extensions() {
  static const std::vector<std::string> extensions{".mp4", ".avi", ".mkv", ".mov", ".webm",
                                                   ".m4v", ".mpg", ".mpeg", ".wmv"};
  return extensions;
}

/// The containers stylize writes (ffmpeg_video_codec in video_io.cpp picks their codecs).
const std::vector<std::string>& output_video_extensions() {
  static const std::vector<std::string> extensions{".mp4", ".m4v", ".mov", ".mkv", ".avi",
                                                   ".webm"};
  return extensions;
}

bool has_extension(const std::string& path, const std::vector<std::string>& known) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::find(known.begin(), known.end(), ext) != known.end();
}

/// An image tensor as an H x W float Mat with its 3 channels in the tensor's order.
cv::Mat tensor_mat(const at::Tensor& image) {
  const auto hwc = image.squeeze(0).permute({1, 2, 0}).contiguous().to(at::kFloat);
  return cv::Mat(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_32FC3,
                 hwc.data_ptr<float>())
      .clone();
}

at::Tensor mat_tensor(const cv::Mat& mat) {
  CV_Assert(mat.depth() == CV_32F && mat.isContinuous());
  const int channels = mat.channels();
  return torch::from_blob(const_cast<float*>(mat.ptr<float>()), {1, mat.rows, mat.cols, channels},
                          at::kFloat)
      .permute({0, 3, 1, 2})
      .clone(at::MemoryFormat::Contiguous);
}

/// The 8-bit grey image optical flow is computed on.
cv::Mat flow_frame(const at::Tensor& rgb01) {
  cv::Mat grey;
  cv::cvtColor(tensor_mat(rgb01), grey, cv::COLOR_RGB2GRAY);
  grey.convertTo(grey, CV_8U, 255.0);
  return grey;
}

/// One frame of the clip as this run holds it: its content, and its stylized image once made
/// (or the file it was written to by an earlier run, read when needed).
struct HeldFrame {
  at::Tensor content;  ///< at the output size
  cv::Mat grey;        ///< for the flow
  at::Tensor result;
  std::string result_path;
};

}  // namespace

bool is_frame_pattern(const std::string& path) {
  int conversions = 0;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '%') continue;
    if (i + 1 < path.size() && path[i + 1] == '%') {
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    while (j < path.size() && std::isdigit(static_cast<unsigned char>(path[j])) != 0) ++j;
    if (j >= path.size() || (path[j] != 'd' && path[j] != 'i' && path[j] != 'u')) return false;
    ++conversions;
    i = j;
  }
  return conversions == 1;
}

bool is_video_path(const std::string& path) {
  return is_frame_pattern(path) || has_extension(path, video_extensions());
}

bool is_video_file_output(const std::string& path) {
  return !is_frame_pattern(path) && has_extension(path, output_video_extensions());
}

std::string video_frame_pattern(const std::string& output) {
  if (is_frame_pattern(output)) return output;
  std::string escaped;  // the output's own '%' are not conversions
  for (char c : output) escaped += c == '%' ? std::string("%%") : std::string(1, c);
  return escaped + ".frames/%06d.png";
}

/// Stylizer::run_video's state: the clip, the frames held for the flow and the temporal loss,
/// and the chain from frame to frame.
class VideoRun {
 public:
  VideoRun(Stylizer& stylizer, const VideoJob& job, const VideoEvents& events,
           const std::atomic<bool>* cancel)
      : stylizer_(stylizer), job_(job), video_(job.video), events_(events), cancel_(cancel) {
    job_events_.on_notice = events.on_notice;
    job_events_.on_progress = [this](const IterationReport& report) {
      if (!events_.on_progress) return;
      IterationReport with_frame = report;
      with_frame.frame = current_frame_;
      events_.on_progress(with_frame);
    };
    image_job_.content_path = job.content_path;
    image_job_.style_paths = job.style_paths;
    image_job_.output_path = job.output_path;
    image_job_.settings = job.settings;
  }

  VideoResult run() {
    check_output();
    FrameSource source(job_.content_path);
    plan_range(source);
    check_frames_are_not_inputs(source);
    config_ = stylizer_.fit_memory(source.width_px(), source.height_px(), 0, job_events_);
    config_.init = resolve_init(config_.init, config_.colour_mode);
    if (config_.snapshot_every_iters > 0) {
      notify(JobNotice::Level::kInfo, "--save-every applies to images: a video's frames are "
                                      "written as they are made");
      config_.snapshot_every_iters = 0;
    }
    if (config_.tile_size_px > 0 && config_.size_px > config_.tile_size_px) {
      throw MemoryError("a video's frames are not made in tiles: use a --size of at most " +
                        std::to_string(config_.tile_size_px) + " px or a larger --max-memory");
    }
    prepare_output();
    const auto [width, height] =
        longest_side_size(source.width_px(), source.height_px(), config_.size_px);
    plan_.width_px = width;
    plan_.height_px = height;
    plan_.fps = source.fps();
    plan_.config = config_;
    if (events_.on_start) events_.on_start(plan_);
    if (is_video_file_output(job_.output_path) && !is_frame_pattern(job_.content_path) &&
        find_program(video_.ffmpeg).empty()) {
      notify(JobNotice::Level::kWarning,
             "ffmpeg is not installed: the video will have no audio (Debian: apt install ffmpeg)");
    }
    if (config_.colour_mode == ColourMode::kStatistics) fix_palette();
    make_frames(source);
    result_.elapsed_s = std::chrono::duration<double>(Clock::now() - start_).count();
    if (!result_.cancelled) assemble();
    return result_;
  }

 private:
  void notify(JobNotice::Level level, const std::string& text) const {
    if (events_.on_notice) events_.on_notice({level, text});
  }

  void check_output() {
    const std::string& output = job_.output_path;
    if (!is_frame_pattern(output) && !is_video_file_output(output)) {
      throw ConfigError("the output of a video must be a video file (.mp4, .m4v, .mov, .mkv, "
                        ".avi, .webm) or a frame pattern such as out/%04d.png, not '" + output +
                        "'");
    }
    if (video_.temporal_weight < 0.0 || video_.temporal_weight > kMaxLossWeight) {
      throw ConfigError("--temporal-weight must be between 0 and 1e9");
    }
    if (video_.shard_lead_frames < 0 || video_.shard_lead_frames > 1000) {
      throw ConfigError("--shard-lead must be between 0 and 1000");
    }
    for (int j : video_.temporal_frames) {
      if (j < 1 || j > 100) throw ConfigError("--temporal-frames must be between 1 and 100");
    }
    if (video_.temporal_frames.empty() || video_.temporal_frames.front() != 1) {
      throw ConfigError("--temporal-frames must start with 1 (the previous frame)");
    }
    auto inputs = job_inputs(image_job_, stylizer_.config(), stylizer_.model().path());
    check_output_is_not_an_input(output, inputs);
  }

  void plan_range(const FrameSource& source) {
    const int clip = source.frame_count();
    const int first = video_.first_frame;
    const int last = video_.last_frame > 0 ? video_.last_frame : clip;
    if (first < 1 || last < first || first > clip) {
      throw ConfigError("--frames " + std::to_string(first) + "-" + std::to_string(last) +
                        ": '" + job_.content_path + "' has " + std::to_string(clip) + " frame" +
                        (clip == 1 ? "" : "s"));
    }
    range_first_ = first;
    range_last_ = std::min(last, clip);
    plan_.clip_frames = clip;
    plan_.first_frame = chunk_first(video_.shard_index);
    plan_.last_frame = chunk_first(video_.shard_index + 1) - 1;
    plan_.lead_first_frame = lead_first(video_.shard_index);
  }

  /// The first frame of chunk i of the range (chunk shard_count: one past the range).
  [[nodiscard]] int chunk_first(int chunk) const {
    const int n = range_last_ - range_first_ + 1;
    return range_first_ + chunk * n / std::max(1, video_.shard_count);
  }
  /// The first lead frame of chunk i: within the chunk before (one shard's lead per frame).
  [[nodiscard]] int lead_first(int chunk) const {
    if (chunk == 0) return chunk_first(0);
    return std::max(chunk_first(chunk - 1), chunk_first(chunk) - video_.shard_lead_frames);
  }

  void prepare_output() {
    plan_.frame_pattern = video_frame_pattern(job_.output_path);
    const fs::path output(job_.output_path);
    std::error_code ec;
    if (is_video_file_output(job_.output_path) && !output.parent_path().empty() &&
        !fs::is_directory(output.parent_path(), ec)) {
      throw OutputError("cannot write '" + job_.output_path + "': no such directory");
    }
    const fs::path frames_dir = fs::path(format_frame_path(plan_.frame_pattern, 1)).parent_path();
    if (!frames_dir.empty()) {
      fs::create_directories(frames_dir, ec);
      if (ec) {
        throw OutputError("cannot create '" + frames_dir.string() + "': " + ec.message());
      }
      remove_stale_temporaries(frames_dir);
    }
    check_output_writable(format_frame_path(plan_.frame_pattern, plan_.first_frame));
    for (int k = plan_.first_frame; k <= plan_.last_frame; ++k) {
      if (output_is_complete(frame_path(k))) ++plan_.frames_done;
    }
    result_.frames_resumed = plan_.frames_done;
  }

  /// A frame pattern output must not name the clip's own frame files (compared as files).
  void check_frames_are_not_inputs(const FrameSource& source) const {
    if (!is_frame_pattern(job_.content_path)) return;
    std::set<std::pair<dev_t, ino_t>> inputs;
    struct stat info {};
    for (int k = 1; k <= source.frame_count(); ++k) {
      if (::stat(source.frame_file(k).c_str(), &info) == 0) inputs.emplace(info.st_dev, info.st_ino);
    }
    const std::string pattern = video_frame_pattern(job_.output_path);
    for (int k = plan_.lead_first_frame; k <= plan_.last_frame; ++k) {
      const std::string output = format_frame_path(pattern, k);
      if (::stat(output.c_str(), &info) == 0 && inputs.count({info.st_dev, info.st_ino}) > 0) {
        throw ConfigError("output frame '" + output + "' is one of the frames of '" +
                          job_.content_path +
                          "': refusing to overwrite an input (choose another output)");
      }
    }
  }

  /// --preserve-colors stats: the paintings recoloured to the first frame of the range, for
  /// every scale, so every frame, shard and resumed run shares one palette.
  void fix_palette() {
    FrameSource reference(job_.content_path);
    const at::Tensor first = picture_rgb01(reference.read(range_first_), config_.size_px);
    for (int side : scale_ladder(config_.size_px, config_.min_size_px, config_.scale_step)) {
      stylizer_.guides_for(image_job_, style_side_px(side, config_.style_scale), {}, {}, first,
                           config_, job_events_);
    }
  }

  [[nodiscard]] std::string frame_path(int frame) const {
    return format_frame_path(plan_.frame_pattern, frame);
  }
  [[nodiscard]] bool own(int frame) const { return frame >= plan_.first_frame; }

  void make_frames(FrameSource& source) {
    const int deepest = *std::max_element(video_.temporal_frames.begin(),
                                          video_.temporal_frames.end());
    int first_missing = plan_.first_frame;
    while (first_missing <= plan_.last_frame && output_is_complete(frame_path(first_missing))) {
      ++first_missing;
    }
    if (first_missing > plan_.last_frame) return;
    // A resumed chunk goes on from its finished frames; a fresh one starts with its lead.
    const bool fresh = first_missing == plan_.first_frame;
    const int start = fresh ? plan_.lead_first_frame
                            : std::max(plan_.first_frame, first_missing - deepest);
    const int count = (fresh ? plan_.first_frame - plan_.lead_first_frame : 0) +
                      plan_.last_frame - plan_.first_frame + 1 - plan_.frames_done;
    int index = 0;
    for (int k = start; k <= plan_.last_frame; ++k) {
      const bool done = own(k) && output_is_complete(frame_path(k));
      const cv::Mat bgr = source.read(k);  // in order: a video decodes forward
      held_.erase(held_.begin(), held_.lower_bound(k - deepest));
      HeldFrame& frame = held_[k];
      frame.content = picture_rgb01(bgr, config_.size_px);
      frame.grey = flow_frame(frame.content);
      if (done) {  // its result is read from the file if a later frame needs it
        frame.result_path = frame_path(k);
        continue;
      }
      if (cancel_ != nullptr && cancel_->load()) {
        result_.cancelled = true;
        return;
      }
      make_frame(k, index++, count);
      if (result_.cancelled) return;
    }
  }

  /// The temporal target of frame k from the held earlier frames (nearest first, weights made
  /// disjoint); empty when frame k-1 is not held (the chain starts here).
  TemporalTarget temporal_target(int k, double* consistent_share) {
    TemporalTarget target;
    target.weight = video_.temporal_weight;
    if (video_.temporal_weight <= 0.0 || held_.count(k - 1) == 0) return target;
    const HeldFrame& now = held_.at(k);
    cv::Mat covered = cv::Mat::zeros(now.grey.size(), CV_32F);
    for (int j : video_.temporal_frames) {
      auto earlier = held_.find(k - j);
      if (earlier == held_.end()) continue;
      HeldFrame& before = earlier->second;
      if (!before.result.defined()) before.result = read_finished_frame(before.result_path);
      const cv::Mat backward = compute_flow(now.grey, before.grey, video_.flow);
      const cv::Mat forward = compute_flow(before.grey, now.grey, video_.flow);
      cv::Mat weights = flow_consistency(backward, forward) - covered;
      cv::max(weights, 0.0, weights);
      covered += weights;
      target.warped_rgb01.push_back(mat_tensor(warp_by_flow(tensor_mat(before.result), backward)));
      target.weights01.push_back(mat_tensor(weights));
    }
    *consistent_share = cv::mean(covered)[0];
    return target;
  }

  /// A frame an earlier run finished, checked to be of this run's size.
  [[nodiscard]] at::Tensor read_finished_frame(const std::string& path) const {
    at::Tensor image = load_image_rgb01(path, 0);
    if (image.size(3) != plan_.width_px || image.size(2) != plan_.height_px) {
      throw ConfigError("frame '" + path + "' is " + std::to_string(image.size(3)) + "x" +
                        std::to_string(image.size(2)) + " px, not the " +
                        std::to_string(plan_.width_px) + "x" + std::to_string(plan_.height_px) +
                        " of this run: an earlier run with other settings made it (remove it "
                        "or run with those settings)");
    }
    return image;
  }

  void make_frame(int k, int index, int count) {
    const auto frame_start = Clock::now();
    current_frame_ = k;
    HeldFrame& frame = held_.at(k);
    double consistent = 0.0;
    const TemporalTarget temporal = temporal_target(k, &consistent);
    StyleTransferResult transfer;
    if (temporal.warped_rgb01.empty()) {  // a chain's first frame: made as an image is
      Image content;
      content.rgb01 = frame.content;
      transfer = stylizer_.optimise(image_job_, content, config_, job_events_, cancel_).transfer;
    } else {
      StyleConfig config = config_;
      config.iterations = video_.frame_iterations > 0 ? video_.frame_iterations : config_.iterations;
      config.min_size_px = 0;
      config.init = InitKind::kImage;
      const auto guides = stylizer_.guides_for(
          image_job_, style_side_px(config.size_px, config.style_scale), {}, {}, frame.content,
          config, job_events_);
      const StyleTransfer engine(stylizer_.model_, stylizer_.plan_, stylizer_.device_);
      transfer = engine.run_frame(frame.content, guides, config, temporal.warped_rgb01.front(),
                                  temporal, job_events_.on_progress, cancel_);
      if (config.colour_mode == ColourMode::kLuminance) {
        transfer.image_rgb01 = keep_content_colours(transfer.image_rgb01, frame.content);
      }
    }
    if (transfer.cancelled) {  // a frame is kept whole or not at all
      result_.cancelled = true;
      return;
    }
    frame.result = transfer.image_rgb01;
    FrameReport report;
    if (own(k)) {
      report.path = frame_path(k);
      write_output(frame.result, report.path, false, {}, {job_.settings, {}});
      ++result_.frames_made;
    } else {  // kept for the fade into the chunk before (fade_in_shard_lead)
      save_image(frame.result, lead_frame_path(plan_.frame_pattern, k), {}, {job_.settings, {}});
    }
    for (const auto& notice : transfer.notices) notify(JobNotice::Level::kWarning, notice);
    report.frame = k;
    report.index = index;
    report.count = count;
    report.iterations = transfer.iterations_run;
    report.losses = transfer.final_losses;
    report.consistent_share = consistent;
    report.seconds = std::chrono::duration<double>(Clock::now() - frame_start).count();
    report.run_elapsed_s = std::chrono::duration<double>(Clock::now() - start_).count();
    if (events_.on_frame) events_.on_frame(report);
  }

  /// When every frame of the range exists: the shards' boundaries faded, then the video
  /// assembled (a video file output).
  void assemble() {
    const bool video_file = is_video_file_output(job_.output_path);
    if (!video_file && video_.shard_count <= 1) return;
    const fs::path output(job_.output_path);
    fs::path frames_dir = fs::path(format_frame_path(plan_.frame_pattern, 1)).parent_path();
    if (frames_dir.empty()) frames_dir = ".";
    // Shards finishing together: one fades and assembles, the others find it done. A frame
    // pattern's folder is the user's: locked itself, nothing is left in it.
    const FileLock lock = video_file ? FileLock((output.parent_path() /
                                                 ("." + output.filename().string() + ".lock"))
                                                    .string())
                                     : FileLock(frames_dir.string(), true);
    std::error_code ec;
    if (!fs::exists(frames_dir, ec)) return;
    for (int k = range_first_; k <= range_last_; ++k) {
      if (!output_is_complete(frame_path(k))) {
        notify(JobNotice::Level::kInfo,
               "frame " + std::to_string(k) + " is not made yet: " + job_.output_path +
                   " is " + (video_file ? "assembled" : "faded across its shards") +
                   " when every shard has finished");
        return;
      }
    }
    for (int chunk = 1; chunk < video_.shard_count; ++chunk) {
      const int before = lead_first(chunk) - 1;  // a longer lead's frame: other settings
      if (before >= chunk_first(chunk - 1) &&
          fs::exists(lead_frame_path(plan_.frame_pattern, before), ec)) {
        throw ConfigError("lead frame '" + lead_frame_path(plan_.frame_pattern, before) +
                          "' is from a longer --shard-lead than this run's " +
                          std::to_string(video_.shard_lead_frames) +
                          ": shards of one clip must run with the same settings");
      }
      result_.frames_faded +=
          fade_in_shard_lead(plan_.frame_pattern, lead_first(chunk), chunk_first(chunk));
    }
    if (!video_file) return;
    const bool pattern_input = is_frame_pattern(job_.content_path);
    const auto video =
        assemble_video(plan_.frame_pattern, range_first_, range_last_, plan_.fps,
                       job_.output_path, pattern_input ? "" : job_.content_path,
                       (range_first_ - 1) / plan_.fps, video_.ffmpeg, cancel_);
    if (video.cancelled) {
      result_.cancelled = true;
      return;
    }
    const bool warned_at_start = find_program(video_.ffmpeg).empty();
    if (!video.problem.empty() && !pattern_input && !warned_at_start) {
      notify(JobNotice::Level::kWarning, video.problem);
    }
    result_.assembled = true;
    result_.with_audio = video.with_ffmpeg && !pattern_input;
    result_.codec = video.codec;
    fs::remove_all(frames_dir, ec);
  }

  Stylizer& stylizer_;
  const VideoJob& job_;
  const VideoSettings& video_;
  const VideoEvents& events_;
  const std::atomic<bool>* cancel_;
  JobEvents job_events_;
  StylizeJob image_job_;  ///< what each frame shares with an image job: styles, settings
  StyleConfig config_;
  VideoPlan plan_;
  VideoResult result_;
  int range_first_ = 1;
  int range_last_ = 1;
  int current_frame_ = 0;
  std::map<int, HeldFrame> held_;  ///< the current frame and the earlier ones the loss needs
  const Clock::time_point start_ = Clock::now();
};

VideoResult Stylizer::run_video(const VideoJob& job, const VideoEvents& events,
                                const std::atomic<bool>* cancel) {
  return VideoRun(*this, job, events, cancel).run();
}

}  // namespace stylize
