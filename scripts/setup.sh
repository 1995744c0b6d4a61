#!/usr/bin/env bash
# Installs what stylize needs from Debian 12, builds it into build/ (binary: build/stylize) and,
# given VGG-19 weights, exports the TorchScript model to models/vgg19.pt. Safe and fast to re-run:
# it installs only missing packages, rebuilds incrementally and re-exports only when needed.
#
#   scripts/setup.sh [--weights FILE] [--convention caffe|torchvision] [--no-install]
#
# The weights may also come from $STYLIZE_WEIGHTS. Exit codes: 0 ok, 1 failure, 2 usage.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
weights=${STYLIZE_WEIGHTS:-}
convention=()
install=1
while [ $# -gt 0 ]; do
  case $1 in
    --weights) weights=${2:?--weights needs a file}; shift 2 ;;
    --convention) convention=(--convention "${2:?--convention needs caffe or torchvision}"); shift 2 ;;
    --no-install) install=0; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

packages=(build-essential cmake ninja-build ccache pkg-config libtorch-dev python3-torch
          python3-torchvision libopencv-dev libcli11-dev libspdlog-dev libgtest-dev nlohmann-json3-dev
          libopenblas0-pthread libopenblas0-openmp libdnnl-dev python3-pil zlib1g-dev parallel
          libopencv-contrib-dev ffmpeg)
if [ "$install" = 1 ]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    echo "setup.sh: installing ${missing[*]}"
    "${sudo[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q \
      "${missing[@]}"
  fi
fi

if [ ! -f "$root/build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$root/build"

model="$root/models/vgg19.pt"
if [ -n "$weights" ]; then
  if [ ! -f "$weights" ]; then
    echo "setup.sh: error: weights file '$weights' does not exist" >&2
    exit 1
  fi
  if [ -f "$model" ] && [ "$model" -nt "$weights" ] && [ "$model" -nt "$root/scripts/export_vgg19.py" ]; then
    echo "setup.sh: $model is up to date"
  else
    /usr/bin/python3 "$root/scripts/export_vgg19.py" --weights "$weights" "${convention[@]}" \
      --output "$model"
  fi
elif [ ! -f "$model" ]; then
  cat <<MSG
setup.sh: built build/stylize, but there is no model yet. Get VGG-19 weights in torchvision's
layout (vgg19-dcbb9e9d.pth from torchvision, or the Caffe conversion vgg19-d01eb7cb.pth), then:
  scripts/setup.sh --weights /path/to/vgg19-weights.pth
With network access, scripts/export_vgg19.py --download vgg19-d01eb7cb.pth --output models/vgg19.pt
fetches and verifies them. See models/README.md.
MSG
fi
echo "setup.sh: done; try: build/stylize --content photo.jpg --style painting.jpg --output out.png"
