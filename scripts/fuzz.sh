#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/*.rs, cargo-fuzz + libFuzzer) for a set time and
# prints a summary. See docs/fuzzing.md.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     default: 60 s, every target
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --version 0.13.2 --locked`).
# Seeds come from fuzz/testdata/<target>/ (testdata: throw-away keys live there) (committed, small, never written to); what the fuzzer
# finds goes to fuzz/work/<target>/ (git-ignored), crashes to fuzz/artifacts/<target>/.
# Environment: FUZZ_TARGET_DIR (default fuzz/target), FUZZ_NO_BUILD=1 to use the binaries already
# built, FUZZ_LOG_DIR (default fuzz/work/logs), FUZZ_MAX_LEN (default 16384), FUZZ_TIMEOUT (default
# 10 s). Exit status 1 when any target crashed or timed out.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUZZ="$ROOT/fuzz"
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGET_DIR=${FUZZ_TARGET_DIR:-$FUZZ/target}
LOG_DIR=${FUZZ_LOG_DIR:-$FUZZ/work/logs}
if [ "$#" -gt 0 ]; then
  TARGETS=("$@")
else
  TARGETS=()
  for f in "$FUZZ"/fuzz_targets/*.rs; do TARGETS+=("$(basename "$f" .rs)"); done
fi

if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
  (cd "$FUZZ" && cargo +nightly fuzz build --target-dir "$TARGET_DIR" 2>&1 | tail -n 3) >&2 \
    || { echo "fuzz: build failed (is cargo-fuzz installed? cargo install cargo-fuzz --version 0.13.2 --locked)" >&2; exit 2; }
fi
BIN_DIR="$TARGET_DIR/x86_64-unknown-linux-gnu/release"
mkdir -p "$LOG_DIR"

# The PEM/key target gets key pairs made fresh for this run (never committed: see docs/fuzzing.md):
# a matching PKCS#8 pair, the same key as PKCS#1, and a key with someone else's certificate.
KEY_SEEDS=$(mktemp -d)
trap 'rm -rf "$KEY_SEEDS"' EXIT
make_key_seeds() {
  local d=$KEY_SEEDS
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/a.key" -out "$d/a.crt" -days 30 -subj /CN=fuzz-a 2>/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/b.key" -out "$d/b.crt" -days 30 -subj /CN=fuzz-b 2>/dev/null
  openssl rsa -in "$d/a.key" -traditional -out "$d/a.pkcs1" 2>/dev/null
  mkdir -p "$d/seeds"
  { cat "$d/a.key"; printf '\0'; cat "$d/a.crt"; } > "$d/seeds/pkcs8-match"
  { cat "$d/a.pkcs1"; printf '\0'; cat "$d/a.crt"; } > "$d/seeds/pkcs1-match"
  { cat "$d/a.key"; printf '\0'; cat "$d/b.crt"; } > "$d/seeds/pkcs8-mismatch"
  { sed 's/$/\r/' "$d/a.key"; printf '\0'; cat "$d/a.crt"; } > "$d/seeds/pkcs8-crlf"
  rm -f "$d"/*.key "$d"/*.crt "$d"/*.pkcs1
}

failed=0
summary=()
for t in "${TARGETS[@]}"; do
  bin="$BIN_DIR/$t"
  [ -x "$bin" ] || { echo "fuzz: no binary $bin (build first)" >&2; exit 2; }
  work="$FUZZ/work/$t"; art="$FUZZ/artifacts/$t"
  mkdir -p "$work" "$art"
  extra=()
  if [ "$t" = pem_key ] || [ "$t" = key_normalise ]; then make_key_seeds; extra=("$KEY_SEEDS/seeds"); fi
  log="$LOG_DIR/$t.log"
  echo "fuzz: $t for ${SECONDS_PER_TARGET}s (log $log)" >&2
  set +e
  "$bin" -max_total_time="$SECONDS_PER_TARGET" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 -max_len="${FUZZ_MAX_LEN:-16384}" \
    -print_final_stats=1 -artifact_prefix="$art/" "$work" "$FUZZ/testdata/$t" "${extra[@]}" > "$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n1 || true)
  secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' | tail -n1 || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | grep -o '[0-9]*' || true)
  corpus=$(find "$work" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then result=ok; else result="CRASH (exit $rc; see $art and $log)"; failed=1; fi
  summary+=("$(printf '%-16s %8ss %12s execs %6s cov %6s corpus  %s' "$t" "${secs:-?}" "${runs:-?}" "${cov:-?}" "$corpus" "$result")")
done
printf '%s\n' "${summary[@]}"
exit "$failed"
