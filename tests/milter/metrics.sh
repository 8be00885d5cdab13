#!/bin/sh
# metrics.sh - the milter's /metrics (metrics_listen) with the real
# Prometheus server (POSIX sh, TAP).
#
# A private portmilter with metrics_listen on a free loopback port plays
# the known sessions of tests/milter/metrics-traffic.lua (miltertest); then:
# promtool check metrics on /metrics; every count equal to what was sent;
# a real Prometheus (Debian prometheus) scraping it every second on
# loopback, its HTTP query API giving the same counts; a SIGHUP counted
# as a reload, a SIGHUP with a broken file as a failed one; scrapers that
# connect and send nothing do not stall a milter session, nor do hostile
# ones (pipelined requests never read, a 64 kB header, a 4 MB POST, a
# flood of connections), and the daemon's memory does not grow with
# 1,000 scrapes after them; the cost of a scrape with the six shipped
# ports; the
# example alerting rules (doc/prometheus/) through promtool check rules
# and promtool test rules. Needs miltertest, prometheus, promtool and
# python3; without them: skipped.
#
# Environment: top_srcdir, top_builddir (absolute), MILTERTEST.

set -u

# shellcheck source=tests/milter/lib.sh
. "${top_srcdir:?top_srcdir must be set}/tests/milter/lib.sh"

pm_require
for tool in prometheus promtool python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		tap_skip_all "$tool not installed (Debian prometheus, python3)"
	fi
done
pm_tmp_setup

PROM_PID=
# shellcheck disable=SC2034 # read by pm_cleanup (lib.sh)
PM_CLEANUP_HOOK='[ -n "$PROM_PID" ] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null'

# free_port: a TCP port free on 127.0.0.1 now (the kernel's choice).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# get URL: the body, or nothing and status 1.
get() {
	python3 - "$1" <<'EOF'
import sys, urllib.request
try:
    sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())
except Exception as e:
    sys.stderr.write('%s\n' % e)
    sys.exit(1)
EOF
}

MPORT=$(free_port)
PROM_PORT=$(free_port)
PM_SOCKET=unix:$PM_TMP/pm.sock
PM_LOG=$PM_TMP/portmilter.log
export PM_SOCKET PM_LOG
printf 'metrics_listen = 127.0.0.1:%s\n' "$MPORT" >"$PM_TMP/head"
if ! pm_conf_build "$PM_TMP/pm.conf" "$PM_TMP/head" ||
	! pm_start "$PM_TMP/pm.conf" "$PM_SOCKET" "$PM_LOG"; then
	echo "Bail out! portmilter did not start"
	tap_diag_file "$PM_LOG"
	exit 99
fi
URL=http://127.0.0.1:$MPORT/metrics

# ---- /metrics ------------------------------------------------------------------

get "$URL" >"$PM_TMP/m0" 2>&1 && grep -q '^portmilter_build_info{version="' "$PM_TMP/m0"
tap_ok $? "GET /metrics on 127.0.0.1:$MPORT answers, with portmilter_build_info" ||
	tap_diag_file "$PM_TMP/m0"
get "http://127.0.0.1:$MPORT/other" >"$PM_TMP/m404" 2>&1
grep -q '404' "$PM_TMP/m404"
tap_ok $? "any other path: 404" || tap_diag_file "$PM_TMP/m404"

PM_TAP_N=$tap_n "$MILTERTEST" -s "$top_srcdir/tests/milter/metrics-traffic.lua" \
	>"$PM_TMP/mt.out" 2>&1
mt_status=$?
tap_n=$(cat "$PM_TMP/count" 2>/dev/null || echo "$tap_n")
cat "$PM_TMP/mt.out"
tap_ok "$mt_status" "miltertest played tests/milter/metrics-traffic.lua to its end"

get "$URL" >"$PM_TMP/m1" 2>&1
promtool check metrics <"$PM_TMP/m1" >"$PM_TMP/lint" 2>&1
tap_ok $? "promtool check metrics: no problem" || tap_diag_file "$PM_TMP/lint"

