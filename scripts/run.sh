#!/usr/bin/env bash
# `make run`: builds Bazaar's binaries (release) and hands over to the
# launcher, crates/devstack (`bazaar-devstack`), which starts every service
# and the REST gateway, prefixes their logs, waits until all are ready,
# prints the URLs and a curl journey, and stops them all on Ctrl-C.
# Arguments go to the launcher: `scripts/run.sh --help` lists them; e.g.
# `scripts/run.sh --observe` (`make run RUN_ARGS=--observe`) also writes a
# Prometheus scrape config for the stack and runs Prometheus when installed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo="${CARGO:-cargo}"

"$cargo" build --release --bins \
    -p bazaar-user -p bazaar-product -p bazaar-payment -p bazaar-order -p bazaar-notification \
    -p bazaar-devstack

# The gateway is optional: without it the gRPC services still start.
launcher_args=()
if ! "$cargo" build --release --bins -p bazaar-gateway; then
    echo "run: the REST gateway (bazaar-gateway) did not build; starting the gRPC services only" >&2
    launcher_args+=(--no-gateway)
fi

# cargo finds the target directory (CARGO_TARGET_DIR, config); the launcher
# takes the service binaries from the same directory as itself.
# Order events go to the local NATS when one answers (and none is named).
# The launcher passes BAZAAR__EVENTS__… to every service: order publishes
# there and notification consumes from there.
if [ -z "${BAZAAR__EVENTS__NATS_URL:-}" ] && (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
    export BAZAAR__EVENTS__NATS_URL=nats://127.0.0.1:4222
fi
if [ -n "${BAZAAR__EVENTS__NATS_URL:-}" ]; then
    echo "run: order events go to NATS JetStream at $BAZAAR__EVENTS__NATS_URL, and notifications come from them" >&2
else
    echo "run: no NATS on 127.0.0.1:4222; order events are not published and no notifications are made (set BAZAAR__EVENTS__NATS_URL)" >&2
fi

exec "$cargo" run --release --quiet -p bazaar-devstack -- ${launcher_args[@]+"${launcher_args[@]}"} "$@"
