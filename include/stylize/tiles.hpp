#pragma once

#include <vector>

namespace stylize {

/// One tile's extent along one axis, in px: the window the optimiser sees (core plus context
/// margins, clipped to the image) and the core it owns. Cores of one grid partition the axis.
struct TileSpan {
  int window_begin = 0;
  int window_end = 0;  ///< exclusive
  int core_begin = 0;
  int core_end = 0;    ///< exclusive
  [[nodiscard]] int window_px() const { return window_end - window_begin; }
  [[nodiscard]] int core_px() const { return core_end - core_begin; }
};

/// One tile of a grid: its rows and columns.
struct Tile {
  TileSpan y;
  TileSpan x;
};

/// The spans along an axis of length_px for windows of at most tile_px (plus less than align_px
/// where a short last piece is merged into its neighbour) with margin_px of context on each
/// side of a core. Cores are tile_px - 2 x margin_px long (rounded down to align_px), their
/// boundaries at offset_px + k x core (aligned to align_px) so that a second pass with another
/// offset puts its boundaries in the first's cores. One span covering everything when
/// length_px <= tile_px. Window and core boundaries inside the image are multiples of align_px
/// (so every pooling layer's grid lines up with the whole image's). Throws ConfigError when
/// tile_px leaves no core (tile_px < 2 x margin_px + align_px).
std::vector<TileSpan> tile_spans(int length_px, int tile_px, int margin_px, int offset_px,
                                 int align_px);

/// The grid of tiles over a height_px x width_px image, row by row: tile_spans along each axis.
std::vector<Tile> tile_grid(int height_px, int width_px, int tile_px, int margin_px,
                            int offset_px, int align_px);

/// The weight with which pixel p of a span's window is written into the image: 1 in the core,
/// ramping linearly to 0 over a context margin (p + 1 of margin + 1 at its outer edge), 1 up to
/// the image's edge where there is no margin. Windows written one after another in grid order
/// with these weights leave no hard edge: each blends into the cores written before it.
std::vector<float> span_blend_weights(const TileSpan& span);

}  // namespace stylize
