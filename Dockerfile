# syntax=docker/dockerfile:1
# flink-lifecycle operator image: `make image` (docker build -t flink-lifecycle:<version> .).
# Stage 1 builds the release binary; stage 2 is distroless (glibc + libgcc, no shell, no package
# manager) running as the non-root user 65532, which the Deployment's securityContext expects.
# TLS is rustls with ring, so the runtime needs no OpenSSL.

ARG RUST_VERSION=1.95
FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# The manifest, lock file and every target the manifest declares (cargo reads them all).
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin flink-lifecycle \
    && install -D -m 0755 target/release/flink-lifecycle /out/flink-lifecycle

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/flink-lifecycle /usr/local/bin/flink-lifecycle
USER 65532:65532
# 9443: admission webhook (HTTPS); 8080: /livez, /readyz, /metrics.
EXPOSE 9443 8080
ENTRYPOINT ["/usr/local/bin/flink-lifecycle"]
CMD ["run"]
