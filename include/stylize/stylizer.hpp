#pragma once

#include <stylize/image_io.hpp>
#include <stylize/style_transfer.hpp>
#include <stylize/vgg_features.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace stylize {

struct VideoJob;  // stylize/video.hpp
struct VideoEvents;
struct VideoResult;
class VideoRun;

/// One image to make: a photo, the paintings blended for it, and where the result goes.
struct StylizeJob {
  std::string content_path;
  std::vector<std::string> style_paths;
  std::string output_path;
  /// Text stored in the output (PNG, JPEG) under the key "stylize": the settings that made it.
  std::string settings;
  /// Spatial control (read_mask: white applies, black does not, grey partly). Empty, or one per
  /// style path: style k applies where its mask is white, each style with targets of its own.
  std::vector<std::string> style_mask_paths;
  /// Empty, or one per style path: only this region of painting k makes its targets.
  std::vector<std::string> style_region_paths;
  /// Empty, or a mask: stylize only where it is white; outside, the output is the photo (the
  /// edge feathered over config.mask_feather_px) and the style loss ignores those pixels.
  std::string mask_path;
};

/// Something worth telling the user that is not an error.
struct JobNotice {
  enum class Level { kDebug, kInfo, kWarning };
  Level level = Level::kInfo;
  std::string text;
};

/// What a job is about to do, once its inputs are read and its memory is checked.
struct JobPlan {
  int width_px = 0;   ///< of the output
  int height_px = 0;
  std::vector<int> scales_px;  ///< longest sides, coarse to fine (one entry: a single scale)
  StyleConfig config;          ///< as run: size after --fit-memory, init resolved
};

/// Where a job reports to; every member may be empty.
struct JobEvents {
  std::function<void(const JobNotice&)> on_notice;
  std::function<void(const JobPlan&)> on_start;
  ProgressCallback on_progress;  ///< IterationReport::snapshot_path names written snapshots
};

struct JobResult {
  StyleTransferResult transfer;  ///< image_rgb01 is the image written (colour mode applied)
  int width_px = 0;
  int height_px = 0;
  bool written = false;  ///< false only when cancelled before the first iteration finished
};

/// stylize texture: an image with the paintings' style statistics and no content, from noise.
struct TextureJob {
  std::vector<std::string> style_paths;
  std::string output_path;
  int width_px = 0;   ///< 0 (both): config.size_px on the longest side, the first painting's
  int height_px = 0;  ///< aspect ratio
  std::string settings;
};

/// stylize reconstruct: from noise, the image whose activations at a layer match the photo's;
/// one per layer.
struct ReconstructJob {
  std::string content_path;
  std::vector<std::string> layers;
  /// One layer: the image. Several: a labelled sheet across the layers, and each layer's
  /// image beside it as snapshot_path(output_path, layer).
  std::string output_path;
  std::string settings;
};

/// stylize visualize: for each channel of a layer, an image that excites it strongly.
struct VisualizeJob {
  std::string layer;
  std::vector<std::int64_t> channels;
  std::string output_dir;  ///< one file per channel, "<layer>_<channel, 4 digits>.png"
  std::string sheet_path;  ///< empty, or a labelled contact sheet of all channels
  std::string settings;
};

/// One image of a texture, reconstruction or visualisation run.
struct ViewResult {
  std::string label;  ///< "texture", the layer, or "<layer> #<channel>"
  std::string path;   ///< the file written
  StyleTransferResult transfer;
  /// reconstruct: the relative feature error at the layer (|F - F_photo|^2 / |F_photo|^2);
  /// visualize: the channel's mean activation in units of the layer's mean activation on a
  /// grey image (ChannelObjective::activation).
  double score = 0.0;
};

/// The files a job reads: its content, its styles, its masks, the model and the config's init
/// image.
std::vector<std::string> job_inputs(const StylizeJob& job, const StyleConfig& config,
                                    const std::string& model_path);

/// Throws ConfigError when output is one of the existing files inputs (compared as files: the
/// same device and inode, whatever the spelling), so a run never overwrites its own input.
void check_output_is_not_an_input(const std::string& output,
                                  const std::vector<std::string>& inputs);

/// True when output exists and was finished: not the best-so-far image of an interrupted job
/// (Stylizer::run marks those, and a finished run of the same output clears the mark).
bool output_is_complete(const std::string& output);

/// Saves an output (save_image) marked as unfinished (output_is_complete false) when
/// `unfinished`, as a cancelled job's best-so-far image is; a finished one clears the mark.
void write_output(const at::Tensor& image_rgb01, const std::string& path, bool unfinished,
                  const at::Tensor& alpha01 = {}, const ImageMetadata& metadata = {});

/// "<output stem>_<tag><ext>" beside the output: where snapshot_every_iters writes. The tag is
/// the iteration, or "s<scale>_<iteration>" in a coarse-to-fine run.
std::string snapshot_path(const std::string& output, const std::string& tag);

/// The job-level engine: one model, its layer plan, one device and the style targets of every
/// style set it has seen. run() makes one image end to end: reads the photo and paintings,
/// checks the memory estimate (config.max_memory_bytes / fit_memory), builds the start image
/// (config.init), runs coarse to fine, applies the colour mode and writes the output and
/// snapshots atomically. Never prints or exits; throws stylize::Error.
class Stylizer {
 public:
  /// Takes the model (already on device, in the network dtype wanted) and applies config's
  /// pooling and convolution algorithm to it. Throws ConfigError for an invalid config or
  /// layers the model lacks.
  Stylizer(VggFeatures model, const StyleConfig& config, c10::Device device);

