#!/usr/bin/env bash
# scripts/slurm_array.sh on a real Slurm: starts a private single-node cluster (munged, slurmctld
# and slurmd from Debian's munge and slurm-wlm, a generated slurm.conf, everything in a temporary
# directory, stopped at the end), then
#   1. submits the array (2 tasks, 3 photos) from a directory other than the clone and waits:
#      each image made exactly once, every task's JSON-lines progress complete; then, as a dry run,
#      from the root of a clone without STYLIZE_BIN;
#   2. submits it again with more iterations into a fresh folder, cancels task 0 while it makes its
#      second image, resubmits the same command: only that image is made again (the others keep
#      their mtimes and are "skipped" in the new progress).
# Skips (exit 77) when Slurm cannot start here: not root, packages missing, daemons not starting.
#
#   STYLIZE_BIN=build/stylize tests/scale_out/slurm_test.sh SOURCE_DIR MODEL
set -euo pipefail
# shellcheck source=tests/scale_out/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
src=$(cd "${1:?usage: slurm_test.sh SOURCE_DIR MODEL}" && pwd)
model=$(realpath "${2:?model file}")
: "${STYLIZE_BIN:?set STYLIZE_BIN to the stylize binary}"
[ -x "$STYLIZE_BIN" ] || fail "STYLIZE_BIN=$STYLIZE_BIN is not executable"
[ -f "$model" ] || fail "no model $model"

[ "$(id -u)" = 0 ] || skip "a private Slurm needs root (slurmd runs jobs as their user)"
for tool in munged slurmctld slurmd sbatch squeue scancel scontrol sinfo; do
  type -P "$tool" >/dev/null || skip "$tool not found (Debian: apt-get install slurm-wlm munge)"
done