# What metrics-traffic.lua sent, by hand: 587 three accepted in TLSv1.3, one
# without TLS (require_tls), one AUTH without TLS (tls_before_auth, an
# exposure); 465 one accepted in TLSv1.2; 25 one relay refusal and one
# transaction whose only recipient Postfix refused (rejected,
# postfix_rejected); 5870 one accepted in TLSv1.3; 12345 a connection
# without a transaction.
cat >"$PM_TMP/want" <<'EOF'
portmilter_sessions_total{port="12345"} 1
portmilter_sessions_total{port="25"} 2
portmilter_sessions_total{port="465"} 1
portmilter_sessions_total{port="5870"} 1
portmilter_sessions_total{port="587"} 5
portmilter_transactions_total{port="25",verdict="rejected"} 2
portmilter_transactions_total{port="465",verdict="accepted"} 1
portmilter_transactions_total{port="5870",verdict="accepted"} 1
portmilter_transactions_total{port="587",verdict="accepted"} 3
portmilter_transactions_total{port="587",verdict="rejected"} 2
portmilter_transactions_tls_total{port="25",tls_version="none"} 2
portmilter_transactions_tls_total{port="465",tls_version="TLSv1.2"} 1
portmilter_transactions_tls_total{port="5870",tls_version="TLSv1.3"} 1
portmilter_transactions_tls_total{port="587",tls_version="TLSv1.3"} 3
portmilter_transactions_tls_total{port="587",tls_version="none"} 2
portmilter_refusals_total{port="25",rule="postfix_rejected"} 1
portmilter_refusals_total{port="25",rule="relay"} 1
portmilter_refusals_total{port="587",rule="require_tls"} 1
portmilter_refusals_total{port="587",rule="tls_before_auth"} 1
portmilter_credential_exposures_total{port="587"} 1
portmilter_events_journaled_total 10
portmilter_events_not_journaled_total 0
portmilter_shipper_up 0
portmilter_sessions_active 0
EOF
grep -E '^portmilter_(sessions|transactions|refusals|credential|events|shipper_up)' "$PM_TMP/m1" |
	grep -v ' 0$' >"$PM_TMP/got.nz"
{ cat "$PM_TMP/got.nz"; grep -E '^portmilter_(events_not_journaled_total|shipper_up|sessions_active) ' "$PM_TMP/m1"; } |
	sort -u >"$PM_TMP/got"
sort "$PM_TMP/want" >"$PM_TMP/want.s"
cmp -s "$PM_TMP/want.s" "$PM_TMP/got"
tap_ok $? "every non-zero count on /metrics is what was sent (sessions, verdicts, TLS versions, rules, exposure, journal), and nothing else" ||
	diff "$PM_TMP/want.s" "$PM_TMP/got" | tap_diag_file -

# ---- the real Prometheus ------------------------------------------------------

cat >"$PM_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: portmilter
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOF
prometheus --config.file="$PM_TMP/prometheus.yml" \
	--storage.tsdb.path="$PM_TMP/tsdb" \
	--web.listen-address="127.0.0.1:$PROM_PORT" \
	>"$PM_TMP/prometheus.log" 2>&1 &
PROM_PID=$!
# q PROMQL: the value of the query's only sample ("" if none).
q() {
	python3 - "$PROM_PORT" "$1" <<'EOF'
import json, sys, urllib.parse, urllib.request
url = 'http://127.0.0.1:%s/api/v1/query?%s' % (
    sys.argv[1], urllib.parse.urlencode({'query': sys.argv[2]}))
try:
    r = json.load(urllib.request.urlopen(url, timeout=5))
except Exception:
    sys.exit(0)
res = r.get('data', {}).get('result', [])
if len(res) == 1:
    print(res[0]['value'][1])
EOF
}
i=0
while [ "$(q 'portmilter_events_journaled_total')" != 10 ] && [ "$i" -lt 60 ]; do
	sleep 1
	i=$((i + 1))
done
[ "$(q 'up{job="portmilter"}')" = 1 ]
tap_ok $? "Prometheus (127.0.0.1:$PROM_PORT) scrapes the milter: up = 1 (after ${i} s)" ||
	tail -n 20 "$PM_TMP/prometheus.log" | tap_diag_file -

bad=
while read -r expr want; do
	got=$(q "$expr")
	[ "$got" = "$want" ] || bad="$bad [$expr: $got, not $want]"
done <<'EOF'
sum(portmilter_sessions_total) 10
portmilter_transactions_total{port="587",verdict="accepted"} 3
sum(portmilter_transactions_total{verdict="rejected"}) 4
sum(portmilter_transactions_total) 9
portmilter_transactions_tls_total{port="465",tls_version="TLSv1.2"} 1
sum(portmilter_transactions_tls_total{tls_version="none"}) 4
sum(portmilter_refusals_total) 4
portmilter_refusals_total{port="25",rule="postfix_rejected"} 1
portmilter_refusals_total{port="25",rule="postfix_rejected"} 1
portmilter_refusals_total{port="25",rule="relay"} 1
sum(portmilter_credential_exposures_total) 1
portmilter_events_journaled_total 10
portmilter_shipper_up 0
EOF
[ -z "$bad" ]
tap_ok $? "Prometheus's query API gives the counts that were sent (12 queries)" ||
	tap_diag "$bad"

# ---- reloads --------------------------------------------------------------------

mark=$(wc -c <"$PM_LOG")
kill -HUP "$PM_PID"
pm_wait_log "$PM_LOG" "reloaded" 50
get "$URL" | grep -q '^portmilter_config_reloads_total{result="success"} 1$'
tap_ok $? "a SIGHUP reload: portmilter_config_reloads_total{result=\"success\"} 1" ||
	tail -c +"$((mark + 1))" "$PM_LOG" | tap_diag_file -
