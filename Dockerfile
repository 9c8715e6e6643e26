# syntax=docker/dockerfile:1
# One parameterised image for every binary of the workspace:
#   docker build --build-arg BIN=ingress --build-arg VERSION=0.1.0 -t crmerp/ingress:0.1.0 .
# BIN is one of: ingress, deal-to-order, monitoring, crmerp-sandbox.
#
# Stages: `chef` holds cargo-chef; `planner` reduces the workspace to a
# dependency recipe; `build` compiles the dependencies from the recipe alone
# (a cached layer until Cargo.toml/Cargo.lock change) and then the sources.
# The runtime is distroless (glibc, CA certificates, no shell) as UID 65532.
# No HEALTHCHECK: Kubernetes probes /healthz and /readyz; compose orders start-up
# by the health of NATS and Postgres, and the services retry NATS themselves.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS chef
RUN cargo install cargo-chef --locked --version ^0.1
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
ARG BIN
COPY --from=planner /src/recipe.json recipe.json
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo chef cook --release --locked --recipe-path recipe.json --bin "${BIN}"
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo build --release --locked --bin "${BIN}" \
 && cp "target/release/${BIN}" /app \
 && mkdir /data

FROM gcr.io/distroless/cc-debian12:nonroot
ARG BIN
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="crmerp-${BIN}" \
      org.opencontainers.image.description="crmerp ${BIN}: CRM <-> ERP integration over NATS JetStream" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="crmerp"
COPY --from=build /app /app
# A writable /data owned by the runtime user: a named volume mounted there
# (the sandbox's state) inherits this ownership.
COPY --from=build --chown=65532:65532 /data /data
USER 65532:65532
ENTRYPOINT ["/app"]
