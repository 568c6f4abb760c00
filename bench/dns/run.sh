#!/usr/bin/env bash
# bench/dns/run.sh: failover's builtin DNS server against BIND 9, Knot DNS
# and NSD, serving the same zone on 127.0.0.1, each driven in turn by dnsperf
# with the same query mix. Prints queries per second, latency, lost queries,
# server CPU per query and the ratio of builtin to each, writes the table to
# bench/out/dns.md and into the DNS section of bench/README.md.
#
#   bench/dns/run.sh                      # about 2 minutes
#   DUR=5 ROUNDS=12 bench/dns/run.sh      # longer, steadier
#   SERVERS="builtin bind" bench/dns/run.sh
#   PROFILE=1 bench/dns/run.sh            # also a CPU profile of builtin
#   NICE=-10 bench/dns/run.sh             # ahead of other work on a busy machine
#
# Every server gets WORKERS threads (default: the number of cores) and runs
# as the user nobody when the script runs as root. Only one server is under
# load at a time; the others sit idle. Each round runs the servers one after
# the other, in a rotated order, for DUR seconds each: many short rounds, so
# that other work on the machine, which comes and goes, falls on all of them
# alike. The table shows the median and the best round of each.
set -euo pipefail
cd "$(dirname "$0")/../.."

DUR=${DUR:-2}                   # seconds of dnsperf per server per round
ROUNDS=${ROUNDS:-10}            # rounds; the table shows medians and the best
WARMUP=${WARMUP:-1}             # seconds of unreported load before round 1
WORKERS=${WORKERS:-$(nproc)}    # server threads (builtin: GOMAXPROCS and UDP sockets)
CLIENTS=${CLIENTS:-16}          # dnsperf -c: UDP sockets
THREADS=${THREADS:-2}           # dnsperf -T
OUTSTANDING=${OUTSTANDING:-200} # dnsperf -q: queries in flight
PORT=${PORT:-15350}             # builtin PORT, bind PORT+1, knot PORT+2, nsd PORT+3
SERVERS=${SERVERS:-builtin bind knot nsd}
PROFILE=${PROFILE:-0}
NICE=${NICE:-0} # e.g. -10 (as root): servers and dnsperf ahead of other work
README=${README:-bench/README.md}
out=bench/out
mkdir -p "$out"

scripts/apt-ensure.sh dnsperf:dnsperf nsd:nsd named:bind9 knotd:knot
if [ "$NICE" != 0 ] && ! renice -n "$NICE" -p $$ >/dev/null; then
	echo "cannot renice to $NICE; running at the usual priority" >&2
	NICE=0
fi

work=$(mktemp -d /tmp/dnsbench.XXXXXX)
chmod 755 "$work"
declare -A pid=() port=() version=()
perf= # the dnsperf running, if any
cleanup() {
	local p
	for p in $perf "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pid[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

# as_nobody prefixes a server's command line: the server runs as nobody when
# we are root, else as ourselves. It is a command, not a function, so that $!
# is the server's pid.
as_nobody=()
[ "$(id -u)" != 0 ] || as_nobody=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --)

# serverdir makes a working directory that the server may write to.
serverdir() {
	mkdir -p "$work/$1"
	[ "$(id -u)" != 0 ] || chown nobody:"$(id -g nobody)" "$work/$1"
	echo "$work/$1"
}

# The zone. builtinsrv publishes the same one (bench/dns/builtinsrv), except
# that it holds www's three addresses as three weighted targets (25/25/50)
# and answers one of them per query; static servers answer all three.
zonefile() {
	cat <<'ZONE'
$ORIGIN bench.test.
$TTL 3600
@    3600 IN SOA ns1.bench.example. hostmaster.bench.test. 1 3600 600 604800 60
@    3600 IN NS  ns1.bench.example.
@    3600 IN NS  ns2.bench.example.
www  60   IN A   192.0.2.1
www  60   IN A   192.0.2.2
www  60   IN A   192.0.2.3
ZONE
}

