# One parameterised image for every binary of the workspace:
#   docker build --build-arg BIN=ingress -t crmerp/ingress .
# The dependency layer is built before the sources are copied, so source edits
# do not rebuild dependencies.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
ARG BIN
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin "${BIN}" && cp "target/release/${BIN}" /app

FROM gcr.io/distroless/cc-debian12:nonroot
ARG BIN
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="crmerp-${BIN}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="crmerp"
COPY --from=build /app /app
USER nonroot
ENTRYPOINT ["/app"]
