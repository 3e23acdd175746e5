#!/usr/bin/env bash
# `make demo`: sfglue's main job end to end, on local emulators.
#
# Starts the AWS emulator (moto + the project's launcher, state kept in .demo/aws-state) and the
# Salesforce emulator on 127.0.0.1, runs `sfglue apply` on examples/demo.yaml, plays the person
# in Salesforce Setup through the emulator's admin API, runs `sfglue verify --run-job`, shows what
# landed in S3, and stops the emulators it started. Run it twice: the second run finds every
# resource in place and changes nothing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DIR="$ROOT/.demo"
SEED="$ROOT/emulators/salesforce/seeds/demo.yaml"
CONFIG="$DIR/sfglue.yaml"
# The consumer key of the seed's External Client App (in real life: copied from Setup).
CONSUMER_KEY=$("$VENV_PY" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["apps"][0]["consumer_key"])' "$SEED")

say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

cleanup() {
  stop_server salesforce "$DIR"
  stop_server aws "$DIR"
}
trap cleanup EXIT

mkdir -p "$DIR"
aws_test_env "$DIR"

# The Salesforce emulator keeps the port it had last time, so the login URL stored in the secret
# stays the same between runs (a real org's login host does not move either).
SF_PORT=$(cat "$DIR/sf-port" 2>/dev/null || true)
if [ -z "$SF_PORT" ] || ! port_is_free "$SF_PORT"; then
  SF_PORT=$(free_port)
fi
echo "$SF_PORT" > "$DIR/sf-port"

say "Starting the emulators on 127.0.0.1"
AWS_URL=$(start_server aws "$DIR" "$VENV_PY" "$ROOT/emulators/aws/launcher.py" --listen 127.0.0.1:0 --state-dir "$DIR/aws-state")
SF_URL=$(start_server salesforce "$DIR" "$SF_EMULATOR_BIN" --listen "127.0.0.1:$SF_PORT" --seed "$SEED")
export AWS_ENDPOINT_URL="$AWS_URL"
echo "AWS (moto):  $AWS_URL" >&2
echo "Salesforce:  $SF_URL" >&2

if [ ! -f "$CONFIG" ]; then
  sed "s/__SF_PORT__/$SF_PORT/" "$ROOT/examples/demo.yaml" > "$CONFIG"
else
  # Keep the consumer key written last time; follow the emulator if its port had to change.
  sed -i "s#login_url: http://127.0.0.1:[0-9]*#login_url: http://127.0.0.1:$SF_PORT#" "$CONFIG"
fi

upload_certificate() {
  "$VENV_PY" - "$SF_URL" "$CONSUMER_KEY" "$DIR/sfglue-out/salesforce-jwt.crt" <<'PY'
import json, sys, urllib.error, urllib.request
base, key, path = sys.argv[1:4]
req = urllib.request.Request(f"{base}/__admin/apps/{key}/certificate", data=open(path, "rb").read(), method="PUT")
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print("certificate uploaded to the app: SHA-256", json.load(r)["certificate_sha256"], file=sys.stderr)
except urllib.error.HTTPError as e:
    sys.exit(f"demo: the emulator refused the certificate upload: HTTP {e.code} {e.read()[:200]!r}")
PY
}

if [ -f "$DIR/sfglue-out/salesforce-jwt.crt" ]; then
  say "Salesforce still has the app from the last run: putting its certificate back on the emulator"
  upload_certificate
fi

if grep -q 'consumer_key: ""' "$CONFIG"; then
  say "sfglue apply (first run: no consumer key yet, so it stops and waits for Salesforce setup)"
  set +e
  "$SFGLUE_BIN" --config "$CONFIG" apply --yes
  rc=$?
  set -e
  if [ "$rc" -ne 3 ]; then
    echo "demo: expected exit code 3 (waiting for Salesforce setup), got $rc" >&2
    exit 1
  fi

  say "Salesforce Setup (in real life a person follows $DIR/sfglue-out/SALESFORCE_SETUP.md)"
  echo "The demo plays that person through the emulator's admin API: it uploads the certificate" >&2
  echo "to the External Client App and copies the app's consumer key into the config." >&2
  upload_certificate
  sed -i "s/consumer_key: \"\"/consumer_key: \"$CONSUMER_KEY\"/" "$CONFIG"
fi

say "sfglue apply (with the consumer key: stores it and proves the sign-in)"
"$SFGLUE_BIN" --config "$CONFIG" apply --yes

say "sfglue verify --run-job (signs in with the stored key, runs the Glue job, waits)"
"$SFGLUE_BIN" --config "$CONFIG" verify --run-job | tee "$DIR/verify.out"
RUN_ID=$(sed -n 's/^job run  *[A-Z]*  *\(jr_[0-9a-f]*\).*/\1/p' "$DIR/verify.out" | head -n1)

say "What this run ($RUN_ID) wrote to S3"
"$VENV_PY" - "$RUN_ID" <<'PY'
import sys
import boto3
run = sys.argv[1]
s3 = boto3.client("s3")
pages = s3.get_paginator("list_objects_v2").paginate(Bucket="sfglue-demo-data", Prefix="salesforce/")
for page in pages:
    for obj in page.get("Contents", []):
        if f"run={run}" in obj["Key"]:
            print(f"  s3://sfglue-demo-data/{obj['Key']}  {obj['Size']} bytes")
PY
say "Demo finished. Run 'make demo' again: every resource is found unchanged, with the same key."
