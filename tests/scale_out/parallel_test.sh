#!/usr/bin/env bash
# scripts/parallel_shards.sh with Debian's GNU parallel: 3 photos as 2 shards, in a folder whose
# name has a space. Each image is made exactly once (per-shard JSON-lines progress: parallel puts
# the shard number in for {}), and running the same command again makes nothing (every image
# "skipped", mtimes unchanged). Skips (exit 77) without GNU parallel.
#
#   STYLIZE_BIN=build/stylize tests/scale_out/parallel_test.sh SOURCE_DIR MODEL
set -euo pipefail
# shellcheck source=tests/scale_out/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
src=$(cd "${1:?usage: parallel_test.sh SOURCE_DIR MODEL}" && pwd)
model=$(realpath "${2:?model file}")
: "${STYLIZE_BIN:?set STYLIZE_BIN to the stylize binary}"
type -P parallel >/dev/null || skip "GNU parallel not found (Debian: apt-get install parallel)"
parallel --version 2>/dev/null | grep -q "GNU parallel" ||
  skip "'parallel' is not GNU parallel (moreutils' parallel?)"

work=$(mktemp -d /tmp/stylize-parallel.XXXXXX)
passed=0
cleanup() {
  if [ "$passed" = 1 ]; then rm -rf "$work"; else echo "$me: kept $work"; fi
}
trap cleanup EXIT
export PARALLEL_HOME=$work/.parallel OMP_WAIT_POLICY=passive
unset STYLIZE_MODEL SLURM_ARRAY_TASK_ID
dir="$work/my photos"
make_photos "$dir/in" a.png b.png c.png
make_photos "$dir" style.png
all=(a_style.png b_style.png c_style.png)
run() {  # run TAG: the batch as 2 shards, progress in $dir/TAG-<shard>.jsonl
  "$src/scripts/parallel_shards.sh" 2 "$dir/in" "$dir/style.png" "$dir/out" --size 64 \
    --iterations 3 --seed 1 --model "$model" --progress-json "$dir/$1-{}.jsonl" \
    >"$work/$1.log" 2>&1 || fail "parallel_shards.sh failed: $(tail -n 20 "$work/$1.log")"
}

start=$SECONDS
run first
say "2 shards in $((SECONDS - start)) s"
expect_images "$dir/out" "${all[@]}"
grep -q '"shard":"1/2"' "$dir/first-1.jsonl" || fail "first-1.jsonl is not shard 1/2"
grep -q '"shard":"2/2"' "$dir/first-2.jsonl" || fail "first-2.jsonl is not shard 2/2"
expect_summary "$dir/first-1.jsonl" done=2 failed=0 exit_code=0
expect_summary "$dir/first-2.jsonl" done=1 failed=0 exit_code=0
expect_made_once "$dir/out" "$dir/first-1.jsonl" "$dir/first-2.jsonl" -- "${all[@]}"

stamps=$(stat -c '%n %y' "$dir"/out/*)
run again
[ "$(stat -c '%n %y' "$dir"/out/*)" = "$stamps" ] || fail "the second run rewrote images"
expect_summary "$dir/again-1.jsonl" done=0 skipped=2 exit_code=0
expect_summary "$dir/again-2.jsonl" done=0 skipped=1 exit_code=0
passed=1
say "PASS in $((SECONDS - start)) s"