  [[nodiscard]] const LayerPlan& plan() const { return plan_; }
  [[nodiscard]] const StyleConfig& config() const { return config_; }
  [[nodiscard]] VggFeatures& model() { return model_; }

  /// Makes job's image. cancel, when raised, stops at the next iteration and writes the best
  /// image so far (JobResult::transfer.cancelled), marked as unfinished (output_is_complete).
  /// Input, output and memory problems throw InputError, OutputError and MemoryError naming
  /// the file or size; an output that is one of the inputs, ConfigError. The memory check uses
  /// the image files' headers, before anything large is decoded or allocated.
  JobResult run(const StylizeJob& job, const JobEvents& events = {},
                const std::atomic<bool>* cancel = nullptr);

  /// Stylizes a clip (stylize/video.hpp): frame by frame with one model and one set of style
  /// targets, each frame after the first starting from the previous result warped by the
  /// optical flow and held to it by the temporal loss; frames written atomically as they are
  /// made, finished ones found again (resume); the video assembled when every frame of the
  /// range exists. A cancelled run keeps the frames it finished. Errors as run, and
  /// InputError for a clip that cannot be read, ConfigError for an empty frame range.
  VideoResult run_video(const VideoJob& job, const VideoEvents& events,
                        const std::atomic<bool>* cancel = nullptr);

  /// The network's view (README "What the network sees"), with this Stylizer's config for the
  /// optimiser, weights and style layers; each writes its images atomically and reports as run
  /// does (IterationReport::scale_* counts images, then scales). A cancelled run writes what it
  /// has and stops. Errors as run.
  ViewResult texture(const TextureJob& job, const JobEvents& events = {},
                     const std::atomic<bool>* cancel = nullptr);
  std::vector<ViewResult> reconstruct(const ReconstructJob& job, const JobEvents& events = {},
                                      const std::atomic<bool>* cancel = nullptr);
  std::vector<ViewResult> visualize(const VisualizeJob& job, const JobEvents& events = {},
                                    const std::atomic<bool>* cancel = nullptr);

 private:
  friend class VideoRun;  // run_video's state: frames through optimise and guides_for

  /// A job's masks at the output's size: one per style (or none) and the region (or undefined).
  struct JobMasks {
    std::vector<at::Tensor> styles;
    at::Tensor region;
  };
  JobMasks read_masks(const StylizeJob& job, int width_px, int height_px,
                      const JobEvents& events) const;
  /// config_ fitted to the memory budget for an image of width_px x height_px: unchanged when
  /// it fits whole (or in the user's tiles), else tiled (tile_to_fit), else, with --fit-memory,
  /// at the largest size that fits whole. Throws MemoryError naming the estimate otherwise.
  /// masked_guides: as estimate_memory's.
  StyleConfig fit_memory(int width_px, int height_px, int masked_guides,
                         const JobEvents& events) const;
  /// config in tiles of tile_px (output size width_px x height_px), its coarse scales (unless
  /// the user set --min-size) up to the largest size that fits whole; says so in a notice.
  StyleConfig tile_to_fit(StyleConfig config, int width_px, int height_px, int tile_px,
                          std::uint64_t model_bytes, std::uint64_t budget_bytes,
                          int masked_guides, const std::string& problem,
                          const JobEvents& events) const;
  /// read_image, its decoder's warnings passed on as notices.
  Image read_reporting(const std::string& path, int max_side_px, const JobEvents& events) const;
  /// The targets of styles (regions: empty, or one mask path each) blended by blend, at a style
  /// side, cached.
  const StyleTargets& targets_for(const std::vector<std::string>& styles,
                                  const std::vector<std::string>& regions,
                                  const std::vector<double>& blend, int style_side,
                                  const std::string& content_path, const at::Tensor& content,
                                  const StyleConfig& config, const JobEvents& events);
  /// The style guides of job at a style side: one for the blended styles, or one per style
  /// with its mask when the job has style masks; every mask confined to region (if defined).
  std::vector<StyleGuide> guides_for(const StylizeJob& job, int style_side,
                                     const std::vector<at::Tensor>& style_masks,
                                     const at::Tensor& region, const at::Tensor& content,
                                     const StyleConfig& config, const JobEvents& events);
  /// The start image config.init asks for (undefined: StyleTransfer makes it). The style-colours
  /// start with style masks recolours each region to its own style's palette.
  at::Tensor start_image(const StylizeJob& job, const at::Tensor& content, const JobMasks& masks,
                         const StyleConfig& config, const JobEvents& events);
  /// The style images of styles (with regions: only their pixels there), read once, for their
  /// colours.
  const std::vector<at::Tensor>& palette(const std::vector<std::string>& styles,
                                         const std::vector<std::string>& regions, int side_px,
                                         const JobEvents& events);
  /// Runs the optimisation of job's content at config, writing snapshots beside the output.
  JobResult optimise(const StylizeJob& job, const Image& content, const StyleConfig& config,
                     const JobEvents& events, const std::atomic<bool>* cancel);

  VggFeatures model_;
  StyleConfig config_;
  c10::Device device_;
  LayerPlan plan_;
  /// Style targets by (style paths, their region masks, style side in px, content path in
  /// colour-statistics mode, the window size they were read in or 0): computed once, reused by
  /// every content image and every run at that scale.
  std::map<std::tuple<std::vector<std::string>, std::vector<std::string>, int, std::string, int>,
           StyleTargets>
      targets_;
  /// Style images by style paths and regions for the style-colours start (only their colours
  /// are used).
  std::map<std::pair<std::vector<std::string>, std::vector<std::string>>, std::vector<at::Tensor>>
      palettes_;
};

}  // namespace stylize
