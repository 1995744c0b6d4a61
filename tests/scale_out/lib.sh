# shellcheck shell=bash
# Helpers for the scale-out script tests (sourced). Exit code 77 is CTest's SKIP_RETURN_CODE.
me=${0##*/}

skip() {
  echo "$me: SKIP: $*"
  exit 77
}

fail() {
  echo "$me: FAIL: $*" >&2
  exit 1
}

say() {
  echo "$me: $*"
}

# budget SECONDS: every wait_until from now on fails once the test has run this long (so that
# the test fails with a message, and cleans up, before CTest's TIMEOUT kills it).
budget_end=
budget() {
  budget_end=$((SECONDS + $1))
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s; fails after SECONDS.
wait_until() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "waited ${limit} s for $what"
    [ -z "$budget_end" ] || [ "$SECONDS" -lt "$budget_end" ] ||
      fail "out of time (the test's budget) while waiting for $what"
    sleep 0.2
  done
}

# make_photos DIR NAME...: small PNGs (80x64, each its own pattern), written with Python's
# standard library only.
make_photos() {
  local dir=$1
  shift
  mkdir -p "$dir"
  /usr/bin/python3 - "$dir" "$@" <<'PY'
import struct, sys, zlib
def png(path, w, h, seed):
    rows = b"".join(
        b"\0" + bytes(((x * (seed + 3) + y * 7 + seed * 40) % 256,
                       (y * (seed + 5) + x * 3) % 256,
                       ((x ^ y) * (seed + 1)) % 256)[c] for x in range(w) for c in range(3))
        for y in range(h))
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
for seed, name in enumerate(sys.argv[2:]):
    png(f"{sys.argv[1]}/{name}", 80, 64, seed)
PY
}

# The image files in DIR (names only, sorted, one per line), and its hidden files (temporaries,
# marks of unfinished images).
images_in() {
  (cd "$1" && find . -maxdepth 1 -type f -name '[!.]*.png' -printf '%f\n' | LC_ALL=C sort)
}
hidden_in() {
  (cd "$1" && find . -maxdepth 1 -type f -name '.*' -printf '%f\n' | LC_ALL=C sort)
}

# expect_images DIR NAME... [-- HIDDEN...]: DIR holds exactly these images, and no hidden file but
# HIDDEN.
expect_images() {
  local dir=$1
  shift
  local names=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do names+=("$1"); shift; done
  [ $# = 0 ] || shift
  local want got
  want=$(printf '%s\n' "${names[@]}" | LC_ALL=C sort)
  got=$(images_in "$dir")
  [ "$got" = "$want" ] || fail "$dir holds [${got//$'\n'/ }], expected [${want//$'\n'/ }]"
  want=$(if (($#)); then printf '%s\n' "$@" | LC_ALL=C sort; fi)
  got=$(hidden_in "$dir")
  [ "$got" = "$want" ] || fail "hidden files in $dir: [${got//$'\n'/ }], expected [${want//$'\n'/ }]"
}

# outputs_with_status STATUS FILE...: the output of every "image" record with this status in
# these JSON-lines progress files, one per line (keys are sorted: "output" precedes "status").
outputs_with_status() {
  local status=$1
  shift
  cat "$@" | sed -n "/\"type\":\"image\"/{/\"status\":\"$status\"/s/.*\"output\":\"\([^\"]*\)\".*/\1/p}"
}

# expect_made_once DIR FILES -- NAME...: across the progress FILES, each DIR/NAME is "done"
# exactly once and nothing else is done.
expect_made_once() {
  local dir=$1
  shift
  local files=()
  while [ "$1" != -- ]; do files+=("$1"); shift; done
  shift
  local want got
  want=$(for n in "$@"; do echo "$dir/$n"; done | LC_ALL=C sort)
  got=$(outputs_with_status "done" "${files[@]}" | LC_ALL=C sort)
  [ "$got" = "$want" ] ||
    fail "images done per progress files: [${got//$'\n'/ }], expected each of [${want//$'\n'/ }] once"
}

# expect_summary FILE FIELD=VALUE...: FILE ends with a complete run (a "summary" line) whose
# fields have these values.
expect_summary() {
  local file=$1
  shift
  [ -f "$file" ] || fail "no progress file $file"
  local line
  line=$(grep '"type":"summary"' "$file") || fail "$file has no summary line (task incomplete):
$(cat "$file")"
  local kv
  for kv in "$@"; do
    case $line in
      *"\"${kv%%=*}\":${kv#*=}"[,\}]*) ;;
      *) fail "$file: summary $line has no ${kv%%=*}=${kv#*=}" ;;
    esac
  done
}
