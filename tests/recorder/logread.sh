#!/bin/sh
# logread.sh - the milter's Postfix log reader (milter/logreader.h) against a
# real PostgreSQL: exactly one row per logged fact, whatever happens to the
# log file or the reader (TAP).
#
# The log is written by this script, line by line, in the format of
# Postfix 3.7's maillog_file (the lines are those captured from a real
# Postfix in tests/unit/maillog-3.7.txt, with the services of the shipped
# ports; tests/e2e/logread.sh does the same with a real Postfix). Checked:
#  1. the file appears after the milter started: read from its start;
#     5 failed logins for testuser on 5870 and 3 for nosuch on 4650 ->
#     exactly those 8 auth_failure rows, with user, mechanism, port, reply;
#  2. Postfix's own refusals, MAIL without STARTTLS on 587 (require_tls),
#     AUTH before STARTTLS (exposure), a TLS failure on 465, each one row;
#     a milter-reject line and an unknown smtpd line: no row, the unknown
#     one counted and logged;
#  3. rename rotation with lines still written to the old file -> exact;
#  4. copytruncate -> exact;
#  5. reader stopped (SIGTERM) while lines are written -> exact after start;
#  6. kill -9 right after a batch (position possibly behind the journal)
#     -> exact (ids derived from the lines);
#  7. rotation while the milter is down (old file as PATH.1) -> exact;
#  8. 10,000 unrelated lines and one failure -> one row, all counted;
#     CPU per 1,000 lines and the lag from a line to its row measured;
#  9. the exact size of a message the milter accepted, from qmgr's line
#     (sql/012_perf.sql): applied to its row, stored nowhere else.
# After 2, /metrics (metrics_listen) counts every row journaled
# (portmilter_events_journaled_total) and the exposure of Postfix's log
# (portmilter_credential_exposures_total).
# The position file is mode 0640.

set -u
. "${top_srcdir:?top_srcdir must be set}/tests/recorder/lib.sh"

rec_init
LOG=$PM_TMP/log/mail.log
mkdir -p "$PM_TMP/log"
MPORT=
command -v python3 >/dev/null 2>&1 &&
	MPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rec_conf "$PM_TMP/portmilter.conf" "postfix_log = $LOG" \
	${MPORT:+"metrics_listen = 127.0.0.1:$MPORT"}
rec_start "$PM_TMP/portmilter.conf"
pm_wait_log "$PM_LOG" "shipper: connected to database" 100
tap_ok $? "the shipper connected to the database"
pm_wait_log "$PM_LOG" "logreader: following $LOG" 50
tap_ok $? "the log reader follows $LOG"

PID=4000
# now: the time stamp of maillog_file ("Dec 06 15:13:11")
now() { LC_ALL=C date '+%b %d %H:%M:%S'; }
# sasl FILE LABEL USER [MECH]: one failed login on the service LABEL
# (smtpd process PID)
sasl() {
	echo "$(now) mail postfix/$2/smtpd[$PID]: warning: unknown[192.0.2.$((PID % 200 + 1))]: SASL ${4:-PLAIN} authentication failed: authentication failure, sasl_username=$3" >>"$1"
}
# line FILE LABEL TEXT: any smtpd line
line() {
	echo "$(now) mail postfix/$2/smtpd[$PID]: $3" >>"$1"
}
# fails FILE N: N failures for a numbered user (one per line)
fails() {
	_f_i=0
	while [ "$_f_i" -lt "$2" ]; do
		PID=$((PID + 1))
		sasl "$1" 5870 "user$_f_i@example.test"
		_f_i=$((_f_i + 1))
	done
}
AUTH="SELECT count(*) FROM portmilter.events WHERE kind = 'auth_failure'"
ALL="SELECT count(*) FROM portmilter.events"

# ---- 1. the file appears; 5 + 3 failed logins ------------------------------
sleep 0.5
: >"$LOG"
i=0
while [ $i -lt 5 ]; do
	PID=$((PID + 1))
	line "$LOG" 5870 "connect from unknown[192.0.2.$((PID % 200 + 1))]"
	sasl "$LOG" 5870 testuser@example.test
	i=$((i + 1))
