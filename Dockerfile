# syntax=docker/dockerfile:1
# The Switchboard image: one static binary in an otherwise empty image.
#
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) -t switchboard .
#   docker run -p 8080:8080 -v switchboard-data:/data switchboard
#
# The binary is glibc-static, not musl (scripts/build-static.sh says why); besides the CA
# roots it needs no file from the image, only /etc/hosts and /etc/resolv.conf, which the
# container runtime provides.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
COPY . .
# Cached registry and target between builds; the binary is copied out of the cache mount.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cp "$(scripts/build-static.sh)" /switchboard
# The data directory (the embedded SQLite default, the first admin token), owned by the
# service's account and private to it.
RUN install -d -m 0700 -o 65532 -g 65532 /rootfs/data

FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="switchboard" \
      org.opencontainers.image.description="Feature flags, per-environment configuration and encrypted secrets" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/switchboard-dev/switchboard"
COPY --from=builder /switchboard /switchboard
# CA roots for outgoing TLS that verifies against the system store (OTLP over https; rustls
# finds this file where Debian puts it). PostgreSQL TLS carries its own (webpki) roots.
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder --chown=65532:65532 --chmod=0700 /rootfs/data /data
# No shell, no package manager, no root: a numeric non-root UID (there is no /etc/passwd).
USER 65532:65532
ENV SWITCHBOARD_LISTEN=0.0.0.0:8080 \
    SWITCHBOARD_DATA_DIR=/data \
    SWITCHBOARD_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/switchboard", "healthcheck"]
ENTRYPOINT ["/switchboard"]
CMD ["serve"]
