// WinogradConv3x3's own backend, for CPUs with AVX2 and FMA: Winograd's minimal filtering
// F(4x4, 3x3) in Lavin and Gray's formulation ("Fast Algorithms for Convolutional Neural
// Networks", 2015), the one NNPACK and ncnn use. Each thread takes a block of 4x4 output tiles
// (and a range of output channels) from its inputs to its outputs, its data in the cache:
//  1. input transform: each tile's 6x6 inputs d, 16 channels at a time, become the 36 values
//     B^T d B, stored as V[36][tiles][C];
//  2. for each 16 output channels, 36 matrix products M[p] = V[p] U[p] (U[p] [C][16]: the
//     weights transformed, G g G^T, packed) by a register-blocked FMA kernel;
//  3. output transform: each tile's 36 products become its 4x4 outputs A^T m A, plus the bias.
// The activations are in the blocked layout [N, C/16, H, W, 16] (blocked_layout.hpp), so one
// pixel's 16 channels are two AVX2 vectors. The kernels use GCC's vector extensions and are
// compiled for AVX2 + FMA; WinogradConv3x3::create runs this backend only where kernel_isa()
// says AVX2 or more. The BLAS (OpenBLAS) was tried for step 2 (at::bmm over chunks of tiles):
// 1.4x direct convolution's speed against 2.5x, the products of 64-channel layers being too
// small for it and the transformed data leaving the cache between the steps.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>

#include "kernels/blocked_layout.hpp"
#include "kernels/winograd_backends.hpp"

#define STYLIZE_AVX2 __attribute__((target("avx2,fma")))

