#!/usr/bin/env bash
# How scripts/slurm_array.sh and scripts/parallel_shards.sh find stylize, branch by branch, with
# --dry-run (no model is loaded, milliseconds): STYLIZE_BIN, else stylize on PATH, else
# $SLURM_SUBMIT_DIR/build/stylize (Slurm runs a copy of the script, so not its own clone) or,
# for parallel_shards.sh, its clone's build/stylize; else one error line naming all three.
#
#   STYLIZE_BIN=build/stylize tests/scale_out/lookup_test.sh SOURCE_DIR
set -euo pipefail
# shellcheck source=tests/scale_out/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
src=$(cd "${1:?usage: lookup_test.sh SOURCE_DIR}" && pwd)
: "${STYLIZE_BIN:?set STYLIZE_BIN to the stylize binary}"
real_bin=$(realpath "$STYLIZE_BIN")

work=$(mktemp -d /tmp/stylize-lookup.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
make_photos photos a.png b.png c.png
make_photos . style.png
mkdir -p onpath clone/build clone/scripts nowhere tools
# A PATH with no stylize: the few tools the scripts use before they look for it.
for tool in dirname; do ln -s "$(type -P "$tool")" tools/; done
ln -s "$real_bin" onpath/stylize
ln -s "$real_bin" clone/build/stylize
# Slurm's copy of the script, far from any clone.
mkdir -p spool/job00001
cp "$src/scripts/slurm_array.sh" spool/job00001/slurm_script

# slurm_array EXPECTED_BIN ENV...: runs Slurm's copy with only ENV (PATH=tools unless given) as
# task 1 of a 2-task array; it must run EXPECTED_BIN on shard 2/2.
slurm_array() {
  local want=$1
  shift
  local out
  out=$(env -i PATH="$work/tools" SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=2 "$@" \
        /bin/bash "$work/spool/job00001/slurm_script" "$work/photos" "$work/style.png" "$work/out" \
        --dry-run 2>"$work/err") ||
    fail "slurm_array.sh ($*) failed: $(cat "$work/err")"
  grep -q "^slurm_array.sh: $want on " "$work/err" ||
    fail "slurm_array.sh ($*) did not run $want: $(cat "$work/err")"
  [ "$(tail -n 1 <<<"$out")" = "1 to do, 0 skipped, shard 2/2" ] ||
    fail "slurm_array.sh ($*): unexpected work list: $out"
}
slurm_array "$STYLIZE_BIN" STYLIZE_BIN="$STYLIZE_BIN" PATH="$work/onpath" \
  SLURM_SUBMIT_DIR="$work/clone"
slurm_array "$work/onpath/stylize" PATH="$work/onpath" SLURM_SUBMIT_DIR="$work/clone"
slurm_array "$work/clone/build/stylize" SLURM_SUBMIT_DIR="$work/clone"
(cd clone && slurm_array "$work/clone/build/stylize")  # outside Slurm: the current directory

# Nothing found, or a wrong STYLIZE_BIN: exit 1 and one line that says what to do.
expect_error() {  # expect_error SCRIPT PATTERN ENV...
  local script=$1 pattern=$2
  shift 2
  local rc=0
  env -i PATH="$work/tools" "$@" /bin/bash "$script" 2 photos style.png out >"$work/out" \
    2>"$work/err" || rc=$?
  [ "$rc" = 1 ] || fail "$script ($*) exited $rc, expected 1: $(cat "$work/err")"
  [ "$(wc -l <"$work/err")" = 1 ] ||
    fail "$script ($*): expected one error line: $(cat "$work/err")"
  grep -q "$pattern" "$work/err" ||
    fail "$script ($*): '$(cat "$work/err")' does not match '$pattern'"
}
missing="error: stylize not found: STYLIZE_BIN is not set, there is no stylize on PATH, and no"
# (slurm_array.sh takes the 2 as PHOTO_DIR: it stops before reading its arguments' meaning.)
expect_error spool/job00001/slurm_script "$missing $work/nowhere/build/stylize " \
  SLURM_SUBMIT_DIR="$work/nowhere"
expect_error spool/job00001/slurm_script "STYLIZE_BIN='$work/nowhere/stylize' is not an executable" \
  STYLIZE_BIN="$work/nowhere/stylize" PATH="$work/onpath"

# parallel_shards.sh: the same order, its own clone's build/stylize last.
cp "$src/scripts/parallel_shards.sh" clone/scripts/
mkdir -p bare/scripts
cp "$src/scripts/parallel_shards.sh" bare/scripts/
expect_error bare/scripts/parallel_shards.sh "$missing $work/bare/build/stylize "
expect_error bare/scripts/parallel_shards.sh "STYLIZE_BIN='$work/nowhere/stylize' is not an executable" \
  STYLIZE_BIN="$work/nowhere/stylize"
if type -P parallel >/dev/null && parallel --version 2>/dev/null | grep -q "GNU parallel"; then
  pdir=$(dirname "$(type -P parallel)")
  # parallel_shards EXPECTED_BIN ENV...: both shards' work lists, made by EXPECTED_BIN
  parallel_shards() {
    local want=$1
    shift
    local out
    # The work lists say nothing of the binary: a stand-in that names itself first does.
    out=$(env -i PATH="$pdir" PARALLEL_HOME="$work/.parallel" "$@" \
          /bin/bash clone/scripts/parallel_shards.sh 2 photos style.png out --dry-run 2>&1) ||
      fail "parallel_shards.sh ($*) failed: $out"
    [ "$(grep -c ' to do, 0 skipped, shard [12]/2$' <<<"$out")" = 2 ] ||
      fail "parallel_shards.sh ($*): unexpected work lists: $out"
    [ "$(grep -c "^ran $want\$" "$work/ran")" = 2 ] ||
      fail "parallel_shards.sh ($*) did not run $want twice: $(cat "$work/ran")"
    rm -f "$work/ran"
  }
  for place in onpath clone/build; do  # stand-ins that log which one ran
    rm "$place/stylize"
    # shellcheck disable=SC2016 # $0 and $@ are the stand-in's
    printf '#!/bin/sh\necho "ran $0" >>"%s"\nexec "%s" "$@"\n' "$work/ran" "$real_bin" >"$place/stylize"
    chmod +x "$place/stylize"
  done
  parallel_shards "$work/onpath/stylize" STYLIZE_BIN="$work/onpath/stylize" PATH="$pdir"
  parallel_shards "$work/onpath/stylize" PATH="$work/onpath:$pdir"
  if [ -x "$pdir/stylize" ]; then
    say "$pdir/stylize exists: the clone's build/stylize branch of parallel_shards.sh not run"
  else
    parallel_shards "$work/clone/build/stylize"
  fi
else
  say "no GNU parallel: parallel_shards.sh's found branches not run"
fi
say "PASS"
