# Multi-stage build: the Rust toolchain builds both binaries; the runtime
# image is Debian with ffmpeg.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin vigil --bin migration

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/vigil --create-home vigil
COPY --from=build /src/target/release/vigil /src/target/release/migration /usr/local/bin/
USER vigil
WORKDIR /var/lib/vigil
ENV DATA_DIR=/var/lib/vigil HTTP_ADDR=0.0.0.0:8080 LOG_FORMAT=json
EXPOSE 8080
# /ready (database and object store answer), with bash's /dev/tcp: the slim
# image has no curl, and dash (/bin/sh) has no /dev/tcp.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s \
  CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /ready HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
CMD ["vigil"]
