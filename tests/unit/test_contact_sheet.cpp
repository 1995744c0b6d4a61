#include <stylize/contact_sheet.hpp>
#include <stylize/errors.hpp>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "test_support.hpp"

namespace stylize {
namespace {

TEST(contact_sheet_test, tiles_images_in_rows_with_a_label_strip_under_each) {
  const auto red = at::zeros({1, 3, 20, 30});
  red.select(1, 0).fill_(1.0);
  const auto blue = at::zeros({1, 3, 10, 15});  // scaled to the first image's height
  blue.select(1, 2).fill_(1.0);
  const auto sheet = contact_sheet({red, blue, red}, {"a", "b", "c"}, 2);
  // Two columns of 30 px with a 4 px gap; two rows of 20 px, an 18 px label strip, 4 px gap.
  EXPECT_EQ(sheet.sizes(), (at::IntArrayRef{1, 3, 2 * (20 + 18 + 4) - 4, 2 * (30 + 4) - 4}));
  const auto pixel = [&](int y, int x) { return sheet.index({0, at::indexing::Slice(), y, x}); };
  EXPECT_TRUE(at::allclose(pixel(5, 5), at::tensor({1.0F, 0.0F, 0.0F})));
  EXPECT_TRUE(at::allclose(pixel(5, 34 + 5), at::tensor({0.0F, 0.0F, 1.0F})));
  EXPECT_TRUE(at::allclose(pixel(42 + 5, 5), at::tensor({1.0F, 0.0F, 0.0F})));
  EXPECT_TRUE(at::allclose(pixel(42 + 5, 34 + 5), at::tensor({1.0F, 1.0F, 1.0F}))) << "no tile";
  const auto strip = sheet.index({0, 0, at::indexing::Slice(21, 38), at::indexing::Slice(0, 30)});
  EXPECT_LT(strip.min().item<float>(), 0.5F) << "the label is written in the strip";
  EXPECT_ERROR_MSG(contact_sheet({red}, {}, 2), ConfigError,
                   "a contact sheet needs one label per image");
}

}  // namespace
}  // namespace stylize
