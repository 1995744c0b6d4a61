#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace stylize {

enum class OptimizerKind { kLbfgs, kAdam };
/// The starting image. kStyleColours: the photo recoloured to the style's colour mean and
/// covariance: a warm start that spares L-BFGS the first iterations it would spend shifting
/// colours. kAuto: kStyleColours, or kContent when the colour mode keeps the photo's colours
/// (resolve_init). kImage: the file init_path.
enum class InitKind { kAuto, kContent, kNoise, kImage, kStyleColours };
/// --preserve-colors modes.
enum class ColourMode {
  kNone,
  kLuminance,   ///< transfer luminance only: the result keeps the content's chroma (YCbCr)
  kStatistics,  ///< recolour the style images to the content's colour mean and covariance first
};
/// How a style layer's features are compared with the style's (docs/architecture.md "Losses").
enum class StyleLossKind {
  kGram,     ///< Gatys: relative error of the Gram matrix (second moments)
  kMeanCov,  ///< relative errors of the channel means and of the covariance matrix
  kW2,       ///< Wasserstein-2 distance between the Gaussians of the features (crowsonkb)
};
/// Arithmetic of the network's forward and backward pass; the image and the losses stay fp32.
enum class Precision { kFp32, kTf32, kBf16, kFp16 };

/// How the CPU computes the network's 3x3 convolutions. kAuto: Winograd F(4x4,3x3) (a quarter
/// of the multiplications; oneDNN's kernels on AVX-512, stylize's own on AVX2) for every layer
/// it suits (WinogradConv3x3) when the CPU has it and the network runs in fp32 on the CPU, else
/// kDirect; kDirect: ATen's convolution, as PyTorch does; kWinograd: as kAuto, but an error
/// where Winograd cannot run.
enum class ConvAlgorithm { kAuto, kDirect, kWinograd };

/// Optical flow between a video's frames (stylize/optical_flow.hpp): OpenCV's DIS (fast, the
/// default), DeepFlow (opencv_contrib's optflow: Ruder et al.'s choice, slower) or Farneback.
enum class FlowMethod { kDis, kDeepFlow, kFarneback };

/// How far toward the painting a run goes (--look): kPainterly repaints the scene in the
/// painting's strokes (the defaults); kSubtle keeps the photo and lays the painting's texture
/// over it. Chosen by measurement against neural-style's published examples (docs/performance.md
/// "The look").
enum class Look { kPainterly, kSubtle };

/// The settings a look sets (StyleConfig's fields of the same names); every other setting is
/// the same for both looks.
struct LookSettings {
  double content_weight;
  double style_weight;
  double tv_weight;
  int min_size_px;
  int iterations;
  int initial_iterations;
};

/// A layer addressed by its name in the model (e.g. "relu4_2") with a relative weight.
struct LayerWeight {
  std::string layer;
  double weight = 1.0;
  bool operator==(const LayerWeight& other) const {
    return layer == other.layer && weight == other.weight;
  }
};

