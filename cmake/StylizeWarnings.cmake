# One INTERFACE target carrying the warning flags; first-party targets link it PRIVATE so
# dependency headers (imported targets, hence system headers) stay quiet.
add_library(stylize_warnings INTERFACE)
target_compile_options(stylize_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
  $<$<BOOL:${STYLIZE_WARNINGS_AS_ERRORS}>:-Werror>)
# Sanitizer/fuzzer instrumentation (empty unless enabled) rides along with the warnings.
target_link_libraries(stylize_warnings INTERFACE stylize_instrumentation)
