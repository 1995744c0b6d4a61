#!/bin/bash
# The device check, as one short prepared script for a lent GPU machine (which has
# PyTorch, CMake and ninja, but none of our Debian packages and no network):
#   1. builds the engine alone (STYLIZE_ENGINE_ONLY: LibTorch is all it needs) against this
#      machine's PyTorch, and exports a random-init VGG-19 with that PyTorch;
#   2. runs stylize_engine_check's checks on the device (CPU vs device features and gradients,
#      fp32/tf32/bf16/fp16, W2 by Newton-Schulz, short runs that must lower the loss);
#   3. times ITERATIONS L-BFGS iterations at SIZE px, stylize's engine and the plain PyTorch
#      reference (scripts/reference_gatys.py --synthetic) alternating, REPS times each, medians.
# Everything it prints also goes to $OUT/gpu_check.log when OUT is set (the device tool's folder).
#
#   scripts/gpu_check.sh [--device cuda] [--size 512] [--iterations 500] [--reps 3]
# Tested here on the CPU: scripts/gpu_check.sh --device cpu --size 64 --iterations 5 --reps 1
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
device=cuda size=512 iterations=500 reps=3
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --iterations) iterations="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    *) echo "gpu_check.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
python="${PYTHON:-python3}"
build="$root/build-engine"
log="${OUT:-$build}/gpu_check.log"
mkdir -p "$build" "$(dirname "$log")"
exec > >(tee "$log") 2>&1

echo "== machine"
"$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu",
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")'
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

echo "== build (engine only, against this PyTorch's LibTorch)"
prefix="${TORCH_PREFIX:-$("$python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')}"
generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
build_engine() {
  cmake -S "$root" -B "$build" "${generator[@]}" -DSTYLIZE_ENGINE_ONLY=ON -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_STANDARD="$1" >/dev/null &&
    cmake --build "$build" --target stylize_engine_check -j "$(nproc)" > "$build/build.log" 2>&1
}
# C++17 first; a newer LibTorch may want C++20.
if ! build_engine "${CXX_STANDARD:-17}"; then
  tail -n 20 "$build/build.log"
  echo "retrying with C++20"
  build_engine 20 || { tail -n 40 "$build/build.log"; exit 1; }
fi
tail -n 2 "$build/build.log"
model="$build/vgg19-random.pt"
[ -f "$model" ] || "$python" "$root/scripts/export_vgg19.py" --random-init --seed 7 --output "$model"

echo "== checks on $device"
check_rc=0
"$build/stylize_engine_check" --model "$model" --device "$device" --checks-only || check_rc=$?

echo "== benchmark: $iterations L-BFGS iterations at ${size}x$size px, $reps reps, alternating"
ours=() theirs=()
for rep in $(seq "$reps"); do
  line=$("$build/stylize_engine_check" --model "$model" --device "$device" --bench-only \
           --size "$size" --iterations "$iterations" | grep '^BENCH')
  echo "stylize   rep $rep: $line"
  ours+=("$(sed -E 's/.*total_s=([0-9.]+).*/\1/' <<<"$line")")
  ref=$("$python" "$root/scripts/reference_gatys.py" --model "$model" --synthetic --device "$device" \
          --size "$size" --iterations "$iterations")
  echo "reference rep $rep: $ref"
  theirs+=("$("$python" -c 'import json,sys; print(json.loads(sys.argv[1])["total_s"])' "$ref")")
done
"$python" - "${ours[*]}" "${theirs[*]}" "$device" "$size" "$iterations" <<'PY'
import statistics, sys
ours = [float(x) for x in sys.argv[1].split()]
theirs = [float(x) for x in sys.argv[2].split()]
device, size, its = sys.argv[3:6]
a, b = statistics.median(ours), statistics.median(theirs)
print(f"| {device} | {size} px | {its} its | stylize {a:.2f} s | PyTorch Python {b:.2f} s | ratio {b / a:.2f}x |")
PY
exit "$check_rc"
