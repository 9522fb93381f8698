#!/usr/bin/env bash
# Compares the Rust rpc-server with the Go peer (bench/go-baseline, the
# tutorial-style Kitex + go-redis server), first over direct Thrift, then
# over HTTP through the Hertz gateway (http-server-go) in front of each, the
# gateway once with its defaults and once as the template has it (its
# connection pool, binding and call timeout: RPC_POOL=template
# HTTP_BIND=template RPC_TIMEOUT_MODE=template): this
# project's stack (defaults + Rust) against the template's (template
# gateway + Go peer), and each gateway in front of both servers. Every HTTP
# run reports the CPU per request of the gateway, the server, Redis and
# im-bench, and the new TCP connections per request (connections accepted
# in the servers' network namespace over the measured window, less
# im-bench's own). Then it measures what Redis itself does with each
# server's commands (redis-benchmark), and last what idle connections cost
# each server's memory (scripts/bench-idle.sh).
#
# Each server in turn, against the same fresh Redis (FLUSHALL in between),
# runs the same im-bench workloads at the same concurrency, over Thrift and
# then through the gateway:
#   send      sends to random rooms, then --verify-redis counts what was stored
#   pull10    pulls, page 10        } over rooms filled with $PREFILL messages
#   pull50    pulls, page 50        } each; every pull starts at cursor 0 and
#   mixed     20% sends, 80% pulls  } alternates forward/reverse (see below)
#
# Cursors: the Go peer's cursor is a sorted-set index, the Rust server's is
# a send time. im-bench's own prefill draws half of the cursors from the send
# times, which the Go peer would read as huge indexes and answer with empty
# pages. So the rooms are filled once per server (a 1-request pull run with
# the prefill) and the measured runs reuse them with --prefill 0: every pull
# starts at cursor 0 on both servers and returns a full page.
#
# Environment:
#   DURATION (10s)  WARMUP (2s)  CONNECTIONS (32)  ROOMS (1000)
#   PREFILL (100)   RB_REQUESTS (1000000, redis-benchmark requests per test)
#   QUICK=1         2 s per workload, 1 s warm-up, PREFILL 60, RB_REQUESTS 200000,
#                   500 idle connections
# Then the two stacks side by side (see "The two stacks side by side"
# below): the headline HTTP comparison, in alternating rounds.
#   STACK_ROUNDS (5; QUICK=1: 1)  rounds of that section
# Then what two of the Rust server's options cost (see "Rust server options"
# below): metrics on, and --redis-wait-replicas 1.
#   OPTION_ROUNDS (3; QUICK=1: 1)  rounds of that section
#   BENCH_NETNS=shared  measure in the machine's network namespace (by
#                   default, as root, in one of its own; see below)
# Results (JSON Lines, redis-benchmark CSV, logs) go to bench/results/<date>/;
# the tables at the end are `im-bench tables` of the JSON Lines.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
# Inside its own network namespace (below) the script runs again, offline:
# the prerequisites were installed by then.
[[ ${BENCH_NETNS:-} == own ]] || bash scripts/install-deps.sh

if [[ ${QUICK:-0} == 1 ]]; then
    DURATION=${DURATION:-2s}
    WARMUP=${WARMUP:-1s}
    PREFILL=${PREFILL:-60}
    RB_REQUESTS=${RB_REQUESTS:-200000}
    OPTION_ROUNDS=${OPTION_ROUNDS:-1}
    STACK_ROUNDS=${STACK_ROUNDS:-1}
    export IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-500} IDLE_SETTLE=${IDLE_SETTLE:-1s}
fi
OPTION_ROUNDS=${OPTION_ROUNDS:-3}
STACK_ROUNDS=${STACK_ROUNDS:-5}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-32}
ROOMS=${ROOMS:-1000}
PREFILL=${PREFILL:-100}
RB_REQUESTS=${RB_REQUESTS:-1000000}
RB_PIPELINE=16
# The HTTP rows are the gateway's defaults and the template's settings,
# whatever the caller's environment sets for the gateway.
unset "${!RPC_POOL@}" HTTP_BIND RPC_TIMEOUT_MODE

