#!/usr/bin/env bash
# Compares the Rust rpc-server with the Go baseline (bench/go-baseline, the
# tutorial-style Kitex + go-redis server) over direct Thrift, then measures
# what Redis itself can do for the equivalent commands (redis-benchmark).
#
# Each server in turn, against the same fresh Redis (FLUSHALL in between),
# runs the same im-bench workloads at the same concurrency:
#   send      sends to random rooms, then --verify-redis counts what was stored
#   pull10    pulls, page 10        } over rooms filled with $PREFILL messages
#   pull50    pulls, page 50        } each; every pull starts at cursor 0 and
#   mixed     20% sends, 80% pulls  } alternates forward/reverse (see below)
#
# Cursors: the baseline's cursor is a sorted-set index, the Rust server's is
# a send time. im-bench's own prefill draws half of the cursors from the send
# times, which the baseline would read as huge indexes and answer with empty
# pages. So the rooms are filled once per server (a 1-request pull run with
# the prefill) and the measured runs reuse them with --prefill 0: every pull
# starts at cursor 0 on both servers and returns a full page.
#
# Environment:
#   DURATION (10s)  WARMUP (2s)  CONNECTIONS (32)  ROOMS (1000)
#   PREFILL (100)   RB_REQUESTS (1000000, redis-benchmark requests per test)
#   QUICK=1         2 s per workload, 1 s warm-up, PREFILL 60, RB_REQUESTS 200000
# Results (JSON Lines, redis-benchmark CSV, logs) go to bench/results/<date>/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

if [[ ${QUICK:-0} == 1 ]]; then
    DURATION=${DURATION:-2s}
    WARMUP=${WARMUP:-1s}
    PREFILL=${PREFILL:-60}
    RB_REQUESTS=${RB_REQUESTS:-200000}
fi
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-32}
ROOMS=${ROOMS:-1000}
PREFILL=${PREFILL:-100}
RB_REQUESTS=${RB_REQUESTS:-1000000}
RB_PIPELINE=16

RESULTS=bench/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS"
JSON=$RESULTS/runs.jsonl
echo "bench: results in $RESULTS (duration $DURATION, warm-up $WARMUP, $CONNECTIONS connections, $ROOMS rooms, prefill $PREFILL)"

echo "bench: building rpc-server, im-bench (release) and the Go baseline"
cargo build --release --quiet -p rpc-server -p im-bench
make -C bench/go-baseline --no-print-directory build >/dev/null

pids=()
shutdown() {
    trap - EXIT INT TERM
    stop_all "${pids[@]}"
}
trap shutdown EXIT
trap 'exit 130' INT TERM

redis_port=$(free_port)
start_redis "$redis_port" "$RESULTS/redis" --save '' --appendonly no
pids+=($!)
wait_for_port "$redis_port" redis
redis_url=redis://127.0.0.1:$redis_port
rcli() { redis-cli -p "$redis_port" "$@"; }

failures=()

# bench LABEL [im-bench args...]: one im-bench invocation, output shown and
# logged; a failing run is recorded and the script goes on.
bench() {
    local label=$1 rc=0
    shift
    target/release/im-bench --addr "127.0.0.1:$rpc_port" --connections "$CONNECTIONS" \
        --rooms "$ROOMS" --duration "$DURATION" --warmup "$WARMUP" --label "$label" "$@" \
        2>&1 | tee -a "$RESULTS/im-bench.log" || rc=$?
    if ((rc != 0)); then
        failures+=("$label: im-bench exit status $rc")
    fi
}

# run_server NAME KEY_PATTERN: the four workloads against the server that
# listens on $rpc_port as $server_pid.
run_server() {
    local name=$1 pattern=$2 run_id
    run_id=$(python3 -c 'import secrets; print("f" + secrets.token_hex(3))')
    bench "$name-send" --workload send --server-pid "$server_pid" --json "$JSON" \
        --verify-redis "$redis_url" --key-pattern "$pattern"
    echo "bench: $name: filling $ROOMS rooms with $PREFILL messages each"
    target/release/im-bench --addr "127.0.0.1:$rpc_port" --connections "$CONNECTIONS" \
        --rooms "$ROOMS" --run-id "$run_id" --workload pull --prefill "$PREFILL" \
        --requests 1 --warmup 0s --label "$name-fill" >>"$RESULTS/im-bench.log" 2>&1 ||
        failures+=("$name-fill: im-bench exit status $?")
    local common=(--run-id "$run_id" --prefill 0 --server-pid "$server_pid" --json "$JSON")
    bench "$name-pull10" --workload pull --page-size 10 "${common[@]}"
    bench "$name-pull50" --workload pull --page-size 50 "${common[@]}"
    bench "$name-mixed" --workload mixed --send-ratio 0.2 --page-size 10 "${common[@]}"
}

