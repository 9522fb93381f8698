#!/usr/bin/env bash
# Proves that the README's two commands work the first time on a fresh
# Debian machine that has only Rust and Go: it builds a minimal Debian
# bookworm root (mmdebstrap --variant=minbase, from the host's own Debian
# mirror), clones the committed HEAD of this checkout into it and, chrooted
# there,
#   1. runs `bash scripts/run.sh` (which installs the Debian packages it
#      needs) until GET /ping answers through the gateway, sends a message
#      and pulls it back with curl, then stops it with SIGINT to its whole
#      process group, as Ctrl-C does, and checks that it stopped cleanly;
#   2. runs `bash scripts/test.sh` with a subset of its stages
#      (FRESH_CHECK_STAGES; default: gateway compose e2e-http), the e2e tests
#      on the rpc-server that run.sh built (RPC_SERVER_BIN), and FRESH_CHECK=0
#      so that it does not run this check again.
# FRESH_CHECK_BENCH=1 (by hand; CI does not: several minutes more) first runs
# `QUICK=1 bash scripts/bench.sh` there, before anything has installed a
# package in the root, so its own install-deps must provide all it uses
# (its figures mean nothing: release built without optimisation, see below).
# scripts/test.sh runs this as its last stage, so CI runs it; FRESH_CHECK=0
# skips it there.
#
# Why a subset (measured on the project's 2-core machine; the numbers are in
# docs/testing.md and docs/performance-history.md): the run.sh part alone
# compiles every crate once (release) and the gateway, and installs the
# Debian packages. The
# full inner suite would compile every crate twice more (clippy's check
# build, cargo test's debug build with its test binaries) and run everything
# the host's own test.sh has just run, with the same code, toolchain and
# Debian packages: about as long again as the host's suite, which would take
# CI to 30 minutes. What a fresh root can break is the install path: whether
# install-deps provides every program, library and Python module the stack
# and the tests use. The stages kept use all of it: gateway (Go build, vet
# and tests), compose (Debian's docker-compose), e2e-http (Debian's pytest,
# redis-server, etcd, etcdctl, the real rpc-server and gateway, and a second
# gateway with etcd discovery over two replicas); the second run of
# install-deps at the start of test.sh checks that it is quiet and
# idempotent. Left out: rustfmt, clippy, cargo-test, go-baseline,
# bench-smoke, k8s-manifests, fleet (their programs are the ones install-deps
# checks, e.g. redis-cli and kill for cargo-test).
# run.sh's release build is done without LTO and optimisation inside
# (CARGO_PROFILE_RELEASE_LTO=off, _OPT_LEVEL=0, _CODEGEN_UNITS=16): the same
# crates and build scripts are compiled, and fat LTO alone takes about 5
# minutes on 2 cores while proving nothing more here.
#
# What the chroot shares with the host, so that nothing is downloaded twice:
#   the Rust toolchain ($RUSTUP_HOME read-only; $CARGO_HOME, which holds the
#   crate registry, as an overlay whose writes - cargo's locks and caches -
#   land in the temp dir), Go ($GOROOT read-only) and the Go module cache (an
#   overlay, like $CARGO_HOME). Build caches and target dirs are not shared:
#   everything compiles from scratch. /dev and /proc are mounted, and the
#   host's resolv.conf and hosts copied; the network namespace is the
#   host's, so every server binds 127.0.0.1 on a free port.
#
# Everything lives in one temp dir (under $TMPDIR, else /var/tmp), removed at
# the end, also on failure or Ctrl-C: processes still running in the chroot
# are stopped, mounts are undone newest first (lazily if busy), and the dir
# is deleted only once findmnt shows nothing mounted below it any more.
# KEEP=1 keeps the root for a look (after unmounting). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
repo=$PWD

say() { printf 'fresh-check: %s\n' "$*"; }
die() {
    say "FAILED: $*" >&2
    exit 1
}

[ "${FRESH_CHECK:-1}" != 0 ] || die "FRESH_CHECK=0 is set: not nesting a fresh check"
((EUID == 0)) || die "needs root (mmdebstrap, mount, chroot)"
bash scripts/install-deps.sh

# The host's toolchains, mounted at the same paths inside.
cargo_home=${CARGO_HOME:-$HOME/.cargo}
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
goroot=$(go env GOROOT)
gomodcache=$(go env GOMODCACHE)
for dir in "$cargo_home/bin" "$rustup_home/toolchains" "$goroot/bin"; do
    [ -d "$dir" ] || die "no $dir: Rust (rustup) and Go must be installed on the host"
done

work=$(mktemp -d "${TMPDIR:-/var/tmp}/fresh-check.XXXXXX")

# Each step (scripts/lib.sh) prints how long it took, and the CPU time of the
# processes it waited for (the background run.sh counts in the step that
# stops it).
started=$SECONDS

root=$work/root
src=$HOME/im-rs # the clone, inside the root
mounts=()       # what we mounted, in order
run_pid=""

# Processes whose root directory is our root: only ones started in it.
pids_in_root() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && echo "${p#/proc/}"
    done
    return 0
}