// Defaults live here and only here; the CLI shows them in --help from these values.
inline constexpr int kDefaultSizePx = 512;
/// The defaults: coarse to fine from 64 px with little weight on the photo.
inline constexpr LookSettings kPainterlyLook{0.04, 20.0, 0.5, 64, 150, 0};
/// The photo-faithful balance: one scale, the photo's content weighted as much as the style.
inline constexpr LookSettings kSubtleLook{1.0, 20.0, 0.5, 0, 500, 0};
inline constexpr int kDefaultIterations = kPainterlyLook.iterations;
inline constexpr double kDefaultLbfgsLearningRate = 1.0;
inline constexpr double kDefaultAdamLearningRate = 0.02;
inline constexpr int kMinSizePxForConfig = 16;  ///< VGG needs a few pixels after pooling
inline constexpr int kMaxSizePx = 16384;
// The ranges validate() accepts: each far beyond sensible use, so that only typos and absurd
// values are refused, at once and before anything is loaded.
inline constexpr double kMaxStyleScale = 10.0;
inline constexpr int kMaxScales = 16;  ///< coarse-to-fine scales
inline constexpr int kMaxIterations = 1'000'000;
inline constexpr int kMaxLbfgsHistory = 1000;
inline constexpr double kMaxLearningRate = 1000.0;
inline constexpr double kMaxLossWeight = 1e9;
inline constexpr double kDefaultMaskFeatherPx = 8.0;
// Tiled scales (an image larger than the memory budget allows whole): context around each tile
// and grid passes, chosen by measurement (docs/performance.md "Tiles").
inline constexpr int kDefaultTileOverlapPx = 80;
inline constexpr int kDefaultTilePasses = 2;
inline constexpr int kMinTileSizePx = 64;
inline constexpr int kMaxTilePasses = 8;
// stylize visualize's own defaults (ChannelObjective): Adam with jitter over two octaves.
inline constexpr int kDefaultJitterPx = 4;
inline constexpr int kDefaultVisualizeSizePx = 128;
inline constexpr int kDefaultVisualizeMinSizePx = 64;
inline constexpr int kDefaultVisualizeIterations = 200;
inline constexpr double kDefaultVisualizeLearningRate = 0.05;
inline constexpr double kDefaultVisualizeTvWeight = 20.0;
inline constexpr double kDefaultVisualizeContrast = 3.0;
// Video (stylize/video.hpp): the temporal loss's weight and the earlier frames it compares with,
// chosen by measurement (docs/performance.md "Video").
inline constexpr double kDefaultTemporalWeight = 50.0;
/// Frames a video shard (--shard) stylizes before its own first one, so its chain is under way
/// and the chunk before fades into it: 8 leaves no boundary pair above an ordinary one.
inline constexpr int kDefaultShardLeadFrames = 8;
inline constexpr int kMaxChannels = 4096;  ///< channels one visualize run may ask for
/// --measure compares images at this longest side, whatever size made them.
inline constexpr int kDefaultMeasureSizePx = 512;

/// Every tunable of one style-transfer run. Loss normalisation (see docs/architecture.md "Losses"):
/// each content layer's loss is the mean squared feature error divided by the mean square of
/// the target features, each style layer's loss is the same relative error of the Gram matrix
/// (normalised by H*W), and the TV loss is the mean squared difference of neighbouring pixels
/// in [0,1] RGB. The weights are therefore independent of the model's input scale (Caffe 0-255 or
/// torchvision [0,1]), of image size and of channel counts.
struct StyleConfig {
  int size_px = kDefaultSizePx;  ///< longest side of the output in pixels
  double style_scale = 1.0;      ///< style image's longest side = size_px * style_scale
  int iterations = kDefaultIterations;  ///< per scale (after the first, see below)
  /// Coarse-to-fine: start at this longest side and grow by scale_step up to size_px, starting
  /// each scale from the previous result upsampled. 0 (or >= size_px): one scale only.
  int min_size_px = kPainterlyLook.min_size_px;
  double scale_step = 2.0;
  /// Iterations at the first (smallest) scale; 0: `iterations`.
  int initial_iterations = kPainterlyLook.initial_iterations;
  OptimizerKind optimizer = OptimizerKind::kLbfgs;
  std::optional<double> learning_rate;  ///< unset: per-optimizer default above
  int lbfgs_history = 20;               ///< L-BFGS correction pairs kept (memory grows with it)
  double average_decay = 0.9;  ///< Adam returns this EMA of its iterates; 0: the last iterate
  double content_weight = kPainterlyLook.content_weight;
  double style_weight = kPainterlyLook.style_weight;
  double tv_weight = kPainterlyLook.tv_weight;
  std::vector<LayerWeight> content_layers;  ///< empty: the model's default content layers
  std::vector<LayerWeight> style_layers;    ///< empty: the model's default style layers
  std::vector<double> style_blend;          ///< one weight per style image; empty: equal
  bool average_pooling = false;  ///< replace max pooling by average pooling (smoother results)
  StyleLossKind style_loss = StyleLossKind::kGram;
  /// Divide each layer's relative weight by its channel count (neural-style-pt), then
  /// renormalise: shallow, texture-scale layers count more.
  bool normalize_weights = false;
  /// Scale each loss layer's gradient to unit L1 norm times its weight in every evaluation
  /// (neural-style's -normalize_gradients). The objective then has no consistent loss, so L-BFGS
  /// runs without its line search, as in neural-style.
  bool normalize_gradients = false;
  Precision precision = Precision::kFp32;
  ConvAlgorithm conv_algorithm = ConvAlgorithm::kAuto;
  InitKind init = InitKind::kAuto;
  std::string init_path;     ///< the init image when init == kImage
  ColourMode colour_mode = ColourMode::kNone;
  std::uint64_t seed = 0;    ///< the caller draws a random one and reports it when unset
  double tolerance = 0.0;  ///< stop when the best loss improved by less than this fraction ...
  int tolerance_window_iters = 50;  ///< ... over this many iterations; 0 tolerance: never stop
  int report_every_iters = 50;   ///< losses are materialised (host sync) this often
  int snapshot_every_iters = 0;  ///< 0: no intermediate images
  /// Peak-memory budget of a job in bytes; 0: what the device has available.
  std::uint64_t max_memory_bytes = 0;
  /// A job whose estimate exceeds the budget runs at the largest size that fits instead of
  /// failing.
  bool fit_memory = false;
  /// Scales whose longest side exceeds this are optimised tile by tile (windows of at most
  /// this many px a side, StyleTransfer::run_tiled); 0: never. The Stylizer sets it when the
  /// whole image would not fit the memory budget.
  int tile_size_px = 0;
  /// Context on each side of a tile's core: optimised, then blended away (span_blend_weights).
  int tile_overlap_px = kDefaultTileOverlapPx;
  /// A tiled scale's iterations are split over this many passes over the image, each with its
  /// grid shifted, so that no tile boundary stays in one place.
  int tile_passes = kDefaultTilePasses;
  /// Width in px of the soft edge between the stylized region of a job's mask (StylizeJob::
  /// mask_path) and the photo kept outside it (feather_mask).
  double mask_feather_px = kDefaultMaskFeatherPx;
  /// The image wraps around (left-right, top-bottom): the network pads circularly and the
  /// total variation includes the wrap, so the result tiles without seams (stylize texture).
  bool tileable = false;
  /// stylize visualize: the image is shifted by up to this many px each evaluation.
  int jitter_px = kDefaultJitterPx;
  /// stylize visualize: this x the layer's mean activation is subtracted from the channel's, so
  /// the image excites this channel rather than the whole layer.
  double channel_contrast = 0.0;

