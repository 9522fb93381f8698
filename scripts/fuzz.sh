#!/usr/bin/env bash
# Long wire fuzzing: rpc-server/tests/fuzz_wire.rs for FUZZ_SECONDS (default 600) in release mode; FUZZ_SEED repeats a run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export FUZZ_SECONDS="${FUZZ_SECONDS:-600}"
exec cargo test --release -p rpc-server --test fuzz_wire -- --nocapture
