#!/usr/bin/env bash
# A no-op `sfglue apply --yes` against the AWS emulator (moto, 127.0.0.1) after a full bootstrap:
# its wall time, the AWS calls it makes (from the emulator's counter: GET /__launcher/requests),
# and, for scale, each of those reads timed on its own (benches/read_latency.py): the sum is what
# reading one after another costs, the slowest is the floor for reads issued together.
# A no-op apply also verifies (one token exchange on the Salesforce emulator, not an AWS call);
# `sfglue plan` is timed too: the same reads without the verify step.
#
#   benches/noop_apply.sh [RUNS]        default 20 runs each, after 2 warm-ups
set -euo pipefail
. "$(dirname "$0")/common.sh"
RUNS=${1:-20}
need hyperfine "apt-get install -y hyperfine"
build_release
start_emulators "$ROOT/benches/.work/noop_apply"
bootstrap
cd "$BENCH_DIR"
counts() { "$VENV_PY" -c 'import json,sys,urllib.request; print(json.dumps(json.load(urllib.request.urlopen(sys.argv[1] + "/__launcher/requests", timeout=10))))' "$AWS_URL"; }
reset() { "$VENV_PY" -c 'import sys,urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/__launcher/requests/reset", data=b"", method="POST"), timeout=10).read()' "$AWS_URL"; }

reset
"$SFGLUE_REL" --config "$BENCH_CONFIG" apply --yes > apply-noop.out 2> apply-noop.err
grep -q 'no changes' apply-noop.out || { echo "bench: the apply was not a no-op; see $BENCH_DIR/apply-noop.out" >&2; exit 1; }
counts > apply-counts.json
reset
"$SFGLUE_REL" --config "$BENCH_CONFIG" plan > plan.out 2> plan.err
counts > plan-counts.json

hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$BENCH_DIR/noop.json" --style basic \
  -n "sfglue apply --yes (no-op, verifies)" "$SFGLUE_REL --config $BENCH_CONFIG --quiet apply --yes" \
  -n "sfglue plan" "$SFGLUE_REL --config $BENCH_CONFIG --quiet plan" >&2
mapfile -t rows < <(hyperfine_summary "$BENCH_DIR/noop.json")
read -r a_med _ _ a_min a_max n <<< "${rows[0]}"
read -r p_med _ _ p_min p_max _ <<< "${rows[1]}"
machine
printf '| %-38s | %10s | %10s | %10s | %4s |\n' command "median ms" "min ms" "max ms" runs
printf '|%s|%s|%s|%s|%s|\n' "----------------------------------------" "------------" "------------" "------------" "------"
printf '| %-38s | %10s | %10s | %10s | %4s |\n' "sfglue apply --yes (no-op)" "$a_med" "$a_min" "$a_max" "$n"
printf '| %-38s | %10s | %10s | %10s | %4s |\n' "sfglue plan" "$p_med" "$p_min" "$p_max" "$n"
"$VENV_PY" - apply-counts.json plan-counts.json <<'PY'
import json, sys
for label, path in (("no-op apply", sys.argv[1]), ("plan", sys.argv[2])):
    c = json.load(open(path))
    ops = ", ".join(f"{k} {v}" for k, v in sorted(c["operations"].items()))
    print(f"AWS calls of one {label}: {c['total']} ({c['reads']} reads, {c['writes']} writes): {ops}")
    if c["writes"]:
        print(f"  WRITES: {c['write_calls']}")
PY
echo "each read on its own (boto3, one after another, median of 20):"
"$VENV_PY" "$ROOT/benches/read_latency.py" 20
