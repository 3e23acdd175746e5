#!/usr/bin/env bash
# `sfglue verify` as a whole process against the emulators on 127.0.0.1, side by side with a
# Python script doing the same exchange (benches/verify_python.py: boto3 + PyJWT + requests).
# Prints the median wall time of each and the ratio. Target: sfglue at least 5 times faster.
#
#   benches/verify.sh [RUNS]        default 30 runs each, after 3 warm-up runs
# Needs hyperfine (apt-get install hyperfine) and the venv (make venv).
set -euo pipefail
. "$(dirname "$0")/common.sh"
RUNS=${1:-30}
need hyperfine "apt-get install -y hyperfine"
build_release
start_emulators "$ROOT/benches/.work/verify"
bootstrap
cd "$BENCH_DIR"
# Both sides once, checked, before timing.
"$SFGLUE_REL" --config "$BENCH_CONFIG" verify | grep -q 'token exchange' || { echo "bench: sfglue verify failed" >&2; exit 1; }
"$VENV_PY" "$ROOT/benches/verify_python.py" bench/salesforce-jwt | grep -q 'token exchange ok' || { echo "bench: python verify failed" >&2; exit 1; }
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$BENCH_DIR/verify.json" --style basic \
  -n "sfglue verify" "$SFGLUE_REL --config $BENCH_CONFIG --quiet verify" \
  -n "python (PyJWT+requests+boto3)" "$VENV_PY $ROOT/benches/verify_python.py bench/salesforce-jwt" >&2
mapfile -t rows < <(hyperfine_summary "$BENCH_DIR/verify.json")
read -r rs_med _ _ rs_min rs_max n <<< "${rows[0]}"
read -r py_med _ _ py_min py_max _ <<< "${rows[1]}"
machine
printf '| %-38s | %10s | %10s | %10s | %4s |\n' command "median ms" "min ms" "max ms" runs
printf '|%s|%s|%s|%s|%s|\n' "----------------------------------------" "------------" "------------" "------------" "------"
printf '| %-38s | %10s | %10s | %10s | %4s |\n' "sfglue verify ($(basename "$(dirname "$SFGLUE_REL")"))" "$rs_med" "$rs_min" "$rs_max" "$n"
printf '| %-38s | %10s | %10s | %10s | %4s |\n' "python verify_python.py" "$py_med" "$py_min" "$py_max" "$n"
"$VENV_PY" -c "import sys; r=float(sys.argv[2])/float(sys.argv[1]); print(f'ratio (python / sfglue, medians): {r:.1f}x  target >= 5x: {\"met\" if r >= 5 else \"NOT met\"}')" "$rs_med" "$py_med"
