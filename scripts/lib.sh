# shellcheck shell=bash
# Shell helpers shared by the scripts; source it, don't run it.

# Prints a TCP port on 127.0.0.1 that nobody listens on right now.
free_port() {
    "${PYTHON:-python3}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Whether Python interpreter $1 can run the end-to-end tests: it imports
# pytest and every module that tests/e2e/*.py import (found by parsing them,
# without running them). Run from the repository root.
python_runs_e2e() {
    command -v "$1" >/dev/null 2>&1 && "$1" -B - tests/e2e >/dev/null 2>&1 <<'PY'
import ast, importlib, pathlib, sys
files = sorted(pathlib.Path(sys.argv[1]).glob("*.py"))
local = {f.stem for f in files}
wanted = {"pytest"}
for f in files:
    for node in ast.walk(ast.parse(f.read_text(), str(f))):
        if isinstance(node, ast.Import):
            wanted.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            wanted.add(node.module)
for name in sorted(wanted):
    if name.split(".")[0] not in local:
        importlib.import_module(name)
PY
}

# Prints the Python that runs the tests: $PYTHON if set, else `python3` on
# PATH (which may be a pyenv or venv Python), else Debian's /usr/bin/python3
# (where python3-pytest installs), whichever first passes python_runs_e2e.
test_python() {
    local py
    for py in ${PYTHON:+"$PYTHON"} python3 /usr/bin/python3; do
        if python_runs_e2e "$py"; then
            echo "$py"
            return 0
        fi
    done
    return 1
}

# apt_install PACKAGE...: installs Debian packages without recommends, as
# root or through sudo, running `apt-get update` first (once per script).
# Says what it installs in one line and is otherwise quiet; on failure it
# returns 1 with apt's last message in $apt_error.
apt_install() {
    local sudo=() log
    ((EUID == 0)) || sudo=(sudo)
    log=$(mktemp)
    echo "install: apt-get install $*"
    if { [ -n "${_apt_updated:-}" ] || "${sudo[@]}" apt-get update -qq >"$log" 2>&1; } &&
        _apt_updated=1 &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1; then
        rm -f "$log"
        return 0
    fi
    # shellcheck disable=SC2034 # read by the caller
    apt_error=$(grep -v '^debconf:' "$log" | tail -n 1)
    rm -f "$log"
    return 1
}

# quietly COMMAND...: runs COMMAND without output; its status is the result.
quietly() { "$@" >/dev/null 2>&1; }

# compose_command DOCKER: sets the array `compose` to the compose command that
# goes with the docker client DOCKER: its plugin (`DOCKER compose`), else
# docker-compose (Debian 12 has no plugin, only docker-compose 1.29). Returns
# 1 if neither runs.
compose_command() {
    # shellcheck disable=SC2034 # for the caller
    if quietly "$1" compose version; then
        compose=("$1" compose)
    elif quietly docker-compose version; then
        compose=(docker-compose)
    else
        return 1
    fi
}

# need_program PROGRAM PACKAGE: installs Debian's PACKAGE unless PROGRAM runs
# (`PROGRAM --version`); the scripts that need a tool only some of them use
# (mmdebstrap, slirp4netns) call this, so install-deps stays what every run needs.
need_program() {
    quietly "$1" --version && return
    apt_install "$2" || {
        echo "could not install $2: ${apt_error:-}" >&2
        return 1
    }
}

# debian_sources SUITE: the host's Debian archive entries for SUITE (and its
# -updates and -security), as `deb URI SUITE main` lines for mmdebstrap;
# deb.debian.org when the host has none.
debian_sources() {
    local lines
    # shellcheck disable=SC2016 # apt's own $(FIELD) syntax
    lines=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' |
        sort -u | awk -v s="$1" '$2 == s || $2 == s "-updates" || $2 == s "-security" { print "deb " $1 " " $2 " main" }')
    echo "${lines:-deb http://deb.debian.org/debian $1 main}"
}

# children_cpu: sets $cpu to the CPU seconds (user + system) of the children
# this shell has waited for so far. (`times` must run in this shell, not in a
# $(subshell), hence the variable.)
children_cpu() {
    local file
    file=$(mktemp)
    times >"$file"
    cpu=$(awk 'NR == 2 { n = 0; for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); n += t[1] * 60 + t[2] }
        printf "%d", n }' "$file")
    rm -f "$file"
}

# cpu_seconds: sets $cpu to the CPU seconds used so far, for step. A script
# whose work runs outside its own children (in a daemon) redefines it.
cpu_seconds() { children_cpu; }