  [[nodiscard]] double effective_learning_rate() const {
    return learning_rate.value_or(optimizer == OptimizerKind::kAdam ? kDefaultAdamLearningRate
                                                                    : kDefaultLbfgsLearningRate);
  }
};

/// kAuto resolved: the warm start kStyleColours, or kContent when colour_mode keeps the photo's
/// colours (the warm start would paint the photo in the style's colours, which the result then
/// throws away). Other kinds are returned unchanged.
InitKind resolve_init(InitKind init, ColourMode colour_mode);

/// The settings of a look (kPainterlyLook or kSubtleLook).
const LookSettings& look_settings(Look look);
/// Sets config's fields that the look sets (LookSettings), leaving the others.
void apply_look(Look look, StyleConfig& config);

/// The command-line spellings of each enum option, in --help order. One table per enum, used by
/// the CLI to parse and to show the defaults.
template <typename Enum>
struct EnumName {
  const char* name;
  Enum value;
};
const std::vector<EnumName<OptimizerKind>>& enum_names(OptimizerKind);
const std::vector<EnumName<InitKind>>& enum_names(InitKind);  ///< all but kImage (a file name)
const std::vector<EnumName<ColourMode>>& enum_names(ColourMode);
const std::vector<EnumName<StyleLossKind>>& enum_names(StyleLossKind);
const std::vector<EnumName<Precision>>& enum_names(Precision);
const std::vector<EnumName<ConvAlgorithm>>& enum_names(ConvAlgorithm);
const std::vector<EnumName<FlowMethod>>& enum_names(FlowMethod);
const std::vector<EnumName<Look>>& enum_names(Look);

/// The spelling of value (e.g. "lbfgs"); "image" for InitKind::kImage.
template <typename Enum>
std::string name_of(Enum value) {
  for (const auto& entry : enum_names(value)) {
    if (entry.value == value) return entry.name;
  }
  return "image";
}

/// Throws ConfigError naming the first invalid value (non-positive size, negative weight, ...).
void validate(const StyleConfig& config, std::size_t style_count);

/// Parses "relu1_1:2,relu2_1" into layers with weights (weight 1 when omitted). Throws
/// ConfigError on an empty name or a weight that is not a non-negative number.
std::vector<LayerWeight> parse_layer_list(const std::string& text);

}  // namespace stylize
