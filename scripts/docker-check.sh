#!/usr/bin/env bash
# Runs the README's Docker deployment for real, as the `docker` stage of
# scripts/test.sh: builds both images from the unchanged Dockerfiles, starts
# docker-compose.yml, waits until all four services are healthy, sends a
# message through the gateway's port 8080 and pulls it back, recreates the
# Redis container (same volume, so the append-only file must bring the
# message back) and pulls again, sends once more, then tears it all down.
# Needs root.
#
# Its own Docker, disturbing nothing else on the machine:
#   - dockerd (the one installed; Debian's docker.io if none) with the client
#     installed beside it (not a docker earlier on PATH, which may be another
#     version or a client only), and the compose plugin of that client, else
#     docker-compose (Debian 12 has no plugin);
#   - its data root, exec root, pid file, socket, daemon.json and key in a temp
#     dir (DOCKER_HOST and DOCKER_CONFIG point the clients there), a compose
#     project of its own name;
#   - in a network namespace of its own, whose only way out is slirp4netns
#     (user-mode NAT through ordinary sockets of the host, host loopback
#     refused): the bridges, iptables rules, ip_forward and the published
#     port 8080 are the namespace's, so the host's firewall and interfaces are
#     never touched and a server on the host's own 8080 neither blocks the
#     check nor is reached by it. Containers reach the package registries
#     (apt, crates, Go modules) through slirp4netns and its DNS (10.0.2.3).
#   - everything it runs in cgroups of its own (this script's, which its
#     children and dockerd inherit, and the containers' parent), which also
#     count the stage's CPU time, build steps included.
# On exit, also on failure and Ctrl-C: compose down (containers, volumes,
# networks), dockerd stopped (the images go with its data root), any process
# left in those cgroups killed, mounts below the temp dir undone, the temp
# dir, the cgroups and what the daemon creates outside its roots (/run/docker,
# /run/containerd/s) removed if they were not there before; then it checks
# that the host's links, iptables rules and ip_forward are as they were and
# says what is left (nothing).
#
# Base images: each image a Dockerfile or the compose file names is pulled if
# it can be; where it cannot (no registry reachable, as here), a stand-in is
# built under that exact tag (scripts/docker-standins/): debian:bookworm-slim
# from mmdebstrap --variant=minbase, rust and golang from this machine's
# toolchains, Redis, etcd and alpine from Debian's packages. What the
# stand-ins cannot prove: docs/operations.md, "Docker".
#
# The rpc-server image is built with LTO and optimisation off (build args that
# the Dockerfile passes to cargo; without them it builds exactly as before):
# the same crates, build scripts and steps, in a fraction of the time.
# DOCKER_CHECK_FULL=1 builds with the Dockerfile's defaults (fat LTO and
# optimisation: several more minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

say() { printf 'docker-check: %s\n' "$*"; }
die() {
    say "FAILED: $*" >&2
    exit 1
}

((EUID == 0)) || die "needs root (dockerd, a network namespace, cgroups)"
bash scripts/install-deps.sh

standins=$PWD/scripts/docker-standins
project=imdockercheck$$
tag=imdk$$
work=$(mktemp -d "${TMPDIR:-/var/tmp}/docker-check.XXXXXX")
started=$SECONDS

# --- cgroups: everything this check runs, and its CPU time ---------------
# This script joins a cgroup of its own (on cgroup v1 in the cpuacct hierarchy
# only, so its scheduling does not change): what it starts (dockerd,
# containerd, shims, slirp4netns, clients, mmdebstrap) is counted there;
# containers, build steps included, are under dockerd's --cgroup-parent.

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    cg_root=/sys/fs/cgroup # v2
    cg_home=$cg_root$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
else
    cg_root=/sys/fs/cgroup/cpuacct
    cg_home=$cg_root$(awk -F: '$2 ~ /(^|,)cpuacct(,|$)/ { print $3 }' /proc/self/cgroup)
fi
cg_self=$tag
cg_containers=$tag-containers
mkdir "$cg_root/$cg_self"
echo $$ >"$cg_root/$cg_self/cgroup.procs"