if [[ ${BENCH_NETNS:-} != own ]]; then
    echo "bench: building rpc-server, im-bench (release), the Go peer and the gateway"
    cargo build --release --quiet -p rpc-server -p im-bench
    make -C bench/go-baseline --no-print-directory build >/dev/null
    make -C http-server-go --no-print-directory build >/dev/null
fi
# The measurements run in a network namespace of their own when root can
# make one (unshare, ip): the HTTP tables' new connections per request,
# counted from the namespace's accepted connections, are then this
# benchmark's alone, however busy the machine. Loopback there is the same
# loopback. BENCH_NETNS=shared keeps the machine's namespace, where other
# processes' connections count too.
if [[ -z ${BENCH_NETNS:-} ]]; then
    if ((EUID == 0)) && command -v ip >/dev/null && unshare --net true 2>/dev/null; then
        export BENCH_NETNS=own
        exec unshare --net bash -c 'ip link set lo up && exec bash scripts/bench.sh'
    fi
    BENCH_NETNS=shared
fi
IM_BENCH=target/release/im-bench

RESULTS=bench/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS"
JSON=$RESULTS/runs.jsonl
LOG=$RESULTS/im-bench.log
echo "bench: results in $RESULTS (duration $DURATION, warm-up $WARMUP, $CONNECTIONS connections, $ROOMS rooms, prefill $PREFILL)"
if [[ $BENCH_NETNS == own ]]; then
    echo "bench: in a network namespace of its own: new connections are this benchmark's only"
else
    echo "bench: in the machine's network namespace: new connections include other processes'"
fi

pids=()
failures=()
trap 'trap - EXIT INT TERM; stop_all "${pids[@]}"' EXIT
trap 'exit 130' INT TERM

stop_newest() {
    stop_all "${pids[-1]}"
    unset 'pids[-1]'
}

redis_port=$(free_port)
mkdir -p "$RESULTS/redis"
serve redis "$redis_port" redis-server --port "$redis_port" --bind 127.0.0.1 \
    --dir "$RESULTS/redis" --save '' --appendonly no
redis_pid=${pids[-1]}
redis_url=redis://127.0.0.1:$redis_port
rcli() { redis-cli -p "$redis_port" "$@"; }

# bench LABEL ARGS...: one im-bench run, shown, logged and added to $JSON;
# a failing run is recorded and the script goes on.
bench() {
    local label=$1
    shift
    "$IM_BENCH" --connections "$CONNECTIONS" --rooms "$ROOMS" --duration "$DURATION" \
        --warmup "$WARMUP" --label "$label" --json "$JSON" "$@" 2>&1 | tee -a "$LOG" ||
        failures+=("$label: im-bench exit status $?")
}

# The gateway as the template has it: its pool, binding and call timeout.
TEMPLATE_GATEWAY_ENV=(RPC_POOL=template HTTP_BIND=template RPC_TIMEOUT_MODE=template)

# serve_rust NAME PORT [ENV...]: a Rust server on PORT, with ENV besides.
# One worker thread: Redis, the gateway and im-bench need the machine's other
# core, and on 2 cores one thread spent 10-20% less CPU per request than two
# (docs/performance-history.md).
serve_rust() {
    local name=$1 port=$2
    shift 2
    serve "$name" "$port" env RPC_WORKER_THREADS="${RUST_WORKER_THREADS:-1}" \
        RPC_LISTEN="127.0.0.1:$port" REDIS_URL="$redis_url" RUST_LOG=warn "$@" \
        target/release/rpc-server
}

# serve_go NAME PORT: the Go peer on PORT, with its default GOMAXPROCS (its best).
serve_go() {
    serve "$1" "$2" env RPC_LISTEN="127.0.0.1:$2" REDIS_ADDR="127.0.0.1:$redis_port" \
        bench/go-baseline/bin/go-baseline
}

# fill_rooms LABEL PORT ROOMS_ID: fills $ROOMS rooms under ROOMS_ID with
# $PREFILL messages each, through the server on PORT (a 1-request pull run
# with the prefill; logged, not measured).
fill_rooms() {
    "$IM_BENCH" --addr "127.0.0.1:$2" --connections "$CONNECTIONS" --rooms "$ROOMS" \
        --run-id "$3" --workload pull --prefill "$PREFILL" --requests 1 --warmup 0s \
        --label "$1" >>"$LOG" 2>&1 || failures+=("$1: im-bench exit status $?")
}