namespace stylize {
namespace {

constexpr int64_t kTile = 4;                  // outputs per tile side (m)
constexpr int64_t kAlpha = 6;                 // inputs per tile side (m + r - 1)
constexpr int64_t kPoints = kAlpha * kAlpha;  // element-wise products per tile
constexpr int64_t kLanes = kBlockLanes;       // channels per block
static_assert(kLanes == WinogradConv3x3::kChannelBlock, "one channel block throughout");
constexpr int64_t kVecLanes = 8;  // floats per AVX2 vector

typedef float Vec __attribute__((vector_size(kVecLanes * sizeof(float))));

STYLIZE_AVX2 inline Vec load(const float* p) {
  Vec v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
STYLIZE_AVX2 inline void store(float* p, Vec v) { __builtin_memcpy(p, &v, sizeof v); }

/// r = B^T z for one column (or row) of a tile's 6x6 inputs.
STYLIZE_AVX2 inline void input_transform_1d(const Vec* z, Vec* r) {
  r[0] = 4.0F * z[0] - 5.0F * z[2] + z[4];
  r[1] = z[3] + z[4] - 4.0F * (z[1] + z[2]);
  r[2] = z[4] - z[3] + 4.0F * (z[1] - z[2]);
  r[3] = z[4] - z[2] + 2.0F * (z[3] - z[1]);
  r[4] = z[4] - z[2] + 2.0F * (z[1] - z[3]);
  r[5] = 4.0F * z[1] - 5.0F * z[3] + z[5];
}

/// o = A^T z for one column (or row) of a tile's 6x6 products.
STYLIZE_AVX2 inline void output_transform_1d(const Vec* z, Vec* o) {
  const Vec sum12 = z[1] + z[2];
  const Vec diff12 = z[1] - z[2];
  const Vec sum34 = z[3] + z[4];
  const Vec diff34 = z[3] - z[4];
  o[0] = z[0] + sum12 + sum34;
  o[1] = diff12 + 2.0F * diff34;
  o[2] = sum12 + 4.0F * sum34;
  o[3] = diff12 + 8.0F * diff34 + z[5];
}

/// Where a tile's inputs and outputs are: one image's channel block [H][W][16], offset to the
/// 8 lanes in hand.
struct Plane {
  const float* in;
  float* out;
  int64_t height;
  int64_t width;
};

/// The 36 transformed inputs (8 channels) of the tile whose inputs start at (y0, x0) (one
/// before its outputs: the padding), zero outside the plane; value p goes to v[p * stride].
/// Reversed: the tile's inputs taken in reverse order along both axes (see convolve()).
STYLIZE_AVX2 void transform_input_tile(const Plane& plane, int64_t y0, int64_t x0, bool reversed,
                                       float* v, int64_t stride) {
  const bool inside =
      y0 >= 0 && x0 >= 0 && y0 + kAlpha <= plane.height && x0 + kAlpha <= plane.width;
  Vec columns[kAlpha][kAlpha];  // [j][i]: B^T applied down each column j
  for (int64_t j = 0; j < kAlpha; ++j) {
    Vec d[kAlpha];
    const int64_t x = x0 + (reversed ? kAlpha - 1 - j : j);
    for (int64_t i = 0; i < kAlpha; ++i) {
      const int64_t y = y0 + (reversed ? kAlpha - 1 - i : i);
      d[i] = inside || (y >= 0 && y < plane.height && x >= 0 && x < plane.width)
                 ? load(plane.in + (y * plane.width + x) * kLanes)
                 : Vec{};
    }
    input_transform_1d(d, columns[j]);
  }
  for (int64_t i = 0; i < kAlpha; ++i) {
    Vec row[kAlpha];
    for (int64_t j = 0; j < kAlpha; ++j) row[j] = columns[j][i];
    Vec r[kAlpha];
    input_transform_1d(row, r);
    for (int64_t j = 0; j < kAlpha; ++j) store(v + (i * kAlpha + j) * stride, r[j]);
  }
}

/// The 4x4 outputs (8 channels) of the tile whose outputs start at (y0, x0), from its 36
/// products m[p * stride], plus bias; outputs outside the plane are not written. Reversed: the
/// outputs are placed in reverse order along both axes.
STYLIZE_AVX2 void transform_output_tile(const float* m, int64_t stride, const float* bias,
                                        const Plane& plane, int64_t y0, int64_t x0, bool reversed) {
  Vec columns[kAlpha][kTile];  // [j][i]: A^T applied down each column j
  for (int64_t j = 0; j < kAlpha; ++j) {
    Vec z[kAlpha];
    for (int64_t i = 0; i < kAlpha; ++i) z[i] = load(m + (i * kAlpha + j) * stride);
    output_transform_1d(z, columns[j]);
  }
  const Vec b = bias != nullptr ? load(bias) : Vec{};
  for (int64_t i = 0; i < kTile; ++i) {
    const int64_t y = y0 + (reversed ? kTile - 1 - i : i);
    if (y >= plane.height) continue;
    Vec row[kAlpha];
    for (int64_t j = 0; j < kAlpha; ++j) row[j] = columns[j][i];
    Vec o[kTile];
    output_transform_1d(row, o);
    for (int64_t j = 0; j < kTile; ++j) {
      const int64_t x = x0 + (reversed ? kTile - 1 - j : j);
      if (x < plane.width) store(plane.out + (y * plane.width + x) * kLanes, o[j] + b);
    }
  }
}

/// Acc[r] += v[r][c] u[c] over c for rows r < kRows (the tiles) and 16 output channels: the
/// element-wise products of one of the 36 points, as a register-blocked matrix product
/// (12 accumulators, a broadcast and two FMAs per row and input channel). v: rows kRows at
/// stride v_stride, u: [channels][16], m: [kRows][16].
template <int kRows>
STYLIZE_AVX2 void multiply_rows(const float* v, int64_t v_stride, const float* u, int64_t channels,
                                float* m) {
  Vec acc[kRows][2] = {};
  for (int64_t c = 0; c < channels; ++c) {
    const Vec b0 = load(u + c * kLanes);
    const Vec b1 = load(u + c * kLanes + kVecLanes);
    for (int r = 0; r < kRows; ++r) {
      const float s = v[r * v_stride + c];
      const Vec a = {s, s, s, s, s, s, s, s};  // one vbroadcastss (Vec{} + s adds first)
      acc[r][0] += a * b0;
      acc[r][1] += a * b1;
    }
  }
  for (int r = 0; r < kRows; ++r) {
    store(m + r * kLanes, acc[r][0]);
    store(m + r * kLanes + kVecLanes, acc[r][1]);
  }
}

constexpr int kRowBlock = 6;  // tiles per multiply_rows call: 12 of the 16 AVX2 registers

/// m[p][t][16] = v[p][t][:] u[p][:][16] for every point p and the tiles t < tiles.
STYLIZE_AVX2 void multiply_points(const float* v, int64_t tiles, int64_t channels, const float* u,
                                  float* m) {
  using Rows = void (*)(const float*, int64_t, const float*, int64_t, float*);
  static constexpr Rows kByCount[kRowBlock + 1] = {
      nullptr,          multiply_rows<1>, multiply_rows<2>, multiply_rows<3>,
      multiply_rows<4>, multiply_rows<5>, multiply_rows<6>};
  for (int64_t p = 0; p < kPoints; ++p) {
    for (int64_t t = 0; t < tiles; t += kRowBlock) {
      const auto rows = std::min<int64_t>(kRowBlock, tiles - t);
      kByCount[rows](v + (p * tiles + t) * channels, channels, u + p * channels * kLanes, channels,
                     m + (p * tiles + t) * kLanes);
    }
  }
}

/// Which image and tile position a tile index (row by row, image after image) stands for.
struct TileGrid {
  int64_t rows;
  int64_t cols;
  [[nodiscard]] int64_t count(int64_t images) const { return images * rows * cols; }
  [[nodiscard]] int64_t image(int64_t tile) const { return tile / (rows * cols); }
  [[nodiscard]] int64_t y(int64_t tile) const { return (tile / cols) % rows * kTile; }
  [[nodiscard]] int64_t x(int64_t tile) const { return tile % cols * kTile; }
};

/// One convolution's shapes and data (blocked layouts).
struct Convolution {
  const float* in;     ///< [N, C/16, H, W, 16]
  float* out;          ///< [N, K/16, H, W, 16]
  const float* u;      ///< packed weights [K/16][36][C][16]
  const float* bias;   ///< [K] or null
  int64_t in_blocks;   ///< C/16
  int64_t out_blocks;  ///< K/16
  int64_t height;
  int64_t width;
  bool reversed;  ///< each tile's inputs and outputs in reverse order (F4x4Winograd)
  TileGrid grid;
};

/// The tiles [first, first + tiles) for the output channel blocks [first_block, end_block):
/// input transform into v ([36][tiles][C]), then for each output block the products into m
/// ([36][tiles][16]) and the output transform. v and m are the calling thread's own.
STYLIZE_AVX2 void convolve_tiles(const Convolution& conv, int64_t first, int64_t tiles,
                                 int64_t first_block, int64_t end_block, float* v, float* m) {
  const int64_t channels = conv.in_blocks * kLanes;
  const int64_t plane_floats = conv.height * conv.width * kLanes;
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t tile = first + t;
    const int64_t image = conv.grid.image(tile);
    for (int64_t block = 0; block < conv.in_blocks; ++block) {
      for (int64_t half = 0; half < kLanes; half += kVecLanes) {
        const Plane plane{conv.in + (image * conv.in_blocks + block) * plane_floats + half, nullptr,
                          conv.height, conv.width};
        transform_input_tile(plane, conv.grid.y(tile) - 1, conv.grid.x(tile) - 1, conv.reversed,
                             v + t * channels + block * kLanes + half, tiles * channels);
      }
    }
  }
  for (int64_t block = first_block; block < end_block; ++block) {
    multiply_points(v, tiles, channels, conv.u + block * kPoints * channels * kLanes, m);
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t tile = first + t;
      const int64_t image = conv.grid.image(tile);
      for (int64_t half = 0; half < kLanes; half += kVecLanes) {
        const Plane plane{nullptr,
                          conv.out + (image * conv.out_blocks + block) * plane_floats + half,
                          conv.height, conv.width};
        transform_output_tile(m + t * kLanes + half, tiles * kLanes,
                              conv.bias != nullptr ? conv.bias + block * kLanes + half : nullptr,
                              plane, conv.grid.y(tile), conv.grid.x(tile), conv.reversed);
      }
    }
  }
}

/// A block's transformed inputs take at most this much memory (so that they stay in the
/// cache while each output block's products read them); a block has at most kMaxBlockTiles.
/// 2 MiB and 96 tiles: 1, 2 and 4 MiB, 48 and 96 tiles gave the same total within the noise on a
/// Zen 3 EPYC (stylize_conv_bench 512: 2.39x, 2.47x, 2.52x, 2.53x direct's time).
constexpr int64_t kBlockBytes = int64_t{2} << 20;
constexpr int64_t kMaxBlockTiles = int64_t{16} * kRowBlock;

/// x (blocked, fp32, contiguous) convolved by the packed transformed weights u
/// ([K/16][36][C][16]), plus bias (or none): [N, K/16, H, W, 16]. The work is split into blocks
/// of tiles and ranges of output blocks, each done by one thread from its input transform to
/// its outputs; a thread's scratch memory is a block's transformed inputs and products.
at::Tensor winograd_f4x4(const at::Tensor& x, const at::Tensor& u, int64_t out_channels,
                         const float* bias, bool reversed) {
  const int64_t images = x.size(0);
  const int64_t in_channels = x.size(1) * kLanes;
  auto out = at::empty({images, out_channels / kLanes, x.size(2), x.size(3), kLanes}, x.options());
  const Convolution conv{
      x.data_ptr<float>(),
      out.data_ptr<float>(),
      u.data_ptr<float>(),
      bias,
      x.size(1),
      out_channels / kLanes,
      x.size(2),
      x.size(3),
      reversed,
      TileGrid{(x.size(2) + kTile - 1) / kTile, (x.size(3) + kTile - 1) / kTile}};
  const int64_t tiles = conv.grid.count(images);
  const int64_t per_tile_bytes = kPoints * in_channels * static_cast<int64_t>(sizeof(float));
  const int64_t most = std::clamp<int64_t>(kBlockBytes / per_tile_bytes / kRowBlock * kRowBlock,
                                           kRowBlock, kMaxBlockTiles);
  const int64_t tile_blocks = (tiles + most - 1) / most;
  const int64_t block_tiles = (tiles + tile_blocks - 1) / tile_blocks;  // equal blocks
  // Enough jobs for every thread: split the output channels where there are few tile blocks.
  const int64_t wanted_jobs = 4 * static_cast<int64_t>(at::get_num_threads());
  const int64_t wanted_ranges =
      std::clamp<int64_t>((wanted_jobs + tile_blocks - 1) / tile_blocks, 1, conv.out_blocks);
  const int64_t range_blocks = (conv.out_blocks + wanted_ranges - 1) / wanted_ranges;
  const int64_t ranges = (conv.out_blocks + range_blocks - 1) / range_blocks;  // none empty
  at::parallel_for(0, tile_blocks * ranges, 1, [&](int64_t begin, int64_t end) {
    // From torch's allocator (the CLI's arena reuses it across calls), uninitialised: a
    // std::vector here was zeroed and, at these sizes, mapped afresh on every call.
    const auto scratch = at::empty({kPoints * block_tiles * (in_channels + kLanes)}, x.options());
    float* v = scratch.data_ptr<float>();
    float* m = v + kPoints * block_tiles * in_channels;
    for (int64_t job = begin; job < end; ++job) {
      const int64_t first = job / ranges * block_tiles;
      const int64_t first_block = job % ranges * range_blocks;
      convolve_tiles(conv, first, std::min(block_tiles, tiles - first), first_block,
                     std::min(first_block + range_blocks, conv.out_blocks), v, m);
    }
  });
  return out;
}

/// U = G g G^T for each pair of channels, in double precision, packed for multiply_rows:
/// weights [O, I, 3, 3] -> [O/16][36][I][16] (the forward pass: products over the inputs), or,
/// transposed, [I/16][36][O][16] (the input gradient: products over the outputs).
at::Tensor transform_weights(const at::Tensor& weight, bool transposed) {
  constexpr double kG[kAlpha][3] = {
      {1.0 / 4, 0.0, 0.0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
      {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0.0, 0.0, 1.0}};
  const int64_t outs = weight.size(0);
  const int64_t ins = weight.size(1);
  auto u = at::empty({kPoints * outs * ins}, weight.options());
  const float* w = weight.data_ptr<float>();
  float* up = u.data_ptr<float>();
  // Where U[p][c][k] goes: row c (the summed channel) of output lane k in point p's panel.
  auto index = [&](int64_t p, int64_t k, int64_t c) {
    return transposed ? ((c / kLanes * kPoints + p) * outs + k) * kLanes + c % kLanes
                      : ((k / kLanes * kPoints + p) * ins + c) * kLanes + k % kLanes;
  };
  at::parallel_for(0, outs, 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      for (int64_t c = 0; c < ins; ++c) {
        const float* g = w + (k * ins + c) * 9;
        double gg[kAlpha][3];  // G g
        for (int64_t a = 0; a < kAlpha; ++a) {
          for (int64_t j = 0; j < 3; ++j) {
            gg[a][j] = kG[a][0] * g[j] + kG[a][1] * g[3 + j] + kG[a][2] * g[6 + j];
          }
        }
        for (int64_t a = 0; a < kAlpha; ++a) {
          for (int64_t b = 0; b < kAlpha; ++b) {
            const double value = gg[a][0] * kG[b][0] + gg[a][1] * kG[b][1] + gg[a][2] * kG[b][2];
            up[index(a * kAlpha + b, k, c)] = static_cast<float>(value);
          }
        }
      }
    }
  });
  return u;
}

