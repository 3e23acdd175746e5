#!/usr/bin/env bash
# Runs inside the loopback-only namespace made by run.sh (do not call directly).
set -euo pipefail
ip link set lo up

CONSUMER_KEY="3MVGsfglueDemoConsumerKey000000000000000000000000000000000000000000000000000000"
USERNAME="integration@sfglue-demo.example"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT

# start_emulator NAME → sets BASE; uploads the client certificate through the admin API.
start_emulator() {
    local name="$1"
    "$BIN" --seed "$SEED" >"$WORK/$name.url" 2>"$WORK/$name.log" &
    PIDS+=("$!")
    for _ in $(seq 1 100); do
        [ -s "$WORK/$name.url" ] && break
        sleep 0.05
    done
    BASE="$(head -n 1 "$WORK/$name.url")"
    case "$BASE" in http://127.0.0.1:*) ;; *) echo "emulator $name did not start:" >&2; cat "$WORK/$name.log" >&2; exit 1 ;; esac
    "$PY" - "$BASE/__admin/apps/$CONSUMER_KEY/certificate" "$WORK/cert.pem" <<'PYEOF'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=open(sys.argv[2], "rb").read(), method="PUT")
with urllib.request.urlopen(req, timeout=10) as r:
    assert r.status == 200, r.status
PYEOF
}

status=0

start_emulator node
echo "== jsforce (Node $(node --version)) against $BASE"
(cd "$HERE/node" && SF_BASE="$BASE" SF_KEY_FILE="$WORK/key.pem" SF_CONSUMER_KEY="$CONSUMER_KEY" \
    SF_USERNAME="$USERNAME" node --test --test-reporter=spec) || status=1

start_emulator python
echo "== simple-salesforce, PyJWT + requests against $BASE"
(cd "$HERE/python" && SF_BASE="$BASE" SF_KEY_FILE="$WORK/key.pem" SF_CONSUMER_KEY="$CONSUMER_KEY" \
    SF_USERNAME="$USERNAME" PYTHONDONTWRITEBYTECODE=1 "$PY" -m pytest -q -p no:cacheprovider .) || status=1

exit "$status"
