#!/usr/bin/env bash
# Third-party clients against sf-emulator: jsforce + npm jsonwebtoken (clients/node) and
# simple-salesforce + PyJWT/requests (clients/python), each against its own emulator started
# from seeds/demo.yaml, all inside a loopback-only network namespace (unshare -n).
# Exits non-zero when a suite fails. Builds nothing slow: it uses the already built binary
# (cargo build -p sf-emulator only if it is missing) and `npm ci` only when node_modules is stale.
#
# Environment:
#   SF_EMULATOR_BIN  the sf-emulator binary (default: $CARGO_TARGET_DIR or <repo>/target, debug/)
#   SFEMU_PYTHON     python with simple-salesforce, PyJWT, requests, pytest (default: <repo>/.venv/bin/python
#                    when it has them, else a private venv clients/python/.venv from
#                    clients/python/requirements.txt)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
BIN="${SF_EMULATOR_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/sf-emulator}"
PY="${SFEMU_PYTHON:-$REPO/.venv/bin/python}"
SEED="$HERE/../seeds/demo.yaml"

if [ ! -x "$BIN" ]; then
    echo "run.sh: $BIN missing; building sf-emulator" >&2
    (cd "$REPO" && cargo build -p sf-emulator --locked)
fi

# Node dependencies (pinned by package-lock.json): installed outside the namespace.
NODE_DIR="$HERE/node"
if [ ! -f "$NODE_DIR/node_modules/.package-lock.json" ] ||
   [ "$NODE_DIR/package-lock.json" -nt "$NODE_DIR/node_modules/.package-lock.json" ]; then
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi

MODS='import simple_salesforce, jwt, requests, pytest, cryptography'
if [ -z "${SFEMU_PYTHON:-}" ] && ! "$PY" -c "$MODS" 2>/dev/null; then
    # The repo venv lacks simple-salesforce: use a private venv built from the exact pins.
    PRIV="$HERE/python/.venv"
    REQ="$HERE/python/requirements.txt"
    if [ ! -f "$PRIV/.installed" ] || [ "$REQ" -nt "$PRIV/.installed" ]; then
        echo "run.sh: $PY lacks simple-salesforce; installing $REQ into $PRIV" >&2
        python3 -m venv "$PRIV"
        "$PRIV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
        touch "$PRIV/.installed"
    fi
    PY="$PRIV/bin/python"
fi
if ! "$PY" -c "$MODS" 2>/dev/null; then
    echo "run.sh: $PY lacks simple-salesforce / PyJWT / requests / pytest / cryptography" >&2
    exit 1
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj "/CN=sf-emulator clients" \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

export BIN PY SEED WORK HERE
unshare -n bash "$HERE/inner.sh"
