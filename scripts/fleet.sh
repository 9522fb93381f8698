#!/usr/bin/env bash
# Runs the stack as a fleet, each piece on a host of its own, and breaks it
# while traffic flows. Hosts are network namespaces that this script creates
# (names imf<pid>-*) and deletes on exit: Redis, etcd, three rpc-servers, the
# gateway (RPC_DISCOVERY=etcd) and a router that every host reaches through
# its own veth pair. Addresses are 10.213.<host>.0/24 and exist only inside
# these namespaces; nothing is added to the machine's own interfaces, routes
# or firewall. Needs root.
#
# Scenarios, each with traffic through the gateway (scripts/fleet_load.py):
#   kill       SIGKILL one replica: the gateway must stop routing to it
#   etcd-cut   rpc1 <-> etcd dropped in the router (ip rule blackhole) for
#              20 s: its lease (5 s) expires, the gateway drops it; when the
#              link returns it registers again
#   redis-cut  rpc1 <-> Redis dropped for 10 s: 500 `storage unavailable`,
#              /readyz 503, recovery when the link returns
#   latency    50 ms more round trip between the replicas and Redis, at the
#              default timeouts: nothing may fail
# Prints one table (scenario, requests, failed, recovery s, acknowledged-but-
# lost) and details; exits 1 if an expectation failed. About 2-3 minutes.
#
# Latency: this machine's kernel has no sch_netem (`tc qdisc ... netem`
# fails), so Redis is reached through a relay on the Redis host that delays
# every chunk by 25 ms each way once told to (fleet_load.py relay).
set -euo pipefail
cd "$(dirname "$0")/.."

if ((EUID != 0)); then
    echo "fleet: needs root (network namespaces)" >&2
    exit 2
fi
bash scripts/install-deps.sh
PY=${PYTHON:-python3}

echo "fleet: building rpc-server and the gateway"
cargo build --quiet -p rpc-server
make -C http-server-go --no-print-directory build >/dev/null

P=imf$$
R=$P-router
HOSTS=(redis etcd gw rpc1 rpc2 rpc3)
declare -A NUM=([redis]=1 [etcd]=2 [gw]=3 [rpc1]=11 [rpc2]=12 [rpc3]=13)
ip_of() { echo "10.213.${NUM[$1]}.2"; }
ns() { echo "$P-$1"; }
REDIS_IP=$(ip_of redis)
ETCD_IP=$(ip_of etcd)
SERVICE_PREFIX=kitex/registry-etcd/demo.rpc.server/

dir=$(mktemp -d /tmp/fleet.XXXXXX)
declare -A PID=()
keep_logs=""

# shellcheck disable=SC2317 # invoked by the trap
teardown() {
    local status=$? name pid left
    trap - EXIT INT TERM
    for name in "${!PID[@]}"; do
        kill -TERM "${PID[$name]}" 2>/dev/null || true
    done
    sleep 1
    for name in "${!PID[@]}"; do
        kill -KILL "${PID[$name]}" 2>/dev/null || true
        wait "${PID[$name]}" 2>/dev/null || true
    done
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

# --- the network ---------------------------------------------------------------
ip netns add "$R"
ip -n "$R" link set lo up
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
for h in "${HOSTS[@]}"; do
    n=${NUM[$h]}
    ip netns add "$(ns "$h")"
    ip -n "$R" link add "to-$h" type veth peer name eth0 netns "$(ns "$h")"
    ip -n "$R" addr add "10.213.$n.1/24" dev "to-$h"
    ip -n "$R" link set "to-$h" up
    ip -n "$(ns "$h")" link set lo up
    ip -n "$(ns "$h")" addr add "10.213.$n.2/24" dev eth0
    ip -n "$(ns "$h")" link set eth0 up
    ip -n "$(ns "$h")" route add default via "10.213.$n.1"
done

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
# run NAME HOST CMD...: starts CMD in HOST's namespace, logging to $dir/NAME.log.
run() {
    local name=$1 host=$2
    shift 2
    ip netns exec "$(ns "$host")" "$@" >"$dir/$name.log" 2>&1 &
    PID[$name]=$!
}
# in HOST CMD...: runs CMD in HOST's namespace.
on() {
    local host=$1
    shift
    ip netns exec "$(ns "$host")" "$@"
}
wait_until() { # SECONDS WHAT CMD...: polls CMD until it succeeds
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS > deadline)); then
            echo "fleet: timed out waiting for $what" >&2
            return 1
        fi
        sleep 0.2
    done
}
registered() { # prints the addresses registered in etcd
    on etcd etcdctl --endpoints 127.0.0.1:2379 get --prefix "$SERVICE_PREFIX" --print-value-only 2>/dev/null |
        grep -o '"address":"[^"]*"' | cut -d'"' -f4 | sort
}
is_registered() { registered | grep -qx "$(ip_of "$1"):8888"; }
not_registered() { ! is_registered "$1"; }
count_registered() { [ "$(registered | wc -l)" = "$1" ]; }

ADMIN=""
if target/debug/rpc-server --help | grep -q -- --admin-listen; then
    ADMIN=1
