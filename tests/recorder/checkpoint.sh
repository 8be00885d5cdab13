#!/bin/sh
# checkpoint.sh - a plausible but wrong checkpoint never loses an event,
# and every journal file is 0640 (issue 9 items 5 and 13; TAP).
#
# 1. Database down, five events journaled (segment 1), milter stopped,
#    checkpoint "0000000000000001 999999" (an offset past the segment's
#    end). Database up, milter started: the five events reach PostgreSQL,
#    and the log names the checkpoint file.
# 2. The same with five more events and "00000000000000ff 0" (a segment
#    beyond the last one); then new events are shipped too.
# 3. The journal's files - segments, checkpoint, lock and rejected.log
#    (a row the database refuses, by a CHECK constraint added for the
#    test) - are all 0640 although the milter runs with umask 007.

set -u
. "${top_srcdir:?top_srcdir must be set}/tests/recorder/lib.sh"

rec_init
rec_conf "$PM_TMP/portmilter.conf"

# journal PREFIX N: N accepted messages, senders <PREFIX-I@example.test>.
journal() {
	REC_PREFIX=$1 REC_COUNT=$2 rec_lua "journal-$1" <<'EOF'
local prefix, n = os.getenv("REC_PREFIX"), math.tointeger(tonumber(os.getenv("REC_COUNT")))
for i = 1, n do
	case(string.format("%s: message %d accepted", prefix, i), function()
		local r = session({ port = 587, tls = "TLSv1.3", auth = "PLAIN",
			user = "cp@example.test", helo = "checkpoint.example",
			from = string.format("<%s-%d@example.test>", prefix, i),
			rcpts = { { addr = "<x@remote.example>", mailer = "smtp" } },
			headers = { { "Subject", prefix .. " " .. i } }, body = "x\r\n", eom = true })
		expect(r.eom, SMFIR_CONTINUE, "EOM")
	end)
end
EOF
}

# round CHECKPOINT PREFIX TOTAL WARNING: five events journaled with the
# database down, the checkpoint replaced, database up, restart: TOTAL
# rows in all, the PREFIX ones once each, WARNING in the log.
round() {
	rec_pg_down
	rec_start "$PM_TMP/portmilter.conf"
	journal "$2" 5
	tap_ok $? "$2: five events journaled with the database down"
	rec_stop
	printf '%s\n' "$1" >"$REC_JOURNAL/checkpoint"
	rec_pg_up
	tap_ok $? "$2: checkpoint set to \"$1\", PostgreSQL up"
	rec_start "$PM_TMP/portmilter.conf"
	if rec_wait "$3" "SELECT count(*) FROM portmilter.events" 20; then
		tap_ok 0 "$2: $3 rows in all"
	else
		tap_ok 1 "$2: $3 rows in all: $REC_GOT after 20 s"
		grep -i journal "$PM_LOG" | tap_diag_file -
	fi
	rec_is "$2: the five events, once each" "5|5" \
		"SELECT count(*), count(DISTINCT event_id) FROM portmilter.events
		 WHERE sender LIKE '<$2-%'"
	grep -qF "warning: journal: $REC_JOURNAL/checkpoint names $4" "$PM_LOG"
	tap_ok $? "$2: the log names the checkpoint file: \"... names $4\"" ||
		grep -i journal "$PM_LOG" | tap_diag_file -
	rec_drained
	tap_ok $? "$2: the journal drained"
}

round "0000000000000001 999999" past-end 5 \
	"offset 999999, past the end of segment 0000000000000001"
rec_stop
round "00000000000000ff 0" beyond 10 \
	"segment 00000000000000ff, beyond the last one"
journal after 2
tap_ok $? "after: two more events with the database up"
if rec_wait 12 "SELECT count(*) FROM portmilter.events" 20; then
	tap_ok 0 "after: new events shipped too (12 rows)"
else
	tap_ok 1 "after: new events shipped too (12 rows): $REC_GOT after 20 s"
fi

# ---- file modes --------------------------------------------------------------

rec_sql "ALTER TABLE portmilter.events ADD CONSTRAINT test_refuse
	 CHECK (sender IS DISTINCT FROM '<refuse-1@example.test>')" >/dev/null
journal refuse 1
tap_ok $? "refuse: one event the database will refuse"
pm_wait_log "$PM_LOG" "the database refused a record" 100
tap_ok $? "refuse: the shipper puts it aside in rejected.log" ||
	tail -n 5 "$PM_LOG" | tap_diag_file -
# The shipper may delete a segment or rename checkpoint.tmp between the
# listing and the stat: a file gone by then is not there to check.
modes=
for f in "$REC_JOURNAL"/*; do
	m=$(stat -c %a "$f" 2>/dev/null) || continue
	modes="$modes $(basename "$f")=$m"
done
case $modes in
*checkpoint=* ) has_cp=0 ;;
*) has_cp=1 ;;
esac
[ "$has_cp" -eq 0 ] && [ -f "$REC_JOURNAL/rejected.log" ] &&
	[ -f "$REC_JOURNAL/lock" ] &&
	! printf '%s\n' "$modes" | tr ' ' '\n' | grep -v '^$' | grep -qv '=640$'
tap_ok $? "every journal file is 0640 (umask 007):$modes"

rec_finish
