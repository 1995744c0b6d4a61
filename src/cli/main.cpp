#include "cli.hpp"

int main(int argc, char** argv) { return stylize::cli::run_main(argc, argv); }
