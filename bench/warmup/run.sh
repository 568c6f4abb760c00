#!/usr/bin/env bash
# bench/warmup/run.sh: internal/warmup against a local caching edge, run as
# its own process. Prints a table: URLs per second and CPU per URL of the
# warm-up at concurrency C on a cold edge (every URL a MISS that costs
# MISS_DELAY) and on the hot edge (the same URLs again, all HITs), and the
# achieved rate divided by the configured one for a run at RATE/s for DUR.
#
#   N=20000 C=64 RATE=500 DUR=10s bench/warmup/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-20000}
C=${C:-64}
RATE=${RATE:-500}
DUR=${DUR:-10s}
MISS_DELAY=${MISS_DELAY:-2ms}
SIZE=${SIZE:-4096}
EDGE=${EDGE:-127.0.0.1:19180}
out=bench/out
mkdir -p "$out"

go build -o "$out/warmbench" ./bench/warmup

pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

"$out/warmbench" edge -listen "$EDGE" -miss-delay "$MISS_DELAY" -size "$SIZE" &
pid=$!
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/${EDGE%:*}/${EDGE#*:}") 2>/dev/null && break
	sleep 0.1
done

echo "warm-up: $N URLs at concurrency $C, then $RATE/s for $DUR, edge $EDGE (MISS costs $MISS_DELAY, $SIZE-byte objects)" >&2
"$out/warmbench" run -edge "$EDGE" -n "$N" -c "$C" -rate "$RATE" -for "$DUR" | tee "$out/warmup-report.txt"
