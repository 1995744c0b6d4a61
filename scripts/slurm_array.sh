#!/usr/bin/env bash
# A Slurm job array that styles every photo in a folder, each array task taking one deterministic
# shard of the work list (stylize reads SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT itself), so the
# array covers the batch exactly once. Re-submitting after a failure redoes only what is missing
# (--skip-existing; outputs are written atomically, so a killed task never leaves a half file).
#
#   sbatch --array=0-7 scripts/slurm_array.sh photos/ starry_night.jpg styled/
#
#SBATCH --job-name=stylize
#SBATCH --cpus-per-task=8
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --output=stylize-%A_%a.log
set -euo pipefail
photos=${1:?usage: sbatch --array=0-N scripts/slurm_array.sh PHOTO_DIR STYLE OUT_DIR}
style=${2:?style image}
out=${3:?output directory}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec "$root/build/stylize" --content "$photos" --style "$style" --output-dir "$out" \
  --skip-existing --threads "${SLURM_CPUS_PER_TASK:-0}" \
  --progress-json "$out/progress-${SLURM_ARRAY_TASK_ID:-0}.jsonl"