# workloads PREFIX KEY_PATTERN ROOMS_ID ARGS...: the four workloads, labelled
# PREFIX-<workload>; the pulls use the rooms filled under ROOMS_ID.
workloads() {
    local prefix=$1 pattern=$2 rooms_id=$3
    shift 3
    bench "$prefix-send" "$@" --workload send --verify-redis "$redis_url" --key-pattern "$pattern"
    local filled=("$@" --run-id "$rooms_id" --prefill 0)
    bench "$prefix-pull10" "${filled[@]}" --workload pull --page-size 10
    bench "$prefix-pull50" "${filled[@]}" --workload pull --page-size 50
    bench "$prefix-mixed" "${filled[@]}" --workload mixed --send-ratio 0.2 --page-size 10
}

# measure NAME KEY_PATTERN: the server newest in $pids, listening on
# $rpc_port: its rooms filled, the workloads over Thrift, then through the
# gateway in front of it, with its defaults and with the template's pool.
measure() {
    local name=$1 pattern=$2 server_pid=${pids[-1]} rooms_id=$1$RANDOM gateway_port
    echo "bench: $name: filling $ROOMS rooms with $PREFILL messages each"
    fill_rooms "$name-fill" "$rpc_port" "$rooms_id"
    workloads "$name-thrift" "$pattern" "$rooms_id" \
        --addr "127.0.0.1:$rpc_port" --server-pid "$server_pid"

    # Through the gateway: with its defaults (kind http), then as the
    # template has it (kind httptpl: the template's connection pool,
    # binding and call timeout); one gateway at a time. Watched: the
    # gateway, the server and Redis, for the CPU each spends per request.
    local kind template_env
    for kind in http httptpl; do
        template_env=()
        [[ $kind == httptpl ]] && template_env=("${TEMPLATE_GATEWAY_ENV[@]}")
        gateway_port=$(free_port)
        serve "$name-gateway-$kind" "$gateway_port" env HTTP_ADDR="127.0.0.1:$gateway_port" \
            RPC_ADDR="127.0.0.1:$rpc_port" "${template_env[@]}" http-server-go/bin/http-server
        workloads "$name-$kind" "$pattern" "$rooms_id" --protocol http --addr "127.0.0.1:$gateway_port" \
            --server-pid "${pids[-1]}" --server-pid "$server_pid" --server-pid "$redis_pid"
        stop_newest
    done
}

echo
echo "== Rust rpc-server =="
rpc_port=$(free_port)
serve_rust rust-server "$rpc_port"
measure rust 'im:chat:{room}'
stop_newest
rcli FLUSHALL >/dev/null

echo
echo "== Go peer =="
rpc_port=$(free_port)
serve_go go-server "$rpc_port"
measure go '{room}'
stop_newest
rcli FLUSHALL >/dev/null

