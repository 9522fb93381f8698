# Shell helpers shared by the scripts; source it, don't run it.

# Prints a TCP port on 127.0.0.1 that nobody listens on right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_for_port PORT NAME [SECONDS]: waits until 127.0.0.1:PORT accepts.
wait_for_port() {
    local port=$1 name=$2 deadline=$((SECONDS + ${3:-30}))
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if ((SECONDS > deadline)); then
            echo "$name did not start listening on port $port" >&2
            return 1
        fi
        sleep 0.1
    done
}

# start_redis PORT DIR [extra redis-server args...]: Redis on loopback.
start_redis() {
    local port=$1 dir=$2
    shift 2
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" "$@" >"$dir/redis.log" 2>&1 &
}

# start_etcd CLIENT_PORT PEER_PORT DIR: a one-node etcd on loopback.
start_etcd() {
    local client="http://127.0.0.1:$1" peer="http://127.0.0.1:$2" dir=$3
    mkdir -p "$dir"
    etcd --name default --data-dir "$dir/data" \
        --listen-client-urls "$client" --advertise-client-urls "$client" \
        --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
        --initial-cluster "default=$peer" >"$dir/etcd.log" 2>&1 &
}

# stop_all PID...: stops each process with SIGTERM, newest first, waiting
# for each to exit before the next, so that a server drains its requests
# while the services behind it are still up.
stop_all() {
    local pid
    for ((i = $#; i > 0; i--)); do
        pid=${!i}
        kill -TERM "$pid" 2>/dev/null || continue
        wait "$pid" 2>/dev/null || true
    done
}
