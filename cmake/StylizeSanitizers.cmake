# Instrumentation for first-party targets only (libtorch, OpenCV and the rest stay as Debian
# built them): STYLIZE_SANITIZE adds ASan + UBSan, STYLIZE_FUZZ adds libFuzzer coverage (clang).
option(STYLIZE_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(STYLIZE_FUZZ "Build the libFuzzer targets in fuzz/ (needs clang)" OFF)

add_library(stylize_instrumentation INTERFACE)
if(STYLIZE_SANITIZE OR STYLIZE_FUZZ)
  target_compile_options(stylize_instrumentation INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g)
  target_link_options(stylize_instrumentation INTERFACE -fsanitize=address,undefined)
endif()
if(STYLIZE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "STYLIZE_FUZZ needs clang: configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  target_compile_options(stylize_instrumentation INTERFACE -fsanitize=fuzzer-no-link)
endif()
