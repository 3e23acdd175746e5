#!/usr/bin/env bash
# Starts or stops both emulators in the background, for trying sfglue by hand.
#
#   scripts/emulators.sh up     start them (state kept in .emulators/), print the shell exports
#   scripts/emulators.sh down   stop the ones `up` started
#
# Use with:  eval "$(scripts/emulators.sh up)"
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DIR="$ROOT/.emulators"
SEED="${SF_SEED:-$ROOT/emulators/salesforce/seeds/demo.yaml}"

case "${1:-}" in
  up)
    if [ -f "$DIR/aws.pid" ] && kill -0 "$(cat "$DIR/aws.pid")" 2>/dev/null; then
      echo "error: the emulators already run (PID $(cat "$DIR/aws.pid")); run '$0 down' first" >&2
      exit 2
    fi
    aws_test_env "$DIR" >&2
    AWS_URL=$(start_server aws "$DIR" "$VENV_PY" "$ROOT/emulators/aws/launcher.py" --listen 127.0.0.1:0 --state-dir "$DIR/aws-state")
    if ! SF_URL=$(start_server salesforce "$DIR" "$SF_EMULATOR_BIN" --listen 127.0.0.1:0 --seed "$SEED"); then
      stop_server aws "$DIR"; exit 1
    fi
    {
      echo "AWS emulator:        $AWS_URL (log $DIR/aws.log)"
      echo "Salesforce emulator: $SF_URL (log $DIR/salesforce.log, seed $SEED)"
      echo "Stop them with: $0 down"
    } >&2
    cat <<EXPORTS
export AWS_ENDPOINT_URL=$AWS_URL
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=$DIR/empty-aws-config AWS_SHARED_CREDENTIALS_FILE=$DIR/empty-aws-config
export SF_LOGIN_URL=$SF_URL
export SF_EMULATOR_SEED=$SEED
EXPORTS
    ;;
  down)
    stop_server salesforce "$DIR"
    stop_server aws "$DIR"
    echo "emulators stopped" >&2
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