done
for mech in PLAIN LOGIN PLAIN; do
	PID=$((PID + 1))
	sasl "$LOG" 4650 nosuch@example.test $mech
done
rec_wait 8 "$AUTH" 15
tap_ok $? "8 failed logins -> 8 auth_failure rows (waited $REC_WAITED tenths)" ||
	tap_diag "got $REC_GOT"
rec_is "per port and user" \
	"4650|nosuch@example.test|3|rejected|auth_failed
5870|testuser@example.test|5|rejected|auth_failed" \
	"SELECT port, sasl_user, count(*), min(verdict), min(rule)
	 FROM portmilter.events WHERE kind = 'auth_failure'
	 GROUP BY 1, 2 ORDER BY 1"
rec_is "mechanism, reply, service, node, client, port_known" \
	"LOGIN,PLAIN|535 5.7.8 Error: authentication failed: authentication failure|postfix/4650|rec-node-1|t|t" \
	"SELECT string_agg(DISTINCT sasl_method, ','), min(reply), min(service),
	        min(node), bool_and(client_addr <<= '192.0.2.0/24'),
	        bool_and(port_known)
	 FROM portmilter.events WHERE port = 4650"
# a connect line ties the failure to its connection
rec_is "a failure after its connect line has that connection's conn_id" \
	"5" "SELECT count(*) FROM portmilter.events
	     WHERE port = 5870 AND conn_id <> event_id"
mode=$(stat -c %a "$PM_TMP/journal/logreader.pos" 2>/dev/null)
[ "$mode" = 640 ]
tap_ok $? "the position file is mode 0640 (got $mode)"

# ---- 2. the other kinds ------------------------------------------------------
PID=$((PID + 1))
line "$LOG" smtp "NOQUEUE: reject: RCPT from unknown[198.51.100.1]: 554 5.7.1 <bob@remote.example>: Relay access denied; from=<a@b.example> to=<bob@remote.example> proto=ESMTP helo=<x>"
echo "$(now) mail postfix/smtpd[$PID]: NOQUEUE: reject: CONNECT from unknown[198.51.100.2]: 554 5.7.1 <unknown[198.51.100.2]>: Client host rejected: Access denied; proto=SMTP" >>"$LOG"
line "$LOG" submission "disconnect from unknown[198.51.100.3] ehlo=1 mail=0/1 quit=1 commands=2/3"
line "$LOG" submission "disconnect from unknown[198.51.100.4] ehlo=1 auth=0/1 quit=1 commands=2/3"
line "$LOG" submission "disconnect from unknown[198.51.100.5] ehlo=2 starttls=1 auth=0/1 quit=1 commands=4/5"
line "$LOG" submissions "SSL_accept error from unknown[198.51.100.6]: -1"
line "$LOG" submission "NOQUEUE: milter-reject: MAIL from unknown[198.51.100.7]: 530 5.7.0 Authentication required; from=<a@b> proto=ESMTP helo=<x>"
line "$LOG" submission "a line Postfix 3.7 does not write"
rec_wait 13 "$ALL" 15
tap_ok $? "5 more rows (waited $REC_WAITED tenths)" || tap_diag "got $REC_GOT"
rec_is "refused, exposure, tls_failure rows" \
	"25|refused|postfix_connect|rejected|554 5.7.1 <unknown[198.51.100.2]>: Client host rejected: Access denied|\N|f
25|refused|postfix_rcpt|rejected|554 5.7.1 <bob@remote.example>: Relay access denied|<a@b.example>|f
465|tls_failure|tls_handshake|aborted|SSL_accept error: -1|\N|f
587|exposure|tls_before_auth|rejected|\N|\N|t
587|refused|require_tls|rejected|530 5.7.0 Must issue a STARTTLS command first|\N|f" \
	"SELECT port, kind, rule, verdict, reply, sender, credential_exposure
	 FROM portmilter.events WHERE kind <> 'auth_failure' ORDER BY 1, 2, 3"
pm_wait_log "$PM_LOG" "no known pattern (counted): $(LC_ALL=C date +%b)" 20 &&
	grep -q "no known pattern.*a line Postfix 3.7 does not write" "$PM_LOG"
