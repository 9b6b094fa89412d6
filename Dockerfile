# The runtime image: `docker build -t runtime .` from the repository root.
# Run: docker run -e RUNTIME_DATABASE__URL=postgres://... -e RUNTIME_AUTH__JWT_SECRET=... runtime
#      (default: `start`, every app), or `... runtime start --app customers`,
#      or `... runtime migrate apply` (once per release, before the servers roll).

# --- builder -------------------------------------------------------------------------------
# rust:1 follows the latest stable release; the workspace needs Rust 1.94 or later
# (rust-version in Cargo.toml).
FROM rust:1-bookworm AS builder
WORKDIR /src
# The whole workspace: .cargo/config.toml carries the SQLite build flags, and the crates embed
# files next to their sources (rules.toml, SQL). .dockerignore keeps target/ and data/ out.
COPY . .
RUN cargo build --release --locked --bin runtime \
    && cp target/release/runtime /usr/local/bin/runtime

# --- runtime -------------------------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates unpinned on purpose: it should follow Debian's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 runtime \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin runtime
WORKDIR /app
COPY --from=builder /usr/local/bin/runtime /usr/local/bin/runtime
COPY migrations/ /app/migrations/
COPY deploy/runtime.toml /app/runtime.toml
# Owned by root, read-only to the runtime user: nothing in /app is written at run time
# (PostgreSQL only; the SQLite default would need a writable data/ volume).
USER 10001:10001
# 3042 composed API, 3043-3046 shared/customers/products/invoices, 9090 admin (probes, metrics).
EXPOSE 3042 3043 3044 3045 3046 9090
ENTRYPOINT ["runtime"]
CMD ["start"]
