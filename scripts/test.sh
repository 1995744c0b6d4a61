#!/usr/bin/env bash
# Builds (if needed) and runs the whole test suite. Extra arguments go to ctest, e.g.
#   scripts/test.sh -L unit          # only the unit tests
#   scripts/test.sh -LE real_weights # everything but the tests that use ../shared/models
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ ! -f "$root/build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$root/build"
# Tests run in parallel, each process with every core's threads: OpenMP threads that spin while
# they wait would steal the cores the other test needs.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
ctest --test-dir "$root/build" --output-on-failure -j "$(nproc)" "$@"
