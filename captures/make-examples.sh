#!/usr/bin/env bash
# captures/make-examples.sh [OUT_DIR] — re-make captures/examples/: one capture per cause, from
# real clients and servers on 127.0.0.1 through `tlsglass proxy --capture-dir` (see
# make_examples.py for the set-ups). Builds tlsglass first (scripts/bootstrap). Each capture
# is replayed and kept only if the replay gives the cause it was made for.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
"$ROOT/scripts/bootstrap" >&2
export TLSGLASS_BIN="$ROOT/$BUILD_DIR/src/tlsglass"
export TLSGLASS_TEST_DATA="$ROOT/tests/data"
exec python3 "$ROOT/captures/make_examples.py" "${1:-$ROOT/captures/examples}"
