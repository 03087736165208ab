# syntax=docker/dockerfile:1
# Multi-stage build: a release binary from the Rust toolchain, then a minimal runtime image with
# no shell, running as a non-root user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY control-plane ./control-plane
COPY tests ./tests
RUN cargo build --release --locked --bin airbyte-embedded-operator \
 && strip target/release/airbyte-embedded-operator

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/airbyte-embedded-operator /usr/local/bin/airbyte-embedded-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/airbyte-embedded-operator"]
CMD ["run"]
