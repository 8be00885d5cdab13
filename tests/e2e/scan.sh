#!/bin/sh
# scan - a port scan is not a misconfiguration (issue 16), end to end.
#
# A client that connects and resets at once (what every scanner does to
# port 25) reaches the milter with {daemon_port} "unknown" and client
# [unknown]. Against the real stack of tests/e2e/lib.sh: resets (a raw
# socket with SO_LINGER 0) on the generated service of 25, and on a
# hand-added service that has no "portmilter/PORT" {daemon_name}; then
# the milter's log (one info line per connection, no warning, never
# "check master.cf"), the recorded port in PostgreSQL, `portmilter-report
# ports` (25 for the first, "unknown" for the second, never a port 0 row),
# the counter in /metrics (portmilter_sessions_unidentified_total) and the
# one logged at exit. Expected values come from README.md,
# doc/portmilter.8 and doc/events.md. Needs root and python3. Prints TAP.
#
# On a busy machine smtpd may take a connection before its RST arrives and
# learn the client (Postfix logs "connect from localhost[127.0.0.1]"): the
# milter then gets a port and an address like any connection's. Postfix's
# own log says how many it could not identify on each service (U25, UHAND);
# a service where it identified every one gets another round of resets, up
# to 10 (so at least one each), and every count below follows from those:
# an identified connection is checked as such (on the hand-added service,
# the documented "has no section" warning; on 25, a row with its address).

. "${top_srcdir:?}/tests/e2e/lib.sh"

e2e_require
if ! command -v python3 >/dev/null 2>&1; then
	tap_skip_all "python3 not installed"
fi
# The milter's /metrics on a loopback port the kernel picks.
E2E_METRICS=127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
T0=$(date +%s)
if ! e2e_start; then
	echo "Bail out! the end-to-end stack did not start"
	exit 99
fi
tap_diag "stack up in $(($(date +%s) - T0)) s"

N25=5		# resets on the generated service of 25 (a round)
NHAND=3		# resets on the hand-added service (a round)
P25=$(e2e_port 25)
PHAND=$(e2e_port 2524)

# reset PORT N: N connections to 127.0.0.1:PORT, each closed at once with
# SO_LINGER 0 (an RST, no FIN), one after the other.
reset() {
	python3 - "$1" "$2" <<'EOF'
import socket, struct, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
for _ in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.connect(("127.0.0.1", port))
    s.close()
EOF
}

# ---- a hand-added service: main.cf's {daemon_name}, no [port] section -------

if pc_listening "$PHAND"; then
	echo "Bail out! port $PHAND is taken"
	e2e_stop
	exit 99
fi
postconf -c "$E2E_PF" -M \
	"127.0.0.1:$PHAND/inet=127.0.0.1:$PHAND inet n - n - - smtpd" \
	>"$PM_TMP/hand.out" 2>&1
st=$?
touch -d '-10 seconds' "$E2E_PF/main.cf" "$E2E_PF/master.cf"
[ "$st" -eq 0 ] && pc_pf reload >>"$PM_TMP/hand.out" 2>&1 &&
	pc_wait_listening "$PHAND"
tap_ok $? "hand-added service 127.0.0.1:$PHAND listens after reload" ||
	tap_diag_file "$PM_TMP/hand.out"

# ---- the scans -------------------------------------------------------------

# pf_unknown PORT N: N resets on PORT, then, once Postfix has logged
# their N disconnects (10 s at most), how many of them it could not
# identify (its own log; not by service name: port 25's has none).
pf_unknown() {
	_pu_mark=$(wc -l <"$E2E_PF_LOG")
	reset "$1" "$2" || return 1
	_pu_i=0
	while [ "$(sed "1,${_pu_mark}d" "$E2E_PF_LOG" | grep -c 'smtpd\[[0-9]*\]: disconnect from ')" -lt "$2" ]; do
		_pu_i=$((_pu_i + 1))
		[ "$_pu_i" -le 100 ] || return 1
		sleep 0.1
	done
	_pu_n=$(sed "1,${_pu_mark}d" "$E2E_PF_LOG" |
		grep -c 'smtpd\[[0-9]*\]: connect from unknown\[unknown\]')
	echo "${_pu_n:-0}"	# grep -c says 0 with status 1: still a count
}

# rounds PORT N: rounds of N resets on PORT (pf_unknown) until Postfix
# could not identify at least one, 10 at most; prints the resets made and
# how many it could not identify.
rounds() {
	_r_n=0 _r_u=0 _r_i=0
	while [ "$_r_i" -lt 10 ] && [ "$_r_u" -eq 0 ]; do
		_r_got=$(pf_unknown "$1" "$2") || return 1
		_r_n=$((_r_n + $2)) _r_u=$((_r_u + _r_got)) _r_i=$((_r_i + 1))
	done
	echo "$_r_n $_r_u"
}

