#!/bin/sh
# oldest.sh - portmilter_journal_oldest_unshipped_timestamp_seconds on
# /metrics against a real PostgreSQL (TAP).
#
# With the database up and nothing pending the sample is absent. With
# PostgreSQL stopped, two sessions are journaled: the sample appears, stays
# put while time passes (so the age, time() - x, grows) and is not later
# than the first session's start. The daemon is restarted with that backlog
# and the database still down: the sample is there again at once, the same
# value (read from the journal left by the previous run). PostgreSQL is
# started again: both rows arrive, the sample equals the stored
# min(event_time) to the microsecond, then it is absent again. Along the
# way, the shipper's samples: portmilter_shipper_up 1 while connected, 0
# with the database down; portmilter_journal_bytes above 0 with the
# backlog; portmilter_shipper_rows_total 2 once both are stored.

set -u
. "${top_srcdir:?top_srcdir must be set}/tests/recorder/lib.sh"

if ! command -v python3 >/dev/null 2>&1; then
	tap_skip_all "python3 not installed"
fi
rec_init
MPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$MPORT/metrics
NAME=portmilter_journal_oldest_unshipped_timestamp_seconds

# sample NAME: the value of NAME's sample without labels, or nothing
# (absent); status 1 if no scrape.
sample() {
	python3 - "$URL" "$1" <<'EOF'
import sys, urllib.request
try:
    text = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
except Exception as e:
    sys.stderr.write('%s\n' % e)
    sys.exit(1)
for line in text.splitlines():
    if line.startswith(sys.argv[2] + ' '):
        print(line.split()[1])
EOF
}
oldest() { sample "$NAME"; }
# wait_sample NAME WANT SECS: poll until NAME's value is WANT.
wait_sample() {
	_ws_i=0
	while [ "$_ws_i" -lt "$(($3 * 5))" ]; do
		GOT=$(sample "$1" 2>&1) && [ "$GOT" = "$2" ] && return 0
		sleep 0.2
		_ws_i=$((_ws_i + 1))
	done
	return 1
}
# wait_oldest WANT SECS: poll until oldest prints WANT ('' = absent).
wait_oldest() {
	_wo_i=0
	while [ "$_wo_i" -lt "$(($2 * 5))" ]; do
		GOT=$(oldest 2>&1) && [ "$GOT" = "$1" ] && return 0
		sleep 0.2
		_wo_i=$((_wo_i + 1))
	done
	return 1
}
# session I: one accepted message on 587 (miltertest, tests/milter/lib.lua).
play() {
	REC_I=$1 rec_lua "s$1" <<'EOF'
local i = os.getenv("REC_I")
local r = session({ port = 587, tls = "TLSv1.3", auth = "PLAIN",
	user = "u@example.test", client_ip = "198.51.100.7", helo = "oldest.example",
	from = "<oldest-" .. i .. "@example.test>",
	rcpts = { { addr = "<x@remote.example>", mailer = "smtp" } },
	headers = { { "Subject", "oldest " .. i } }, body = "x\r\n", eom = true })
expect(r.eom, SMFIR_CONTINUE, "EOM")
EOF
}

rec_conf "$PM_TMP/portmilter.conf" "metrics_listen = 127.0.0.1:$MPORT"
rec_start "$PM_TMP/portmilter.conf"
pm_wait_log "$PM_LOG" "shipper: connected to database" 100
tap_ok $? "the shipper connected to the database"
wait_oldest '' 5
tap_ok $? "nothing journaled: $NAME absent" || tap_diag "got: $GOT"
wait_sample portmilter_shipper_up 1 5
tap_ok $? "connected: portmilter_shipper_up 1" || tap_diag "got: $GOT"

rec_pg_down
t0=$(date +%s)
play 1
tap_ok $? "session 1 played with the database down"
sleep 1.2
t1=$(date +%s)
play 2
tap_ok $? "session 2 played with the database down"
GOT=$(oldest)
first=$GOT
case $first in
[1-9]*.[0-9][0-9][0-9][0-9][0-9][0-9]) t=${first%.*} ;;
*) t=0 ;;
esac
[ "$t" -ge "$t0" ] && [ "$t" -lt "$t1" ]
tap_ok $? "database down: $NAME present ($first): session 1's time, not 2's ($t0 <= x < $t1)"
sleep 2
GOT=$(oldest)
[ "$GOT" = "$first" ] && [ $(($(date +%s) - t)) -ge 3 ]
tap_ok $? "2 s later: the same value, the age (time() - x) grows: $(($(date +%s) - t)) s" ||
	tap_diag "got $GOT, wanted $first"
wait_sample portmilter_shipper_up 0 15
tap_ok $? "database down: portmilter_shipper_up 0" || tap_diag "got: $GOT"
GOT=$(sample portmilter_journal_bytes)
[ "${GOT:-0}" -gt 0 ] && [ "$(sample portmilter_shipper_rows_total)" = 0 ]
tap_ok $? "database down: portmilter_journal_bytes $GOT (> 0), portmilter_shipper_rows_total 0"

# A restart with the backlog and the database still down.
rec_stop
[ "$(rec_records)" -eq 2 ]
tap_ok $? "the journal keeps the 2 events over the restart ($(rec_records) records)"
rec_start "$PM_TMP/portmilter.conf"
wait_oldest "$first" 5
tap_ok $? "restarted with the backlog, database down: $NAME = $first again" ||
	tap_diag "got: $GOT"

rec_pg_up
tap_ok $? "PostgreSQL started again"
rec_wait 2 "SELECT count(*) FROM portmilter.events" 60
tap_ok $? "both events shipped (waited $REC_WAITED/10 s)" || tap_diag "got: $REC_GOT"
rec_is "the value was the stored min(event_time) to the microsecond" "$first" \
	"SELECT to_char(extract(epoch FROM min(event_time)), 'FM9999999999.000000') FROM portmilter.events"
wait_oldest '' 10
tap_ok $? "all shipped: $NAME absent again" || tap_diag "got: $GOT"
wait_sample portmilter_shipper_up 1 5 &&
	[ "$(sample portmilter_shipper_rows_total)" = 2 ]
tap_ok $? "database back: portmilter_shipper_up 1, portmilter_shipper_rows_total 2" ||
	tap_diag "got: $GOT, rows $(sample portmilter_shipper_rows_total)"

rec_finish
