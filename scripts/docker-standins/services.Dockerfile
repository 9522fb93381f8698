# Stand-ins for the compose file's service images and the gateway's runtime
# base, from Debian's packages: Redis 7.0 for redis:7.2-alpine, etcd 3.4 for
# quay.io/coreos/etcd:v3.5.17, and Debian with wget for alpine:3.20 (the
# gateway's health check runs wget). One package layer, one target per image.
FROM debian:bookworm-slim AS services
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server redis-tools etcd-server etcd-client wget \
    && rm -rf /var/lib/apt/lists/*

# The official Redis image is compiled with protected mode off, so that other
# containers can connect without a password; Debian's is not, so the
# entry point turns it off (last, so it wins over any earlier setting).
FROM services AS redis
COPY redis-entrypoint.sh /usr/local/bin/redis-entrypoint.sh
WORKDIR /data
ENTRYPOINT ["redis-entrypoint.sh"]
CMD ["redis-server"]

FROM services AS etcd
CMD ["etcd"]

FROM services AS alpine
CMD ["/bin/sh"]
