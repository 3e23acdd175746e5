# Shared by the benches/*.sh scripts. Sourced, not run. Reuses scripts/lib.sh: every server binds
# to 127.0.0.1, every AWS client gets dummy credentials and no metadata lookups, and each server
# is stopped by the PID recorded when it started.
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
BENCH_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SFGLUE_REL=${SFGLUE_REL:-"$BENCH_TARGET_DIR/release/sfglue"}
SF_EMU_REL=${SF_EMU_REL:-"$BENCH_TARGET_DIR/release/sf-emulator"}
SEED="$ROOT/emulators/salesforce/seeds/demo.yaml"
CONSUMER_KEY=3MVGsfglueDemoConsumerKey000000000000000000000000000000000000000000000000000000

need() { command -v "$1" >/dev/null || { echo "bench: $1 is not installed (${2:-})" >&2; exit 2; }; }

# The release binaries, built once (BENCH_NO_BUILD=1 uses what is there).
build_release() {
  if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
    (cd "$ROOT" && cargo build --release --locked -p sfglue -p sf-emulator) >&2
  fi
  [ -x "$SFGLUE_REL" ] && [ -x "$SF_EMU_REL" ] || { echo "bench: no release binaries in $BENCH_TARGET_DIR/release" >&2; exit 2; }
}

machine() {
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -h | awk '/^Mem:/{print $2}') RAM, $(uname -sr); $(date -u +%Y-%m-%dT%H:%MZ)"
}

# start_emulators DIR: both emulators on 127.0.0.1 (AWS state in memory), AWS_* set for this shell.
start_emulators() {
  BENCH_DIR=$1
  mkdir -p "$BENCH_DIR"
  aws_test_env "$BENCH_DIR"
  trap 'stop_server salesforce "$BENCH_DIR"; stop_server aws "$BENCH_DIR"' EXIT
  AWS_URL=$(start_server aws "$BENCH_DIR" "$VENV_PY" "$ROOT/emulators/aws/launcher.py" --listen 127.0.0.1:0)
  SF_URL=$(start_server salesforce "$BENCH_DIR" "$SF_EMU_REL" --listen 127.0.0.1:0 --seed "$SEED")
  export AWS_ENDPOINT_URL="$AWS_URL"
}

# bootstrap: the demo's first two applies (tests/verify_flow.rs): no consumer key (exit 3), the
# certificate uploaded through the emulator's admin API, the key in the config, apply (exit 0).
bootstrap() {
  local cfg="$BENCH_DIR/sfglue.yaml"
  write_config "" > "$cfg"
  set +e
  "$SFGLUE_REL" --config "$cfg" apply --yes > "$BENCH_DIR/apply1.out" 2> "$BENCH_DIR/apply1.err"
  local rc=$?
  set -e
  [ "$rc" -eq 3 ] || { echo "bench: first apply exited $rc, expected 3; see $BENCH_DIR/apply1.err" >&2; exit 1; }
  "$VENV_PY" - "$SF_URL" "$CONSUMER_KEY" "$BENCH_DIR/sfglue-out/salesforce-jwt.crt" <<'PY'
import sys, urllib.request
base, key, path = sys.argv[1:4]
req = urllib.request.Request(f"{base}/__admin/apps/{key}/certificate", data=open(path, "rb").read(), method="PUT")
urllib.request.urlopen(req, timeout=10).read()
PY
  write_config "$CONSUMER_KEY" > "$cfg"
  "$SFGLUE_REL" --config "$cfg" apply --yes > "$BENCH_DIR/apply2.out" 2> "$BENCH_DIR/apply2.err" \
    || { echo "bench: second apply failed; see $BENCH_DIR/apply2.err" >&2; exit 1; }
  grep -q 'token exchange' "$BENCH_DIR/apply2.out" || { echo "bench: second apply did not verify" >&2; exit 1; }
  BENCH_CONFIG=$cfg
}

write_config() {
  cat <<YAML
version: 1
name: bench
aws:
  region: us-east-1
salesforce:
  login_url: $SF_URL
  username: integration@sfglue-demo.example
  consumer_key: "$1"
secret:
  name: bench/salesforce-jwt
glue:
  script_bucket: bench-scripts
  output: s3://bench-data/salesforce/
  create_buckets: true
  timeout_minutes: 5
queries:
  - name: accounts
    soql: SELECT Id, Name FROM Account
output_dir: sfglue-out
YAML
}

# hyperfine_json FILE -> "median_ms mean_ms stddev_ms min_ms max_ms runs" per command, one line each
hyperfine_summary() {
  "$VENV_PY" - "$1" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    t = r["times"]
    print(f'{r["median"]*1000:.1f} {r["mean"]*1000:.1f} {r["stddev"]*1000:.1f} {min(t)*1000:.1f} {max(t)*1000:.1f} {len(t)}')
PY
}
