#!/usr/bin/env bash
# Runs a batch as N shards with GNU parallel (one process per shard, each with its own threads),
# on one machine or across several with parallel's --sshlogin. The one-liner it runs is:
#
#   parallel -j N stylize --shard {}/N --content photos/ --style s.jpg --output-dir out/ --skip-existing ::: $(seq 1 N)
#
#   scripts/parallel_shards.sh N PHOTO_DIR STYLE OUT_DIR [more stylize options]
set -euo pipefail
n=${1:?usage: scripts/parallel_shards.sh N PHOTO_DIR STYLE OUT_DIR [options]}
photos=${2:?photo directory}
style=${3:?style image}
out=${4:?output directory}
shift 4
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
threads=$(( $(nproc) / n ))
[ "$threads" -ge 1 ] || threads=1
parallel --halt never -j "$n" "$root/build/stylize" --shard "{}/$n" --content "$photos" \
  --style "$style" --output-dir "$out" --skip-existing --threads "$threads" "$@" ::: $(seq 1 "$n")