cp "$PM_TMP/pm.conf" "$PM_TMP/pm.conf.good"
echo "no_such_key = 1" >>"$PM_TMP/pm.conf"
mark=$(wc -c <"$PM_LOG")
kill -HUP "$PM_PID"
i=0
until get "$URL" 2>/dev/null | grep -q '^portmilter_config_reloads_total{result="failure"} 1$'; do
	i=$((i + 1))
	[ "$i" -lt 50 ] || break
	sleep 0.1
done
get "$URL" >"$PM_TMP/m-hup" 2>&1
grep -q '^portmilter_config_reloads_total{result="failure"} 1$' "$PM_TMP/m-hup" &&
	grep -q '^portmilter_config_reloads_total{result="success"} 1$' "$PM_TMP/m-hup"
tap_ok $? "a SIGHUP with an unknown key in the file: portmilter_config_reloads_total{result=\"failure\"} 1, success still 1" ||
	{ grep reload "$PM_TMP/m-hup" | tap_diag_file -; tail -c +"$((mark + 1))" "$PM_LOG" | tap_diag_file -; }
cp "$PM_TMP/pm.conf.good" "$PM_TMP/pm.conf"

# ---- slow scrapers -------------------------------------------------------------

# 12 connections (more than the 4 served at once) that send half a
# request and wait: a milter session meanwhile answers at once.
python3 - "$MPORT" "$PM_TMP/hold" <<'EOF' &
import os, socket, sys, time
socks = []
for _ in range(12):
    try:
        s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=2)
        s.send(b'GET /metr')
        socks.append(s)
    except OSError:
        pass
open(sys.argv[2], 'w').write('%d\n' % len(socks))
time.sleep(8)
EOF
hold_pid=$!
i=0
while [ ! -s "$PM_TMP/hold" ] && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
cat >"$PM_TMP/one.lua" <<'EOF'
dofile(os.getenv("top_srcdir") .. "/tests/milter/lib.lua")
case("a session while scrapers hang", function()
	local r = session({ port = 587, tls = "TLSv1.3", auth = true,
			    rcpts = { LOCAL_RCPT }, eom = true })
	check(r.eom == SMFIR_CONTINUE or r.eom == SMFIR_ACCEPT, "EOM: %s", reply_name(r.eom))
end)
EOF
t0=$(date +%s%N)
PM_TAP_N=$tap_n "$MILTERTEST" -s "$PM_TMP/one.lua" >"$PM_TMP/one.out" 2>&1
st=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$st" -eq 0 ] && grep -q '^ok' "$PM_TMP/one.out" && [ "$ms" -lt 2000 ]
tap_ok $? "with $(cat "$PM_TMP/hold") scrapers hanging on /metrics, a milter session takes ${ms} ms" ||
	tap_diag_file "$PM_TMP/one.out"
wait "$hold_pid"
i=0
until get "$URL" >"$PM_TMP/m2" 2>/dev/null; do
	i=$((i + 1))
	[ "$i" -lt 30 ] || break
	sleep 1
done
grep -q '^portmilter_transactions_total{port="587",verdict="accepted"} 4$' "$PM_TMP/m2"
tap_ok $? "after they are gone /metrics answers again, with that session counted" ||
	tap_diag_file "$PM_TMP/m2"

# ---- hostile scrapers, bounded memory ----------------------------------------

# scrape N: N scrapes on one keep-alive connection (a new one if the
# server closed it); prints how many answered 200.
scrape() {
	python3 - "$MPORT" "$1" <<'EOF'
import http.client, sys
ok, c = 0, None
for _ in range(int(sys.argv[2])):
    try:
        c = c or http.client.HTTPConnection('127.0.0.1', int(sys.argv[1]), timeout=5)
        c.request('GET', '/metrics')
        r = c.getresponse()
        r.read()
        ok += r.status == 200
    except (OSError, http.client.HTTPException):
        c = None
print(ok)
EOF
}
# rss: the daemon's resident set, kB
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$PM_PID/status"; }
scrape 200 >/dev/null
rss0=$(rss)
# For 4 s: 2 connections that pipeline 200 requests each and never read
# an answer, then a 64 kB header line, then a POST announcing 4 MB and
# sending it, then 6 more connections that never read and new connections
# opened and closed as fast as they go (beyond the 4 served). A milter
# session meanwhile: a stall would be the 10 s connection timeout.
python3 - "$MPORT" "$PM_TMP/hostile" <<'EOF' &
import socket, sys, threading, time
port, end, stats = int(sys.argv[1]), time.time() + 4, {}
def conn():
    return socket.create_connection(('127.0.0.1', port), timeout=2)
