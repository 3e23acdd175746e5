#!/usr/bin/env bash
# One command: build sf-emulator and its benchmark in release mode, then print how many records
# per second it serves through REST query paging and through Bulk API 2.0 results.
#   emulators/salesforce/bench.sh [RECORDS]     (default 1,000,000)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
(cd "$REPO" && cargo build --release --locked -p sf-emulator --bin sf-emulator --example bench)
SF_EMULATOR_BIN="$TARGET/release/sf-emulator" "$TARGET/release/examples/bench" "$@"