work=$(mktemp -d /tmp/stylize-slurm.XXXXXX)
chmod 700 "$work"
pids=()
passed=0
cleanup() {
  if [ -f "$work/slurm.conf" ] && [ "$passed" != 1 ]; then  # stop what still runs
    timeout 10 scancel --quiet --name=stylize 2>/dev/null || true
    for _ in $(seq 50); do
      [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ "$passed" = 1 ]; then
    rm -rf "$work"
  else
    for log in "$work"/*.log "$work"/submit/*.log; do
      [ -f "$log" ] && { echo "--- $log (last 25 lines)"; tail -n 25 "$log"; }
    done
    echo "$me: kept $work"
  fi
}
trap cleanup EXIT
budget 120  # CTest's TIMEOUT is 180 s; a run takes 20-40 s

# --- The cluster. --------------------------------------------------------------------------------
node=$(hostname -s)
ports=$(/usr/bin/python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
read -r ctld_port slurmd_port <<<"$ports"
mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
mkdir -p "$work/state" "$work/spool" "$work/munge" "$work/submit"
chmod 700 "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
socket=$work/munge/munge.socket
cat >"$work/slurm.conf" <<CONF
ClusterName=stylizetest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
SlurmdParameters=config_overrides
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
KillWait=15
MinJobAge=600
InactiveLimit=0
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem_mb State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$work/slurm.conf
# The job gets this environment (sbatch passes it on): nothing from an outer Slurm job, no stylize
# settings from the caller but STYLIZE_BIN.
unset SLURM_JOB_ID SLURM_ARRAY_JOB_ID SLURM_ARRAY_TASK_ID SLURM_ARRAY_TASK_COUNT STYLIZE_MODEL
export OMP_WAIT_POLICY=passive

munged --foreground --force --socket="$socket" --key-file="$work/munge/munge.key" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/munged.log" \
  --seed-file="$work/munge/munged.seed" >"$work/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$socket" ] && break; sleep 0.1; done
[ -S "$socket" ] ||
  skip "munged did not start: $(tail -n 3 "$work"/munged.* 2>/dev/null | tr '\n' ' ')"
slurmctld -D -i -f "$SLURM_CONF" >"$work/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N "$node" -f "$SLURM_CONF" >"$work/slurmd.out" 2>&1 &
pids+=($!)
node_idle() { [ "$(sinfo -h -n "$node" -o %T 2>/dev/null)" = idle ]; }
for _ in $(seq 150); do node_idle && break; sleep 0.2; done
if ! node_idle; then
  skip "Slurm did not start here (node '$(sinfo -h -n "$node" -o %T 2>&1 | head -1)'):" \
    "$(grep -hi 'error\|fatal' "$work"/slurm*.log "$work"/slurm*.out 2>/dev/null | head -3 | tr '\n' ' ')"
fi
say "Slurm up: node $node, $(nproc) CPUs, ports $ctld_port/$slurmd_port"

# --- The batch: submitted from another directory, paths relative to it. ---------------------------
cd "$work/submit"
make_photos photos a.png b.png c.png
make_photos . style.png
# Task 0 (shard 1/2) makes a and c, task 1 (shard 2/2) makes b.
all=(a_style.png b_style.png c_style.png)
submit() {  # submit OUT_DIR [sbatch options] -- [stylize options]: prints the job id
  local out=$1 opts=()
  shift
  while [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  sbatch --parsable --array=0-1 "${opts[@]}" "$src/scripts/slurm_array.sh" photos style.png \
    "$out" --size 64 --model "$model" --seed 1 "$@"
}
left_queue() { [ -z "$(squeue -h -j "$job" -o %i 2>/dev/null)" ]; }
# What sbatch --wait does, polled faster (it checks every 10 s): waits for every task of $job,
# fails unless each COMPLETED with exit code 0.
wait_job() {
  wait_until "$1" "job $job to finish" left_queue
  local states
  states=$(scontrol -o show job "$job" | grep -o 'JobState=[A-Z_]*\|ExitCode=[0-9:]*' |
           paste -sd' ')
  [ -n "$states" ] || fail "Slurm forgot job $job"
  if tr ' ' '\n' <<<"$states" | grep -qv '^JobState=COMPLETED$\|^ExitCode=0:0$'; then
    fail "job $job did not complete: $states"
  fi
}

start=$SECONDS
# As the README has it: no -c (a task gets 1 CPU and as many threads).
job=$(submit out1 -- --iterations 3) || fail "sbatch failed"
job=${job%%;*}
wait_job 60
say "run 1: job $job in $((SECONDS - start)) s"
for task in 0 1; do
  grep -q "slurm_array.sh: $STYLIZE_BIN on .*, task $task of job $job, 1 threads," \
    "stylize-${job}_$task.log" ||
    fail "task $task did not run STYLIZE_BIN: $(head -3 "stylize-${job}_$task.log")"
done
expect_images out1 "${all[@]}"
p0=out1/progress-${job}_0.jsonl
p1=out1/progress-${job}_1.jsonl
if ! grep -q '"shard":"1/2"' "$p0" || ! grep -q '"shard":"2/2"' "$p1"; then
  fail "the tasks are not shards 1/2 and 2/2"
fi
expect_summary "$p0" done=2 failed=0 skipped=0 exit_code=0
expect_summary "$p1" done=1 failed=0 skipped=0 exit_code=0
expect_made_once out1 "$p0" "$p1" -- "${all[@]}"
[ "$(find out1 -name 'progress-*' | wc -l)" = 2 ] || fail "expected 2 progress files in out1"

# The README's form, from the root of a clone (here: a stand-in with build/stylize and scripts/),
# without STYLIZE_BIN: the job finds $SLURM_SUBMIT_DIR/build/stylize, or stylize on PATH.
mkdir -p "$work/clone/build"
ln -s "$(realpath "$STYLIZE_BIN")" "$work/clone/build/stylize"
ln -s "$src/scripts" "$work/clone/scripts"
ln -s "$work/submit/photos" "$work/clone/photos"
ln -s "$work/submit/style.png" "$work/clone/style.png"
job=$(cd "$work/clone" && env -u STYLIZE_BIN PATH=/usr/bin:/bin \
      sbatch --parsable --array=0-1 scripts/slurm_array.sh photos style.png out --dry-run) ||
  fail "sbatch from the clone failed"
job=${job%%;*}
wait_job 60
want=$(PATH=/usr/bin:/bin type -P stylize || echo "$work/clone/build/stylize")
for task in 0 1; do
  log=$work/clone/stylize-${job}_$task.log
  grep -q "^slurm_array.sh: $want on " "$log" || fail "task $task did not run $want: $(cat "$log")"
  grep -q " to do, 0 skipped, shard $((task + 1))/2\$" "$log" || fail "no work list: $(cat "$log")"
done
say "run 1b, from the clone: job $job"

# --- Cancel task 0 while it makes c (its second image), resubmit the same command. ----------------
slow=(--iterations 40 --print-every 1)  # about 4 s an image
start=$SECONDS
job=$(submit out2 -c 1 -- "${slow[@]}") || fail "sbatch failed"
job=${job%%;*}
p0=out2/progress-${job}_0.jsonl
p1=out2/progress-${job}_1.jsonl
making_c() { grep -q '"job":2,' "$p0" 2>/dev/null; }
wait_until 60 "task 0 to start on c" making_c
scancel "${job}_0"
wait_until 60 "job $job to leave the queue" left_queue
say "run 2: job $job, task 0 cancelled, in $((SECONDS - start)) s"
grep '"type":"image"' "$p0" | grep '"input":"photos/c.png"' | grep -q '"status":"interrupted"' ||
  fail "task 0 did not report c interrupted: $(grep '"type":"image"' "$p0")"
expect_summary "$p0" done=1 interrupted=true exit_code=143
expect_summary "$p1" done=1 exit_code=0
# c holds the best image so far, marked unfinished.
expect_images out2 "${all[@]}" -- .c_style.png.interrupted
stamps=$(stat -c '%n %y' out2/*_style.png)

job=$(submit out2 -c 1 -- "${slow[@]}") || fail "resubmission failed"
job=${job%%;*}
wait_job 60
say "run 3: job $job (resubmitted) in $((SECONDS - start)) s since run 2"
expect_images out2 "${all[@]}"
now=$(stat -c '%n %y' out2/*_style.png)
[ "$(grep -v c_style <<<"$now")" = "$(grep -v c_style <<<"$stamps")" ] ||
  fail "finished images were made again: before $stamps, after $now"
[ "$(grep c_style <<<"$now")" != "$(grep c_style <<<"$stamps")" ] || fail "c was not made again"
q0=out2/progress-${job}_0.jsonl
q1=out2/progress-${job}_1.jsonl
expect_summary "$q0" done=1 skipped=1 failed=0 exit_code=0
expect_summary "$q1" done=0 skipped=1 failed=0 exit_code=0
[ "$(outputs_with_status skipped "$q0" "$q1" | LC_ALL=C sort | tr '\n' ' ')" = \
  "out2/a_style.png out2/b_style.png " ] || fail "the resubmission did not skip exactly a and b"
expect_made_once out2 "$q0" "$q1" -- c_style.png
grep -q '"iteration":40,' "$q0" || fail "c was not made with all 40 iterations"
passed=1
say "PASS in $SECONDS s"
