#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan + coverage) into build-fuzz/ and runs
# each for SECONDS (default 600). Findings (crash-*, oom-*, timeout-*) land in build-fuzz/findings/.
#   scripts/fuzz.sh [SECONDS] [TARGET...]      targets: fuzz_image_decode fuzz_options
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_image_decode fuzz_options)
build="$root/build-fuzz"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DSTYLIZE_FUZZ=ON -DSTYLIZE_BUILD_TESTS=OFF
fi
cmake --build "$build" --target "${targets[@]}"
mkdir -p "$build/findings"
for target in "${targets[@]}"; do
  corpus="$build/corpus/$target"
  mkdir -p "$corpus"
  if [ "$target" = fuzz_image_decode ]; then
    /usr/bin/python3 "$root/fuzz/make_seeds.py" "$corpus"
    # Real photos too, when ../shared has them (libFuzzer truncates them to -max_len).
    for f in "$root"/../shared/images/*.jpg; do [ -f "$f" ] && { printf '\1'; cat "$f"; } > "$corpus/seed-$(basename "$f")"; done
  else
    printf -- '--content\0a.jpg\0--style\0b.jpg\0--size\0256\0--style-layers\0relu1_1:2,relu2_1\0' > "$corpus/seed-basic"
    printf -- '--max-memory\0001.5G\0--style-blend\0001,2\0-n\00010\0--optimizer\0adam\0' > "$corpus/seed-more"
  fi
  echo "fuzz.sh: running $target for $seconds s"
  (cd "$build/findings" && ASAN_OPTIONS=detect_leaks=0 "$build/fuzz/$target" "$corpus" \
     -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=4096 -timeout=20 -print_final_stats=1 \
     2>&1 | tail -n 25) || echo "fuzz.sh: $target reported a finding (see $build/findings)"
done
