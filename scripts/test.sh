#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian machine: installs what is
# missing, then lints, unit and integration tests (real Redis and etcd), the
# vendored crates' own tests, the gateway's Go tests, the compose file check,
# the Docker deployment built and run (scripts/docker-check.sh), the
# end-to-end HTTP tests through the real stack, a benchmark smoke run, the
# fleet scenarios and, last, the fresh-machine check (scripts/fresh-check.sh;
# FRESH_CHECK=0 skips it). Every server binds to 127.0.0.1 on a free port and
# is stopped afterwards. Exits non-zero if any stage fails; the last line
# counts the stages.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
source scripts/lib.sh

bash scripts/install-deps.sh || exit 1
# The Python that can run the e2e tests (not always `python3` on PATH).
PYTHON=$(test_python) || exit 1
export PYTHON

passed=0
failed=()
# STAGES="a b ..." runs only the stages named (scripts/fresh-check.sh uses it).
stage() {
    local name=$1
    shift
    echo
    if [ -n "${STAGES:-}" ] && [[ " $STAGES " != *" $name "* ]]; then
        echo "=== $name: skipped (not in STAGES)"
        return
    fi
    echo "=== $name: $*"
    local started=$SECONDS
    if "$@"; then
        passed=$((passed + 1))
        echo "=== $name: ok ($((SECONDS - started)) s)"
    else
        failed+=("$name")
        echo "=== $name: FAILED ($((SECONDS - started)) s)"
    fi
}

# The compose plugin where Docker is installed, Debian's docker-compose elsewhere.
compose_config() {
    compose_command docker && "${compose[@]}" -f docker-compose.yml config -q
}

# The load generator against the real server on a real Redis, for a few
# seconds: it must run and every acknowledged send must be in Redis. Speed is
# not asserted here; scripts/bench.sh measures it.
bench_smoke() {
    cargo build --quiet --locked -p rpc-server -p im-bench || return 1
    local dir redis_port rpc_port pids=() status=1
    dir=$(mktemp -d)
    redis_port=$(free_port)
    rpc_port=$(free_port)
    start_redis "$redis_port" "$dir" --save "" --appendonly no
    pids+=($!)
    if wait_for_port "$redis_port" redis-server; then
        RPC_LISTEN="127.0.0.1:$rpc_port" REDIS_URL="redis://127.0.0.1:$redis_port" RUST_LOG=warn \
            target/debug/rpc-server >"$dir/rpc-server.log" 2>&1 &
        pids+=($!)
        if wait_for_port "$rpc_port" rpc-server; then
            target/debug/im-bench --smoke --workload mixed --addr "127.0.0.1:$rpc_port" \
                --server-pid "${pids[1]}" --verify-redis "redis://127.0.0.1:$redis_port" &&
                target/debug/im-bench idle --connections 200 --requests 1 --settle 1s \
                    --server "rust=${pids[1]}@127.0.0.1:$rpc_port"
            status=$?
        fi
    fi
    stop_all "${pids[@]}"
    rm -rf "$dir"
    return $status
}

