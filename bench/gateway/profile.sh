#!/usr/bin/env bash
# Noise-robust per-request counts for the gateway on the benchmark's request
# (GET /v1/shelves/s1/books/b1 against the in-memory upstream): a shared box
# moves wall-clock figures by 2×, these barely move.
#
#   bench/gateway/profile.sh            # instructions, allocations, syscalls
#   REQUESTS=2000 CONCURRENCY=1 bench/gateway/profile.sh
#   KEEP_DUMP=/tmp/cg.out bench/gateway/profile.sh   # then callgrind_annotate
#
# - callgrind: the gateway runs under `valgrind --tool=callgrind`; counters
#   are zeroed after a warm-up, REQUESTS requests are made, the counters are
#   dumped: instructions (Ir) per request, and calls to malloc, calloc and
#   realloc per request (from the same dump's call counts);
# - strace: `strace -c -f` attached to a native gateway over REQUESTS
#   requests: system calls per request, by name.
#
# Loopback only; bounded by REQUESTS (and each load run by a time limit).
set -euo pipefail

REQUESTS="${REQUESTS:-2000}"
CONCURRENCY="${CONCURRENCY:-1}"
UPSTREAM=127.0.0.1:18561
GATEWAY=127.0.0.1:18090
# shellcheck source=bench/gateway/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

load() { # N
  "$tool" load --mode http --target "http://$GATEWAY" --concurrency "$CONCURRENCY" \
    --warmup 0s --duration 120s --max-requests "$1" --label load >"$work/load.txt"
  grep -q 'errors=0 ' "$work/load.txt" || { cat "$work/load.txt" >&2; exit 1; }
}
gateway_args=(--listen "$GATEWAY" --mesh-mode sidecar --descriptor-set "$work/library.bin"
  --upstream "http://$UPSTREAM")

start_upstream "$UPSTREAM"

# callgrind
RUST_LOG=warn ${GATEWAY_ENV:-} valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" \
  "$bin/bazaar-gateway" "${gateway_args[@]}" >"$work/vg.log" 2>&1 &
vg_pid=$!
pids+=($vg_pid)
wait_for "http://$GATEWAY/readyz" 60
load 200
callgrind_control -z "$vg_pid" >/dev/null 2>&1
load "$REQUESTS"
callgrind_control -d "$vg_pid" >/dev/null 2>&1
kill "$vg_pid"
wait "$vg_pid" 2>/dev/null || true
dump="$(ls "$work"/cg.*.[0-9]* 2>/dev/null | head -1)"
python3 - "$dump" "$REQUESTS" <<'EOF'
import re, sys
path, n = sys.argv[1], int(sys.argv[2])
names, total, allocs, current = {}, 0, 0, None
alloc_fns = {"malloc", "calloc", "realloc"}
for line in open(path, errors="replace"):
    if line.startswith("summary:") or line.startswith("totals:"):
        total = int(line.split()[1])
    m = re.match(r"fn=\((\d+)\) (.*)", line)
    if m:
        names[m.group(1)] = m.group(2).strip()
    m = re.match(r"cfn=\((\d+)\)(?: (.*))?", line)
    if m:
        if m.group(2):
            names[m.group(1)] = m.group(2).strip()
        current = names.get(m.group(1), "")
        continue
    if line.startswith("calls=") and current is not None:
        if current in alloc_fns:
            allocs += int(line[6:].split()[0])
        current = None
print(f"callgrind: {n} requests, Ir/req={total / n:.0f} allocs/req={allocs / n:.1f}")
EOF
# KEEP_DUMP=FILE keeps the dump for callgrind_annotate --inclusive=yes.
if [ -n "${KEEP_DUMP:-}" ]; then cp "$dump" "$KEEP_DUMP"; fi

# strace
RUST_LOG=warn ${GATEWAY_ENV:-} "$bin/bazaar-gateway" "${gateway_args[@]}" >"$work/gw.log" 2>&1 &
gw_pid=$!
pids+=($gw_pid)
wait_for "http://$GATEWAY/readyz" 20
load 200
strace -c -f -q -p "$gw_pid" -o "$work/strace.txt" &
st_pid=$!
sleep 1
load "$REQUESTS"
kill -INT "$st_pid"
wait "$st_pid" 2>/dev/null || true
awk -v n="$REQUESTS" '
  $NF ~ /^[a-z_0-9]+$/ && $(NF-1) ~ /^[0-9]+$|errors/ && $1 ~ /^[0-9.]+$/ {
    calls = ($5 ~ /^[0-9]+$/ && NF == 6) ? $4 : $4; name = $NF
    if (name != "total") { per[name] = calls / n; sum += calls / n }
  }
  END {
    printf "strace: %d requests, syscalls/req=%.2f:", n, sum
    for (k in per) if (per[k] >= 0.05) printf " %s=%.2f", k, per[k]
    printf "\n"
  }' "$work/strace.txt"
