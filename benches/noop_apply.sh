#!/usr/bin/env bash
# A no-op `sfglue apply --yes` against the AWS emulator (moto, 127.0.0.1) after a full bootstrap:
# its wall time, the AWS calls it makes (from the emulator's counter: GET /__launcher/requests),
# and, for scale, each of those reads timed on its own (benches/read_latency.py): the sum is what
# reading one after another costs, the slowest is the floor for reads issued together.
# A no-op apply also verifies (one token exchange on the Salesforce emulator, not an AWS call);
# `sfglue plan` is timed too: the same reads without the verify step.
#
# The emulator (moto) answers one request at a time, so on loopback the wall time of reads issued
# together cannot drop below the sum of moto's own work. A second pass therefore adds a round
# trip of LATENCY_MS to every AWS call, outside moto's lock (POST /__launcher/latency), as a real
# AWS endpoint has: there, requests sent together overlap, and the wall time shows how many round
# trips deep the chain of reads is. Both passes print max_in_flight, the most AWS requests being
# handled at one moment (1 for a client that waits for each answer before the next request).
#
#   benches/noop_apply.sh [RUNS] [LATENCY_MS]     default 20 runs each after 2 warm-ups; 25 ms
set -euo pipefail
. "$(dirname "$0")/common.sh"
RUNS=${1:-20}
LATENCY_MS=${2:-25}
need hyperfine "apt-get install -y hyperfine"
build_release
start_emulators "$ROOT/benches/.work/noop_apply"
bootstrap
cd "$BENCH_DIR"
counts() { "$VENV_PY" -c 'import json,sys,urllib.request; print(json.dumps(json.load(urllib.request.urlopen(sys.argv[1] + "/__launcher/requests", timeout=10))))' "$AWS_URL"; }
reset() { "$VENV_PY" -c 'import sys,urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/__launcher/requests/reset", data=b"", method="POST"), timeout=10).read()' "$AWS_URL"; }

latency() { "$VENV_PY" -c 'import sys,urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/__launcher/latency", data=("{\"ms\": %s}" % sys.argv[2]).encode(), method="POST"), timeout=10).read()' "$AWS_URL" "$1"; }

# pass LABEL MS: the call counts of one no-op apply and one plan, then both timed with hyperfine.
pass() {
  local label=$1 ms=$2
  latency "$ms"
  reset
  "$SFGLUE_REL" --config "$BENCH_CONFIG" apply --yes > "apply-noop-$label.out" 2> "apply-noop-$label.err"
  grep -q 'no changes' "apply-noop-$label.out" || { echo "bench: the apply was not a no-op; see $BENCH_DIR/apply-noop-$label.out" >&2; exit 1; }
  counts > "apply-counts-$label.json"
  reset
  "$SFGLUE_REL" --config "$BENCH_CONFIG" plan > "plan-$label.out" 2> "plan-$label.err"
  counts > "plan-counts-$label.json"
  hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$BENCH_DIR/noop-$label.json" --style basic \
    -n "sfglue apply --yes (no-op, verifies)" "$SFGLUE_REL --config $BENCH_CONFIG --quiet apply --yes" \
    -n "sfglue plan" "$SFGLUE_REL --config $BENCH_CONFIG --quiet plan" >&2
  mapfile -t rows < <(hyperfine_summary "$BENCH_DIR/noop-$label.json")
  read -r a_med _ _ a_min a_max n <<< "${rows[0]}"
  read -r p_med _ _ p_min p_max _ <<< "${rows[1]}"
  echo
  echo "### $label: ${ms} ms added to every AWS call"
  printf '| %-38s | %10s | %10s | %10s | %4s |\n' command "median ms" "min ms" "max ms" runs
  printf '|%s|%s|%s|%s|%s|\n' "----------------------------------------" "------------" "------------" "------------" "------"
  printf '| %-38s | %10s | %10s | %10s | %4s |\n' "sfglue apply --yes (no-op)" "$a_med" "$a_min" "$a_max" "$n"
  printf '| %-38s | %10s | %10s | %10s | %4s |\n' "sfglue plan" "$p_med" "$p_min" "$p_max" "$n"
  "$VENV_PY" - "apply-counts-$label.json" "plan-counts-$label.json" <<'PY2'
import json, sys
for label, path in (("no-op apply", sys.argv[1]), ("plan", sys.argv[2])):
    c = json.load(open(path))
    ops = ", ".join(f"{k} {v}" for k, v in sorted(c["operations"].items()))
    print(f"AWS calls of one {label}: {c['total']} ({c['reads']} reads, {c['writes']} writes), "
          f"at most {c['max_in_flight']} in flight at once: {ops}")
    if c["writes"]:
        print(f"  WRITES: {c['write_calls']}")
PY2
  echo "each read on its own (boto3, one after another, median of 20):"
  "$VENV_PY" "$ROOT/benches/read_latency.py" 20
}

machine
pass loopback 0
pass round-trip "$LATENCY_MS"
latency 0
