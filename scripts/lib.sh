# Shared shell helpers for the demo and the emulator commands. Sourced, not run.
# Every server here binds to 127.0.0.1 and is stopped by the PID this file recorded.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_PY="$ROOT/.venv/bin/python"
SF_EMULATOR_BIN="${SF_EMULATOR_BIN:-$ROOT/target/debug/sf-emulator}"
SFGLUE_BIN="${SFGLUE_BIN:-$ROOT/target/debug/sfglue}"

# The environment every AWS client here uses: dummy credentials, no profile files, and no
# instance-metadata lookups (the credential chain would otherwise try the metadata address).
aws_test_env() {
  local dir=$1
  mkdir -p "$dir"
  : > "$dir/empty-aws-config"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=
  unset AWS_SESSION_TOKEN AWS_PROFILE
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true
  export AWS_CONFIG_FILE="$dir/empty-aws-config" AWS_SHARED_CREDENTIALS_FILE="$dir/empty-aws-config"
}

# start_server NAME DIR CMD... : starts CMD in the background with stdout to DIR/NAME.out and
# stderr to DIR/NAME.log, records its PID in DIR/NAME.pid, waits (at most 60 s) for the first
# stdout line (the server's base URL) and prints it.
start_server() {
  local name=$1 dir=$2; shift 2
  mkdir -p "$dir"
  : > "$dir/$name.out"
  "$@" > "$dir/$name.out" 2> "$dir/$name.log" < /dev/null &
  local pid=$!
  echo "$pid" > "$dir/$name.pid"
  local i
  for i in $(seq 1 600); do
    if [ -s "$dir/$name.out" ] && head -n1 "$dir/$name.out" | grep -q '^http://'; then
      head -n1 "$dir/$name.out"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "error: $name exited before it was ready; its log ($dir/$name.log) ends:" >&2
      tail -n 20 "$dir/$name.log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "error: $name did not print its URL within 60 s; see $dir/$name.log" >&2
  kill "$pid" 2>/dev/null
  return 1
}

# stop_server NAME DIR : stops the process recorded in DIR/NAME.pid, if it still runs.
stop_server() {
  local name=$1 dir=$2 pid
  [ -f "$dir/$name.pid" ] || return 0
  pid=$(cat "$dir/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$dir/$name.pid"
}

# free_port : prints a free TCP port on 127.0.0.1.
free_port() {
  "$VENV_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# port_is_free PORT
port_is_free() {
  "$VENV_PY" -c 'import socket,sys
s=socket.socket()
# Servers bind with SO_REUSEADDR, so a port with connections in TIME_WAIT is still usable.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}