tap_ok $? "the unknown smtpd line is logged"
"$REC_REPORT" -d "$REC_READER" ports --since 1d --format csv \
	2>&1 | tr -d '\r' >"$PM_TMP/ports.csv"
grep -q '^587,.*require_tls' "$PM_TMP/ports.csv" &&
	grep -q '^5870,.*,5,0,0$' "$PM_TMP/ports.csv" &&
	grep -q '^465,.*,0,0,1$' "$PM_TMP/ports.csv" &&
	grep -qx '25,0,0,0,1,0,0,"{""postfix_connect"": 1}",0,2,0,0,1,0' "$PM_TMP/ports.csv"
tap_ok $? "portmilter-report ports: require_tls in rejects_by_rule, auth_failures, tls_failures; Postfix's RCPT reject not counted as rejected (the milter counts it)" ||
	tap_diag_file "$PM_TMP/ports.csv"
if [ -n "$MPORT" ]; then
	python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
		"http://127.0.0.1:$MPORT/metrics" >"$PM_TMP/metrics" 2>&1
	grep -qx 'portmilter_events_journaled_total 13' "$PM_TMP/metrics" &&
		grep -qx 'portmilter_credential_exposures_total{port="587"} 1' "$PM_TMP/metrics"
	tap_ok $? "/metrics: the 13 events of Postfix's log journaled, its exposure on 587 counted" ||
		grep -E '^portmilter_(events|credential)' "$PM_TMP/metrics" | tap_diag_file -
else
	tap_skip "python3 missing: /metrics not checked"
fi

