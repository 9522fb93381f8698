#!/usr/bin/env bash
# Makes sure this Debian machine provides what building, running and testing
# the stack need, and installs Debian packages for whatever is missing. Quiet
# and quick (about a second) when everything is there; safe to run again.
#
# Each prerequisite is checked by what it provides, not by a command name:
#   protoc compiles a .proto importing google/protobuf/descriptor.proto
#                            protobuf-compiler, libprotobuf-dev (the etcd-client
#                            crate's build; protoc alone lacks descriptor.proto)
#   cc compiles, ar archives and cc links a C file
#                            build-essential (volo-build compiles libgit2)
#   make                     make (the Go modules' Makefiles)
#   patch applies a unified diff
#                            patch (the vendored stage rebuilds vendor/* from
#                            the published crates and their .patch files)
#   redis-server, redis-cli, redis-benchmark    redis-server, redis-tools
#   redis-sentinel           redis-sentinel (the Sentinel tests)
#   etcd, etcdctl            etcd-server, etcd-client
#   a Python that imports pytest and every module tests/e2e/*.py import
#                            python3, python3-pytest, python3-thrift (Apache
#                            Thrift's Python library; see test_python in
#                            scripts/lib.sh: a pyenv `python3` on PATH without
#                            them is passed over for Debian's /usr/bin/python3)
#   thrift generates Python from a .thrift file
#                            thrift-compiler (the e2e Thrift client tests)
#   kill, ps as programs     procps (the Rust tests run `kill`; Debian's
#                            minimal and container images lack it)
#   curl                     curl (scripts/fresh-check.sh, the README's examples)
#   a CA bundle for HTTPS    ca-certificates (cargo and go download over HTTPS)
#   compose config           docker-compose (only to validate docker-compose.yml)
#   a TCP load balancer that health-checks over HTTP
#                            haproxy (scripts/fleet.sh: a Service in front of
#                            the replicas that reads their /readyz)
# Packages come from Debian only, never pip. Rust (cargo >= 1.85) and Go must
# already be installed; crates and Go modules are fetched by cargo and go.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

fail() {
    echo "install-deps: $*" >&2
    exit 1
}

# Rust and Go come from their own installers, not from here.
cargo --version >/dev/null 2>&1 ||
    fail "Rust is missing: install it with rustup (https://rustup.rs), Rust >= 1.85"
rust_minor=$(rustc --version | sed -n 's/^rustc 1\.\([0-9]*\).*/\1/p')
((${rust_minor:-0} >= 85)) || fail "Rust >= 1.85 is needed, found: $(rustc --version)"
go version >/dev/null 2>&1 ||
    fail "Go is missing: install Go >= 1.22 from https://go.dev/dl/ and put its bin/ on PATH"

probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT

has_protoc() {
    printf '%s\n' 'syntax = "proto3";' 'import "google/protobuf/descriptor.proto";' \
        'message Probe { google.protobuf.FileDescriptorProto file = 1; }' >"$probe/probe.proto"
    quietly protoc -I "$probe" --descriptor_set_out="$probe/probe.pb" "$probe/probe.proto"
}

has_c_toolchain() {
    printf '%s\n' '#include <stdio.h>' 'int probe(void) { return puts("ok") < 0; }' >"$probe/lib.c"
    printf '%s\n' 'int probe(void);' 'int main(void) { return probe(); }' >"$probe/main.c"
    quietly cc -c -o "$probe/lib.o" "$probe/lib.c" &&
        quietly ar rcs "$probe/libprobe.a" "$probe/lib.o" &&
        quietly cc -o "$probe/probe" "$probe/main.c" -L"$probe" -lprobe &&
        [ "$("$probe/probe")" = ok ]
}

has_patch() {
    printf 'a\n' >"$probe/patched" &&
        printf '%s\n' '--- a/patched' '+++ b/patched' '@@ -1 +1 @@' '-a' '+b' |
        quietly patch -p1 -d "$probe" &&
        [ "$(cat "$probe/patched")" = b ]
}

has_redis() {
    quietly redis-server --version && quietly redis-cli --version && quietly redis-benchmark --version
}

has_procps() {
    quietly env kill -0 $$ && quietly ps -p $$
}

has_thrift_compiler() {
    printf '%s\n' 'struct Probe { 1: optional bool flag }' >"$probe/thrift_probe.thrift"
    quietly thrift --gen py -out "$probe" "$probe/thrift_probe.thrift" && test -s "$probe/thrift_probe/ttypes.py"
}

# haproxy accepts (checks, does not start) a TCP proxy whose servers are checked with GET /readyz.
has_haproxy() {
    printf '%s\n' 'defaults' '    mode tcp' '    timeout connect 1s' '    timeout client 1s' \
        '    timeout server 1s' 'listen rpc' '    bind 127.0.0.1:8888' '    option httpchk GET /readyz' \
        '    server one 127.0.0.1:1 check port 2 inter 1s fall 2 rise 1 on-marked-down shutdown-sessions' \
        >"$probe/haproxy.cfg"
    quietly haproxy -c -f "$probe/haproxy.cfg"
}

has_compose() {
    compose_command docker
}

# check DESCRIPTION PACKAGES TEST...: notes PACKAGES when TEST fails.
missing_what=()
missing_packages=()
check() {
    if ! "${@:3}"; then
        missing_what+=("$1")
        read -ra pkgs <<<"$2"
        missing_packages+=("${pkgs[@]}")
    fi
}
run_checks() {
    missing_what=()
    missing_packages=()
    check "protoc with google/protobuf/descriptor.proto" "protobuf-compiler libprotobuf-dev" has_protoc
    check "a C compiler, archiver and linker" "build-essential" has_c_toolchain
    check "make" "make" quietly make --version
    check "patch applying a unified diff" "patch" has_patch
    check "redis-server, redis-cli, redis-benchmark" "redis-server redis-tools" has_redis
    check "redis-sentinel (the Sentinel tests)" "redis-sentinel" quietly redis-sentinel --version
    check "etcd" "etcd-server" quietly etcd --version
    check "etcdctl" "etcd-client" quietly etcdctl version
    check "a Python that imports pytest and what tests/e2e imports" "python3 python3-pytest python3-thrift" \
        test_python
    check "thrift generating Python" "thrift-compiler" has_thrift_compiler
    check "the kill and ps programs" "procps" has_procps
    check "curl" "curl" quietly curl --version
    check "CA certificates (/etc/ssl/certs/ca-certificates.crt)" "ca-certificates" \
        test -s /etc/ssl/certs/ca-certificates.crt
    check "docker compose or docker-compose" "docker-compose" has_compose
    check "haproxy (a TCP load balancer with HTTP health checks)" "haproxy" has_haproxy
}

run_checks >/dev/null
((${#missing_what[@]} == 0)) && exit 0

mapfile -t packages < <(printf '%s\n' "${missing_packages[@]}" | sort -u)
apt_install "${packages[@]}" ||
    fail "could not install ${packages[*]} (needed for: $(IFS=";"; echo "${missing_what[*]}")): ${apt_error:-}"

run_checks >/dev/null
((${#missing_what[@]} == 0)) ||
    fail "still missing after installing ${packages[*]}: $(IFS=";"; echo "${missing_what[*]}")"
