#!/usr/bin/env bash
# Measures the inputs of the capacity model on this machine and prints them
# with the sizing (docs/capacity.md): Redis bytes per message by room and
# text size, stored format and Redis setting; CPU per Send and per Pull of
# the rpc-server, Redis and the gateway, retention on and off; Send and
# Pull latency in rooms of 10 and of 1,000,000 messages; an open-loop rate
# sweep of this server and the Go peer, over Thrift and through the
# gateway, drawn as latency against offered rate.
#
# It builds in release mode, starts a fresh Redis with Redis's default
# settings (im-bench applies the recommended ones itself, with CONFIG SET,
# for the figures measured under them), four rpc-servers (compact; JSON;
# retention by count; retention by age), the Go peer and a gateway in front
# of each server, all on free 127.0.0.1 ports, and runs `im-bench capacity`
# against them. About 6 minutes on 2 cores after the build.
#
# Arguments go to `im-bench capacity` (`im-bench capacity --help`), e.g.
#   --full             rooms of 1,000,000 with 16- and 256-byte texts too
#   --no-http-sweep    the rate sweep over Thrift only
#   --daily-users 5M   other sizing assumptions (also with --from FILE)
# Results (capacity.json, capacity.md, latency-vs-rate.svg, the servers'
# logs) go to bench/results/<date>-capacity/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# The settings the project's own Redis configurations use (docker-compose.yml,
# scripts/run.sh, deploy/k8s/dev/redis.yaml); docs/capacity.md has their effect.
RECOMMENDED=(zset-max-listpack-value=128 zset-max-listpack-entries=512)
RETENTION_MESSAGES=100
RETENTION_AGE=30d

bash scripts/install-deps.sh
RESULTS=bench/results/$(date +%Y%m%d-%H%M%S)-capacity
mkdir -p "$RESULTS"
echo "capacity: results in $RESULTS"
echo "capacity: building rpc-server, im-bench (release), the Go peer and the gateway"
cargo build --release --quiet -p rpc-server -p im-bench
make -C bench/go-baseline --no-print-directory build >/dev/null
make -C http-server-go --no-print-directory build >/dev/null

pids=()
trap 'trap - EXIT INT TERM; stop_all "${pids[@]}"' EXIT
trap 'exit 130' INT TERM

redis_port=$(free_port)
mkdir -p "$RESULTS/redis"
# Redis's defaults, except nothing is written to disk.
serve redis "$redis_port" redis-server --port "$redis_port" --bind 127.0.0.1 \
    --dir "$RESULTS/redis" --save '' --appendonly no
redis=$endpoint

# rust NAME ENV...: an rpc-server on Redis with ENV set ($endpoint). One worker thread, as
# in scripts/bench.sh: the load generator, Redis and the gateway need the
# machine's other core.
rust() {
    local name=$1 port
    shift
    port=$(free_port)
    serve "$name" "$port" env RPC_WORKER_THREADS=1 RPC_LISTEN="127.0.0.1:$port" \
        REDIS_URL="redis://127.0.0.1:$redis_port" RUST_LOG=warn "$@" target/release/rpc-server
}
# gateway NAME SERVER: the Hertz gateway in front of SERVER (HOST:PORT@PID; $endpoint).
gateway() {
    local port
    port=$(free_port)
    serve "$1" "$port" env HTTP_ADDR="127.0.0.1:$port" RPC_ADDR="${2%@*}" http-server-go/bin/http-server
}

rust rust-compact
rust_compact=$endpoint
rust rust-json STORED_FORMAT=json
rust_json=$endpoint
rust rust-count RETENTION_MAX_MESSAGES="$RETENTION_MESSAGES"
rust_count=$endpoint
rust rust-age RETENTION_MAX_AGE="$RETENTION_AGE"
rust_age=$endpoint
go_port=$(free_port)
serve go-peer "$go_port" env RPC_LISTEN="127.0.0.1:$go_port" REDIS_ADDR="127.0.0.1:$redis_port" \
    bench/go-baseline/bin/go-baseline
go=$endpoint
gateway rust-gateway "$rust_compact"
rust_gateway=$endpoint
gateway go-gateway "$go"
go_gateway=$endpoint

recommend=()
for setting in "${RECOMMENDED[@]}"; do
    recommend+=(--recommend "$setting")
done
target/release/im-bench capacity --redis "$redis" --rust "$rust_compact" --rust-json "$rust_json" \
    --rust-count "$rust_count" --retention-messages "$RETENTION_MESSAGES" \
    --rust-age "$rust_age" --retention-age "$RETENTION_AGE" --go "$go" \
    --rust-gateway "$rust_gateway" --go-gateway "$go_gateway" "${recommend[@]}" \
    --out "$RESULTS" "$@" | tee "$RESULTS/capacity.log"
# The Markdown part of the output, for the docs.
sed -n '/^# Capacity figures/,$p' "$RESULTS/capacity.log" >"$RESULTS/capacity.md"
echo "capacity: tables in $RESULTS/capacity.md, chart $RESULTS/latency-vs-rate.svg"
