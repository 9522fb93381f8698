# Stand-in for rust:1-bookworm: this machine's Rust toolchain (rustc, cargo,
# the standard library; the build context's toolchain/ is its sysroot without
# the docs) where the official image has rustup's, with the same RUSTUP_HOME,
# CARGO_HOME and PATH. No rustup: the project's Dockerfile does not call it.
FROM docker-check/buildpack:bookworm
COPY toolchain /usr/local/rustup/toolchains/host
RUN mkdir -p /usr/local/cargo/bin \
    && ln -s /usr/local/rustup/toolchains/host/bin/* /usr/local/cargo/bin/
ENV RUSTUP_HOME=/usr/local/rustup \
    CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
