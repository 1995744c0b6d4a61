#!/usr/bin/env bash
# A Slurm job array that styles every photo in a folder, each array task taking one deterministic
# shard of the work list (stylize reads SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT itself), so the
# array covers the batch exactly once. Re-submitting the same command makes only what is missing
# or unfinished (--skip-existing: outputs are written atomically, and the image that a task was
# making when cancelled or out of time is marked unfinished). Options after OUT_DIR go to stylize.
#
#   sbatch --array=0-7 scripts/slurm_array.sh photos/ starry_night.jpg styled/ --size 1024
#
# CPUs, memory and time are sbatch's (e.g. -c 8 --mem=8G --time=4:00:00) or the site's defaults;
# stylize runs as many threads as the task has CPUs (-c, else what Slurm gave it). Slurm runs a
# copy of this script from its spool directory, so stylize is found as $STYLIZE_BIN, else
# `stylize` on PATH, else $SLURM_SUBMIT_DIR/build/stylize (submitting from the root of a clone).
# Relative paths, the log stylize-<job>_<task>.log and the progress file
# OUT_DIR/progress-<job>_<task>.jsonl are relative to the directory sbatch ran in.
# From another directory (sbatch passes the environment, STYLIZE_BIN included, to the job):
#
#   cd /scratch/run1 && STYLIZE_BIN=~/stylize/build/stylize \
#     sbatch --array=0-3 -c 4 ~/stylize/scripts/slurm_array.sh photos/ style.jpg out/
#
#SBATCH --job-name=stylize
#SBATCH --output=stylize-%A_%a.log
set -euo pipefail
usage="usage: sbatch --array=0-N [-c CPUS] slurm_array.sh PHOTO_DIR STYLE OUT_DIR [stylize options]"
photos=${1:?$usage}
style=${2:?$usage}
out=${3:?$usage}
shift 3
me=slurm_array.sh

if [ -n "${STYLIZE_BIN:-}" ]; then
  bin=$STYLIZE_BIN
  if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
    echo "$me: error: STYLIZE_BIN='$bin' is not an executable file" >&2
    exit 1
  fi
elif bin=$(type -P stylize); then
  :
elif [ -x "${SLURM_SUBMIT_DIR:-$PWD}/build/stylize" ]; then
  bin=${SLURM_SUBMIT_DIR:-$PWD}/build/stylize
else
  echo "$me: error: stylize not found: STYLIZE_BIN is not set, there is no stylize on PATH, and no" \
       "${SLURM_SUBMIT_DIR:-$PWD}/build/stylize (submit with STYLIZE_BIN=/path/to/stylize)" >&2
  exit 1
fi
# Without -c, the CPUs Slurm gave the job on this node (stylize's 0, every CPU the process may use,
# is the whole node where Slurm does not bind tasks to CPUs).
threads=${SLURM_CPUS_PER_TASK:-${SLURM_CPUS_ON_NODE:-0}}
progress="$out/progress-${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-local}}_${SLURM_ARRAY_TASK_ID:-0}.jsonl"
echo "$me: $bin on $HOSTNAME, task ${SLURM_ARRAY_TASK_ID:-none} of job" \
     "${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-none}}, $threads threads, progress in $progress" >&2

exec "$bin" --content "$photos" --style "$style" --output-dir "$out" --skip-existing \
  --threads "$threads" --progress-json "$progress" "$@"
