#!/usr/bin/env bash
# Runs the stack as a fleet, each piece on a host of its own, and breaks it
# while traffic flows. Hosts are network namespaces that this script creates
# (names imf<pid>-*) and deletes on exit, also on failure or Ctrl-C: Redis,
# etcd, three rpc-servers, a gateway that discovers them through etcd (gw),
# a load balancer that health-checks each replica's /readyz like a Kubernetes
# Service (HAProxy, lb) with a gateway dialing its one address (gwlb), and a
# router that every host reaches through its own veth pair. Addresses are
# 10.213.<host>.0/24 and exist only inside these namespaces; nothing is added
# to the machine's own interfaces, routes or firewall. Needs root.
#
#   bash scripts/fleet.sh [suite]   the test stage (about 3 minutes):
#     kill       SIGKILL one replica: the gateway must stop routing to it
#     etcd-cut   rpc1 <-> etcd dropped in the router (ip rule blackhole) for
#                20 s: its lease (5 s) expires, the gateway drops it, it stays
#                ready (/readyz 200); when the link returns it registers again
#     redis-cut  rpc1 <-> Redis dropped for 10 s: its share gets an immediate
#                500 `storage unavailable`, /readyz stays 200 (degraded)
#     latency    50 ms more round trip between the replicas and Redis, at the
#                default timeouts: nothing may fail
#     etcd-all   every replica <-> etcd dropped for 9 s (past the lease),
#                traffic through the load balancer: nothing may fail
#     redis-all  every replica <-> Redis dropped for 7 s, through the load
#                balancer: `storage unavailable` at once, no replica leaves it
#     pool       the gateway's default connection pool across hosts, 64 and
#                256 concurrent HTTP clients for 10 s (im-bench): no failed
#                request, no new connection past one per client, TIME_WAIT
#                to the rpc-server far from the ephemeral port range
#   Prints the tables and details; exits 1 if an expectation failed.
#
#   bash scripts/fleet.sh pools     the across-hosts pool table: the gateway
#     with the template's Kitex pool (RPC_POOL=template) and with its default,
#     64 and 256 concurrent HTTP clients, POOL_SECONDS (60) each, release
#     builds; each run on a fresh gateway host. About 5 minutes.
#   BEFORE_REF=<commit> bash scripts/fleet.sh outages   etcd-all and
#     redis-all with probe timings like deploy/k8s (every 5 s, 2 failures)
#     and 25 s / 20 s cuts, first with the rpc-server of <commit> (built in
#     target/fleet-before), then with this one: the before/after table.
#     Without BEFORE_REF only this one. About 3 minutes (plus the build).
#
# RPC_SERVER_BIN and GATEWAY_BIN run other binaries in every mode.
# Latency: this machine's kernel has no sch_netem (`tc qdisc ... netem`
# fails), so Redis is reached through a relay on the Redis host that delays
# every chunk by 25 ms each way once told to (fleet_load.py relay).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
MODE=${1:-suite}

case $MODE in
suite | pools | outages) ;;
*)
    echo "usage: bash scripts/fleet.sh [suite|pools|outages]" >&2
    exit 2
    ;;
esac
if ((EUID != 0)); then
    echo "fleet: needs root (network namespaces)" >&2
    exit 2
fi
bash scripts/install-deps.sh
PY=${PYTHON:-python3}

dir=$(mktemp -d /tmp/fleet.XXXXXX)
P=imf$$
R=$P-router
HOSTS=()
declare -A NUM=([redis]=1 [etcd]=2 [gw]=3 [lb]=4 [gwlb]=5 [rpc1]=11 [rpc2]=12 [rpc3]=13)
REPLICAS=(rpc1 rpc2 rpc3)
ip_of() { echo "10.213.${NUM[$1]}.2"; }
ns() { echo "$P-$1"; }
REDIS_IP=$(ip_of redis)
ETCD_IP=$(ip_of etcd)
SERVICE_PREFIX=kitex/registry-etcd/demo.rpc.server/

declare -A PID=()
STARTED=() # names in start order, so that teardown stops the newest first
keep_logs=""

