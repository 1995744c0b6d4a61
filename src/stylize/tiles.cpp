#include <stylize/errors.hpp>
#include <stylize/tiles.hpp>

#include <algorithm>
#include <string>

namespace stylize {

std::vector<TileSpan> tile_spans(int length_px, int tile_px, int margin_px, int offset_px,
                                 int align_px) {
  if (length_px <= tile_px) return {{0, length_px, 0, length_px}};
  const int align = std::max(1, align_px);
  const int margin = (std::max(0, margin_px) + align - 1) / align * align;
  const int core = (tile_px - 2 * margin) / align * align;
  if (core < align) {
    throw ConfigError("tiles of " + std::to_string(tile_px) + " px leave no room inside their " +
                      std::to_string(margin) + " px overlap margins: use larger tiles or a " +
                      "smaller overlap");
  }
  std::vector<int> bounds{0};
  int first = ((offset_px % core) + core) % core / align * align;
  if (first == 0) first = core;
  for (int b = first; b < length_px; b += core) bounds.push_back(b);
  // A last piece thinner than the alignment joins its neighbour (no layer could see it alone).
  if (bounds.size() > 1 && length_px - bounds.back() < align) bounds.pop_back();
  bounds.push_back(length_px);
  std::vector<TileSpan> spans;
  for (std::size_t k = 0; k + 1 < bounds.size(); ++k) {
    TileSpan span;
    span.core_begin = bounds[k];
    span.core_end = bounds[k + 1];
    span.window_begin = std::max(0, span.core_begin - margin);
    span.window_end = std::min(length_px, span.core_end + margin);
    spans.push_back(span);
  }
  return spans;
}

std::vector<Tile> tile_grid(int height_px, int width_px, int tile_px, int margin_px,
                            int offset_px, int align_px) {
  std::vector<Tile> tiles;
  const auto rows = tile_spans(height_px, tile_px, margin_px, offset_px, align_px);
  const auto columns = tile_spans(width_px, tile_px, margin_px, offset_px, align_px);
  for (const auto& row : rows) {
    for (const auto& column : columns) tiles.push_back({row, column});
  }
  return tiles;
}

std::vector<float> span_blend_weights(const TileSpan& span) {
  std::vector<float> weights(static_cast<std::size_t>(span.window_px()), 1.0F);
  const int before = span.core_begin - span.window_begin;
  const int after = span.window_end - span.core_end;
  for (int d = 1; d <= before; ++d) {  // d px before the core
    weights[static_cast<std::size_t>(before - d)] =
        static_cast<float>(before + 1 - d) / static_cast<float>(before + 1);
  }
  for (int d = 1; d <= after; ++d) {  // d px after the core
    weights[static_cast<std::size_t>(span.core_px() + before + d - 1)] =
        static_cast<float>(after + 1 - d) / static_cast<float>(after + 1);
  }
  return weights;
}

}  // namespace stylize