def noread():
    try:
        s = conn()
        s.settimeout(0.5)
        for _ in range(200):
            s.sendall(b'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
    except OSError:
        pass
    while time.time() < end:
        time.sleep(0.1)
def big_header():
    try:
        s = conn()
        s.sendall(b'GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: ' + b'a' * 65536 + b'\r\n\r\n')
        stats['header'] = s.recv(64).split(b'\r\n')[0].decode() or 'closed'
    except OSError as e:
        stats['header'] = 'closed (%s)' % e.__class__.__name__
def post():
    try:
        s = conn()
        s.sendall(b'POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n')
        for _ in range(64):
            s.sendall(b'x' * 65536)
        stats['post'] = s.recv(64).split(b'\r\n')[0].decode() or 'closed'
    except OSError as e:
        stats['post'] = 'closed (%s)' % e.__class__.__name__
def flood():
    n = 0
    while time.time() < end:
        try:
            conn().close()
            n += 1
        except OSError:
            pass
    stats['flood'] = n
ts = [threading.Thread(target=noread) for _ in range(2)]
for t in ts:
    t.start()
big_header()    # 2 of the 4 connections are taken: these two get in
post()
ts += [threading.Thread(target=f) for f in [noread] * 6 + [flood]]
for t in ts[2:]:
    t.start()
for t in ts:
    t.join()
open(sys.argv[2], 'w').write('64 kB header: %(header)s; 4 MB POST: %(post)s; %(flood)d connections opened and closed' % stats)
EOF
hostile_pid=$!
sleep 1
t0=$(date +%s%N)
PM_TAP_N=$tap_n "$MILTERTEST" -s "$PM_TMP/one.lua" >"$PM_TMP/one.out" 2>&1
st=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
wait "$hostile_pid"
[ "$st" -eq 0 ] && grep -q '^ok' "$PM_TMP/one.out" && [ "$ms" -lt 5000 ]
tap_ok $? "during hostile scrapers ($(cat "$PM_TMP/hostile" 2>/dev/null)), a milter session takes ${ms} ms" ||
	tap_diag_file "$PM_TMP/one.out"
n=$(scrape 1000)
rss1=$(rss)
[ "$n" -eq 1000 ]
tap_ok $? "after them, 1,000 scrapes on one connection: $n answered" || tail -n 5 "$PM_LOG" | tap_diag_file -
# Under AddressSanitizer freed memory is held in its quarantine.
if grep -q __asan_init "$PM_DAEMON" 2>/dev/null; then
	tap_skip "the daemon's memory: not measured under AddressSanitizer (RSS $rss0 -> $rss1 kB)"
else
	[ $((rss1 - rss0)) -lt 1024 ]
	tap_ok $? "the daemon's memory after the hostile scrapers and 1,000 scrapes: RSS $rss0 -> $rss1 kB (less than 1 MB more)"
fi

# ---- the cost of a scrape --------------------------------------------------------

python3 - "$URL" >"$PM_TMP/cost" 2>&1 <<'EOF'
import sys, time, urllib.request
n = 200
t = time.perf_counter()
for _ in range(n):
    body = urllib.request.urlopen(sys.argv[1], timeout=5).read()
print('%.2f ms per scrape (%d bytes, mean of %d, client included)' % (
    (time.perf_counter() - t) * 1000 / n, len(body), n))
EOF
tap_ok $? "scrape cost with the six shipped ports: $(cat "$PM_TMP/cost")"

# ---- the example alerting rules ----------------------------------------------------

promtool check rules "$top_srcdir/doc/prometheus/portmilter.rules.yml" >"$PM_TMP/rules" 2>&1
tap_ok $? "promtool check rules doc/prometheus/portmilter.rules.yml" || tap_diag_file "$PM_TMP/rules"
(cd "$top_srcdir/doc/prometheus" && promtool test rules portmilter.rules.test.yml) >"$PM_TMP/rules" 2>&1
tap_ok $? "promtool test rules: down, shipper disconnected, journal growing, shipping late, exposure" ||
	tap_diag_file "$PM_TMP/rules"
promtool check config "$top_srcdir/doc/prometheus/prometheus.yml" >"$PM_TMP/rules" 2>&1
tap_ok $? "promtool check config doc/prometheus/prometheus.yml (the example scrape config)" ||
	tap_diag_file "$PM_TMP/rules"

# ---- stop ----------------------------------------------------------------------------

kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null
PROM_PID=
pm_stop
[ $? -eq 0 ] && [ "$PM_STATUS" -eq 0 ]
tap_ok $? "portmilter stopped on SIGTERM with status 0 (the metrics thread takes no signal)" \
	"(status $PM_STATUS)"
pm_log_clean "$PM_LOG"
tap_ok $? "no panic, fatal error or sanitizer report in the log"
tap_plan
