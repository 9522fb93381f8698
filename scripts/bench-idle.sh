#!/usr/bin/env bash
# Memory per idle connection: the Rust rpc-server and the Go peer
# (bench/go-baseline) side by side, as `im-bench idle` measures it.
#
# Two rounds, each on a fresh pair of servers sharing one Redis:
#   0  IDLE_CONNECTIONS connections opened and left idle, no request on them
#   1  the same after one pull of a 50-message page on each (the largest
#      reply of the usual workloads: what a served connection keeps)
# Each table: RSS before, with the connections open and idle for
# IDLE_SETTLE, per connection, and IDLE_SETTLE after they closed.
#
# Environment: IDLE_CONNECTIONS (5000)  IDLE_SETTLE (3s)
#   RUST_WORKER_THREADS (1, as in scripts/bench.sh)
#   RESULTS (directory for logs and idle.jsonl; default bench/results/<date>-idle)
#   IDLE_BUILT=1  skip the prerequisites and builds (scripts/bench.sh has done them)
# Needs an open-file limit (ulimit -n) above IDLE_CONNECTIONS + 64: both
# servers and im-bench raise their soft limit to the hard limit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-5000}
IDLE_SETTLE=${IDLE_SETTLE:-3s}
RESULTS=${RESULTS:-bench/results/$(date +%Y%m%d-%H%M%S)-idle}
mkdir -p "$RESULTS"

if [[ ${IDLE_BUILT:-0} != 1 ]]; then
    bash scripts/install-deps.sh
    echo "bench-idle: building rpc-server, im-bench (release) and the Go peer"
    cargo build --release --quiet -p rpc-server -p im-bench
    make -C bench/go-baseline --no-print-directory build >/dev/null
fi

idle_pids=()
trap 'trap - EXIT INT TERM; stop_all "${idle_pids[@]}"' EXIT
trap 'exit 130' INT TERM

redis_port=$(free_port)
start_redis "$redis_port" "$RESULTS/idle-redis" --save '' --appendonly no
idle_pids+=($!)
wait_for_port "$redis_port" redis

status=0
for requests in 0 1; do
    rust_port=$(free_port)
    env RPC_WORKER_THREADS="${RUST_WORKER_THREADS:-1}" RPC_LISTEN="127.0.0.1:$rust_port" \
        REDIS_URL="redis://127.0.0.1:$redis_port" RUST_LOG=warn target/release/rpc-server \
        >"$RESULTS/idle-$requests-rust-server.log" 2>&1 &
    idle_pids+=($!)
    rust_pid=$!
    go_port=$(free_port)
    env RPC_LISTEN="127.0.0.1:$go_port" REDIS_ADDR="127.0.0.1:$redis_port" \
        bench/go-baseline/bin/go-baseline >"$RESULTS/idle-$requests-go-server.log" 2>&1 &
    idle_pids+=($!)
    go_pid=$!
    wait_for_port "$rust_port" rust-server
    wait_for_port "$go_port" go-server
    target/release/im-bench idle --connections "$IDLE_CONNECTIONS" --requests "$requests" \
        --settle "$IDLE_SETTLE" --json "$RESULTS/idle.jsonl" \
        --server "rust=$rust_pid@127.0.0.1:$rust_port" --server "go=$go_pid@127.0.0.1:$go_port" \
        2>>"$RESULTS/idle.log" | tee -a "$RESULTS/idle.txt" || status=$?
    stop_all "$go_pid" "$rust_pid"
    idle_pids=("${idle_pids[0]}")
done
exit "$status"