# The query mix, 100 lines that dnsperf loops over: 80% www A, 10% www AAAA
# (NODATA), 5% names that do not exist (NXDOMAIN), 3% SOA and 2% NS at the
# apex, interleaved.
queries() {
	local i
	for i in $(seq 0 99); do
		case $((i % 20)) in
		3 | 13) echo "www.bench.test AAAA" ;;
		7) echo "nx$i.bench.test A" ;;
		17)
			case $((i % 100)) in
			17 | 57) echo "bench.test NS" ;;
			*) echo "bench.test SOA" ;;
			esac
			;;
		*) echo "www.bench.test A" ;;
		esac
	done
}

start_builtin() {
	local dir args=()
	dir=$(serverdir builtin)
	go build -o "$work/builtinsrv" ./bench/dns/builtinsrv
	[ "$PROFILE" = 0 ] || args=(-cpuprofile "$dir/cpu.pprof")
	GOMAXPROCS=$WORKERS "${as_nobody[@]}" "$work/builtinsrv" -listen "127.0.0.1:$1" -sockets "$WORKERS" "${args[@]}" \
		>"$dir/log" 2>&1 &
	pid[builtin]=$!
	version[builtin]="failover $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- internal/dnsswitch/builtin || echo +dirty), $(go env GOVERSION)"
}