# --- The two stacks side by side --------------------------------------------
# The comparison users make: this project's stack (the gateway's defaults in
# front of the Rust server) against the template's (the gateway as the
# template has it in front of the Go peer). Above, each ran once, minutes
# apart, and one 10 s run here moves by up to 10% with the machine's state.
# So both stacks are up at once on the one Redis, the mixed workload runs on
# each in turn, back to back, in $STACK_ROUNDS rounds with the order swapped
# every round; the tables and the summary line take the medians.
echo
echo "== The two stacks side by side: HTTP mixed, $STACK_ROUNDS alternating rounds =="
stacks_first_pid=${#pids[@]}
declare -A stack_gateway stack_pids stack_rooms
# stack NAME SERVER_PORT SERVER_PID GATEWAY_ENV...: a gateway in front of
# the server, its rooms filled; NAME is the label's server (rust or go).
stack() {
    local name=$1 server_port=$2 server_pid=$3 port
    shift 3
    port=$(free_port)
    serve "stack-$name-gateway" "$port" env HTTP_ADDR="127.0.0.1:$port" \
        RPC_ADDR="127.0.0.1:$server_port" "$@" http-server-go/bin/http-server
    stack_gateway[$name]=$port
    stack_pids[$name]="--server-pid ${pids[-1]} --server-pid $server_pid --server-pid $redis_pid"
    stack_rooms[$name]=stack$name$RANDOM
    fill_rooms "stack-$name-fill" "$server_port" "${stack_rooms[$name]}"
}
rpc_port=$(free_port)
serve_rust rust-stack-server "$rpc_port"
stack rust "$rpc_port" "${pids[-1]}"
rpc_port=$(free_port)
serve_go go-stack-server "$rpc_port"
stack go "$rpc_port" "${pids[-1]}" "${TEMPLATE_GATEWAY_ENV[@]}"
for ((round = 0; round < STACK_ROUNDS; round++)); do
    order=(rust go)
    ((round % 2 == 0)) || order=(go rust)
    for name in "${order[@]}"; do
        # shellcheck disable=SC2086 # the pids are three words
        bench "$name-stack-mixed" --protocol http --addr "127.0.0.1:${stack_gateway[$name]}" \
            ${stack_pids[$name]} --run-id "${stack_rooms[$name]}" --prefill 0 \
            --workload mixed --send-ratio 0.2 --page-size 10
    done
done
stop_all "${pids[@]:stacks_first_pid}"
pids=("${pids[@]:0:stacks_first_pid}")
rcli FLUSHALL >/dev/null

# --- Rust server options ---------------------------------------------------
# What the admin listener costs (its /metrics scraped every second, 15 times
# Prometheus's default rate) and what --redis-wait-replicas 1 costs, against
# the same server without them. Redis gets one replica for this section
# (WAIT needs one, and replicating then weighs on every variant alike), the
# three servers run side by side, and each workload runs on the three in
# turn, back to back, so that they share the machine's state of the moment;
# in $OPTION_ROUNDS rounds, each starting one server later, and the table
# shows the medians (a few percent is below one run's noise here).
echo
echo "== Rust rpc-server options: base, metrics on, WAIT for 1 replica (Redis with one replica) =="
options_first_pid=${#pids[@]}
replica_port=$(free_port)
mkdir -p "$RESULTS/redis-replica"
serve redis-replica "$replica_port" redis-server --port "$replica_port" --bind 127.0.0.1 \
    --dir "$RESULTS/redis-replica" --save '' --appendonly no --replicaof 127.0.0.1 "$redis_port"
for _ in {1..100}; do
    rcli INFO replication | grep -q '^slave0:.*state=online' && break
    sleep 0.1
done
rcli INFO replication | grep -q '^slave0:.*state=online' || failures+=("the Redis replica did not come online")

declare -A option_ports option_pids
# option NAME ENV...: a Rust server with ENV, listening on option_ports[NAME],
# its pid in option_pids[NAME].
option() {
    local name=$1 port
    shift
    port=$(free_port)
    option_ports[$name]=$port
    serve_rust "rust-$name-server" "$port" "$@"
    option_pids[$name]=${pids[-1]}
}
option base
admin_port=$(free_port)
option metrics RPC_ADMIN_LISTEN="127.0.0.1:$admin_port"
wait_for_port "$admin_port" "the metrics listener"
option wait1 REDIS_WAIT_REPLICAS=1
# The scrapes, as Prometheus would do them (curl's own CPU is not the server's).
(while curl -fsS -o /dev/null "http://127.0.0.1:$admin_port/metrics"; do sleep 1; done) &
pids+=($!)

rooms_id=opt$RANDOM
fill_rooms options-fill "${option_ports[base]}" "$rooms_id"
variants=(base metrics wait1)
for workload in send mixed; do
    for ((round = 0; round < OPTION_ROUNDS; round++)); do for k in 0 1 2; do
        i=$(((k + round) % 3))
        name=${variants[i]}
        args=(--addr "127.0.0.1:${option_ports[$name]}" --server-pid "${option_pids[$name]}")
        case $workload in
        send) args+=(--workload send --verify-redis "$redis_url" --key-pattern 'im:chat:{room}') ;;
        mixed) args+=(--run-id "$rooms_id" --prefill 0 --workload mixed --send-ratio 0.2 --page-size 10) ;;
        esac
        bench "rust-$name-$workload" "${args[@]}"
    done; done
done
if curl -fsS "http://127.0.0.1:$admin_port/metrics" | grep -q '^rpc_requests_total{'; then
    echo "metrics: the scraped server counted its requests"
