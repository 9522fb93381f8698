# Stand-in for buildpack-deps:bookworm, which the official rust and golang
# images are built on: a C toolchain, pkg-config, git, curl and wget, and CA
# certificates that include this machine's bundle (its outbound TLS may be
# re-signed by a local CA). Built by scripts/docker-check.sh only when the
# real images cannot be pulled; the build context holds host-ca-bundle.crt.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl wget git gcc libc6-dev make pkg-config \
    && rm -rf /var/lib/apt/lists/*
# As a local certificate, so that a later update-ca-certificates keeps it.
COPY host-ca-bundle.crt /usr/local/share/ca-certificates/host-ca-bundle.crt
RUN update-ca-certificates
