#include "cli.hpp"
#include "tensor_heap.hpp"

int main(int argc, char** argv) {
  stylize::heap::install_process_heap();  // before any tensor exists
  return stylize::cli::run_main(argc, argv);
}
