#!/bin/sh
# kill9.sh - the milter killed with SIGKILL loses nothing and writes
# nothing twice (TAP).
#
# 1. Database up, a stream of sessions, kill -9 in the middle of it while
#    the shipper is busy. Every session whose end of message was answered
#    ("acked", counted by the client) was journaled before the answer; the
#    one in flight may or may not have been. After a restart: the acked
#    ones are all stored, once each, plus at most the one in flight.
# 2. Database down, a stream of N sessions (nothing can be shipped),
#    kill -9, database up, milter started again: exactly N more rows.

set -u
. "${top_srcdir:?top_srcdir must be set}/tests/recorder/lib.sh"

N=${REC_N:-150}
rec_init
rec_conf "$PM_TMP/portmilter.conf"
rec_start "$PM_TMP/portmilter.conf"
pm_wait_log "$PM_LOG" "shipper: connected to database" 100
tap_ok $? "the shipper connected to the database"

# stream PREFIX MAX: accepted messages on 587 with senders
# <PREFIX-NNNN@example.test>, until MAX or the first failure; after each
# answered end of message the number so far is written to $PM_TMP/acked.
stream() {
	REC_PREFIX=$1 REC_MAX=$2 rec_lua "stream-$1" <<'EOF'
mt.set_timeout(3)
local prefix, max = os.getenv("REC_PREFIX"), math.tointeger(tonumber(os.getenv("REC_MAX")))
local acked = 0
local function save()
	local f = assert(io.open(os.getenv("PM_TMP") .. "/acked.tmp", "w"))
	f:write(acked, "\n")
	f:close()
	assert(os.rename(os.getenv("PM_TMP") .. "/acked.tmp", os.getenv("PM_TMP") .. "/acked"))
end
save()
for i = 1, max do
	local good, err = pcall(function()
		local r = session({ port = 587, tls = "TLSv1.3", auth = "PLAIN",
			user = "k9@example.test", helo = "kill9.example",
			from = string.format("<%s-%04d@example.test>", prefix, i),
			rcpts = { { addr = "<x@remote.example>", mailer = "smtp" } },
			headers = { { "Subject", "kill9 " .. i } }, body = "x\r\n", eom = true })
		expect(r.eom, SMFIR_CONTINUE, "EOM")
	end)
	if not good then
		io.stderr:write("session ", i, ": ", tostring(err), "\n")
		break
	end
	acked = i
	save()
end
EOF
}

acked() { cat "$PM_TMP/acked" 2>/dev/null || echo 0; }

# ---- 1. kill -9 in mid-stream, database up ------------------------------------
rm -f "$PM_TMP/acked"
stream mid 2000 2>"$PM_TMP/mid.err" &
bg=$!
i=0
while [ "$(acked)" -lt 60 ] && [ "$i" -lt 200 ]; do
	sleep 0.05
	i=$((i + 1))
done
rows_at_kill=$(rec_sql "SELECT count(*) FROM portmilter.events")
rec_kill9
wait "$bg"
a=$(acked)
tap_diag "killed after $a acked sessions; $rows_at_kill rows were in the database then"
[ "$a" -ge 60 ] && [ "$a" -lt 2000 ]
tap_ok $? "the milter was killed in mid-stream ($a sessions acked, status $PM_STATUS)"
tap_diag_file "$PM_TMP/mid.err"

rec_start "$PM_TMP/portmilter.conf"
if rec_wait t "SELECT count(*) >= $a FROM portmilter.events" 20; then
	tap_ok 0 "the acked sessions shipped $((REC_WAITED / 10)).$((REC_WAITED % 10)) s after the restart"
else
	tap_ok 1 "the acked sessions shipped after the restart: $REC_GOT after 20 s"
fi
sleep 1
# n = the acked number of a sender: its 4 digits.
idx="substring(sender from '^<mid-([0-9]{4})@')::int"
rec_is "every acked session stored once, at most the one in flight more" "t|$a|0|t" \
	"SELECT count(*) = count(DISTINCT event_id),
		count(*) FILTER (WHERE $idx <= $a),
		count(*) FILTER (WHERE $idx > $a + 1 OR $idx IS NULL),
		count(*) BETWEEN $a AND $a + 1
	 FROM portmilter.events"
rec_is "... each acked sender exactly once" "$a" \
	"SELECT count(DISTINCT sender) FROM portmilter.events WHERE $idx <= $a"
total1=$(rec_sql "SELECT count(*) FROM portmilter.events")
rec_drained
tap_ok $? "the journal was emptied after the restart"

# ---- 2. database down, stream, kill -9, database up, restart ------------------
rec_pg_down
stream down "$N" 2>"$PM_TMP/down.err"
a=$(acked)
[ "$a" -eq "$N" ]
if ! tap_ok $? "$N sessions answered with the database down ($a)"; then
	tap_diag_file "$PM_TMP/down.err"
fi
records=$(rec_records)
[ "$records" -eq "$N" ]
tap_ok $? "the journal holds $N records ($records)"
rec_kill9
[ "$PM_STATUS" -eq 137 ]
tap_ok $? "killed by SIGKILL with $N events unshipped (status $PM_STATUS, wanted 137)"
rec_pg_up
tap_ok $? "PostgreSQL started again"
rec_start "$PM_TMP/portmilter.conf"
pm_alive
tap_ok $? "portmilter started again"
if rec_wait "$N" "SELECT count(*) FROM portmilter.events WHERE sender LIKE '<down-%'" 30; then
	tap_ok 0 "$N rows shipped after the restart ($((REC_WAITED / 10)).$((REC_WAITED % 10)) s)"
else
	tap_ok 1 "$N rows shipped after the restart: $REC_GOT after 30 s"
	grep shipper "$PM_LOG" | tail -n 5 | tap_diag_file -
fi
sleep 1
rec_is "exactly $total1 + $N rows, all distinct, $N distinct new senders" \
	"$((total1 + N))|$((total1 + N))|$N" \
	"SELECT count(*), count(DISTINCT event_id),
		count(DISTINCT sender) FILTER (WHERE sender ~ '^<down-[0-9]{4}@')
	 FROM portmilter.events"
! grep -q "corrupt" "$PM_TMP"/portmilter.*.log
tap_ok $? "no corrupt journal record reported after the kills"

pm_alive
tap_ok $? "portmilter still running"
rec_stop
for f in "$PM_TMP"/portmilter.*.log; do
	pm_log_clean "$f" || break
done
tap_ok $? "no panic, fatal error or sanitizer report in the logs"
tap_plan