else
    echo "fleet: this rpc-server has no --admin-listen: readiness and routing reported as n/a"
fi
readyz() { # HOST: prints "<status> <first line of the body>" of its /readyz
    on "$1" curl -s -m 2 -o "$dir/readyz" -w '%{http_code}' http://127.0.0.1:9090/readyz || true
    echo " $(head -n 1 "$dir/readyz" 2>/dev/null)"
}
is_ready() { [[ "$(readyz "$1")" == 200* ]]; }
not_ready() { [[ "$(readyz "$1")" == 503* ]]; }
served() { # HOST: prints how many requests it has answered (its /metrics)
    on "$1" curl -s -m 2 http://127.0.0.1:9090/metrics |
        awk '/^rpc_requests_total/ {s += $NF} END {print s + 0}'
}

start_rpc() { # HOST
    run "$1" "$1" env RUST_LOG=info RPC_LISTEN=0.0.0.0:8888 RPC_ADVERTISE_ADDR="$(ip_of "$1"):8888" \
        ETCD_ENDPOINTS="$ETCD_IP:2379" REDIS_URL="redis://$REDIS_IP:6379" \
        KITEX_ETCD_REGISTRY_LEASE_TTL=5 ${ADMIN:+RPC_ADMIN_LISTEN=0.0.0.0:9090} \
        target/debug/rpc-server
}

echo "fleet: starting Redis, etcd, 3 rpc-servers and the gateway in namespaces $P-*"
mkdir -p "$dir/redis" "$dir/etcd"
run redis redis redis-server --port 6379 --bind 127.0.0.1 --dir "$dir/redis" --save "" --appendonly no
run relay redis "$PY" scripts/fleet_load.py relay "$REDIS_IP" 6379 127.0.0.1 6379
run etcd etcd etcd --name fleet --data-dir "$dir/etcd/data" \
    --listen-client-urls "http://$ETCD_IP:2379,http://127.0.0.1:2379" \
    --advertise-client-urls "http://$ETCD_IP:2379" \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster fleet=http://127.0.0.1:2380
wait_until 30 "etcd" on etcd etcdctl --endpoints 127.0.0.1:2379 endpoint health
for h in rpc1 rpc2 rpc3; do start_rpc "$h"; done
wait_until 60 "3 rpc-servers registered in etcd" count_registered 3
run gateway gw env HTTP_ADDR=127.0.0.1:8080 RPC_DISCOVERY=etcd ETCD_ENDPOINTS="$ETCD_IP:2379" \
    http-server-go/bin/http-server
wait_until 30 "the gateway" on gw curl -sf -m 2 http://127.0.0.1:8080/ping
echo "fleet: up; registered: $(registered | tr '\n' ' ')"

# --- the scenarios -------------------------------------------------------------------
# load NAME SECONDS: traffic through the gateway in the background.
load() {
    scenario=$1
    : >"$dir/$scenario.events"
    echo "fleet: scenario $scenario (${2} s of traffic)"
    run "load-$scenario" gw "$PY" scripts/fleet_load.py load 127.0.0.1:8080 "$2" "$dir/$scenario.json"
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
# wait_served HOST: until the gateway sends HOST requests (admin listener only).
wait_served() {
    [ -n "$ADMIN" ] || return 0
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
if [ -n "$ADMIN" ]; then
    expect not-ready wait_until 8 "rpc1 to report not ready" not_ready rpc1
    mark readyz-cut "$(readyz rpc1)"
    mark gateway-dropped "$(until_stops rpc1 14)"
fi
sleep_until=$("$PY" -c "print(max(0.0, $(grep fault "$dir/etcd-cut.events" | cut -d' ' -f2) + 20 - $(date +%s.%N)))")
sleep "$sleep_until"
mark restored
heal_link rpc1 etcd
expect registered-again wait_until 20 "rpc1 to register again" is_registered rpc1
if [ -n "$ADMIN" ]; then
    expect served-again wait_served rpc1
    mark readyz-after "$(readyz rpc1)"
else
    mark readyz-cut n/a
fi
finish

# 3. redis-cut: rpc1 loses Redis (but not etcd, not the gateway) for 10 s.
load redis-cut 25
wait_served rpc1
sleep 2
mark fault
cut_link rpc1 redis
if [ -n "$ADMIN" ]; then
    expect not-ready wait_until 8 "rpc1 to report not ready" not_ready rpc1
    mark readyz-cut "$(readyz rpc1)"
else
    mark readyz-cut n/a
fi
sleep_until=$("$PY" -c "print(max(0.0, $(grep fault "$dir/redis-cut.events" | cut -d' ' -f2) + 10 - $(date +%s.%N)))")
sleep "$sleep_until"
mark restored
heal_link rpc1 redis
if [ -n "$ADMIN" ]; then
    expect ready-again wait_until 20 "rpc1 to be ready" is_ready rpc1
fi
finish

# 4. latency: 50 ms more between the replicas and Redis, default timeouts.
load latency 20
sleep 4
mark fault
kill -USR1 "${PID[relay]}"
finish
kill -USR2 "${PID[relay]}"

echo
"$PY" scripts/fleet_load.py report "$dir" | tee "$dir/report.txt"
