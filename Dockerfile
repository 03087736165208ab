# syntax=docker/dockerfile:1
# Multi-stage build: a release binary from the Rust toolchain, then a minimal runtime image with
# no shell, running as a non-root user. `--no-default-features` leaves out the developer tools
# (sandbox, Airbyte simulator, local control plane): the image carries only what `run` needs.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY crates ./crates
RUN cargo build --release --locked --no-default-features --bin airbyte-embedded-operator \
 && strip target/release/airbyte-embedded-operator

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/airbyte-embedded-operator /usr/local/bin/airbyte-embedded-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/airbyte-embedded-operator"]
CMD ["run"]
