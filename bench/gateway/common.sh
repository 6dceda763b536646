# Shared by run.sh and profile.sh (sourced, after `set -euo pipefail`):
# builds the gateway and the bench tool in release, makes a scratch
# directory, and kills every process listed in `pids` on exit.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bazaar/target}"

cd "$root"
cargo build -q --release -p bazaar-gateway --bin bazaar-gateway --example gateway_bench
bin="$CARGO_TARGET_DIR/release"
tool="$bin/examples/gateway_bench"

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

wait_for() { # URL [SECONDS, default 10]
  for _ in $(seq "$(( ${2:-10} * 10 ))"); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "not ready: $1" >&2
  return 1
}

# The in-memory upstream on ADDR (its pid in up_pid), with its descriptor
# set in $work/library.bin.
start_upstream() { # ADDR
  "$tool" descriptor-set --out "$work/library.bin"
  "$tool" upstream --listen "$1" &
  up_pid=$!
  pids+=("$up_pid")
}
