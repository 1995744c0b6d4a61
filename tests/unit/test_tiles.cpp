#include <stylize/errors.hpp>
#include <stylize/tiles.hpp>

#include <gtest/gtest.h>

#include <tuple>

#include "test_support.hpp"

namespace stylize {
namespace {

/// Checks what every grid along an axis must satisfy: cores partition [0, length) in order,
/// windows hold their cores within the image and at most tile + align - 1 px, the margin is
/// the overlap (or the image's edge), and inner boundaries are aligned.
void expect_valid_spans(const std::vector<TileSpan>& spans, int length, int tile, int margin,
                        int align) {
  ASSERT_FALSE(spans.empty());
  EXPECT_EQ(spans.front().core_begin, 0);
  EXPECT_EQ(spans.back().core_end, length);
  for (std::size_t k = 0; k < spans.size(); ++k) {
    const auto& s = spans[k];
    if (k > 0) {
      EXPECT_EQ(s.core_begin, spans[k - 1].core_end) << "span " << k;
    }
    EXPECT_GT(s.core_px(), 0);
    EXPECT_LE(s.window_begin, s.core_begin);
    EXPECT_GE(s.window_end, s.core_end);
    EXPECT_GE(s.window_begin, 0);
    EXPECT_LE(s.window_end, length);
    EXPECT_LT(s.window_px(), tile + align) << "span " << k;
    EXPECT_EQ(s.window_begin, std::max(0, s.core_begin - margin));
    EXPECT_EQ(s.window_end, std::min(length, s.core_end + margin));
    EXPECT_EQ(s.window_begin % align, 0);
    if (k + 1 < spans.size()) {
      EXPECT_EQ(s.core_end % align, 0);
    }
  }
}

TEST(tile_spans_test, an_axis_no_longer_than_a_tile_is_one_span) {
  const auto spans = tile_spans(200, 256, 32, 0, 16);
  ASSERT_EQ(spans.size(), 1U);
  EXPECT_EQ(std::tie(spans[0].window_begin, spans[0].window_end, spans[0].core_begin,
                     spans[0].core_end),
            std::make_tuple(0, 200, 0, 200));
  EXPECT_EQ(tile_spans(256, 256, 32, 0, 16).size(), 1U);
}

TEST(tile_spans_test, cores_partition_the_axis_and_windows_overlap_by_the_margin) {
  // 256 px tiles with 32 px margins: 192 px cores.
  const auto spans = tile_spans(1000, 256, 32, 0, 16);
  expect_valid_spans(spans, 1000, 256, 32, 16);
  ASSERT_EQ(spans.size(), 6U);
  EXPECT_EQ(spans[1].core_begin, 192);
  EXPECT_EQ(spans[1].window_begin, 160);
  EXPECT_EQ(spans[1].window_end, 416);
  EXPECT_EQ(spans.back().core_begin, 960);
  EXPECT_EQ(spans.back().window_begin, 928);
}

TEST(tile_spans_test, odd_lengths_offsets_and_alignments_give_valid_grids) {
  for (int length : {257, 301, 777, 1001, 2049}) {
    for (int offset : {0, 17, 96, 191}) {
      for (int align : {1, 4, 16}) {
        SCOPED_TRACE(testing::Message() << length << " px, offset " << offset << ", align "
                                        << align);
        expect_valid_spans(tile_spans(length, 256, 32, offset, align), length, 256, 32, align);
      }
    }
  }
}

TEST(tile_spans_test, a_sliver_at_the_end_joins_its_neighbour) {
  // 192 px cores from 0: the last boundary would be at 384, leaving 2 px, thinner than 16.
  const auto spans = tile_spans(386, 256, 32, 0, 16);
  ASSERT_EQ(spans.size(), 2U);
  EXPECT_EQ(spans.back().core_begin, 192);
  EXPECT_EQ(spans.back().core_end, 386);
}

TEST(tile_spans_test, a_shifted_grid_puts_its_boundaries_inside_the_others_cores) {
  const auto first = tile_spans(1000, 256, 32, 0, 16);
  const auto second = tile_spans(1000, 256, 32, 96, 16);
  for (std::size_t k = 1; k < second.size(); ++k) {
    const int boundary = second[k].core_begin;
    for (std::size_t j = 1; j < first.size(); ++j) {
      EXPECT_GE(std::abs(boundary - first[j].core_begin), 64) << boundary;
    }
  }
}

TEST(tile_spans_test, margins_are_rounded_up_to_the_alignment) {
  const auto spans = tile_spans(500, 128, 10, 0, 16);  // margin 16, core 96
  expect_valid_spans(spans, 500, 128, 16, 16);
  EXPECT_EQ(spans[1].core_begin, 96);
}

TEST(tile_spans_test, a_tile_that_leaves_no_core_is_a_config_error) {
  EXPECT_ERROR_MSG(tile_spans(1000, 64, 30, 0, 16), ConfigError,
                   "tiles of 64 px leave no room inside their 32 px overlap margins: use larger "
                   "tiles or a smaller overlap");
}

TEST(tile_grid_test, covers_the_image_row_by_row) {
  const auto tiles = tile_grid(300, 500, 256, 32, 0, 16);
  // Rows: cores 0-192, 192-300; columns: 0-192, 192-384, 384-500.
  ASSERT_EQ(tiles.size(), 6U);
  EXPECT_EQ(tiles[0].y.core_end, 192);
  EXPECT_EQ(tiles[2].x.core_begin, 384);
  EXPECT_EQ(tiles[3].y.core_begin, 192);
  long covered = 0;
  for (const auto& t : tiles) covered += static_cast<long>(t.y.core_px()) * t.x.core_px();
  EXPECT_EQ(covered, 300L * 500L);
}

TEST(span_blend_weights_test, one_in_the_core_ramping_to_zero_over_the_margins) {
  TileSpan span{0, 12, 4, 8};  // 4 px margins both sides
  const auto w = span_blend_weights(span);
  const std::vector<float> expected{0.2F, 0.4F, 0.6F, 0.8F, 1, 1, 1, 1, 0.8F, 0.6F, 0.4F, 0.2F};
  ASSERT_EQ(w.size(), expected.size());
  for (std::size_t i = 0; i < w.size(); ++i) EXPECT_FLOAT_EQ(w[i], expected[i]) << i;
  // At the image's edge there is no margin: the core's weight goes right to it.
  const auto edge = span_blend_weights({0, 6, 0, 4});
  EXPECT_FLOAT_EQ(edge.front(), 1.0F);
  EXPECT_FLOAT_EQ(edge.back(), 1.0F / 3.0F);
}

}  // namespace
}  // namespace stylize