# CPU nanoseconds of a cgroup tree, processes that have exited included.
cgroup_cpu_ns() {
    local dir=$cg_root/$1
    if [ -f "$dir/cpuacct.usage" ]; then
        cat "$dir/cpuacct.usage"
    elif [ -f "$dir/cpu.stat" ]; then
        awk '$1 == "usage_usec" { printf "%d\n", $2 * 1000 }' "$dir/cpu.stat"
    else
        echo 0
    fi
}
# For step (scripts/lib.sh): both cgroups.
cpu_seconds() {
    cpu=$((($(cgroup_cpu_ns "$cg_self") + $(cgroup_cpu_ns "$cg_containers")) / 1000000000))
}

# Every process in both cgroup trees.
pids_in_cgroups() {
    find "$cg_root/$cg_self" "$cg_root/$cg_containers" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -un
}

# --- the host's state, to compare afterwards -----------------------------

# Paths that dockerd and containerd create outside their roots.
host_paths=(/run/docker/plugins /run/docker /run/containerd/s /run/containerd /etc/docker/key.json)
preexisting=()
for path in "${host_paths[@]}"; do
    [ ! -e "$path" ] || preexisting+=("$path")
done

host_network() {
    ip -o link show | awk -F': ' '{ print "link " $2 }' | sed 's/@.*//'
    echo "ip_forward $(cat /proc/sys/net/ipv4/ip_forward)"
    if command -v iptables-save >/dev/null 2>&1; then
        iptables-save 2>/dev/null | sed -e '/^#/d' -e 's/ \[[0-9]*:[0-9]*\]$//'
    fi
}

# --- cleanup --------------------------------------------------------------

netns_pid=""
slirp_pid=""
daemon_pid=""
project_up=""

# Mount points at or below our temp dir, deepest first.
mounts_below_work() {
    findmnt -rn -o TARGET | awk -v w="$work" '$0 == w || index($0, w "/") == 1' | sort -r
}

# running PID: it exists and is not a zombie.
running() {
    local state
    state=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) && [ -n "$state" ] && [ "$state" != Z ]
}