# shellcheck disable=SC2317 # invoked by the trap
teardown() {
    local status=$? name pid left pids=()
    trap - EXIT INT TERM
    for name in "${STARTED[@]}"; do
        [ -z "${PID[$name]:-}" ] || pids+=("${PID[$name]}")
    done
    stop_all "${pids[@]}"
    for name in router "${HOSTS[@]}"; do
        # Anything still running in our own namespaces was started here.
        for pid in $(ip netns pids "$(ns "$name")" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null || true
        done
        ip netns del "$(ns "$name")" 2>/dev/null || true
    done
    left=$(ip netns list | grep -c "^$P-" || true)
    if ((left > 0)); then
        echo "fleet: $left namespaces $P-* are left" >&2
        status=1
    else
        echo "fleet: torn down (no $P-* namespace left)"
    fi
    if ((status != 0)) || [ -n "$keep_logs" ]; then
        echo "fleet: logs kept in $dir" >&2
    else
        rm -rf "$dir"
    fi
    exit "$status"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# --- the builds ------------------------------------------------------------------
profile=debug release=()
[ "$MODE" != pools ] || { profile=release && release=(--release); }
BEFORE_BIN=""
if [ "$MODE" = outages ] && [ -n "${BEFORE_REF:-}" ]; then
    # Built in target/ like ours (its workspace crates get their own hashes,
    # the dependencies are shared), then copied out before ours is linked again.
    echo "fleet: building the rpc-server of $BEFORE_REF"
    rm -rf target/fleet-before
    mkdir -p target/fleet-before/src
    git archive "$BEFORE_REF" | tar -x -C target/fleet-before/src
    cargo build --quiet --locked --manifest-path target/fleet-before/src/Cargo.toml \
        --target-dir target -p rpc-server
    cp target/debug/rpc-server target/fleet-before/rpc-server
    BEFORE_BIN=target/fleet-before/rpc-server
fi
echo "fleet: building rpc-server, im-bench ($profile) and the gateway"
cargo build --quiet --locked "${release[@]}" -p rpc-server -p im-bench
[ -n "${GATEWAY_BIN:-}" ] || make -C http-server-go --no-print-directory build >/dev/null
RPC_BIN=${RPC_SERVER_BIN:-target/$profile/rpc-server}
BENCH=target/$profile/im-bench
GATEWAY=${GATEWAY_BIN:-http-server-go/bin/http-server}
if [ -n "$BEFORE_BIN" ] && cmp -s "$BEFORE_BIN" "$RPC_BIN"; then
    echo "fleet: $RPC_BIN is still the binary of $BEFORE_REF" >&2
    exit 1
fi

# --- the network ---------------------------------------------------------------
ip netns add "$R"
ip -n "$R" link set lo up
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
# add_host NAME NUMBER: a namespace with 10.213.NUMBER.2, routed through the router.
add_host() {
    local h=$1 n=$2
    NUM[$h]=$n
    HOSTS+=("$h")
    ip netns add "$(ns "$h")"
    ip -n "$R" link add "to-$h" type veth peer name eth0 netns "$(ns "$h")"
    ip -n "$R" addr add "10.213.$n.1/24" dev "to-$h"
    ip -n "$R" link set "to-$h" up
    ip -n "$(ns "$h")" link set lo up
    ip -n "$(ns "$h")" addr add "10.213.$n.2/24" dev eth0
    ip -n "$(ns "$h")" link set eth0 up
    ip -n "$(ns "$h")" route add default via "10.213.$n.1"
}
# del_host NAME: deletes the namespace (its sockets, TIME_WAIT ones too, go with it).
del_host() {
    local h kept=()
    ip netns del "$(ns "$1")"
    for h in "${HOSTS[@]}"; do [ "$h" = "$1" ] || kept+=("$h"); done
    HOSTS=("${kept[@]}")
}
for h in redis etcd gw lb gwlb "${REPLICAS[@]}"; do add_host "$h" "${NUM[$h]}"; done

# cut_link A B / heal_link A B: drops (or forwards again) everything between hosts A
# and B in the router, both ways; their other links stay up.
cut_link() {
    ip -n "$R" rule add from "$(ip_of "$1")" to "$(ip_of "$2")" blackhole
    ip -n "$R" rule add from "$(ip_of "$2")" to "$(ip_of "$1")" blackhole
}
heal_link() {
    ip -n "$R" rule del from "$(ip_of "$1")" to "$(ip_of "$2")" blackhole
    ip -n "$R" rule del from "$(ip_of "$2")" to "$(ip_of "$1")" blackhole
}

# --- the processes ---------------------------------------------------------------
# track NAME PID: a process that teardown stops.
track() {
    PID[$1]=$2
    [[ " ${STARTED[*]} " == *" $1 "* ]] || STARTED+=("$1")
}
# run NAME HOST CMD...: starts CMD in HOST's namespace, logging to $dir/NAME.log
# (appended: a restarted process keeps its earlier log).
run() {
    local name=$1 host=$2
    shift 2
    ip netns exec "$(ns "$host")" "$@" >>"$dir/$name.log" 2>&1 &
    track "$name" $!
}
# stop NAME: stops a process started here (SIGTERM, bounded wait).
stop() {
    stop_all "${PID[$1]}"
    unset "PID[$1]"
}
# on HOST CMD...: runs CMD in HOST's namespace.
on() {
    local host=$1
    shift
    ip netns exec "$(ns "$host")" "$@"
}
registered() { # prints the addresses registered in etcd
    on etcd etcdctl --endpoints 127.0.0.1:2379 get --prefix "$SERVICE_PREFIX" --print-value-only 2>/dev/null |
        grep -o '"address":"[^"]*"' | cut -d'"' -f4 | sort
}
is_registered() { registered | grep -qx "$(ip_of "$1"):8888"; }
not_registered() { ! is_registered "$1"; }
count_registered() { [ "$(registered | wc -l)" = "$1" ]; }

readyz() { # HOST: prints "<status> <body, lines joined by '; '>" of its /readyz
    local code
    code=$(on "$1" curl -s -m 2 -o "$dir/readyz" -w '%{http_code}' http://127.0.0.1:9090/readyz || true)
    echo "$code $(paste -sd';' "$dir/readyz" 2>/dev/null | sed 's/;/; /g')"
}
is_ready() { [[ "$(readyz "$1")" == 200* ]]; }
served() { # HOST: prints how many requests it has answered (its /metrics)
    on "$1" curl -s -m 2 http://127.0.0.1:9090/metrics |
        awk '/^rpc_requests_total/ {s += $NF} END {print s + 0}'
}

start_rpc() { # HOST [BINARY]
    run "$1" "$1" env RUST_LOG=info RPC_LISTEN=0.0.0.0:8888 RPC_ADVERTISE_ADDR="$(ip_of "$1"):8888" \
        ETCD_ENDPOINTS="$ETCD_IP:2379" REDIS_URL="redis://$REDIS_IP:6379" \
        KITEX_ETCD_REGISTRY_LEASE_TTL=5 RPC_ADMIN_LISTEN=0.0.0.0:9090 "${2:-$RPC_BIN}"
}
start_replicas() { # [BINARY]: the three rpc-servers, until registered and ready
    local h
    for h in "${REPLICAS[@]}"; do start_rpc "$h" "${1:-}"; done
    wait_until 60 "3 rpc-servers registered in etcd" count_registered 3
    for h in "${REPLICAS[@]}"; do wait_until 30 "$h to be ready" is_ready "$h"; done
}
stop_replicas() {
    local h
    for h in "${REPLICAS[@]}"; do stop "$h"; done
}
start_gateway() { # NAME HOST ENV...: a gateway on HOST's 127.0.0.1:8080
    local name=$1 host=$2
    shift 2
    run "$name" "$host" env HTTP_ADDR=127.0.0.1:8080 "$@" "$GATEWAY"
    NETNS=$(ns "$host") wait_until 30 "the gateway $name" port_open 8080
}

# The load balancer: TCP for Thrift, each replica health-checked on its
# /readyz; a replica marked down loses its connections too (as a Service's
# endpoint removal would for new ones). "inter 5s fall 2" is the Kubernetes
# probe of deploy/k8s (periodSeconds 5, failureThreshold 2). Its log
# (haproxy.log) has the time of each replica's state change.
start_lb() { # CHECK-TIMING
    {
        echo "global"
        echo "    maxconn 4096"
        echo "    log stderr format iso local0 notice"
        echo "defaults"
        echo "    log global"
        echo "    mode tcp"
        echo "    timeout connect 1s"
        echo "    timeout client 5m"
        echo "    timeout server 5m"
        echo "    timeout check 2s"
        echo "listen stats"
        echo "    bind 127.0.0.1:8404"
        echo "    mode http"
        echo "    stats enable"
        echo "    stats uri /stats"
        echo "listen rpc"
        echo "    bind $(ip_of lb):8888"
        echo "    balance roundrobin"
        echo "    option httpchk GET /readyz"
        echo "    default-server check port 9090 $1 rise 1 on-marked-down shutdown-sessions"
        for h in "${REPLICAS[@]}"; do echo "    server $h $(ip_of "$h"):8888"; done
    } >"$dir/haproxy.cfg"
    run haproxy lb haproxy -db -f "$dir/haproxy.cfg"
    wait_until 30 "the load balancer to see 3 replicas up" lb_up 3
}
lb_up() { # COUNT: whether COUNT replicas are up in the load balancer
    [ "$(on lb curl -s -m 2 'http://127.0.0.1:8404/stats;csv' | grep -c '^rpc,rpc[0-9],.*,UP,')" = "$1" ]
}

echo "fleet: starting Redis, etcd and 3 rpc-servers in namespaces $P-*"
NETNS=$(ns redis) start_redis 6379 "$dir/redis" --save "" --appendonly no
track redis $!
run relay redis "$PY" scripts/fleet_load.py relay "$REDIS_IP" 6379 127.0.0.1 6379
NETNS=$(ns etcd) start_etcd 2379 2380 "$dir/etcd" "$ETCD_IP"
track etcd $!
NETNS=$(ns redis) wait_for_port 6379 redis-server
NETNS=$(ns etcd) wait_for_port 2379 etcd
start_replicas "$BEFORE_BIN"
echo "fleet: replicas up; registered: $(registered | tr '\n' ' ')"

# --- the scenarios -------------------------------------------------------------------
# load NAME SECONDS [GATEWAY-HOST]: traffic through a gateway in the background.
load() {
    scenario=$1
    : >"$dir/$scenario.events"
    echo "$scenario" >>"$dir/scenarios"
    echo "fleet: scenario $scenario (${2} s of traffic), ${SECONDS} s after the start"
    run "load-$scenario" "${3:-gw}" "$PY" scripts/fleet_load.py load 127.0.0.1:8080 "$2" "$dir/$scenario.json"
}
mark() { # EVENT [TEXT]: notes now (or TEXT) for the current scenario
    echo "$1 ${2:-$(date +%s.%N)}" >>"$dir/$scenario.events"
}
# expect EVENT CMD...: marks EVENT when CMD succeeds, else marks it failed.
expect() {
    local event=$1
    shift
    if "$@"; then mark "$event"; else mark "$event" "FAIL never"; fi
}
finish() { wait "${PID[load-$scenario]}"; }
# sleep_past SECONDS: sleeps until SECONDS after the current scenario's fault.
sleep_past() {
    sleep "$("$PY" -c "print(max(0.0, $(grep '^fault ' "$dir/$scenario.events" | cut -d' ' -f2) + $1 - $(date +%s.%N)))")"
}
# wait_served HOST: until the gateway sends HOST requests.
wait_served() {
    local before
    before=$(served "$1")
    wait_until 30 "$1 to be served" test_served "$1" "$before"
}
test_served() { (($(served "$1") > $2)); }
# until_stops HOST SECONDS: waits until HOST has answered no request for 2 s
# (at most SECONDS); prints when it answered the last one.
until_stops() {
    local last now count previous deadline=$((SECONDS + $2))
    previous=$(served "$1")
    last=$(date +%s.%N)
    while ((SECONDS < deadline)); do
        sleep 0.25
        count=$(served "$1")
        now=$(date +%s.%N)
        if ((count != previous)); then
            previous=$count
            last=$now
        elif awk -v a="$now" -v b="$last" 'BEGIN { exit !(a - b >= 2) }'; then
            echo "$last"
            return 0
        fi
    done
    echo "FAIL still served ${2} s later"
}
readiness_of_all() { # prints every replica's /readyz, "rpc1: 200 ready | ..."
    local h out=()
    for h in "${REPLICAS[@]}"; do out+=("$h: $(readyz "$h")"); done
    (IFS='|' && echo "${out[*]}")
}

# etcd_all CUT-SECONDS TRAFFIC-SECONDS [SUFFIX]: every replica loses etcd at
# once, traffic through the load balancer.
etcd_all() {
    local h
    load "etcd-all${3:-}" "$2" gwlb
    sleep 3
    mark fault
    for h in "${REPLICAS[@]}"; do cut_link "$h" etcd; done
    expect lease-expired wait_until 20 "every lease to expire" count_registered 0
    sleep_past "$(($1 - 1))"
    mark readyz-cut "$(readiness_of_all)"
    sleep_past "$1"
    mark restored
    for h in "${REPLICAS[@]}"; do heal_link "$h" etcd; done
    expect registered-again wait_until 20 "every replica to register again" count_registered 3
    finish
}

# redis_all CUT-SECONDS TRAFFIC-SECONDS [SUFFIX]: every replica loses Redis.
redis_all() {
    local h
    load "redis-all${3:-}" "$2" gwlb
    sleep 3
    mark fault
    for h in "${REPLICAS[@]}"; do cut_link "$h" redis; done
    sleep_past "$(($1 - 1))"
    mark readyz-cut "$(readiness_of_all)"
    sleep_past "$1"
    mark restored
    for h in "${REPLICAS[@]}"; do heal_link "$h" redis; done
    finish
}

# pool_run POOL CLIENTS SECONDS: im-bench through a gateway on a fresh host
# (its own ephemeral ports, no TIME_WAIT left from earlier runs) dialing rpc1
# at a fixed address, as the template does. POOL is the gateway's RPC_POOL
# ("" for its default). Writes DIR/pool-N.json for fleet_load.py pools.
pool_runs=0
pool_run() {
    local pool=$1 clients=$2 seconds=$3 host a b m1 m2 tw range
    pool_runs=$((pool_runs + 1))
    host=pool$pool_runs
    add_host "$host" $((20 + pool_runs))
    echo "fleet: pool ${pool:-default}, $clients HTTP clients, $seconds s, ${SECONDS} s after the start"
    start_gateway "gw-$host" "$host" RPC_ADDR="$(ip_of rpc1):8888" ${pool:+RPC_POOL=$pool}
    m1=$(served rpc1)
    a=$(on rpc1 awk '/^Tcp:/ && ++n == 2 {print $7}' /proc/net/snmp) # PassiveOpens
    run "bench-$host" "$host" "$BENCH" --protocol http --addr 127.0.0.1:8080 --workload mixed \
        --connections "$clients" --duration "${seconds}s" --warmup 0s --rooms 200 --prefill 10 \
        --label "${pool:-default} $clients" --json "$dir/bench-$pool_runs.json"
    wait "${PID[bench-$host]}" || true
    unset "PID[bench-$host]"
    b=$(on rpc1 awk '/^Tcp:/ && ++n == 2 {print $7}' /proc/net/snmp)
    m2=$(served rpc1)
    tw=$(on "$host" ss -Htan state time-wait '( dport = :8888 )' | wc -l)
    range=$(on "$host" sysctl -n net.ipv4.ip_local_port_range | awk '{print $2 - $1 + 1}')
    "$PY" - "$dir" "$pool_runs" "${pool:-default}" "$clients" "$seconds" $((b - a)) $((m2 - m1)) "$tw" "$range" <<'PY'
import json, pathlib, re, sys
d, k, pool, clients, seconds, opens, rpcs, tw, ports = sys.argv[1:]
d = pathlib.Path(d)
out = (d / f"bench-pool{k}.log").read_text()
bench = d / f"bench-{k}.json"
prefill = re.search(r"^prefill: .* (\d+) errors$", out, re.M)
gateway = (d / f"gw-pool{k}.log").read_text()
(d / f"pool-{k}.json").write_text(json.dumps({
    "pool": pool, "clients": int(clients), "seconds": int(seconds),
    "new_connections": int(opens), "rpcs": int(rpcs), "time_wait": int(tw), "ports": int(ports),
    "prefill_errors": int(prefill.group(1)) if prefill else None,
    "dial_errors": gateway.count("cannot assign requested address"),
    "bench": json.loads(bench.read_text().splitlines()[-1]) if bench.exists() else None,
    "bench_tail": out[-600:],
}))
PY
    stop "gw-$host"
    del_host "$host"
}

case $MODE in
suite)
    start_gateway gateway gw RPC_DISCOVERY=etcd ETCD_ENDPOINTS="$ETCD_IP:2379"
    start_lb "inter 1s fall 2"
    start_gateway gateway-lb gwlb RPC_ADDR="$(ip_of lb):8888"

    # 1. kill: SIGKILL rpc1 (no deregistration; its lease runs out).
    load kill 25
    sleep 5
    mark fault
    kill -KILL "${PID[rpc1]}"
    expect lease-expired wait_until 20 "rpc1's key to expire" not_registered rpc1
    finish
    start_rpc rpc1
    wait_until 30 "rpc1 to register again" is_registered rpc1

    # 2. etcd-cut: rpc1 loses etcd (but not Redis, not the gateway) for 20 s.
    load etcd-cut 40
    wait_served rpc1
    sleep 2
    mark fault
    cut_link rpc1 etcd
    expect lease-expired wait_until 20 "rpc1's lease to expire" not_registered rpc1
    mark gateway-dropped "$(until_stops rpc1 14)"
    mark readyz-cut "$(readyz rpc1)"
    sleep_past 20
    mark restored
    heal_link rpc1 etcd
    expect registered-again wait_until 20 "rpc1 to register again" is_registered rpc1
    expect served-again wait_served rpc1
    mark readyz-after "$(readyz rpc1)"
    finish

    # 3. redis-cut: rpc1 loses Redis (but not etcd, not the gateway) for 10 s.
    load redis-cut 25
    wait_served rpc1
    sleep 2
    mark fault
    cut_link rpc1 redis
    sleep_past 8
    mark readyz-cut "$(readyz rpc1)"
    sleep_past 10
    mark restored
    heal_link rpc1 redis
    finish

    # 4. latency: 50 ms more between the replicas and Redis, default timeouts.
    load latency 20
    sleep 4
    mark fault
    kill -USR1 "${PID[relay]}"
    finish
    kill -USR2 "${PID[relay]}"

    # 5-6. shared outages behind the load balancer.
    etcd_all 9 16
    redis_all 7 22
    stop gateway-lb
    stop haproxy

    # 7. the gateway's default pool across hosts (no other traffic now, so
    # rpc1's passive opens are the gateway's dials).
    pool_run "" 64 10
    pool_run "" 256 10

    echo
    "$PY" scripts/fleet_load.py report "$dir" | tee "$dir/report.txt"
    "$PY" scripts/fleet_load.py pools "$dir" --check | tee -a "$dir/report.txt"
    ;;
pools)
    for pool in template ""; do
        for clients in 64 256; do pool_run "$pool" "$clients" "${POOL_SECONDS:-60}"; done
    done
    echo
    "$PY" scripts/fleet_load.py pools "$dir" | tee "$dir/report.txt"
    keep_logs=1
    ;;
outages)
    start_lb "inter 5s fall 2"
    start_gateway gateway-lb gwlb RPC_ADDR="$(ip_of lb):8888"
    if [ -n "$BEFORE_BIN" ]; then
        etcd_all 25 40 "@$BEFORE_REF"
        redis_all 20 35 "@$BEFORE_REF"
        stop gateway-lb
        stop haproxy
        stop_replicas
        start_replicas
        start_lb "inter 5s fall 2"
        start_gateway gateway-lb gwlb RPC_ADDR="$(ip_of lb):8888"
    fi
    etcd_all 25 40 "@$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- rpc-server || echo +)"
    redis_all 20 35 "@$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- rpc-server || echo +)"
    echo
    "$PY" scripts/fleet_load.py outages "$dir" | tee "$dir/report.txt"
    keep_logs=1
    ;;
esac