else
    failures+=("the metrics server's /metrics had no request counts")
fi
# The replica, the three servers and the scraper.
stop_all "${pids[@]:options_first_pid}"
pids=("${pids[@]:0:options_first_pid}")
rcli FLUSHALL >/dev/null

# --- Redis's own ceiling -------------------------------------------------
echo
echo "== redis-benchmark: $RB_REQUESTS requests, $CONNECTIONS connections, pipeline $RB_PIPELINE =="
# The Rust server's send: EVALSHA of its append script, the very file the
# server embeds, with a compact member of the bench's text size and no
# retention (the server's defaults).
text=$(printf 'x%.0s' {1..64})
sha=$(rcli SCRIPT LOAD "$(cat rpc-server/src/store/redis/append.lua)")
# Pull data: 1000 rooms per server, <prefix><12-digit n> (redis-benchmark's
# __rand_int__ form), with $PREFILL members each, scores 1..PREFILL, in the
# member format each server writes: the Rust server's compact (tag, 8-byte
# time, flags, text) and the Go peer's ~130-byte JSON.
rcli EVAL "for k = 0, 999 do
  local n = string.format('%012d', k)
  for i = 1, tonumber(ARGV[1]) do
    redis.call('ZADD', 'bench:pull:' .. n, i, '\1' .. struct.pack('>i8', i) .. '\1' .. ARGV[2])
    redis.call('ZADD', 'bench:gopull:' .. n, i, '{\"Chat\":\"u' .. k .. ':v' .. k .. '\",\"Text\":\"' .. ARGV[2] .. '\",\"Sender\":\"u' .. k .. '\",\"SendTime\":' .. i .. '}')
  end
end" 0 "$PREFILL" "$text" >/dev/null

# rb LABEL COMMAND...: one redis-benchmark test; its req/s goes into $JSON
# as a run named LABEL. The command in the CSV's first field is not
# CSV-escaped (quotes, commas), so rps is taken as the 7th field from the end.
rb() {
    local label=$1 rps
    shift
    rps=$(redis-benchmark -p "$redis_port" -n "$RB_REQUESTS" -c "$CONNECTIONS" -P "$RB_PIPELINE" \
        -r 1000 --csv "$@" 2>>"$RESULTS/redis-benchmark.log" | tee "$RESULTS/$label.csv" |
        tail -n 1 | awk -F, '{ gsub(/"/, "", $(NF-6)); print $(NF-6) }') || true
    if [[ $rps =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
        echo "$label: $rps req/s ($(cut -c1-80 <<<"$*"))"
        printf '{"label":"%s","throughput_rps":%s}\n' "$label" "$rps" >>"$JSON"
    else
        failures+=("redis-benchmark $label: no result")
    fi
}
rb rust-redis-send EVALSHA "$sha" 1 'bench:send:__rand_int__' $'\x01' be64 $'\x01'"$text" 0 0
rb go-redis-send ZADD 'bench:zadd:__rand_int__' __rand_int__ \
    "{\"Chat\":\"u1:v1\",\"Text\":\"$text-__rand_int__\",\"Sender\":\"u1\",\"SendTime\":__rand_int__}"
rb rust-redis-pull10 ZRANGE 'bench:pull:__rand_int__' -inf +inf BYSCORE LIMIT 0 11
rb go-redis-pull10 ZRANGE 'bench:gopull:__rand_int__' 0 10
rb rust-redis-pull50 ZRANGE 'bench:pull:__rand_int__' -inf +inf BYSCORE LIMIT 0 51
rb go-redis-pull50 ZRANGE 'bench:gopull:__rand_int__' 0 50
rcli FLUSHALL >/dev/null

# --- Memory per idle connection ------------------------------------------
# Fresh servers of their own (scripts/bench-idle.sh): what an earlier run
# left in a server's heap would count as its baseline.
echo
echo "== memory per idle connection =="
IDLE_BUILT=1 RESULTS=$RESULTS bash scripts/bench-idle.sh || failures+=("scripts/bench-idle.sh")

echo
for failure in "${failures[@]+"${failures[@]}"}"; do
    echo "failed: $failure"
done
"$IM_BENCH" tables "$JSON"
((${#failures[@]} == 0))
