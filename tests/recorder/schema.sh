#!/bin/sh
# schema.sh - the shipper never writes into a schema newer than it knows
# (issue 9, item 12) (TAP).
#
# schema_version gets a version 99. The milter starts: the shipper says
# "database schema 99 is newer than this portmilter (N): upgrade
# portmilter", N sessions are played and recorded in the journal, and
# not one row reaches portmilter.events. Version 99 is removed (as an
# upgrade would make the schema known): within a bounded wait the N rows
# arrive, exactly once, and the journal is emptied. Last, a schema from
# before 004_writer_version.sql (the writer may not read schema_version)
# is still shipped into.

set -u
. "${top_srcdir:?top_srcdir must be set}/tests/recorder/lib.sh"

N=${REC_N:-20}
rec_init
KNOWN=$(sed -n 's/^#define PM_SCHEMA_VERSION \([0-9][0-9]*\)$/\1/p' \
	"$top_srcdir/lib/schema.h")
rec_sql "INSERT INTO portmilter.schema_version (version) VALUES (99)" >/dev/null
rec_conf "$PM_TMP/portmilter.conf"
rec_start "$PM_TMP/portmilter.conf"
want="database schema 99 is newer than this portmilter ($KNOWN): upgrade portmilter"
pm_wait_log "$PM_LOG" "$want" 100
if ! tap_ok $? "the shipper says: $want"; then
	grep "shipper" "$PM_LOG" | tail -n 5 | tap_diag_file -
fi

# play TAG COUNT: COUNT accepted messages on 587, senders <TAG-i@...>.
play() {
	REC_TAG=$1 REC_COUNT=$2 rec_lua "$1" <<'EOF'
local n = math.tointeger(tonumber(os.getenv("REC_COUNT")))
local tag = os.getenv("REC_TAG")
local bad = {}
for i = 1, n do
	local good, err = pcall(function()
		local r = session({ port = 587, tls = "TLSv1.3", auth = "PLAIN",
			user = "schema@example.test", client_ip = "198.51.100.7",
			helo = "schema.example",
			from = string.format("<%s-%03d@example.test>", tag, i),
			rcpts = { { addr = "<x@remote.example>", mailer = "smtp" } },
			headers = { { "Subject", "schema " .. i } }, body = "x\r\n",
			eom = true })
		expect(r.eom, SMFIR_CONTINUE, "EOM")
	end)
	if not good then bad[#bad + 1] = i .. ": " .. tostring(err) end
end
ok(#bad == 0, string.format("%d messages (%s) accepted: mail flows", n, tag),
   table.concat(bad, "\n", 1, math.min(#bad, 10)))
EOF
}

play newer "$N"
tap_ok $? "miltertest ran the sessions to their end"
i=0
while [ "$(rec_records)" -ne "$N" ] && [ "$i" -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ "$(rec_records)" -eq "$N" ]
tap_ok $? "the journal holds the $N records ($(rec_records))"
# The shipper retries (backoff 1, 2, 4 s ...): give it several tries.
sleep 4
rec_is "nothing was written into schema 99" "0" \
	"SELECT count(*) FROM portmilter.events"
[ "$(rec_records)" -eq "$N" ]
tap_ok $? "the journal still holds the $N records ($(rec_records)): nothing lost"

rec_sql "DELETE FROM portmilter.schema_version WHERE version = 99" >/dev/null
if rec_wait "$N" "SELECT count(*) FROM portmilter.events" 45; then
	tap_ok 0 "schema known again: $N rows shipped $((REC_WAITED / 10)).$((REC_WAITED % 10)) s later"
else
	tap_ok 1 "schema known again: $N rows shipped; $REC_GOT after 45 s"
	grep "shipper" "$PM_LOG" | tail -n 5 | tap_diag_file -
fi
rec_is "exactly once each" "$N|$N" \
	"SELECT count(*), count(DISTINCT sender) FROM portmilter.events
	 WHERE sender ~ '^<newer-[0-9]{3}@example.test>$'"
rec_drained
tap_ok $? "the journal was emptied after shipping ($(rec_seg_bytes) bytes left)"
grep -q "shipper: connected to database" "$PM_LOG"
tap_ok $? "the shipper logged its connection once the schema was known"

# A database at version 3 (before the writer could read schema_version):
# known, shipped into as before.
rec_stop
rec_sql "REVOKE SELECT ON portmilter.schema_version FROM portmilter_writer;
	DELETE FROM portmilter.schema_version WHERE version > 3" >/dev/null
rec_start "$PM_TMP/portmilter.conf"
pm_wait_log "$PM_LOG" "shipper: connected to database" 100
if ! tap_ok $? "schema 3, schema_version unreadable by the writer: the shipper connects"; then
	grep "shipper" "$PM_LOG" | tail -n 5 | tap_diag_file -
fi
play old 3
if rec_wait "$((N + 3))" "SELECT count(*) FROM portmilter.events" 20; then
	tap_ok 0 "... and ships (3 more rows)"
else
	tap_ok 1 "... and ships (3 more rows): $REC_GOT rows after 20 s"
	grep "shipper" "$PM_LOG" | tail -n 5 | tap_diag_file -
fi

rec_finish
