#!/bin/sh
# metrics-bench.sh - what a Prometheus scrape of the milter's /metrics
# costs, on demand (not part of make check; tests/milter/metrics.sh has
# a short version).
#
#   sh bench/metrics-bench.sh [SCRAPES]   (default 1000; BUILD = a
#                                          configured build directory,
#                                          default _build/bench)
#
# One portmilter with the shipped six ports and metrics_listen on a free
# loopback port (no database: the shipper only retries), and some traffic
# first (miltertest: on each of the six ports, accepted sessions in TLSv1.3
# and TLSv1.2, a refusal without TLS, an AUTH without TLS, a relay
# refusal, a connection without a transaction; 5 rounds), so that every
# port has its series. Then SCRAPES GETs of /metrics with curl:
#   1. keep-alive: one curl, one connection (as Prometheus scrapes);
#   2. one curl process and one TCP connection a scrape.
# For each: the median and the 99th percentile of curl's time_total (ms,
# client side), and the milter's CPU per scrape (its user + system time
# over the run, less what it used idle for as long, over SCRAPES; 10 ms
# clock ticks, so SCRAPES of 1000 give about 10 us resolution). Prints the
# size of one scrape, its number of samples, and the load average.
set -eu
N=${1:-1000}
case $N in '' | *[!0-9]*) echo "usage: $0 [SCRAPES]" >&2; exit 2 ;; esac
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/_build/bench}
top_srcdir=$top top_builddir=$build
MILTERTEST=${MILTERTEST:-$(command -v miltertest || true)}
export top_srcdir top_builddir MILTERTEST
if [ ! -x "$build/milter/portmilter" ] || [ ! -f "$build/Makefile" ]; then
	mkdir -p "$build"
	(cd "$build" && "$top/configure" >/dev/null)
fi
make -C "$build" -j2 all >/dev/null
for tool in curl python3; do
	command -v "$tool" >/dev/null 2>&1 || { echo "metrics-bench: $tool is needed" >&2; exit 2; }
done
set +e	# the test libraries return non-zero as a matter of course
. "$top/tests/milter/lib.sh"
. "$top/bench/lib.sh"
# A missing tool fails a bench (tap_skip_all, tests/lib/tap.sh); its
# reason on stderr, stdout is the figures.
# shellcheck disable=SC2034 # read by tap_skip_all (tests/lib/tap.sh)
TAP_SKIP_STATUS=1
pm_require >&2
pm_tmp_setup

MPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PM_SOCKET=unix:$PM_TMP/pm.sock
PM_LOG=$PM_TMP/portmilter.log
export PM_SOCKET PM_LOG
URL=http://127.0.0.1:$MPORT/metrics
printf 'metrics_listen = 127.0.0.1:%s\n' "$MPORT" >"$PM_TMP/head"
pm_conf_build "$PM_TMP/pm.conf" "$PM_TMP/head" &&
	pm_start "$PM_TMP/pm.conf" "$PM_SOCKET" "$PM_LOG" || {
	echo "FAILED: portmilter did not start"; cat "$PM_LOG"; exit 1; }

cat >"$PM_TMP/traffic.lua" <<'EOF'
dofile(os.getenv("top_srcdir") .. "/tests/milter/lib.lua")
for round = 1, 5 do
	for _, port in ipairs({ 25, 587, 5870, 12345, 465, 4650 }) do
		local t = "b" .. round .. "-" .. port
		case(t, function()
			session({ port = port, tls = "TLSv1.3", auth = port ~= 25,
				  user = "u" .. round .. "@example.test",
				  rcpts = { LOCAL_RCPT }, eom = true })
			session({ port = port, tls = "TLSv1.2", auth = port ~= 25,
				  rcpts = { LOCAL_RCPT }, eom = true })
			session({ port = port, rcpts = { LOCAL_RCPT }, eom = true })
			session({ port = port, auth = true, user = "x@example.test" })
			session({ port = port, tls = "TLSv1.3",
				  rcpts = { tag_remote(t) } })
			session({ port = port, mail = false })
		end)
	end
end
EOF
"$MILTERTEST" -s "$PM_TMP/traffic.lua" >"$PM_TMP/traffic.out" 2>&1 ||
	{ echo "FAILED: the traffic"; cat "$PM_TMP/traffic.out"; exit 1; }
curl -sf "$URL" >"$PM_TMP/one" || { echo "FAILED: GET $URL"; exit 1; }
echo "# traffic: $(grep -c '^ok' "$PM_TMP/traffic.out") rounds of 6 sessions played;" \
	"portmilter_sessions_total: $(awk '/^portmilter_sessions_total/ { s += $2 } END { print s }' "$PM_TMP/one")"
echo "# one scrape: $(wc -c <"$PM_TMP/one") bytes, $(grep -vc '^#' "$PM_TMP/one") samples," \
	"$(grep -c '^# TYPE' "$PM_TMP/one") metric families"

# idle_cpu_per_ms: the milter's CPU (ms) per ms of wall time, idle.
t0=$(bench_ms) c0=$(proc_cpu_ms "$PM_PID")
sleep 5
idle_num=$(($(proc_cpu_ms "$PM_PID") - c0)) idle_den=$(($(bench_ms) - t0))

# stats FILE: median and p99 of the seconds in FILE, as ms
stats() {
	sort -n "$1" | awk '{ v[NR] = $1 * 1000 }
		END { m = v[int((NR + 1) / 2)]; p = v[int(NR * 0.99 + 0.999)]
		      printf "median %.3f ms, p99 %.3f ms", m, p }'
}
# run LABEL: time what "scrapes" does, then print the figures
run() {
	_t0=$(bench_ms) _c0=$(proc_cpu_ms "$PM_PID")
	scrapes >"$PM_TMP/times"
	_wall=$(($(bench_ms) - _t0))
	_cpu=$(($(proc_cpu_ms "$PM_PID") - _c0))
	_got=$(wc -l <"$PM_TMP/times")
	[ "$_got" -eq "$N" ] || { echo "FAILED: $1: $_got answers of $N"; exit 1; }
	awk -v c="$_cpu" -v w="$_wall" -v in_="$idle_num" -v id="$idle_den" -v n="$N" \
		-v l="$1" -v s="$(stats "$PM_TMP/times")" 'BEGIN {
		net = c - w * in_ / id; if (net < 0) net = 0
		printf "%-36s %s; %d scrapes in %d ms; milter CPU %d ms (idle %.0f), %.1f us a scrape\n",
			l, s, n, w, c, w * in_ / id, net * 1000 / n }'
}
keepalive() {
	_i=0
	while [ "$_i" -lt "$N" ]; do
		printf 'url = "%s"\noutput = "/dev/null"\n' "$URL"
		_i=$((_i + 1))
	done >"$PM_TMP/curl.cfg"
	curl -sf -K "$PM_TMP/curl.cfg" -w '%{time_total}\n'
}
fresh() {
	_i=0
	while [ "$_i" -lt "$N" ]; do
		curl -sf -o /dev/null -w '%{time_total}\n' "$URL"
		_i=$((_i + 1))
	done
}
echo "# $N scrapes each; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
scrapes() { keepalive; }
run "keep-alive (one connection)"
scrapes() { fresh; }
run "a connection and a curl per scrape"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
pm_stop