# portmilter-report auth: per user, address, port; filters
auth_sum() {
	"$REC_REPORT" -d "$REC_READER" auth --since 1d --format csv "$@" 2>&1 |
		tr -d '\r' | awk -F, 'NR == 1 { h = $0 } NR > 1 { s += $4 } END { print h; print s + 0 }'
}
H="user,client_addr,port,failures,mechanisms,first_seen,last_seen"
[ "$(auth_sum --user testuser@example.test)" = "$H
5" ] && [ "$(auth_sum --port 4650)" = "$H
3" ] && [ "$(auth_sum --ip 192.0.2.0/24)" = "$H
8" ] && [ "$(auth_sum --user nosuch@example.test --port 5870)" = "$H
0" ]
tap_ok $? "portmilter-report auth: --user 5, --port 4650 3, --ip 8 failures" ||
	tap_diag "$(auth_sum --ip 192.0.2.0/24)"
"$REC_REPORT" -d "$REC_READER" auth --since 1d --format json --port 4650 \
	>"$PM_TMP/auth.json" 2>&1 &&
	grep -q '"user":"nosuch@example.test","client_addr":"192.0.2.[0-9]*","port":4650,"failures":[0-9]' "$PM_TMP/auth.json" &&
	"$REC_REPORT" -d "$REC_READER" auth --since 1d --port 4650 >"$PM_TMP/auth.txt" 2>&1 &&
	grep -q '^user  *client_addr  *port  *failures  *mechanisms  *first_seen  *last_seen' "$PM_TMP/auth.txt" &&
	grep -q '^nosuch@example.test  *192.0.2.[0-9]*  *4650 ' "$PM_TMP/auth.txt"
tap_ok $? "portmilter-report auth: the same in json and as a table" ||
	{ tap_diag_file "$PM_TMP/auth.json"; tap_diag_file "$PM_TMP/auth.txt"; }
"$REC_REPORT" -d "$REC_READER" auth --user '' >/dev/null 2>&1
st1=$?
"$REC_REPORT" -d "$REC_READER" auth --ip 300.1.1.1 >/dev/null 2>&1
st2=$?
"$REC_REPORT" -d "$REC_READER" auth --by user >/dev/null 2>&1
st3=$?
[ "$st1" -eq 2 ] && [ "$st2" -eq 2 ] && [ "$st3" -eq 2 ]
tap_ok $? "portmilter-report auth: bad --user, --ip, or a foreign option: exit 2"

# ---- 3. rename rotation, the old file still written for a moment ------------
N=$(rec_sql "$AUTH")
mv "$LOG" "$LOG.1"
fails "$LOG.1" 2
: >"$LOG"
fails "$LOG" 3
sleep 1
fails "$LOG" 1
rec_wait $((N + 6)) "$AUTH" 15
tap_ok $? "rename rotation: exactly 6 more rows" || tap_diag "got $REC_GOT, want $((N + 6))"
pm_wait_log "$PM_LOG" "logreader: $LOG was rotated" 20
tap_ok $? "the rotation is logged"

# ---- 4. copytruncate ----------------------------------------------------------
N=$(rec_sql "$AUTH")
cp "$LOG" "$LOG.2"
: >"$LOG"
fails "$LOG" 4
rec_wait $((N + 4)) "$AUTH" 15
tap_ok $? "copytruncate: exactly 4 more rows" || tap_diag "got $REC_GOT, want $((N + 4))"
# truncated and written past the old size before the reader looked (in
# one go: the reader is most likely between two looks)
N=$(rec_sql "$AUTH")
cp "$LOG" "$LOG.3"
fails "$PM_TMP/refill" 7
cat "$PM_TMP/refill" >"$LOG"
rec_wait $((N + 7)) "$AUTH" 15
tap_ok $? "copytruncate, refilled past the old size at once: exactly 7 more rows" ||
	tap_diag "got $REC_GOT, want $((N + 7))"

# ---- 5. the reader stopped while lines come in --------------------------------
N=$(rec_sql "$AUTH")
fails "$LOG" 2
rec_stop
fails "$LOG" 5
rec_start "$PM_TMP/portmilter.conf"
fails "$LOG" 1
rec_wait $((N + 8)) "$AUTH" 15
tap_ok $? "stop, 5 lines, start: exactly 8 more rows" || tap_diag "got $REC_GOT, want $((N + 8))"

# ---- 6. kill -9 just after a batch --------------------------------------------
N=$(rec_sql "$AUTH")
fails "$LOG" 50
rec_wait $((N + 50)) "$AUTH" 15
rec_kill9
fails "$LOG" 3
rec_start "$PM_TMP/portmilter.conf"
rec_wait $((N + 53)) "$AUTH" 15
tap_ok $? "kill -9 after a batch, 3 lines, start: exactly 53 more rows" ||
	tap_diag "got $REC_GOT, want $((N + 53))"

# ---- 7. rotated while the milter is down ---------------------------------------
N=$(rec_sql "$AUTH")
rec_stop
fails "$LOG" 2
mv "$LOG" "$LOG.1"
fails "$LOG" 3
rec_start "$PM_TMP/portmilter.conf"
rec_wait $((N + 5)) "$AUTH" 15
tap_ok $? "rotated while stopped: the rest of $LOG.1 and the new file, exactly 5 more rows" ||
	tap_diag "got $REC_GOT, want $((N + 5))"
pm_wait_log "$PM_LOG" "rotated while stopped: finishing $LOG.1 first" 20
tap_ok $? "the rotation while stopped is logged"

# ---- 8. a burst of 10,000 unrelated lines --------------------------------------
N=$(rec_sql "$AUTH")
ALLN=$(rec_sql "$ALL")
sleep 1
cpu() { awk '{print $14 + $15}' "/proc/$PM_PID/stat"; }
C0=$(cpu)
LC_ALL=C awk -v t="$(now)" 'BEGIN {
	for (i = 0; i < 10000; i++) {
		if (i % 4 == 0)
			printf "%s mail postfix/qmgr[77]: %05XA7416%d: removed\n", t, i, i % 10
		else if (i % 4 == 1)
			printf "%s mail postfix/5870/smtpd[78]: connect from unknown[203.0.113.%d]\n", t, i % 250
		else if (i % 4 == 2)
			printf "%s mail postfix/5870/smtpd[78]: disconnect from unknown[203.0.113.%d] ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8\n", t, i % 250
		else
			printf "%s mail postfix/cleanup[79]: %05XA7416%d: message-id=<%d@example.test>\n", t, i, i % 10, i
	}
}' >>"$LOG"
T0=$(date +%s%N)
PID=$((PID + 1))
sasl "$LOG" 5870 after-burst@example.test
rec_wait $((N + 1)) "$AUTH" 20
tap_ok $? "10,000 unrelated lines then one failure: exactly one more row" ||
	tap_diag "got $REC_GOT, want $((N + 1))"