start_bind() {
	local dir
	dir=$(serverdir bind)
	zonefile >"$dir/bench.zone"
	cat >"$dir/named.conf" <<CONF
options {
	directory "$dir";
	pid-file none;
	session-keyfile none;
	listen-on port $1 { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
	allow-transfer { none; };
	minimal-responses yes;
};
controls { };
zone "bench.test." {
	type primary;
	file "$dir/bench.zone";
};
CONF
	"${as_nobody[@]}" named -g -4 -n "$WORKERS" -c "$dir/named.conf" >"$dir/log" 2>&1 &
	pid[bind]=$!
	version[bind]=$(named -v | sed 's/ (.*//')
}

start_knot() {
	local dir
	dir=$(serverdir knot)
	mkdir -p "$dir/db"
	zonefile >"$dir/bench.zone"
	cat >"$dir/knot.conf" <<CONF
server:
    rundir: "$dir"
    listen: 127.0.0.1@$1
    udp-workers: $WORKERS
    tcp-workers: $WORKERS
    background-workers: 1

control:
    listen: "$dir/knot.sock"

database:
    storage: "$dir/db"

log:
  - target: stderr
    any: warning

template:
  - id: default
    storage: "$dir"
    zonefile-sync: -1
    journal-content: none

zone:
  - domain: bench.test.
    file: bench.zone
CONF
	[ "$(id -u)" != 0 ] || chown -R nobody:"$(id -g nobody)" "$dir"
	"${as_nobody[@]}" knotd -c "$dir/knot.conf" >"$dir/log" 2>&1 &
	pid[knot]=$!
	version[knot]="Knot DNS $(knotd -V | sed 's/.*version //')"
}

start_nsd() {
	local dir
	dir=$(serverdir nsd)
	zonefile >"$dir/bench.zone"
	cat >"$dir/nsd.conf" <<CONF
server:
    ip-address: 127.0.0.1
    port: $1
    do-ip6: no
    server-count: $WORKERS
    reuseport: yes
    username: ""
    chroot: ""
    zonesdir: "$dir"
    database: ""
    zonelistfile: "$dir/zone.list"
    xfrdfile: "$dir/xfrd.state"
    xfrdir: "$dir"
    pidfile: "$dir/nsd.pid"
    minimal-responses: yes
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
    verbosity: 0

remote-control:
    control-enable: no

zone:
    name: bench.test.
    zonefile: bench.zone
CONF
	[ "$(id -u)" != 0 ] || chown -R nobody:"$(id -g nobody)" "$dir"
	"${as_nobody[@]}" nsd -d -c "$dir/nsd.conf" >"$dir/log" 2>&1 &
	pid[nsd]=$!
	version[nsd]=$(nsd -v 2>&1 | sed -n '1s/ version / /p')
}

# ready waits until the server on port $2 answers www A with NOERROR.
ready() {
	local i
	echo "www.bench.test A" >"$work/one.txt"
	for i in $(seq 50); do
		if dnsperf -s 127.0.0.1 -p "$2" -d "$work/one.txt" -n 1 -t 1 2>/dev/null | grep 'NOERROR 1 ' >/dev/null; then
			return 0
		fi
		if ! kill -0 "${pid[$1]}" 2>/dev/null; then
			echo "$1 exited:" >&2
			cat "$work/$1/log" >&2
			return 1
		fi
		sleep 0.2
	done
	echo "$1 does not answer on 127.0.0.1:$2" >&2
	cat "$work/$1/log" >&2
	return 1
}

# cpu_ticks prints the CPU time, in clock ticks, used so far by a process
# and its descendants (NSD serves from grandchildren).
cpu_ticks() {
	local s f c t
	s=$(cat "/proc/$1/stat" 2>/dev/null) || {
		echo 0
		return
	}
	s=${s##*) } # fields from the third on; utime and stime are the 12th and 13th
	read -r -a f <<<"$s"
	t=$((f[11] + f[12]))
	for c in $(pgrep -P "$1" || true); do t=$((t + $(cpu_ticks "$c"))); done
	echo "$t"
}

dnsperf_args=(-s 127.0.0.1 -d "$work/queries.txt" -e -c "$CLIENTS" -T "$THREADS" -q "$OUTSTANDING" -t 2)
shown="dnsperf ${dnsperf_args[*]//$work\//} -p PORT -l $DUR"

# dnsperf runs dnsperf in the background and waits for it, so that a signal
# stops the script (and, through cleanup, dnsperf) at once.
dnsperf() {
	local rc=0
	command dnsperf "$@" &
	perf=$!
	wait "$perf" || rc=$?
	perf=
	return "$rc"
}

# measure runs dnsperf against one server for DUR seconds (after WARMUP
# seconds in the first round) and appends a line to the results:
# server round qps avg_s stddev_s sent lost completed cpu_ticks response_bytes rcodes
measure() {
	local name=$1 round=$2 p=${port[$1]} t0 t1 log line qps
	if [ "$round" = 1 ] && [ "$WARMUP" != 0 ]; then
		dnsperf "${dnsperf_args[@]}" -p "$p" -l "$WARMUP" >/dev/null 2>&1
	fi
	log="$work/dnsperf-$name-$round.txt"
	t0=$(cpu_ticks "${pid[$name]}")
	dnsperf "${dnsperf_args[@]}" -p "$p" -l "$DUR" >"$log" 2>&1
	t1=$(cpu_ticks "${pid[$name]}")
	line=$(awk -v s="$name" -v r="$round" -v t=$((t1 - t0)) '
		/Queries sent:/ { sent = $3 }
		/Queries completed:/ { done = $3 }
		/Queries lost:/ { lost = $3 }
		/Response codes:/ { sub(/^ *Response codes: */, ""); gsub(/ /, "_"); rc = $0 }
		/Average packet size:/ { size = $7 }
		/Queries per second:/ { qps = $4 }
		/Average Latency/ { avg = $4 }
		/Latency StdDev/ { sd = $4 }
		END { if (qps != "" && done > 0) print s, r, qps, avg, sd, sent, lost, done, t, size, rc }
	' "$log")
	if [ -z "$line" ]; then
		echo "dnsperf against $name failed:" >&2
		cat "$log" >&2
		exit 1
	fi
	echo "$line" >>"$work/results"
	read -r _ _ qps _ <<<"$line"
	printf '  round %2d %-8s %8.0f qps\n' "$round" "$name" "$qps" >&2
}

queries >"$work/queries.txt"
cp "$work/queries.txt" "$out/dns-queries.txt"
read -r -a servers <<<"$SERVERS"
i=0
for s in "${servers[@]}"; do
	declare -F "start_$s" >/dev/null || {
		echo "unknown server $s (want builtin, bind, knot, nsd)" >&2
		exit 2
	}
	port[$s]=$((PORT + i))
	i=$((i + 1))
done
for s in "${servers[@]}"; do "start_$s" "${port[$s]}"; done
for s in "${servers[@]}"; do ready "$s" "${port[$s]}"; done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "$shown; $ROUNDS rounds; load average $load_before" >&2
: >"$work/results"
for round in $(seq "$ROUNDS"); do
	n=${#servers[@]}
	for j in $(seq 0 $((n - 1))); do
		measure "${servers[$(((j + round - 1) % n))]}" "$round"
	done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
rm -rf "$out/dnsperf"
mkdir "$out/dnsperf"
cp "$work"/dnsperf-*.txt "$out/dnsperf/"

if [ "$PROFILE" != 0 ] && [ -n "${pid[builtin]:-}" ]; then
	kill "${pid[builtin]}"
	wait "${pid[builtin]}" || true
	unset 'pid[builtin]'
	cp "$work/builtin/cpu.pprof" "$out/builtin-cpu.pprof"
	go tool pprof -top -nodecount=40 "$work/builtinsrv" "$out/builtin-cpu.pprof" >"$out/builtin-cpu.txt" 2>/dev/null
	echo "builtin CPU profile: $out/builtin-cpu.pprof, top: $out/builtin-cpu.txt" >&2
fi

# report prints the table: per server, the median and the best of its
# rounds' qps, the median of their latencies, and the totals of lost
# queries and CPU time. The ratio is builtin's median qps to the server's.
report() {
	local s
	for s in "${servers[@]}"; do printf '%s\t%s\n' "$s" "${version[$s]}"; done >"$work/versions"
	awk -v hz="$(getconf CLK_TCK)" -v order="${servers[*]}" '
		function median(list,   v, n, i, j, t) {
			n = split(list, v, " ")
			for (i = 2; i <= n; i++)
				for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
			return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		}
		FNR == NR { split($0, f, "\t"); version[f[1]] = f[2]; next }
		{
			s = $1
			qps[s] = qps[s] " " sprintf("%.0f", $3); avg[s] = avg[s] " " $4; sd[s] = sd[s] " " $5
			sent[s] += $6; lost[s] += $7; done[s] += $8; ticks[s] += $9; size[s] = $10
			if ($3 + 0 > best[s]) best[s] = $3 + 0
			rc[s] = rc[s] " " $11
		}
		END {
			print "| server | version | median qps | best qps | avg latency ms | latency stddev ms | lost | server CPU µs/query | avg response bytes | builtin/server (median qps) |"
			print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
			n = split(order, names, " ")
			base = ("builtin" in best) ? median(qps["builtin"]) : 0
			for (i = 1; i <= n; i++) {
				s = names[i]
				m = median(qps[s])
				printf "| %s | %s | %.0f | %.0f | %.3f | %.3f | %d of %d | %.2f | %s | %s |\n", s, version[s], m, best[s],
					median(avg[s]) * 1000, median(sd[s]) * 1000, lost[s], sent[s], ticks[s] / hz * 1e6 / done[s], size[s],
					(base > 0 ? sprintf("%.2f", base / m) : "n/a")
			}
			print ""
			print "Every round (qps):"
			print ""
			for (i = 1; i <= n; i++) {
				s = names[i]
				printf "- %s:%s\n", s, qps[s]
			}
			print ""
			print "Response codes, last round:"
			print ""
			for (i = 1; i <= n; i++) {
				s = names[i]
				k = split(rc[s], v, " ")
				gsub(/_/, " ", v[k])
				printf "- %s: %s\n", s, v[k]
			}
		}
	' "$work/versions" "$work/results"
}

cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
{
	echo "$(date -u +'%Y-%m-%d %H:%M UTC'), $(nproc) cores ($cpu), Linux $(uname -r)."
	echo "Load average (1, 5, 15 min) before: $load_before; after: $load_after."
	echo "\`$shown\`, $ROUNDS rounds (${WARMUP}s of warm-up before the first); $WORKERS server threads each; nice $NICE."
	echo
	report
} | tee "$out/dns.md"

# Replace the results block in the DNS section of the README, or add a
# section holding one when there is none. Only the lines between the markers
# change.
begin='<!-- dns-results:begin (bench/dns/run.sh writes this block) -->'
end='<!-- dns-results:end -->'
[ -f "$README" ] || printf '# Benchmarks\n' >"$README"
if ! grep -qF "$begin" "$README"; then
	printf '\n## DNS\n\n%s\n%s\n' "$begin" "$end" >>"$README"
fi
awk -v b="$begin" -v e="$end" -v f="$out/dns.md" '
	$0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
	$0 == e { skip = 0 }
	!skip
' "$README" >"$work/README.md"
cat "$work/README.md" >"$README"
echo "wrote $out/dns.md and the DNS section of $README" >&2