stop_server() {
    stop_all "$server_pid"
    unset 'pids[-1]'
    rcli FLUSHALL >/dev/null
}

echo
echo "== Rust rpc-server =="
rpc_port=$(free_port)
# One worker thread: Redis and im-bench need the machine's other core, and
# on 2 cores one thread spent 10-20% less CPU per request than two (README,
# Performance). The Go baseline keeps its default GOMAXPROCS, its best here.
RPC_WORKER_THREADS=${RUST_WORKER_THREADS:-1} RPC_LISTEN=127.0.0.1:$rpc_port REDIS_URL=$redis_url RUST_LOG=warn \
    target/release/rpc-server >"$RESULTS/rust-server.log" 2>&1 &
server_pid=$!
pids+=("$server_pid")
wait_for_port "$rpc_port" rpc-server
run_server rust 'im:chat:{room}'
stop_server

echo
echo "== Go baseline =="
rpc_port=$(free_port)
RPC_LISTEN=127.0.0.1:$rpc_port REDIS_ADDR=127.0.0.1:$redis_port \
    bench/go-baseline/bin/go-baseline >"$RESULTS/go-server.log" 2>&1 &
server_pid=$!
pids+=("$server_pid")
wait_for_port "$rpc_port" go-baseline
run_server go '{room}'
stop_server

# --- Redis's own ceiling -------------------------------------------------
echo
echo "== redis-benchmark: $RB_REQUESTS requests, $CONNECTIONS connections, pipeline $RB_PIPELINE =="
# The Rust server's send: EVALSHA of its append script, the very file the
# server embeds, with a message JSON of the bench's size.
append_script=$(cat rpc-server/src/store/append.lua)
text=$(printf 'x%.0s' {1..64})
sha=$(rcli SCRIPT LOAD "$append_script")
# Pull data: 1000 rooms bench:pull:<12-digit n> (redis-benchmark's
# __rand_int__ form) with $PREFILL ~130-byte members each, scores 1..PREFILL.
rcli EVAL "for k = 0, 999 do
  local key = 'bench:pull:' .. string.format('%012d', k)
  for i = 1, tonumber(ARGV[1]) do
    redis.call('ZADD', key, i, '{\"chat\":\"u' .. k .. ':v' .. k .. '\",\"text\":\"' .. ARGV[2] .. '\",\"sender\":\"u' .. k .. '\",\"send_time\":' .. i .. '}')
  end
end" 0 "$PREFILL" "$text" >/dev/null

# rb LABEL COMMAND...: one redis-benchmark test, CSV into the results.
rb() {
    local label=$1
    shift
    redis-benchmark -p "$redis_port" -n "$RB_REQUESTS" -c "$CONNECTIONS" -P "$RB_PIPELINE" \
        -r 1000 --csv "$@" >"$RESULTS/rb-$label.csv" 2>>"$RESULTS/redis-benchmark.log" ||
        failures+=("redis-benchmark $label: exit status $?")
    # The test name (the command) is not CSV-escaped: rps is the 7th field from the end.
    echo "$label: $(tail -n 1 "$RESULTS/rb-$label.csv" | awk -F, '{gsub(/"/, "", $(NF-6)); print $(NF-6)}') req/s" \
        "($(cut -c1-90 <<<"$*"))"
}
rb send-evalsha EVALSHA "$sha" 1 'bench:send:__rand_int__' \
    "{\"chat\":\"u1:v1\",\"text\":\"$text\",\"sender\":\"u1\",\"send_time\":"
rb send-zadd ZADD 'bench:zadd:__rand_int__' __rand_int__ \
    "{\"Chat\":\"u1:v1\",\"Text\":\"$text-__rand_int__\",\"Sender\":\"u1\",\"SendTime\":__rand_int__}"
rb pull10-byscore ZRANGE 'bench:pull:__rand_int__' -inf +inf BYSCORE LIMIT 0 11
rb pull10-index ZRANGE 'bench:pull:__rand_int__' 0 10
rb pull50-byscore ZRANGE 'bench:pull:__rand_int__' -inf +inf BYSCORE LIMIT 0 51
rb pull50-index ZRANGE 'bench:pull:__rand_int__' 0 50
rcli FLUSHALL >/dev/null

# --- Tables --------------------------------------------------------------
echo
python3 - "$JSON" "$RESULTS" "$CONNECTIONS" "${failures[@]+"${failures[@]}"}" <<'PY'
import json, os, sys

