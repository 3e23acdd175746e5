#!/usr/bin/env bash
# The release binary's size, and the clean build time of CI's profile (CI runs
# `cargo build --workspace --all-targets --locked` with the dev profile of Cargo.toml, then the
# tests). Builds in a fresh target directory (default: a new temp dir, removed afterwards) so the
# times are clean builds; the crates.io downloads are already in ~/.cargo and are not timed.
#
#   benches/build.sh [release|ci|both]          default both
# It takes long: on a 2-core machine, 5+ minutes for each clean build.
set -euo pipefail
. "$(dirname "$0")/common.sh"
WHAT=${1:-both}
machine
echo "$(cargo --version); $(rustc --version)"
cd "$ROOT"
clean_build() {  # clean_build LABEL CARGO_ARGS...
  local label=$1; shift
  local dir; dir=$(mktemp -d "${TMPDIR:-/tmp}/sfglue-build.XXXXXX")
  local start end
  start=$(date +%s.%N)
  CARGO_TARGET_DIR="$dir" cargo "$@" >&2
  end=$(date +%s.%N)
  printf '%-55s %7.1f s\n' "clean build, $label:" "$(echo "$end - $start" | bc)"
  if [ "$label" = release ]; then
    local bin="$dir/release/sfglue"
    printf '%-55s %7.1f MiB (%s bytes)\n' "release binary target/release/sfglue:" "$(echo "scale=1; $(stat -c %s "$bin") / 1048576" | bc)" "$(stat -c %s "$bin")"
    cp "$bin" "$dir.sfglue"; strip "$dir.sfglue"
    printf '%-55s %7.1f MiB\n' "  stripped:" "$(echo "scale=1; $(stat -c %s "$dir.sfglue") / 1048576" | bc)"
    rm -f "$dir.sfglue"
  fi
  rm -rf "$dir"
}
case $WHAT in
  release|both) clean_build release build --release --locked -p sfglue ;;&
  ci|both) clean_build "CI profile (dev, --workspace --all-targets)" build --workspace --all-targets --locked ;;
  release|ci|both) ;;
  *) echo "usage: benches/build.sh [release|ci|both]" >&2; exit 2 ;;
esac