LAG=$((($(date +%s%N) - T0) / 1000000))
C1=$(cpu)
rec_is "no other row from the burst" "$((ALLN + 1))" "$ALL"
TICKS=$(getconf CLK_TCK)
tap_diag "milter CPU for the 10,001 lines: $(((C1 - C0) * 1000 / TICKS)) ms" \
	"(~$(((C1 - C0) * 1000 / TICKS / 10)) ms per 1,000 lines, shipping included);" \
	"lag from the line after the burst to its row: $LAG ms"
# a single line, idle reader: the lag from write to row
T0=$(date +%s%N)
PID=$((PID + 1))
sasl "$LOG" 5870 lag@example.test
rec_wait $((N + 2)) "$AUTH" 20
tap_diag "lag from one line to its row (reader idle): $((($(date +%s%N) - T0) / 1000000)) ms"
rec_stop
grep -q "logreader: $LOG: [0-9]* lines" "$PM_LOG" &&
	[ "$(sed -n "s/.*logreader: .*: \([0-9]*\) lines.*/\1/p" "$PM_LOG" | tail -n 1)" -ge 10002 ]
tap_ok $? "the lines are counted (at stop: $(sed -n 's/.*logreader: \(.*lines\).*/\1/p' "$PM_LOG" | tail -n 1))"
rec_start "$PM_TMP/portmilter.conf"
rec_is "no duplicate event ids" "0" \
	"SELECT count(*) - count(DISTINCT event_id) FROM portmilter.events"

# 9. The exact size (issue 17): a message accepted with SIZE=1000 is
# recorded with that size; qmgr's line for its queue id makes it
# Postfix's (size_exact); the same line again (a deferred message's next
# try) and lines of queue ids the milter did not record change nothing
# and store nothing.
qmgr() {	# QUEUEID SIZE: qmgr's "(queue active)" line
	echo "$(now) mail postfix/qmgr[77]: $1: from=<sz@example.test>, size=$2, nrcpt=1 (queue active)" >>"$LOG"
}
ALLN=$(rec_sql "SELECT count(*) FROM portmilter.events")
qmgr 5B1C2D3E4F 777
rec_lua size <<'EOF'
case("sz587: accepted with SIZE=1000, queue id 4Vx1Hq2BzS", function()
	local r = session({ port = 587, tls = "TLSv1.3", auth = "PLAIN",
		user = "sz@example.test", helo = "size-587.example",
		from = "<sz@example.test>", mail_args = { "SIZE=1000" },
		rcpts = { { addr = "<bob@remote.example>", mailer = "smtp" } },
		extra = { [SMFIC_MAIL] = { "i", "4Vx1Hq2BzS" } }, eom = true })
	expect(r.eom, SMFIR_CONTINUE, "EOM")
end)
EOF
SZ="SELECT size, size_exact FROM portmilter.events WHERE helo = 'size-587.example'"
rec_wait "1000|f" "$SZ" 20
tap_ok $? "recorded with the declared size (SIZE=1000), not exact" || tap_diag "got $REC_GOT"
qmgr 4Vx1Hq2BzS 1234
rec_wait "1234|t" "$SZ" 20
tap_ok $? "qmgr's size=1234 replaces it: size_exact" || tap_diag "got $REC_GOT"
qmgr 4Vx1Hq2BzS 999
qmgr 6C7D8E9F0A 555
PID=$((PID + 1))
sasl "$LOG" 5870 after-size@example.test
rec_wait $((ALLN + 2)) "SELECT count(*) FROM portmilter.events" 20
tap_ok $? "no row stored for qmgr's lines (one transaction, one failure after)" ||
	tap_diag "got $REC_GOT, want $((ALLN + 2))"
rec_is "qmgr's line again, or of another queue id: the size stays 1234" "1234|t" "$SZ"
rec_finish
