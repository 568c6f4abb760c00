#!/usr/bin/env bash
# bench/probe/run.sh: failover's prober against prometheus-blackbox-exporter,
# on the same N local HTTP targets at the same rate, one after the other, each
# with a fresh connection per probe. Prints CPU-seconds per probe for both,
# their ratio, and our schedule jitter p50/p99.
#
#   N=200 RATE=2000 DUR=20s bench/probe/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-200}
RATE=${RATE:-2000}
DUR=${DUR:-20s}
PORT=${PORT:-19000}
BB_ADDR=${BB_ADDR:-127.0.0.2:9115} # not on the targets' address
WORKERS=${WORKERS:-64}
out=bench/out
mkdir -p "$out"

scripts/apt-ensure.sh prometheus-blackbox-exporter:prometheus-blackbox-exporter
go build -o "$out/probebench" ./bench/probe

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_port() { # host:port
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on $1" >&2
	return 1
}

"$out/probebench" targets -n "$N" -port "$PORT" &
pids+=($!)
wait_port "127.0.0.1:$((PORT + N - 1))"

echo "failover prober: $N targets, $RATE probes/s, $DUR" >&2
"$out/probebench" ours -n "$N" -port "$PORT" -rate "$RATE" -d "$DUR" -workers "$WORKERS" >"$out/ours.json"

cat >"$out/blackbox.yml" <<YML
modules:
  http_2xx:
    prober: http
    timeout: 2s
    http:
      preferred_ip_protocol: ip4
      valid_status_codes: [200]
YML
prometheus-blackbox-exporter --config.file="$out/blackbox.yml" --web.listen-address="$BB_ADDR" --log.level=warn &
bbpid=$!
pids+=("$bbpid")
wait_port "$BB_ADDR"

echo "blackbox_exporter: $N targets, $RATE probes/s, $DUR" >&2
"$out/probebench" blackbox -n "$N" -port "$PORT" -rate "$RATE" -d "$DUR" -workers "$WORKERS" \
	-exporter "$BB_ADDR" -pid "$bbpid" >"$out/blackbox.json"

"$out/probebench" report -rate "$RATE" "$out/ours.json" "$out/blackbox.json" | tee "$out/probe-report.md"
