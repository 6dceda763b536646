#!/usr/bin/env bash
# The gateway benchmark: GET of one resource through the REST gateway versus
# the same call over gRPC directly, on loopback, against an in-memory upstream
# (gateway/examples/gateway_bench.rs). Also through grpc-gateway v1 when
# bench/gateway/grpc-gateway/build.sh has built it.
#
#   bench/gateway/run.sh                 # 10 s per measurement
#   DURATION=5s CONCURRENCY="1 16" bench/gateway/run.sh
#   WRK_CONNECTIONS=50 WRK_DURATION=10s bench/gateway/run.sh   # wrk phase ("" skips it)
#
# Bounded: each measurement stops after DURATION (after a WARMUP) or
# MAX_REQUESTS, whichever comes first. Loopback only.
set -euo pipefail

DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
MAX_REQUESTS="${MAX_REQUESTS:-2000000}"
CONCURRENCY="${CONCURRENCY:-1 32}"
UPSTREAM=127.0.0.1:18551
GATEWAY=127.0.0.1:18080
GRPC_GATEWAY=127.0.0.1:18081
BARE=127.0.0.1:18552
WRK_CONNECTIONS="${WRK_CONNECTIONS-50}"
WRK_DURATION="${WRK_DURATION:-10s}"

# shellcheck source=bench/gateway/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
here="$root/bench/gateway"

start_upstream "$UPSTREAM"

# The floor: a bare hyper HTTP/1.1 round trip on this machine.
"$tool" bare --listen "$BARE" &
pids+=($!)

gateway_log_filter="${GATEWAY_LOG:-warn}"
# The upstream is a foreign plaintext service outside the mesh policy: the
# gateway reaches it as it would behind a sidecar.
RUST_LOG="$gateway_log_filter" "$bin/bazaar-gateway" --listen "$GATEWAY" \
  --mesh-mode sidecar --descriptor-set "$work/library.bin" --upstream "http://$UPSTREAM" >"$work/gateway.log" 2>&1 &
gw_pid=$!
pids+=($gw_pid)
wait_for "http://$GATEWAY/readyz"

grpc_gateway="$here/grpc-gateway/bin/library-grpc-gateway"
if [ -x "$grpc_gateway" ]; then
  "$grpc_gateway" -listen "$GRPC_GATEWAY" -upstream "$UPSTREAM" >"$work/grpc-gateway.log" 2>&1 &
  ggw_pid=$!
  pids+=($ggw_pid)
  wait_for "http://$GRPC_GATEWAY/v1/shelves/s1/books/b1"
fi
wait_for "http://$BARE/"

# cpu/req: CPU time of the upstream (direct gRPC) or of the gateway process
# per measured request, from /proc/PID/stat.
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg);" \
  "duration $DURATION after $WARMUP warm-up; gateway log filter $gateway_log_filter"
tck="$(getconf CLK_TCK)"
for c in $CONCURRENCY; do
  common=(--concurrency "$c" --duration "$DURATION" --warmup "$WARMUP" --max-requests "$MAX_REQUESTS" --clk-tck "$tck")
  "$tool" load --mode grpc --target "http://$UPSTREAM" --label "direct gRPC (tonic)" --cpu-of "$up_pid" "${common[@]}"
  "$tool" load --mode http --target "http://$BARE" --label "bare hyper HTTP/1.1" "${common[@]}"
  "$tool" load --mode http --target "http://$GATEWAY" --label "bazaar-gateway" --cpu-of "$gw_pid" "${common[@]}"
  if [ -x "$grpc_gateway" ]; then
    "$tool" load --mode http --target "http://$GRPC_GATEWAY" --label "grpc-gateway v1.6.4 (Go)" --cpu-of "$ggw_pid" "${common[@]}"
  fi
done

# wrk: HTTP/1.1 keep-alive closed loop, WRK_CONNECTIONS connections, two
# threads, after a 2 s warm-up; cpu/req from /proc/PID/stat as above, for
# the gateway, the upstream and wrk itself, and the whole machine's busy
# time (/proc/stat) per request and as a share of all cores: when the box
# is saturated, req/s is bounded by what the gateway, the upstream and the
# load client spend together.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
box_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
wrk_row() { # LABEL URL PID
  wrk -t2 -c"$WRK_CONNECTIONS" -d2s "$2" >/dev/null
  local before after up_before up_after box_before box_after out
  before="$(cpu_ticks "$3")"
  up_before="$(cpu_ticks "$up_pid")"
  box_before="$(box_ticks)"
  out="$(/usr/bin/time -f 'wrk-cpu %U %S' wrk -t2 -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" --latency "$2" 2>&1)"
  after="$(cpu_ticks "$3")"
  up_after="$(cpu_ticks "$up_pid")"
  box_after="$(box_ticks)"
  echo "$out" | awk -v label="$1" -v c="$WRK_CONNECTIONS" -v ticks="$((after - before))" -v tck="$tck" \
      -v up="$((up_after - up_before))" -v box="$box_before $box_after" '
    / requests in / { n = $1 }
    /Requests\/sec/ { rps = $2 }
    /Non-2xx|Socket errors/ { err = err " " $0 }
    $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
    $1 == "wrk-cpu" { wrk = $2 + $3 }
    END { split(box, b, " "); busy = b[3] - b[1]; all = b[4] - b[2]
          us = 1e6 / n
          printf "wrk %-24s c=%-3s requests=%-8s req/s=%9.0f p50=%s p99=%s cpu/req=%.0fus upstream=%.0fus wrk=%.0fus machine=%.0fus busy=%.0f%%%s\n",
          label, c, n, rps, p50, p99, ticks / tck * us, up / tck * us, wrk * us, busy / tck * us, 100 * busy / all, err }'
}
if [ -n "$WRK_CONNECTIONS" ] && command -v wrk >/dev/null; then
  wrk_row "bazaar-gateway" "http://$GATEWAY/v1/shelves/s1/books/b1" "$gw_pid"
  if [ -x "$grpc_gateway" ]; then
    wrk_row "grpc-gateway v1.6.4 (Go)" "http://$GRPC_GATEWAY/v1/shelves/s1/books/b1" "$ggw_pid"
  fi
fi