# step NAME COMMAND...: runs one step of a check script (which defines say
# and die), then says how long it took and how many CPU seconds: with 2
# cores, wall time >= CPU time / 2, whatever else the machine runs.
step() {
    local name=$1 t=$SECONDS cpu cpu0
    shift
    cpu_seconds
    cpu0=$cpu
    say "$name ..."
    "$@" || die "$name (after $((SECONDS - t)) s)"
    cpu_seconds
    say "$name: ok ($((SECONDS - t)) s, $((cpu - cpu0)) CPU-s)"
}

# on_exit CLEANUP: a check script's CLEANUP function runs when it exits, also
# on Ctrl-C (status 130) and SIGTERM (143).
on_exit() {
    # shellcheck disable=SC2064 # the function's name, now
    trap "$1" EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# finish_check STATUS TEARDOWN_START [DETAIL]: the last lines of a check
# script (which defines say and $started), and its exit with STATUS.
# shellcheck disable=SC2154 # $started is the script's
finish_check() {
    say "teardown: ok ($((SECONDS - $2)) s)"
    if (($1 == 0)); then
        say "passed in $((SECONDS - started)) s${3:+, $3}"
    else
        say "failed after $((SECONDS - started)) s" >&2
    fi
    exit "$1"
}

# exec_in_netns CMD...: replaces the shell with CMD, in network namespace
# $NETNS when that is set (scripts/fleet.sh: `NETNS=NAME start_redis ...`).
# For servers started in the background: bash runs `FUNCTION &` in a
# subshell of its own, and with exec $! is CMD's own PID, the one stop_all
# must kill (`ip netns exec` execs too).
exec_in_netns() {
    if [ -n "${NETNS:-}" ]; then
        exec ip netns exec "$NETNS" "$@"
    fi
    exec "$@"
}

# in_netns CMD...: runs CMD the same way without replacing the shell.
in_netns() {
    (exec_in_netns "$@")
}

# wait_until SECONDS WHAT CMD...: polls CMD (quietly) until it succeeds;
# after SECONDS says that WHAT did not happen and returns 1.
wait_until() {
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS > deadline)); then
            echo "timed out waiting for $what" >&2
            return 1
        fi
        sleep 0.1
    done
}

# port_open PORT: whether 127.0.0.1:PORT accepts a connection (in $NETNS).
port_open() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    in_netns bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# wait_for_port PORT NAME [SECONDS]: waits until 127.0.0.1:PORT accepts (in
# $NETNS when set).
wait_for_port() {
    wait_until "${3:-30}" "$2 to listen on port $1" port_open "$1"
}

# serve NAME PORT COMMAND...: starts COMMAND in the background, logging to
# $RESULTS/NAME.log, adds its pid to the caller's array `pids` (so ${pids[-1]}
# is its pid) and waits for 127.0.0.1:PORT; sets $endpoint to
# 127.0.0.1:PORT@PID, the form im-bench takes for a server it watches.
serve() {
    local name=$1 port=$2
    shift 2
    "$@" >"$RESULTS/$name.log" 2>&1 &
    pids+=($!)
    # shellcheck disable=SC2034 # for the caller
    endpoint=127.0.0.1:$port@$!
    wait_for_port "$port" "$name"
}

# start_redis PORT DIR [extra redis-server args...]: Redis on loopback (in
# $NETNS when set), logging to DIR/redis.log.
start_redis() {
    local port=$1 dir=$2
    shift 2
    mkdir -p "$dir"
    exec_in_netns redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" "$@" >"$dir/redis.log" 2>&1 &
}

# start_etcd CLIENT_PORT PEER_PORT DIR [HOST]: a one-node etcd on loopback (in
# $NETNS when set), logging to DIR/etcd.log. With HOST it also serves clients
# on HOST:CLIENT_PORT and advertises that address.
start_etcd() {
    local listen="http://127.0.0.1:$1" advertise="http://127.0.0.1:$1" peer="http://127.0.0.1:$2" dir=$3
    if [ -n "${4:-}" ]; then
        advertise="http://$4:$1"
        listen="$advertise,$listen"
    fi
    mkdir -p "$dir"
    exec_in_netns etcd --name default --data-dir "$dir/data" \
        --listen-client-urls "$listen" --advertise-client-urls "$advertise" \
        --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
        --initial-cluster "default=$peer" >"$dir/etcd.log" 2>&1 &
}

# running PID: whether PID is a live process (an exited child not yet waited
# for is a zombie, which `kill -0` still finds).
running() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $state != Z* ]]
}

# stop_all PID...: stops each process with SIGTERM, newest first, waiting
# for each to exit before the next, so that a server drains its requests
# while the services behind it are still up. A process still running 35 s
# after its SIGTERM (past the rpc-server's 30 s drain) gets SIGKILL.
stop_all() {
    local pid i tries
    for ((i = $#; i > 0; i--)); do
        pid=${!i}
        kill -TERM "$pid" 2>/dev/null || continue
        for ((tries = 0; tries < 350; tries++)); do
            running "$pid" || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
