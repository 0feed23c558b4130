# keysvc-check as a container image: a static (musl) binary on distroless
# static, which has the CA certificates HTTPS healthz checks need and runs as
# the non-root user `nonroot` (65532).
#   docker build -t keysvc-check .
#   docker run --rm -v ~/.kube:/home/nonroot/.kube:ro keysvc-check diagnose --env prod

ARG RUST_VERSION=1
FROM docker.io/library/rust:${RUST_VERSION}-alpine AS build
# musl-dev: the C runtime ring's C and assembly build against (statically).
# Its version follows the base image's Alpine release.
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin keysvc-check \
 && cp target/release/keysvc-check /keysvc-check \
 && /keysvc-check --version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /keysvc-check /usr/local/bin/keysvc-check
# nonroot, by number: Kubernetes' runAsNonRoot can only verify a numeric user.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/keysvc-check"]
CMD ["--help"]