# Mount points at or below our temp dir, deepest first.
mounts_below_work() {
    findmnt -rn -o TARGET | awk -v w="$work" '$0 == w || index($0, w "/") == 1' | sort -r
}

cleanup() {
    local status=$? pids m left t=$SECONDS
    trap - EXIT INT TERM
    set +e
    mapfile -t pids < <(pids_in_root)
    if ((${#pids[@]})); then
        say "stopping ${#pids[@]} process(es) left in the root"
        kill -TERM "${pids[@]}" 2>/dev/null
        for _ in $(seq 50); do
            mapfile -t pids < <(pids_in_root)
            ((${#pids[@]})) || break
            sleep 0.2
        done
        ((${#pids[@]} == 0)) || kill -KILL "${pids[@]}" 2>/dev/null
        sleep 0.2
    fi
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
        m=${mounts[i]}
        umount "$m" 2>/dev/null || umount -l "$m" || say "could not unmount $m"
    done
    # Anything else mounted below (by mmdebstrap, if it was interrupted).
    while read -r m; do
        umount -l "$m" || say "could not unmount $m"
    done < <(mounts_below_work)
    left=$(mounts_below_work)
    if [ -n "$left" ]; then
        say "still mounted, so $work is left in place: $(echo "$left" | tr '\n' ' ')" >&2
        status=1
    elif [ "${KEEP:-0}" = 1 ]; then
        say "kept $work (KEEP=1)"
    else
        rm -rf --one-file-system "$work"
    fi
    finish_check "$status" "$t"
}
on_exit cleanup

# --- the root -----------------------------------------------------------

make_root() {
    local sources
    mapfile -t sources < <(debian_sources bookworm)
    say "mirror: ${sources[*]}"
    mmdebstrap --quiet --mode=root --variant=minbase bookworm "$root" "${sources[@]}"
}

# mount_at TARGET ARGS...: mounts (ARGS as for mount) at $root/TARGET.
mount_at() {
    local target=$root$1
    shift
    mkdir -p "$target"
    mount "$@" "$target" || return 1
    mounts+=("$target")
}

# overlay_at DIR: DIR of the host, writable inside, unchanged outside.
overlay_at() {
    local name
    name=$(echo "$1" | tr / _)
    mkdir -p "$work/overlay/$name.upper" "$work/overlay/$name.work"
    mount_at "$1" -t overlay overlay \
        -o "lowerdir=$1,upperdir=$work/overlay/$name.upper,workdir=$work/overlay/$name.work"
}

mount_all() {
    mount_at /dev --bind /dev &&
        mount_at /proc -t proc proc &&
        mount_at "$rustup_home" --bind -o ro "$rustup_home" &&
        mount_at "$goroot" --bind -o ro "$goroot" &&
        overlay_at "$cargo_home" || return 1
    if [ -d "$gomodcache" ]; then
        overlay_at "$gomodcache" || return 1
    fi
    # Like any installed machine: name resolution and a hosts file.
    cp -L /etc/resolv.conf "$root/etc/resolv.conf" &&
        cp -L /etc/hosts "$root/etc/hosts" &&
        findmnt -rn -o TARGET,FSTYPE,OPTIONS | awk -v r="$root" 'index($1, r "/") == 1 { print "    " $0 }'
}

clone() {
    local head
    head=$(git rev-parse HEAD)
    [ -z "$(git status --porcelain --untracked-files=no)" ] ||
        say "note: uncommitted changes here are not part of the check"
    say "commit $(git log -1 --format='%h %s' "$head")"
    git clone --quiet --no-hardlinks "$repo" "$root$src" &&
        git -C "$root$src" checkout --quiet --detach "$head"
}

# --- inside -------------------------------------------------------------

# inside COMMAND: runs a bash command in the clone, in a clean environment
# like a fresh login's, plus the toolchains on PATH. (inside_cmd puts that
# command line into the array `cmd`.)
inside_cmd() {
    local env=(
        HOME="$HOME" USER=root LOGNAME=root LANG=C.UTF-8 TERM=dumb
        PATH="$cargo_home/bin:$goroot/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        CARGO_HOME="$cargo_home" RUSTUP_HOME="$rustup_home"
        FRESH_CHECK=0 CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
        CARGO_PROFILE_RELEASE_OPT_LEVEL=0
    )
    local var
    for var in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
        [ -z "${!var:-}" ] || env+=("$var=${!var}")
    done
    cmd=(chroot "$root" /usr/bin/env -i "${env[@]}" /bin/bash -c "cd $src && $1")
}
inside() {
    local cmd
    inside_cmd "$1"
    "${cmd[@]}"
}

# Five distinct free ports on 127.0.0.1.
pick_ports() {
    local p
    ports=()
    while ((${#ports[@]} < 5)); do
        p=$(free_port)
        [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
    done
}

# The stages of scripts/test.sh run inside (see the header).
STAGES=${FRESH_CHECK_STAGES:-gateway compose e2e-http}

run_log=$work/run.log
stamp() {
    local line
    while IFS= read -r line; do
        printf '[%4d s] %s\n' "$((SECONDS - started))" "$line"
    done
}

start_run() {
    pick_ports
    http_port=${ports[0]}
    inside_cmd "HTTP_ADDR=127.0.0.1:${ports[0]} RPC_PORT=${ports[1]} REDIS_PORT=${ports[2]} \
        ETCD_PORT=${ports[3]} ETCD_PEER_PORT=${ports[4]} exec bash scripts/run.sh"
    # As a job (set -m): in a process group of its own, so that SIGINT can
    # go to all of it as from Ctrl-C on a terminal, and with SIGINT not
    # ignored (without job control, bash starts background commands with
    # SIGINT ignored, and run.sh could not trap it). Output lines are
    # stamped with the seconds since the check started, by a reader that,
    # like a terminal, outlives the Ctrl-C.
    set -m
    "${cmd[@]}" > >(
        trap '' INT
        stamp >"$run_log"
    ) 2>&1 </dev/null &
    run_pid=$!
    set +m
    say "run.sh: pid $run_pid, gateway on 127.0.0.1:$http_port, output in $run_log"
}

# Waits (up to an hour: it builds first, and a busy machine is slow) until
# /ping answers, with the curl of the fresh root (from run.sh's install-deps).
wait_ping() {
    local deadline=$((SECONDS + 3600))
    until inside "command -v curl >/dev/null && curl -fsS http://127.0.0.1:$http_port/ping" \
        >"$work/ping" 2>/dev/null; do
        if ! kill -0 "$run_pid" 2>/dev/null; then
            say "run.sh exited before the gateway answered; its output:"
            sed 's/^/    | /' "$run_log"
            return 1
        fi
        if ((SECONDS > deadline)); then
            say "no answer on /ping after an hour; run.sh's output:"
            sed 's/^/    | /' "$run_log"
            return 1
        fi
        sleep 2
    done
    say "GET /ping: $(cat "$work/ping")"
    grep -q pong "$work/ping" || return 1
    # Done starting: run.sh says so last (a signal before that is a Ctrl-C
    # during startup, which run.sh answers with status 130).
    until grep -q 'Press Ctrl-C to stop everything' "$run_log"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

send_pull() {
    local text url=http://127.0.0.1:$http_port out
    text="fresh check $(date +%s%N)"
    inside "curl -fsS -X POST $url/api/send -H 'Content-Type: application/json' \
        -d '{\"chat\":\"fresh:check\",\"text\":\"$text\",\"sender\":\"fresh\"}'" || return 1
    out=$(inside "curl -fsS -X GET $url/api/pull -H 'Content-Type: application/json' \
        -d '{\"chat\":\"fresh:check\",\"cursor\":0,\"limit\":10,\"reverse\":false}'") || return 1
    say "GET /api/pull: $out"
    [[ $out == *"\"text\":\"$text\""* ]] || {
        say "the pulled messages do not hold the text sent ($text)"
        return 1
    }
}

# Ctrl-C: SIGINT to run.sh's whole process group. It must exit 0, say it
# stopped, and leave no process behind.
stop_run() {
    local status deadline=$((SECONDS + 60)) left
    kill -INT -- "-$run_pid" || return 1
    while kill -0 "$run_pid" 2>/dev/null; do
        if ((SECONDS > deadline)); then
            say "run.sh still running 60 s after SIGINT"
            return 1
        fi
        sleep 0.2
    done
    wait "$run_pid" && status=0 || status=$?
    run_pid=""
    # stamp() may still be writing the last lines.
    for _ in $(seq 25); do
        ! grep -q '\] run: stopped$' "$run_log" || break
        sleep 0.2
    done
    say "run.sh's last lines:"
    tail -n 4 "$run_log" | sed 's/^/    | /'
    left=$(pids_in_root | tr '\n' ' ')
    if ((status != 0)); then
        say "run.sh exited with status $status after SIGINT"
        return 1
    fi
    if ! tail -n 1 "$run_log" | grep -q '\] run: stopped$' || grep -q 'exited (status' "$run_log"; then
        say "run.sh did not report a clean stop"
        return 1
    fi
    if [ -n "$left" ]; then
        say "processes left running in the root: $left"
        return 1
    fi
}

inner_tests() {
    inside "STAGES='$STAGES' RPC_SERVER_BIN=target/release/rpc-server bash scripts/test.sh" 2>&1 |
        sed -u 's/^/    | /'
    return "${PIPESTATUS[0]}"
}

inner_bench() {
    inside "QUICK=1 bash scripts/bench.sh" 2>&1 | sed -u 's/^/    | /'
    return "${PIPESTATUS[0]}"
}

step "install mmdebstrap" need_program mmdebstrap mmdebstrap
step "minimal Debian root in $root" make_root
step "mount /dev, /proc, toolchains, caches" mount_all
step "clone" clone
if [ "${FRESH_CHECK_BENCH:-0}" = 1 ]; then
    step "bench.sh (QUICK=1), first in the fresh root" inner_bench
fi
step "run.sh: start" start_run
step "run.sh: build and GET /ping" wait_ping
step "run.sh: send and pull" send_pull
step "run.sh: Ctrl-C" stop_run
step "test.sh" inner_tests
