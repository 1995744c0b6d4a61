#include <gtest/gtest.h>

#include "tensor_heap.hpp"

// The tests run with the process heap the stylize executable installs (docs/performance.md,
// "Allocator"), set before any test, as stylize's main() does.
int main(int argc, char** argv) {
  stylize::heap::install_process_heap();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
