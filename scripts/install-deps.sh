#!/usr/bin/env bash
# Installs what building, running and testing the stack need on Debian,
# skipping whatever is already there. Safe to run again and again.
#
#   redis-server, redis-tools  Redis and redis-cli / redis-benchmark
#   etcd-server, etcd-client   etcd and etcdctl (service discovery)
#   protobuf-compiler          protoc, needed by the etcd-client crate's build
#   build-essential            a C compiler (volo-build compiles libgit2)
#   docker-compose             only to validate docker-compose.yml here
#   python3 + pytest           the end-to-end HTTP tests
# Rust (cargo) and Go must already be installed; crates and Go modules are
# fetched by cargo and go themselves.
set -euo pipefail

missing=()
want() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
want redis-server redis-server
want redis-cli redis-tools
want redis-benchmark redis-tools
want etcd etcd-server
want etcdctl etcd-client
want protoc protobuf-compiler
want cc build-essential
want make make
want python3 python3
if ! command -v docker-compose >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then
    missing+=(docker-compose)
fi

if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    # Sorted and unique: redis-tools may be wanted twice.
    mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
    echo "install-deps: apt-get install ${packages[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

if ! python3 -m pytest --version >/dev/null 2>&1; then
    echo "install-deps: pip install pytest"
    python3 -m pip install --quiet pytest 2>/dev/null ||
        python3 -m pip install --quiet --break-system-packages pytest
fi

for tool in cargo go; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install-deps: '$tool' is required (Rust >= 1.85 from rustup, Go >= 1.22)" >&2
        exit 1
    fi
done
