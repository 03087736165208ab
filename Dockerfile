# syntax=docker/dockerfile:1
# The operator's image, one definition for local builds and releases alike: build it with
# scripts/build-image.sh, which prepares the context's root file system from the build machine
# (the release binary built with --no-default-features, so the image carries only what `run`
# needs; the C libraries it links; CA certificates; passwd and group entries for user 65532) and
# runs buildah, daemonless and without a registry. No base image, no shell, nothing runs at build
# time; the root file system can be mounted read-only.
FROM scratch
COPY rootfs/ /
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/airbyte-embedded-operator"]
CMD ["run"]
