#!/usr/bin/env bash
# Key and certificate generation, RSA 2048 and 4096: sfglue's crypto::generate (rcgen on
# aws-lc-rs, through the driver examples/keygen_bench.rs) against the openssl command line doing the
# same (new key, self-signed certificate for 365 days, both written to files). Target: no slower.
#
#   benches/keygen.sh [RUNS_2048] [RUNS_4096]     default 30 and 15 runs, after 2 warm-ups
# RSA key generation time varies a lot from run to run (it searches for primes): compare medians.
set -euo pipefail
. "$(dirname "$0")/common.sh"
R2048=${1:-30}
R4096=${2:-15}
need hyperfine "apt-get install -y hyperfine"
need openssl
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --release --locked -p sfglue --example keygen_bench) >&2
fi
KEYGEN="$BENCH_TARGET_DIR/release/examples/keygen_bench"
[ -x "$KEYGEN" ] || { echo "bench: no $KEYGEN" >&2; exit 2; }
OUT=$(mktemp -d)           # the keys written here are throwaway and removed at exit
trap 'rm -rf "$OUT"' EXIT
mkdir -p "$ROOT/benches/.work/keygen"
machine
echo "openssl: $(openssl version)"
printf '| %-5s | %-34s | %10s | %10s | %10s | %4s |\n' bits command "median ms" "min ms" "max ms" runs
printf '|%s|%s|%s|%s|%s|%s|\n' "-------" "------------------------------------" "------------" "------------" "------------" "------"
for bits in 2048 4096; do
  runs=$R2048; [ "$bits" = 4096 ] && runs=$R4096
  json="$ROOT/benches/.work/keygen/rsa$bits.json"
  hyperfine -N --warmup 2 --runs "$runs" --export-json "$json" --style none \
    -n "sfglue (rcgen + aws-lc-rs)" "$KEYGEN $bits $OUT/rs.key $OUT/rs.crt" \
    -n "openssl req -x509 -newkey rsa:$bits" "openssl req -x509 -newkey rsa:$bits -nodes -keyout $OUT/o.key -out $OUT/o.crt -days 365 -subj /CN=sfglue-bench" >/dev/null
  mapfile -t rows < <(hyperfine_summary "$json")
  read -r a_med _ _ a_min a_max n <<< "${rows[0]}"
  read -r b_med _ _ b_min b_max _ <<< "${rows[1]}"
  printf '| %-5s | %-34s | %10s | %10s | %10s | %4s |\n' "$bits" "sfglue crypto::generate" "$a_med" "$a_min" "$a_max" "$n"
  printf '| %-5s | %-34s | %10s | %10s | %10s | %4s |\n' "$bits" "openssl req -x509 -newkey" "$b_med" "$b_min" "$b_max" "$n"
  "$VENV_PY" -c "import sys; a,b=map(float,sys.argv[1:3]); print(f'RSA {sys.argv[3]}: openssl / sfglue (medians) = {b/a:.2f}x  target no slower: {\"met\" if a <= b else \"NOT met\"}')" "$a_med" "$b_med" "$bits"
done
