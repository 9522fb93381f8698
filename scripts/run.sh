#!/usr/bin/env bash
# Runs the whole stack on this machine, without Docker: Redis and etcd on
# loopback, the Rust rpc-server, and the Go Hertz gateway. Ctrl-C stops all.
#
# Ports and the state directory can be changed with environment variables:
#   HTTP_ADDR (0.0.0.0:8080)  RPC_PORT (8888)  REDIS_PORT (6379)
#   ETCD_PORT (2379)  ETCD_PEER_PORT (2380)  STATE_DIR (.run)
# Redis keeps its data in $STATE_DIR/redis (append-only file), so messages
# survive a restart of the stack.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

HTTP_ADDR=${HTTP_ADDR:-0.0.0.0:8080}
RPC_PORT=${RPC_PORT:-8888}
REDIS_PORT=${REDIS_PORT:-6379}
ETCD_PORT=${ETCD_PORT:-2379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-2380}
STATE_DIR=${STATE_DIR:-.run}
http_port=${HTTP_ADDR##*:}

bash scripts/install-deps.sh
echo "run: building rpc-server (release) and the gateway"
cargo build --release --quiet -p rpc-server
make -C http-server-go --no-print-directory build >/dev/null

# Every process started, with its name and log, in start order.
pids=()
names=()
logs=()
started() {
    pids+=("$1")
    names+=("$2")
    logs+=("$3")
}
# up NAME PORT: waits until the process NAME listens on PORT, else points at its log.
up() {
    wait_for_port "$2" "$1" && return
    for i in "${!names[@]}"; do
        [ "${names[i]}" != "$1" ] || echo "run: see its log: ${logs[i]}" >&2
    done
    exit 1
}

# shellcheck disable=SC2317 # invoked by the traps
shutdown() {
    trap - EXIT INT TERM
    # Stop everything even when the output is gone: `run.sh | tee log` loses
    # its tee to the same Ctrl-C, and the next echo would kill this shell.
    trap '' PIPE
    set +e
    echo
    echo "run: stopping"
    stop_all "${pids[@]}"
    echo "run: stopped"
}
trap shutdown EXIT
# Until everything is up, Ctrl-C (or SIGTERM) just stops what has started.
trap 'exit 130' INT TERM

# Rooms of up to 512 messages of up to 118-byte texts stay in Redis's compact
# listpack encoding (docs/capacity.md#the-recommended-redis-setting).
start_redis "$REDIS_PORT" "$STATE_DIR/redis" --appendonly yes --save "" \
    --zset-max-listpack-value 128 --zset-max-listpack-entries 512
started $! redis-server "$STATE_DIR/redis/redis.log"
start_etcd "$ETCD_PORT" "$ETCD_PEER_PORT" "$STATE_DIR/etcd"
started $! etcd "$STATE_DIR/etcd/etcd.log"
up redis-server "$REDIS_PORT"
up etcd "$ETCD_PORT"

RPC_LISTEN="127.0.0.1:$RPC_PORT" REDIS_URL="redis://127.0.0.1:$REDIS_PORT" \
    ETCD_ENDPOINTS="127.0.0.1:$ETCD_PORT" target/release/rpc-server \
    >"$STATE_DIR/rpc-server.log" 2>&1 &
started $! rpc-server "$STATE_DIR/rpc-server.log"
up rpc-server "$RPC_PORT"

HTTP_ADDR="$HTTP_ADDR" RPC_ADDR="127.0.0.1:$RPC_PORT" ETCD_ENDPOINTS="127.0.0.1:$ETCD_PORT" \
    http-server-go/bin/http-server >"$STATE_DIR/gateway.log" 2>&1 &
started $! gateway "$STATE_DIR/gateway.log"
up gateway "$http_port"

# From here on, Ctrl-C or SIGTERM is a requested stop (see the loop below).
stop_requested=""
trap 'stop_requested=1' INT TERM

cat <<EOT

The stack is up (logs in $STATE_DIR/):
  gateway     http://127.0.0.1:$http_port   (GET /ping, POST /api/send, GET /api/pull)
  rpc-server  127.0.0.1:$RPC_PORT            (Thrift IMService)
  redis       redis://127.0.0.1:$REDIS_PORT
  etcd        http://127.0.0.1:$ETCD_PORT

Try it:
  curl -X POST http://127.0.0.1:$http_port/api/send -H 'Content-Type: application/json' \\
       -d '{"chat":"alice:bob","text":"hello","sender":"alice"}'
  curl -X GET http://127.0.0.1:$http_port/api/pull -H 'Content-Type: application/json' \\
       -d '{"chat":"alice:bob","cursor":0,"limit":10,"reverse":false}'

Press Ctrl-C to stop everything.
EOT

# Runs until Ctrl-C or SIGTERM (a requested stop: exit 0), or until one of
# the processes exits by itself (a crash: say which, stop the rest, exit 1).
# Ctrl-C reaches every process of the foreground group at once, so one of
# them may exit before this shell has run its trap: an exit counts as a
# crash only if no stop request has arrived shortly after it either.
while [ -z "$stop_requested" ]; do
    exited=""
    wait -n -p exited "${pids[@]}" && status=0 || status=$?
    [ -n "${exited:-}" ] || continue
    sleep 0.5
    [ -z "$stop_requested" ] || break
    for i in "${!pids[@]}"; do
        if [ "${pids[i]}" = "$exited" ]; then
            echo "run: ${names[i]} exited (status $status); see its log: ${logs[i]}" >&2
        fi
    done
    exit 1
done
exit 0
