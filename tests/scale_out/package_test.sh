#!/usr/bin/env bash
# The Debian package, installed into a scratch root: cpack -G DEB from the build directory, the
# package's fields (Depends against dpkg-shlibdeps' view of the binary), dpkg -x, then from PATH:
# stylize --version, a 64 px run that finds its model as <root>/usr/share/stylize/vgg19.pt, and
# the installed slurm_array.sh run outside Slurm, finding stylize on PATH.
# Skips (exit 77) without dpkg (not Debian).
#
#   tests/scale_out/package_test.sh BUILD_DIR MODEL VERSION
set -euo pipefail
# shellcheck source=tests/scale_out/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build=$(cd "${1:?usage: package_test.sh BUILD_DIR MODEL VERSION}" && pwd)
model=$(realpath "${2:?model file}")
version=${3:?project version}
[ -f "$build/CPackConfig.cmake" ] || fail "no $build/CPackConfig.cmake"
for tool in cpack dpkg dpkg-deb; do
  type -P "$tool" >/dev/null || skip "$tool not found (a Debian package needs Debian's dpkg)"
done

work=$(mktemp -d /tmp/stylize-package.XXXXXX)
passed=0
cleanup() {
  if [ "$passed" = 1 ]; then rm -rf "$work"; else echo "$me: kept $work"; fi
}
trap cleanup EXIT

start=$SECONDS
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/pkg" >"$work/cpack.log" 2>&1 ||
  fail "cpack failed: $(tail -n 20 "$work/cpack.log")"
debs=("$work"/pkg/stylize_*.deb)
{ [ ${#debs[@]} = 1 ] && [ -f "${debs[0]}" ]; } ||
  fail "expected one stylize_*.deb in $work/pkg: $(ls "$work/pkg")"
deb=${debs[0]}
say "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB) in $((SECONDS - start)) s"

# Its fields: runtime packages only, and every one dpkg-shlibdeps derives from the binary.
[ "$(dpkg-deb -f "$deb" Package)" = stylize ] || fail "Package is not stylize"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] ||
  fail "Version $(dpkg-deb -f "$deb" Version), expected $version"
depends=$(dpkg-deb -f "$deb" Depends)
case $depends in *-dev*) fail "Depends names a -dev package: $depends" ;; esac
dpkg-deb -c "$deb" >"$work/contents"
for path in ./usr/bin/stylize ./usr/share/doc/stylize/README.md ./usr/share/doc/stylize/copyright \
            ./usr/share/stylize/scripts/slurm_array.sh ./usr/share/stylize/scripts/parallel_shards.sh; do
  grep -q " $path\$" "$work/contents" || fail "the package has no $path"
done

root=$work/root
dpkg -x "$deb" "$root"
bin=$root/usr/bin/stylize
if type -P dpkg-shlibdeps >/dev/null; then
  # dpkg-shlibdeps wants to run in a source package: give it an empty one.
  mkdir -p "$work/src/debian"
  touch "$work/src/debian/control"
  needed=$(cd "$work/src" && dpkg-shlibdeps -O "$bin" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
  [ -n "$needed" ] || fail "dpkg-shlibdeps found no dependencies of $bin"
  for dep in $(tr ',' '\n' <<<"$needed" | sed 's/^ *//; s/ .*//'); do
    case ", $depends," in
      *", $dep "* | *", $dep,"*) ;;
      *) fail "Depends lacks $dep (dpkg-shlibdeps: $needed)" ;;
    esac
  done
else
  say "no dpkg-shlibdeps (dpkg-dev): Depends not cross-checked"
fi
# The RPATH that prefers the OpenMP OpenBLAS survives installing and stripping.
if type -P readelf >/dev/null; then
  want=$(readelf -d "$build/stylize" | sed -n 's/.*(RPATH).*\[\(.*\)\]/\1/p')
  got=$(readelf -d "$bin" | sed -n 's/.*(RPATH).*\[\(.*\)\]/\1/p')
  [ "$got" = "$want" ] || fail "installed RPATH '$got', built '$want'"
fi

# From PATH, in a folder with no models/, with no STYLIZE_MODEL: the share/ lookup.
mkdir -p "$root/usr/share/stylize" "$work/run"
cp "$model" "$root/usr/share/stylize/vgg19.pt"
cd "$work/run"
make_photos . photo.png style.png
unset STYLIZE_MODEL STYLIZE_BIN SLURM_SUBMIT_DIR SLURM_ARRAY_TASK_ID SLURM_JOB_ID SLURM_ARRAY_JOB_ID
export PATH="$root/usr/bin:$PATH"
[ "$(type -P stylize)" = "$bin" ] || fail "PATH finds $(type -P stylize), not $bin"
out=$(stylize --version)
case $out in "stylize $version"*) ;; *) fail "stylize --version printed '$out'" ;; esac
stylize --content photo.png --style style.png --size 64 --iterations 3 --seed 1 \
  --output out.png 2>"$work/run.log" || fail "the smoke run failed: $(cat "$work/run.log")"
[ -s out.png ] || fail "the smoke run wrote no out.png"
grep -qF "model $root/usr/bin/../share/stylize/vgg19.pt " "$work/run.log" ||
  fail "the model was not found in share/stylize: $(cat "$work/run.log")"

# The installed Slurm script outside Slurm: stylize from PATH, the whole batch as one task.
mkdir photos
mv photo.png photos/
bash "$root/usr/share/stylize/scripts/slurm_array.sh" photos style.png styled --size 64 \
  --iterations 3 2>"$work/slurm_array.log" ||
  fail "slurm_array.sh failed: $(cat "$work/slurm_array.log")"
grep -q "^slurm_array.sh: $bin on " "$work/slurm_array.log" ||
  fail "slurm_array.sh did not take stylize from PATH: $(head -3 "$work/slurm_array.log")"
expect_images styled photo_style.png
expect_summary styled/progress-local_0.jsonl done=1 exit_code=0
passed=1
say "PASS in $((SECONDS - start)) s"