# stop_pids SECONDS PID...: SIGTERM, then SIGKILL what still runs after
# SECONDS; reaps those that are children of this shell.
stop_pids() {
    local deadline=$((SECONDS + $1)) pid alive
    shift
    (($#)) || return 0
    kill -TERM "$@" 2>/dev/null
    while :; do
        alive=()
        for pid in "$@"; do
            ! running "$pid" || alive+=("$pid")
        done
        ((${#alive[@]})) || break
        if ((SECONDS > deadline)); then
            kill -KILL "${alive[@]}" 2>/dev/null
            sleep 0.5
            break
        fi
        sleep 0.2
    done
    wait "$@" 2>/dev/null
    return 0
}

# start_process NAME COMMAND...: COMMAND in the background, in a session of its
# own, so that a Ctrl-C on the terminal does not reach it (the cleanup stops
# it, in order); output in $work/NAME.log. Its pid is in $!.
start_process() {
    local name=$1
    shift
    setsid "$@" </dev/null >"$work/$name.log" 2>&1 &
}

cleanup() {
    local status=$? t=$SECONDS pids m left=() path cpu
    trap - EXIT INT TERM
    set +e
    if [ -n "$project_up" ] && ((status != 0)); then
        say "the services' last log lines:"
        timeout 60 "${compose[@]}" logs --no-color --tail 15 2>&1 | sed 's/^/    | /'
    fi
    # Builds still running (a step failed or Ctrl-C): their clients first.
    ((${#background[@]} == 0)) || stop_pids 5 "${background[@]}"
    if [ -n "$project_up" ]; then
        logged compose-down timeout 120 "${compose[@]}" down --volumes --remove-orphans ||
            say "compose down failed (the daemon's stop removes the rest)"
    fi
    # dockerd stops its containers (10 s each at most) and its containerd.
    [ -z "$daemon_pid" ] || stop_pids 60 "$daemon_pid"
    [ -z "$slirp_pid" ] || stop_pids 5 "$slirp_pid"
    [ -z "$netns_pid" ] || stop_pids 5 "$netns_pid"
    # The total, while the cgroups still count the processes that have exited;
    # then this script leaves its cgroup, and what is still in them is left over.
    cpu_seconds
    echo $$ >"$cg_home/cgroup.procs"
    mapfile -t pids < <(pids_in_cgroups)
    if ((${#pids[@]})); then
        say "stopping ${#pids[@]} process(es) left in the check's cgroups: $(ps -o comm= -p "${pids[*]}" | tr '\n' ' ')"
        stop_pids 10 "${pids[@]}"
    fi
    while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" || say "could not unmount $m"
    done < <(mounts_below_work)
    # The containers' cgroups in every hierarchy, then the daemon's.
    for path in /sys/fs/cgroup/"$cg_containers" /sys/fs/cgroup/*/"$cg_containers" "$cg_root/$cg_self"; do
        [ ! -d "$path" ] || find "$path" -depth -type d -exec rmdir {} + 2>/dev/null
        [ ! -d "$path" ] || left+=("cgroup $path")
    done
    if [ -n "$(mounts_below_work)" ]; then
        left+=("mounts below $work")
    elif [ "$status" != 0 ] && [ -s "$work/dockerd.log" ]; then
        say "dockerd's last lines:"
        tail -n 15 "$work/dockerd.log" | sed 's/^/    | /'
    fi
    if [ -z "$(mounts_below_work)" ]; then
        m=$SECONDS
        rm -rf --one-file-system "$work"
        say "removed $work ($((SECONDS - m)) s)"
    fi
    [ ! -e "$work" ] || left+=("$work")
    # What the daemon created outside its roots, if it was not there before.
    for path in "${host_paths[@]}"; do
        [[ " ${preexisting[*]} " != *" $path "* ]] || continue
        if [ -d "$path" ]; then rmdir "$path" 2>/dev/null; elif [ -e "$path" ]; then rm -f "$path"; fi
        [ ! -e "$path" ] || left+=("$path")
    done
    if [ -n "${network_before:-}" ] && [ "$(host_network)" != "$network_before" ]; then
        left+=("changes to the host's network:")
        left+=("$(diff <(echo "$network_before") <(host_network) | grep '^[<>]')")
    fi
    if ((${#left[@]})); then
        say "left behind: ${left[*]}" >&2
        status=1
    else
        say "left behind: nothing (no process in its cgroups, no mount, temp dir," \
            "cgroups and daemon paths removed, host links, iptables and ip_forward unchanged)"
    fi
    finish_check "$status" "$t" "$cpu CPU-s"
}
on_exit cleanup

# --- prerequisites --------------------------------------------------------

# The docker client of dockerd's own version (Debian's docker.io puts dockerd
# in /usr/sbin, its client in /usr/bin, and another docker may come first on
# PATH), else the first on PATH; and the compose command for that client.
find_clients() {
    local version candidate
    version=$(dockerd --version 2>/dev/null | awk '{ print $3 }') || return 1
    docker=""
    for candidate in "$(dirname "$(command -v dockerd)")/docker" $(type -ap docker); do
        [ -x "$candidate" ] || continue
        [ -n "$docker" ] || docker=$candidate
        if [ "$("$candidate" --version | awk '{ print $3 }')" = "$version" ]; then
            docker=$candidate
            break
        fi
    done
    [ -n "$docker" ] && compose_command "$docker" || return 1
    compose+=(-p "$project" -f docker-compose.yml)
}

# The data root holds the stand-in images (the Rust one carries the host's
# toolchain), both build caches and the images; a disk that fills mid-build
# shows up only as a broken pipe in dockerd's log, so say it up front.
# DOCKER_CHECK_MIN_FREE_GB (8): the stage peaked at about 5 GB (docs/testing.md).
enough_disk() {
    local need=${DOCKER_CHECK_MIN_FREE_GB:-8} free
    free=$(df --output=avail -BG "$work" | tail -1 | tr -dc 0-9)
    if ((free < need)); then
        say "only ${free} GB free under $work; the check needs about ${need} GB (set TMPDIR to a larger disk)"
        return 1
    fi
    say "disk: ${free} GB free under $work"
}

prerequisites() {
    local packages=()
    enough_disk || return 1
    if ! dockerd --version >/dev/null 2>&1; then
        packages+=(docker.io)
    fi
    if ! find_clients; then
        # Debian's docker.io has no compose plugin.
        quietly docker-compose version || packages+=(docker-compose)
    fi
    quietly slirp4netns --version || packages+=(slirp4netns)
    if ((${#packages[@]})); then
        apt_install "${packages[@]}" || {
            say "could not install ${packages[*]}: ${apt_error:-}"
            return 1
        }
    fi
    find_clients || {
        say "no docker client beside $(command -v dockerd), or no compose plugin or docker-compose"
        return 1
    }
    say "engine: $(dockerd --version); client: $docker ($("$docker" --version)); compose: ${compose[*]:0:${#compose[@]}-4}"
}

# --- the daemon, in its own network namespace -----------------------------

in_netns() { nsenter --net="/proc/$netns_pid/ns/net" "$@"; }

start_network() {
    local deadline=$((SECONDS + 20))
    start_process netns unshare --net sleep infinity || return 1
    netns_pid=$!
    until [ "$(readlink "/proc/$netns_pid/ns/net" 2>/dev/null)" != "$(readlink /proc/self/ns/net)" ]; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
    in_netns ip link set lo up || return 1
    start_process slirp4netns slirp4netns --configure --mtu=65520 --disable-host-loopback \
        "$netns_pid" tap0 || return 1
    slirp_pid=$!
    until in_netns ip route show default | grep -q tap0; do
        if ((SECONDS > deadline)); then
            cat "$work/slirp4netns.log"
            return 1
        fi
        sleep 0.1
    done
    say "namespace of pid $netns_pid: $(in_netns ip -o -4 addr show tap0 | awk '{ print $4 }') via slirp4netns"
}

start_daemon() {
    local deadline=$((SECONDS + 60))
    # Its own configuration, so that the host's /etc/docker/daemon.json does
    # not apply, and its identity key in the temp dir (not /etc/docker).
    printf '{ "deprecated-key-path": "%s" }\n' "$work/key.json" >"$work/daemon.json" || return 1
    export DOCKER_HOST=unix://$work/docker.sock DOCKER_CONFIG=$work/client
    start_process dockerd nsenter --net="/proc/$netns_pid/ns/net" \
        dockerd --config-file "$work/daemon.json" --data-root "$work/data" \
        --exec-root "$work/exec" --pidfile "$work/dockerd.pid" -H "$DOCKER_HOST" \
        --storage-driver overlay2 --cgroup-parent "/$cg_containers" --dns 10.0.2.3 --log-level warn || return 1
    daemon_pid=$!
    until "$docker" version >"$work/version" 2>&1; do
        if ! running "$daemon_pid" || ((SECONDS > deadline)); then
            tail -n 20 "$work/dockerd.log"
            cat "$work/version"
            return 1
        fi
        sleep 0.2
    done
    say "dockerd $("$docker" version --format '{{.Server.Version}}') (pid $daemon_pid), data root $work/data"
}

# --- base images ----------------------------------------------------------

# Every image the Dockerfiles build FROM (not their own stages) and the
# compose file runs.
base_images() {
    local dockerfile
    for dockerfile in rpc-server/Dockerfile http-server-go/Dockerfile; do
        awk 'toupper($1) == "FROM" {
            if (!(tolower($2) in stage)) print $2
            if (toupper($3) == "AS") stage[tolower($4)] = 1
        }' "$dockerfile"
    done
    awk '$1 == "image:" { print $2 }' docker-compose.yml
}

# logged NAME COMMAND...: COMMAND with its output in $work/NAME.log; says
# how long it took, or shows the log's end if it failed.
logged() {
    local name=$1 t=$SECONDS
    shift
    if "$@" >"$work/$name.log" 2>&1; then
        say "  $name: $((SECONDS - t)) s"
    else
        say "  $name FAILED after $((SECONDS - t)) s; the end of its log:"
        tail -n 40 "$work/$name.log" | sed 's/^/    | /'
        return 1
    fi
}

# together COMMAND...: runs each COMMAND (a function name with its arguments,
# in one word each) in the background, then waits for all of them: the
# independent builds share the 2 cores, one using what the other leaves
# (network waits, a single crate compiling). Fails if one failed.
background=()
together() {
    local command pids=() status=0 pid
    for command in "$@"; do
        # shellcheck disable=SC2086 # one word per argument, by design
        $command &
        pids+=($!)
    done
    background=("${pids[@]}")
    for pid in "${pids[@]}"; do
        wait "$pid" || status=1
    done
    background=()
    return $status
}

# build_image NAME DOCKER-BUILD-ARGS...
build_image() { logged "build-$1" "$docker" build "${@:2}"; }

# debian:SUITE-slim: a minimal Debian root from the host's mirrors, with the
# policy-rc.d of Docker's Debian images (apt inside starts no services).
standin_debian() {
    local suite=${1#debian:} sources
    suite=${suite%-slim}
    need_program mmdebstrap mmdebstrap || return 1
    mapfile -t sources < <(debian_sources "$suite")
    logged "mmdebstrap-$suite" debian_import "$suite" "$1" "${sources[@]}"
}
# debian_import SUITE TAG SOURCE...: mmdebstrap's tar stream into docker import.
# Its temp root (and its mounts, if interrupted) are below $work.
debian_import() {
    # shellcheck disable=SC2016 # $1 is the hook's argument
    TMPDIR=$work mmdebstrap --quiet --mode=root --variant=minbase --format=tar \
        --customize-hook='printf "#!/bin/sh\nexit 101\n" >"$1/usr/sbin/policy-rc.d" && chmod 755 "$1/usr/sbin/policy-rc.d"' \
        "$1" - "${@:3}" | "$docker" import --change 'CMD ["bash"]' - "$2"
}

# What the official rust and golang images are built on, with this machine's
# CA bundle.
standin_buildpack() {
    mkdir -p "$work/buildpack" &&
        cp /etc/ssl/certs/ca-certificates.crt "$work/buildpack/host-ca-bundle.crt" &&
        build_image buildpack -t docker-check/buildpack:bookworm -f "$standins/buildpack.Dockerfile" "$work/buildpack"
}

# version_matches WANTED ACTUAL: 1 matches 1.95.0, 1.26 matches 1.26.1.
version_matches() { [[ $2 == "$1" || $2 == "$1".* ]]; }

standin_rust() {
    local want=${1#rust:} have sysroot dirs=() dir
    want=${want%%-*}
    have=$(rustc --version | awk '{ print $2 }')
    version_matches "$want" "$have" || {
        say "$1 wanted, but this machine has Rust $have"
        return 1
    }
    sysroot=$(rustc --print sysroot)
    for dir in bin lib libexec; do
        [ ! -d "$sysroot/$dir" ] || dirs+=("$dir")
    done
    tar -cf - -C "$standins" rust.Dockerfile -C "$sysroot" \
        --transform 's,^\(bin\|lib\|libexec\)\(/\|$\),toolchain/&,S' "${dirs[@]}" |
        build_image rust -t "$1" -f rust.Dockerfile -
}

standin_golang() {
    local want=${1#golang:} have
    want=${want%%-*}
    have=$(go env GOVERSION)
    version_matches "go$want" "$have" || {
        say "$1 wanted, but this machine has $have"
        return 1
    }
    tar -cf - -C "$standins" golang.Dockerfile -C "$(go env GOROOT)" --transform 's,^\.\(/\|$\),go/,S' . |
        build_image golang -t "$1" -f golang.Dockerfile -
}

# standin_services TARGET=IMAGE...: one package layer, a target per image.
standin_services() {
    local target
    for target in "$@"; do
        build_image "${target%%=*}" -t "${target#*=}" --target "${target%%=*}" \
            -f "$standins/services.Dockerfile" "$standins" || return 1
    done
}

# Each image the Dockerfiles and the compose file name is pulled if it can
# be, else built as a stand-in under that tag: Debian first (the others build
# on it), then the rest two at a time.
base_images_step() {
    local image debian="" rust="" golang="" services=() phase1=() phase2=() unpulled=()
    for image in $(base_images | sort -u); do
        if timeout 120 "$docker" pull -q "$image" >/dev/null 2>"$work/pull.log"; then
            say "$image: pulled"
            continue
        fi
        unpulled+=("$image")
        case $image in
            debian:bookworm-slim) debian=$image ;;
            rust:*-bookworm) rust=$image ;;
            golang:*-bookworm) golang=$image ;;
            redis:*) services+=("redis=$image") ;;
            */etcd:* | etcd:*) services+=("etcd=$image") ;;
            alpine:*) services+=("alpine=$image") ;;
            *)
                say "no stand-in for $image"
                return 1
                ;;
        esac
    done
    if ((${#unpulled[@]})); then
        say "cannot be pulled, so stand-ins are built: ${unpulled[*]}"
        say "  (the last pull said: $(tail -n 1 "$work/pull.log"))"
    fi
    # The stand-ins build on debian:bookworm-slim, the real one if it was pulled.
    if [ -z "$debian" ] && [ -n "$rust$golang${services[*]}" ] &&
        ! quietly "$docker" image inspect debian:bookworm-slim; then
        debian=debian:bookworm-slim
    fi
    if [ -n "$debian" ]; then standin_debian "$debian" || return 1; fi
    if [ -n "$rust$golang" ]; then phase1+=(standin_buildpack); fi
    if ((${#services[@]})); then phase1+=("standin_services ${services[*]}"); fi
    together "${phase1[@]}" || return 1
    if [ -n "$rust" ]; then phase2+=("standin_rust $rust"); fi
    if [ -n "$golang" ]; then phase2+=("standin_golang $golang"); fi
    together "${phase2[@]}"
}

# --- the stack ------------------------------------------------------------

build_args=()
if [ "${DOCKER_CHECK_FULL:-0}" != 1 ]; then
    for setting in LTO=off OPT_LEVEL=0 CODEGEN_UNITS=16; do
        build_args+=(--build-arg "CARGO_PROFILE_RELEASE_$setting")
    done
fi

build_rpc_server() { logged build-rpc-server "${compose[@]}" build "${build_args[@]}" rpc-server; }
build_gateway() { logged build-http-server "${compose[@]}" build http-server; }

# Both images at once, as the compose plugin does (docker-compose 1.29 builds
# one after the other without --parallel).
build_stack() {
    if ((${#build_args[@]})); then
        say "build args: ${build_args[*]}"
    else
        say "no build args: the Dockerfiles' defaults"
    fi
    together build_rpc_server build_gateway || return 1
    "$docker" images --format '    {{.Repository}}:{{.Tag}} {{.Size}}' | grep "$project"
    say "disk: $(du -sx --block-size=1M "$work" | cut -f1) MB under $work after the builds (images and build caches)"
}

# service status lines: "NAME STATUS HEALTH RESTARTS" for each container of the project.
service_status() {
    local ids
    mapfile -t ids < <("$docker" ps -aq --filter "label=com.docker.compose.project=$project")
    ((${#ids[@]})) || return 0
    "$docker" inspect --format '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}no-health-check{{end}} {{.RestartCount}}' "${ids[@]}" |
        sort
}

# wait_healthy SECONDS: until every service of the compose file runs healthy.
wait_healthy() {
    local deadline=$((SECONDS + $1)) t=$SECONDS status last="" healthy
    while :; do
        status=$(service_status)
        if [ "$status" != "$last" ]; then
            say "  [$((SECONDS - t)) s] $(awk '{ printf "%s%s=%s", (NR > 1 ? " " : ""), $1, ($3 == "no-health-check" ? $2 : $3) }' <<<"$status")"
            last=$status
        fi
        healthy=$(awk '$2 == "running" && $3 == "healthy"' <<<"$status" | wc -l)
        if ((healthy == ${#services[@]})) && (($(wc -l <<<"$status") == ${#services[@]})); then
            return 0
        fi
        if ((SECONDS > deadline)); then
            say "not all ${#services[@]} services healthy after $1 s"
            return 1
        fi
        sleep 1
    done
}

start_stack() {
    mapfile -t services < <("${compose[@]}" config --services)
    ((${#services[@]})) || return 1
    project_up=1
    logged compose-up "${compose[@]}" up -d --no-build || return 1
    wait_healthy 180 || return 1
    say "${#services[@]} services healthy:"
    "${compose[@]}" ps 2>&1 | sed 's/^/    /'
}

# api METHOD PATH BODY: the gateway's port 8080 as published in the
# namespace, reached as a user's curl reaches it (an error shows its body).
api() {
    in_netns curl -sS --fail-with-body --max-time 10 -X "$1" "http://127.0.0.1:8080/api/$2" \
        -H 'Content-Type: application/json' -d "$3"
}
# A chat is "member:member", and its sender one of them.
chat=docker:check
send() {
    api POST send "{\"chat\":\"$chat\",\"text\":\"$1\",\"sender\":\"docker\"}" &&
        say "POST /api/send: \"$1\""
}
# pull_has TEXT...: one pull holds every TEXT.
pull_has() {
    local out text
    out=$(api GET pull "{\"chat\":\"$chat\",\"cursor\":0,\"limit\":10,\"reverse\":false}") || return 1
    for text in "$@"; do
        [[ $out == *"\"text\":\"$text\""* ]] || {
            say "GET /api/pull: $out (without \"$text\")"
            return 1
        }
    done
    say "GET /api/pull: $out"
}

first=""
send_pull() {
    first="sent through the gateway in Docker $(date +%s%N)"
    send "$first" && pull_has "$first"
}

# The Redis container replaced by a new one on the same volume: the message
# must come back from the append-only file, through the rpc-server's new
# connection (retried for up to 30 s while it reconnects).
redis_recreated() {
    local before after second deadline
    before=$("$docker" ps -q --filter "label=com.docker.compose.project=$project" --filter label=com.docker.compose.service=redis)
    logged compose-recreate "${compose[@]}" up -d --no-deps --force-recreate redis || return 1
    wait_healthy 120 || return 1
    after=$("$docker" ps -q --filter "label=com.docker.compose.project=$project" --filter label=com.docker.compose.service=redis)
    say "redis recreated: container $after, was $before"
    deadline=$((SECONDS + 30))
    until pull_has "$first" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 1
    done
    second="sent after the Redis restart $(date +%s%N)"
    send "$second" && pull_has "$first" "$second"
}

stop_stack() {
    logged compose-down "${compose[@]}" down --volumes --remove-orphans || return 1
    project_up=""
    local left
    left=$({
        "$docker" ps -aq --filter "label=com.docker.compose.project=$project"
        "$docker" volume ls -q --filter "label=com.docker.compose.project=$project"
        "$docker" network ls -q --filter "label=com.docker.compose.project=$project"
    })
    [ -z "$left" ] || {
        say "left after compose down: $left"
        return 1
    }
    say "compose down: no container, volume or network of the project left"
}

stop_daemon() {
    stop_pids 60 "$daemon_pid"
    ! running "$daemon_pid" || return 1
    daemon_pid=""
}

network_before=""
step "prerequisites" prerequisites
network_before=$(host_network)
step "network namespace" start_network
step "dockerd" start_daemon
step "base images" base_images_step
step "build the images" build_stack
step "up: all services healthy" start_stack
step "send and pull through port 8080" send_pull
step "Redis recreated, pull again" redis_recreated
step "compose down" stop_stack
step "stop dockerd" stop_daemon