class F4x4Winograd final : public WinogradConv3x3 {
 public:
  F4x4Winograd(at::Tensor weight, at::Tensor bias)
      : WinogradConv3x3(std::move(weight), std::move(bias)) {}

  /// One tile: with the weights transformed once, even small maps gain (stylize_conv_bench 128,
  /// 64 and 32 on the AVX2 machine: 8x8 maps 1.7-3.6x direct's speed, 4x4 1.6-2.1x, 2x2 1.4x).
  [[nodiscard]] int64_t min_feature_pixels() const override { return kTile * kTile; }
  [[nodiscard]] int64_t cache_bytes() const override {
    return 2 * kPoints * weight_.size(0) * weight_.size(1) * static_cast<int64_t>(sizeof(float));
  }

 protected:
  /// The input gradient is the correlation of the output's gradient with each kernel turned by
  /// 180 degrees, channels swapped. Turning a kernel equals reversing each tile's inputs and
  /// outputs (y_i = sum_k d_(i+k) g_(2-k) reads as y reversed = reversed d correlated with g),
  /// so both passes use the same U = G g G^T, packed for the other product.
  at::Tensor convolve(const at::Tensor& x, bool transposed, bool blocked_output) override {
    const auto blocked = (is_blocked(x) ? x : to_blocked(x)).contiguous();
    auto& u = transposed ? u_transposed_ : u_;
    if (!u.defined()) u = transform_weights(weight_, transposed);
    auto out = transposed
                   ? winograd_f4x4(blocked, u, weight_.size(1), nullptr, true)
                   : winograd_f4x4(blocked, u, weight_.size(0), bias_.data_ptr<float>(), false);
    return blocked_output ? out : from_blocked(out);
  }

 private:
  /// The weights transformed and packed for each pass: made on the pass's first call (small
  /// feature maps never need them) and kept, 4x the weights' memory each.
  at::Tensor u_;
  at::Tensor u_transposed_;
};

}  // namespace

std::shared_ptr<WinogradConv3x3> make_f4x4_winograd(at::Tensor weight, at::Tensor bias) {
  return std::make_shared<F4x4Winograd>(std::move(weight), std::move(bias));
}

}  // namespace stylize
