#!/usr/bin/env bash
# Runs a batch as N shards with GNU parallel (one process per shard, each with its own threads),
# on one machine or across several with parallel's --sshlogin. The one-liner it runs is:
#
#   parallel -j N stylize --shard {}/N --content photos/ --style s.jpg --output-dir out/ --skip-existing ::: $(seq 1 N)
#
#   scripts/parallel_shards.sh N PHOTO_DIR STYLE OUT_DIR [more stylize options]
#
# stylize is $STYLIZE_BIN, else `stylize` on PATH, else build/stylize of this script's clone.
set -euo pipefail
n=${1:?usage: scripts/parallel_shards.sh N PHOTO_DIR STYLE OUT_DIR [options]}
photos=${2:?photo directory}
style=${3:?style image}
out=${4:?output directory}
shift 4
me=parallel_shards.sh
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${STYLIZE_BIN:-}" ]; then
  bin=$STYLIZE_BIN
  if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
    echo "$me: error: STYLIZE_BIN='$bin' is not an executable file" >&2
    exit 1
  fi
elif bin=$(type -P stylize); then
  :
elif [ -x "$root/build/stylize" ]; then
  bin=$root/build/stylize
else
  echo "$me: error: stylize not found: STYLIZE_BIN is not set, there is no stylize on PATH, and no" \
       "$root/build/stylize (build it with scripts/setup.sh, or set STYLIZE_BIN=/path/to/stylize)" >&2
  exit 1
fi
if ! type -P parallel >/dev/null; then
  echo "$me: error: GNU parallel is not installed (Debian: apt-get install parallel)" >&2
  exit 1
fi
threads=$(( $(nproc) / n ))
[ "$threads" -ge 1 ] || threads=1
parallel --quote --halt never -j "$n" "$bin" --shard "{}/$n" --content "$photos" \
  --style "$style" --output-dir "$out" --skip-existing --threads "$threads" "$@" ::: $(seq 1 "$n")