jsonl, results, conns, failures = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
runs = {}
if os.path.exists(jsonl):
    with open(jsonl) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                runs[r["label"]] = r

def rb(label):
    try:
        # The command in the first field is not CSV-escaped (it has quotes
        # and commas): rps is the 7th field from the end.
        with open(os.path.join(results, f"rb-{label}.csv")) as f:
            last = f.read().strip().splitlines()[-1]
        return float(last.rsplit(",", 7)[1].strip('"'))
    except (OSError, IndexError, ValueError):
        return None

def get(server, wl, key):
    r = runs.get(f"{server}-{wl}")
    if r is None:
        return None
    srv = (r.get("servers") or [{}])[0]
    return {
        "rps": r["throughput_rps"],
        "p99": r["latency_us"]["p99"] / 1000 if r["latency_us"].get("p99") is not None else None,
        "cpu": srv.get("cpu_seconds_per_10k"),
        "rss": srv["peak_rss_kb"] / 1024 if srv.get("peak_rss_kb") is not None else None,
        "err": r["errors"],
        "mpp": r.get("messages_per_pull"),
        "verify": r.get("verify"),
    }[key]

def fmt(v, spec):
    return "-" if v is None else format(v, spec)

def ratio(a, b):
    return a / b if a is not None and b else None

def table(title, header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print(title)
    line = lambda cells: "  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(header))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))
    print()

workloads = [("send", "send"), ("pull10", "pull page 10"), ("pull50", "pull page 50"),
             ("mixed", "mixed 20% send")]
rows = []
for wl, name in workloads:
    rr, gr = get("rust", wl, "rps"), get("go", wl, "rps")
    rows.append([name, fmt(rr, ".0f"), fmt(gr, ".0f"), fmt(ratio(rr, gr), ".2f"),
                 fmt(get("rust", wl, "p99"), ".2f"), fmt(get("go", wl, "p99"), ".2f"),
                 fmt(get("rust", wl, "cpu"), ".3f"), fmt(get("go", wl, "cpu"), ".3f"),
                 fmt(get("rust", wl, "rss"), ".1f"), fmt(get("go", wl, "rss"), ".1f"),
                 fmt(get("rust", wl, "err"), "d"), fmt(get("go", wl, "err"), "d")])
table(f"Table 1: Thrift, closed loop, {conns} connections (req/s; p99 ms; server CPU s per 10k req; peak RSS MiB)",
      ["workload", "rps rust", "rps go", "rust/go", "p99 rust", "p99 go", "cpu rust",
       "cpu go", "rss rust", "rss go", "err rust", "err go"], rows)

notes = []
for server in ("rust", "go"):
    v = get(server, "send", "verify")
    if v:
        notes.append(f"verify {server}-send: redis {v['redis']} / acked {v['acked']} "
                     f"{'OK' if v['ok'] else 'MISMATCH'}")
    else:
        notes.append(f"verify {server}-send: no result")
    mpp = [f"{wl} {fmt(get(server, wl, 'mpp'), '.1f')}" for wl in ("pull10", "pull50", "mixed")]
    notes.append(f"messages per pull {server}: " + ", ".join(mpp))
for n in notes:
    print("  " + n)
print()

rows = []
for wl, name, rust_cmd, go_cmd in [
        ("send", "send", "send-evalsha", "send-zadd"),
        ("pull10", "pull page 10", "pull10-byscore", "pull10-index"),
        ("pull50", "pull page 50", "pull50-byscore", "pull50-index")]:
    rr, gr, rc, gc = get("rust", wl, "rps"), get("go", wl, "rps"), rb(rust_cmd), rb(go_cmd)
    rows.append([name, fmt(rr, ".0f"), fmt(gr, ".0f"), fmt(rc, ".0f"), fmt(gc, ".0f"),
                 fmt(ratio(rr, rc) and 100 * ratio(rr, rc), ".1f"),
                 fmt(ratio(gr, gc) and 100 * ratio(gr, gc), ".1f")])
table("Table 2: servers vs redis-benchmark ceiling (req/s; pipeline 16, same connections; "
      "rust cmd = EVALSHA append / ZRANGE BYSCORE LIMIT, go cmd = ZADD / ZRANGE by index)",
      ["op", "rust", "go", "redis rust cmd", "redis go cmd", "rust % ceil", "go % ceil"], rows)

if failures:
    print("Failures:")
    for f in failures:
        print("  " + f)
    print()

r = ratio(get("rust", "mixed", "rps"), get("go", "mixed", "rps"))
print(f"mixed thrift throughput rust/go: {fmt(r, '.2f') if r is not None else 'n/a'}")
PY
((${#failures[@]} == 0))
