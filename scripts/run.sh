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

pids=()
shutdown() {
    trap - EXIT INT TERM
    echo
    echo "run: stopping"
    stop_all "${pids[@]}"
}
trap shutdown EXIT
trap 'exit 130' INT TERM

start_redis "$REDIS_PORT" "$STATE_DIR/redis" --appendonly yes --save ""
pids+=($!)
start_etcd "$ETCD_PORT" "$ETCD_PEER_PORT" "$STATE_DIR/etcd"
pids+=($!)
wait_for_port "$REDIS_PORT" redis-server
wait_for_port "$ETCD_PORT" etcd

RPC_LISTEN="127.0.0.1:$RPC_PORT" REDIS_URL="redis://127.0.0.1:$REDIS_PORT" \
    ETCD_ENDPOINTS="127.0.0.1:$ETCD_PORT" target/release/rpc-server \
    >"$STATE_DIR/rpc-server.log" 2>&1 &
pids+=($!)
wait_for_port "$RPC_PORT" rpc-server

HTTP_ADDR="$HTTP_ADDR" RPC_ADDR="127.0.0.1:$RPC_PORT" ETCD_ENDPOINTS="127.0.0.1:$ETCD_PORT" \
    http-server-go/bin/http-server >"$STATE_DIR/gateway.log" 2>&1 &
pids+=($!)
wait_for_port "$http_port" gateway

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

# Stop everything as soon as any one of the processes exits.
wait -n "${pids[@]}"
echo "run: a process exited; see the logs in $STATE_DIR/" >&2
exit 1