# The vendored crates (vendor/*/PATCH.md says why each is patched): each must
# be the published crate plus its .patch, byte for byte, so that the .patch is
# what upstream would get; and each crate's own unit tests must pass. Cargo
# tests no package outside the workspace that has dev-dependencies, so each
# crate is copied out of the repository and tested there against its own
# Cargo.lock.
vendored_tests() {
    local dir crate status=0
    dir=$(mktemp -d)
    for crate in vendor/*/; do
        crate=$(basename "$crate")
        vendored_is_published_plus_patch "$crate" "$dir" || status=1
        cp -r "vendor/$crate" "$dir/$crate" &&
            (cd "$dir/$crate" && CARGO_TARGET_DIR="$dir/target" cargo test --locked --lib --quiet) ||
            status=1
    done
    rm -rf "$dir"
    return $status
}

# vendored_is_published_plus_patch CRATE DIR: fetches CRATE's published
# version (the one in its Cargo.toml) with cargo, applies vendor/CRATE/*.patch
# to it in DIR and compares the result with vendor/CRATE.
vendored_is_published_plus_patch() {
    local crate=$1 dir=$2 version archive
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "vendor/$crate/Cargo.toml" | head -n 1)
    mkdir -p "$dir/fetch-$crate/src" "$dir/published-$crate" && touch "$dir/fetch-$crate/src/lib.rs"
    printf '[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n%s = "=%s"\n' \
        "$crate" "$version" >"$dir/fetch-$crate/Cargo.toml"
    (cd "$dir/fetch-$crate" && cargo fetch --quiet) || return 1
    archive=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$crate-$version.crate" | head -n 1)
    tar xzf "$archive" --strip-components=1 -C "$dir/published-$crate" &&
        cat "vendor/$crate"/*.patch | patch -p1 --quiet -d "$dir/published-$crate" &&
        diff -r --exclude=PATCH.md --exclude='*.patch' "$dir/published-$crate" "vendor/$crate" || {
        echo "vendor/$crate is not $crate $version as published plus its .patch"
        return 1
    }
}

# Each script that builds or runs something (cargo, make, go, Redis, etcd,
# Python, mmdebstrap, Docker) runs scripts/install-deps.sh before its first
# such line, so that it too works first time on a fresh machine (by the order
# of its lines: a function defined above that line and called after it would
# be flagged too, which is the safe side).
install_deps_first() {
    local script install use status=0
    for script in scripts/*.sh; do
        case $script in scripts/lib.sh | scripts/install-deps.sh) continue ;; esac
        use=$(grep -nE '^[^#]*(^|[^-[:alnum:]_/.])(cargo|make|go|redis-server|redis-cli|etcd|etcdctl|python3|mmdebstrap|dockerd|docker-compose)([[:space:]]|$)' \
            "$script" | head -n 1 | cut -d: -f1)
        [ -n "$use" ] || continue
        install=$(grep -n '^[^#]*bash scripts/install-deps.sh' "$script" | head -n 1 | cut -d: -f1)
        if [ -z "$install" ] || ((install > use)); then
            echo "$script: line $use needs a prerequisite before \`bash scripts/install-deps.sh\` runs${install:+ (line $install)}"
            status=1
        fi
    done
    return $status
}

stage install-deps-first install_deps_first
stage rustfmt cargo fmt --all -- --check
stage clippy cargo clippy --workspace --all-targets --locked -- -D warnings
stage cargo-test cargo test --workspace --locked
stage vendored vendored_tests
stage gateway make -C http-server-go --no-print-directory build vet test
stage go-baseline make -C bench/go-baseline --no-print-directory build vet test
stage compose compose_config
# The README's Docker deployment built and run for real: scripts/docker-check.sh
# (its own dockerd in a network namespace of its own; needs root).
# DOCKER_CHECK=0 skips it.
if ((EUID == 0)) && [ "${DOCKER_CHECK:-1}" != 0 ]; then
    stage docker bash scripts/docker-check.sh
else
    echo
    echo "=== docker: skipped (needs root; DOCKER_CHECK=0 skips it)"
fi
stage k8s-manifests make -C deploy/k8s/check --no-print-directory vet test check
# The e2e tests use the debug rpc-server (cargo test built it already: speed
# does not matter there, and it saves a release build), or RPC_SERVER_BIN.
e2e_http() {
    local rpc=${RPC_SERVER_BIN:-target/debug/rpc-server}
    if [ -z "${RPC_SERVER_BIN:-}" ]; then cargo build --quiet --locked -p rpc-server || return 1; fi
    make -C http-server-go --no-print-directory build >/dev/null || return 1
    RPC_SERVER_BIN=$rpc GATEWAY_BIN=http-server-go/bin/http-server \
        "$PYTHON" -m pytest tests/e2e -q -p no:cacheprovider
}
stage e2e-http e2e_http
stage bench-smoke bench_smoke
# The stack as a fleet: each piece in its own network namespace, faults under load (scripts/fleet.sh).
if ((EUID == 0)) && ip netns list >/dev/null 2>&1; then stage fleet bash scripts/fleet.sh; else echo; echo "=== fleet: skipped (needs root and ip netns)"; fi
# The README's two commands on a fresh minimal Debian root (chroot), from the
# committed HEAD; FRESH_CHECK=0 skips it (and is set inside it).
if [ "${FRESH_CHECK:-1}" != 0 ]; then
    stage fresh-check bash scripts/fresh-check.sh
fi

echo
echo "=== stages: $passed passed, ${#failed[@]} failed${failed:+ (${failed[*]})}"
echo "stages: $passed passed, ${#failed[@]} failed"
((${#failed[@]} == 0))