LOGMARK=$(wc -l <"$E2E_LOG")
r25=$(rounds "$P25" "$N25") && rhand=$(rounds "$PHAND" "$NHAND")
st=$?
N25=${r25% *} U25=${r25#* } NHAND=${rhand% *} UHAND=${rhand#* }
N25=${N25:-0} U25=${U25:-0} NHAND=${NHAND:-0} UHAND=${UHAND:-0}
[ "$st" -eq 0 ]
tap_ok $? "$N25 resets on $P25 and $NHAND on $PHAND, each disconnect logged by Postfix"
NALL=$((N25 + NHAND))
e2e_wait "$NALL" "SELECT count(*) FROM portmilter.events" 15
tap_ok $? "the shipper stored $NALL events" ||
	{ tap_diag "got: $E2E_GOT"; tap_diag_file "$E2E_LOG"; }

# Postfix itself could not identify these connections (its own log), but
# for any whose RST came after smtpd took it (above).
K25=$((N25 - U25)) KHAND=$((NHAND - UHAND))
UALL=$((U25 + UHAND))
n=$(grep -c 'smtpd\[[0-9]*\]: connect from ' "$E2E_PF_LOG")
[ "$n" -eq "$NALL" ] && [ "$U25" -ge 1 ] && [ "$UHAND" -ge 1 ]
tap_ok $? "Postfix logged $NALL connections, unidentified: $U25 of $N25 on $P25, $UHAND of $NHAND on $PHAND (at least one each)" ||
	tap_diag_file "$E2E_PF_LOG"

# ---- the milter's log ----------------------------------------------------

sed "1,${LOGMARK}d" "$E2E_LOG" >"$PM_TMP/scan.log"
n=$(grep -c ': connect from \[unknown\]: ' "$PM_TMP/scan.log")
[ "$n" -eq "$UALL" ]
tap_ok $? "one line per unidentified connection: $UALL (got $n)" || tap_diag_file "$PM_TMP/scan.log"
n=$(grep -cF ": connect from [unknown]: port not identified by Postfix ({daemon_port} \"unknown\"): port $P25 from {daemon_name}" "$PM_TMP/scan.log")
[ "$n" -eq "$U25" ]
tap_ok $? "$U25 lines: port $P25 from {daemon_name} (got $n)" ||
	tap_diag_file "$PM_TMP/scan.log"
n=$(grep -cF ": connect from [unknown]: port not identified by Postfix ({daemon_port} \"unknown\", {daemon_name} \"mail.example.test\"): applying the strict (submission) rules" "$PM_TMP/scan.log")
[ "$n" -eq "$UHAND" ]
tap_ok $? "$UHAND lines: hand-added service, strict rules (got $n)" ||
	tap_diag_file "$PM_TMP/scan.log"
# Nothing else per connection: every line but the background threads';
# an identified connection on the hand-added service has the documented
# warning of a port without a section, one on 25 no line at all.
n=$(grep -vc ': \(shipper\|usage\|suspensions\|rollups\): ' "$PM_TMP/scan.log")
[ "$n" -eq $((UALL + KHAND)) ]
tap_ok $? "at most one line per connection: $((UALL + KHAND)) lines in all (got $n)" ||
	tap_diag_file "$PM_TMP/scan.log"
n=$(grep -c ': warning: ' "$PM_TMP/scan.log")
w=$(grep -cF ": warning: connect from [127.0.0.1]: port $PHAND has no section in " "$PM_TMP/scan.log")
[ "$n" -eq "$KHAND" ] && [ "$w" -eq "$KHAND" ]
tap_ok $? "no warning for an unidentified connection (the lines are info; $KHAND identified on $PHAND)" ||
	tap_diag_file "$PM_TMP/scan.log"
! grep ': connect from \[unknown\]: ' "$PM_TMP/scan.log" |
	grep -q 'master\.cf\|has no section\|bad {daemon_port}'
tap_ok $? "no \"check master.cf\", \"has no section\" or \"bad {daemon_port}\" for them" ||
	tap_diag_file "$PM_TMP/scan.log"

# ---- the database ----------------------------------------------------------

e2e_sql "SELECT port, port_known, service, coalesce(host(client_addr), '-'),
		kind, verdict, count(*)
	FROM portmilter.events GROUP BY 1, 2, 3, 4, 5, 6" 2>&1 |
	LC_ALL=C sort >"$PM_TMP/db.got"
{
	[ "$UHAND" -eq 0 ] || echo "0|f|mail.example.test|-|connection|none|$UHAND"
	[ "$K25" -eq 0 ] || echo "$P25|t|portmilter/$P25|127.0.0.1|connection|none|$K25"
	[ "$U25" -eq 0 ] || echo "$P25|t|portmilter/$P25|-|connection|none|$U25"
	[ "$KHAND" -eq 0 ] || echo "$PHAND|f|mail.example.test|127.0.0.1|connection|none|$KHAND"
} | LC_ALL=C sort >"$PM_TMP/db.want"
cmp -s "$PM_TMP/db.want" "$PM_TMP/db.got"
tap_ok $? "db: $N25 connections on port $P25 (known), $UHAND on port 0 (not known)" ||
	{ tap_diag_file "$PM_TMP/db.got"; tap_diag "wanted:"; tap_diag_file "$PM_TMP/db.want"; }

# ---- portmilter-report ports -------------------------------------------------

"$E2E_REPORT" -d "$E2E_READER" --format csv ports >"$PM_TMP/report.csv" 2>&1
st=$?
{
	echo "port,connections,transactions,accepted,rejected,tempfailed,aborted,rejects_by_rule,users,ips,exposures,auth_failures,refused_before_mail,tls_failures"
	[ "$UHAND" -eq 0 ] || echo "unknown,$UHAND,0,0,0,0,0,{},0,0,0,0,0,0"
	echo "$P25,$N25,0,0,0,0,0,{},0,$((K25 > 0)),0,0,0,0"
	[ "$KHAND" -eq 0 ] || echo "$PHAND,$KHAND,0,0,0,0,0,{},0,1,0,0,0,0"
} | awk '{ printf "%s\r\n", $0 }' >"$PM_TMP/report.want"
[ "$st" -eq 0 ] && cmp -s "$PM_TMP/report.want" "$PM_TMP/report.csv"
tap_ok $? "portmilter-report ports: $P25 and \"unknown\", no port 0" ||
	{ tap_diag_file "$PM_TMP/report.csv"; diff "$PM_TMP/report.want" "$PM_TMP/report.csv" | tap_diag_file -; }
"$E2E_REPORT" -d "$E2E_READER" ports >"$PM_TMP/report.txt" 2>&1
[ "$UHAND" -ge 1 ] && grep -q "^unknown  *$UHAND " "$PM_TMP/report.txt" &&
	! grep -q '^ *0 ' "$PM_TMP/report.txt"
tap_ok $? "portmilter-report ports (table): \"unknown\", no port 0" ||
	tap_diag_file "$PM_TMP/report.txt"

# ---- the counters: /metrics, and at exit ------------------------------------

python3 - "http://$E2E_METRICS/metrics" >"$PM_TMP/metrics" 2>&1 <<'EOF'
import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())
EOF
grep '^portmilter_sessions_' "$PM_TMP/metrics" | grep -v ' 0$' | sort >"$PM_TMP/metrics.got"
{
	echo "portmilter_sessions_total{port=\"$P25\"} $N25"
	[ "$UHAND" -eq 0 ] || echo "portmilter_sessions_total{port=\"unknown\"} $UHAND"
	[ "$KHAND" -eq 0 ] || echo "portmilter_sessions_total{port=\"$PHAND\"} $KHAND"
	[ "$U25" -eq 0 ] || echo "portmilter_sessions_unidentified_total{port=\"$P25\"} $U25"
	[ "$UHAND" -eq 0 ] || echo "portmilter_sessions_unidentified_total{port=\"unknown\"} $UHAND"
} | sort >"$PM_TMP/metrics.want"
cmp -s "$PM_TMP/metrics.want" "$PM_TMP/metrics.got"
tap_ok $? "/metrics: portmilter_sessions_unidentified_total $U25 on $P25 and $UHAND unknown" ||
	{ tap_diag_file "$PM_TMP/metrics.got"; tap_diag_file "$PM_TMP/metrics"; }


# SIGTERM lets open sessions finish for up to 30 s and ships for 5 s
# (README, "Running the milter"): allow that, plus slack for the ASan build.
T1=$(date +%s)
pm_stop 400
tap_ok $? "the milter stops on SIGTERM (in $(($(date +%s) - T1)) s, status $PM_STATUS)" ||
	tap_diag_file "$E2E_LOG"
grep -qF "connections whose port Postfix did not identify: $UALL" "$E2E_LOG"
tap_ok $? "the exit line counts $UALL unidentified connections" ||
	tap_diag_file "$E2E_LOG"
pm_log_clean "$E2E_LOG"
tap_ok $? "no panic or fatal error in the milter's log" || tap_diag_file "$E2E_LOG"
e2e_stop
tap_diag "total $(($(date +%s) - T0)) s"
tap_plan
