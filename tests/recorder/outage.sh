#!/bin/sh
# outage.sh - PostgreSQL down: mail keeps flowing, nothing is lost (TAP).
#
# The milter connects to the database, then PostgreSQL is stopped and a
# stream of N sessions (default 200; REC_N) is played: every reply must
# come within miltertest's timeout (3 s here) and the whole stream within
# 20 s (a generous bound: the SMTP path must never wait for the database;
# the timings are printed as "# " lines). The journal holds the N records;
# PostgreSQL is started again on the same port and, within a bounded
# wait, exactly N rows arrive (no loss, no duplicate), the right ones,
# and the journal is emptied.

set -u
. "${top_srcdir:?top_srcdir must be set}/tests/recorder/lib.sh"

N=${REC_N:-200}
rec_init
rec_conf "$PM_TMP/portmilter.conf"
rec_start "$PM_TMP/portmilter.conf"
pm_wait_log "$PM_LOG" "shipper: connected to database" 100
tap_ok $? "the shipper connected to the database (as pm_milter)"
# The line says where: the socket directory (host) and the port.
grep -qF "shipper: connected to database" "$PM_LOG" &&
	grep "shipper: connected to database" "$PM_LOG" | grep -qE " on $PGHOST port $PGPORT\$"
tap_ok $? "the \"connected\" line names host $PGHOST and port $PGPORT" ||
	grep "shipper: connected" "$PM_LOG" | tap_diag_file -

rec_pg_down
! rec_sql "SELECT 1" >/dev/null 2>&1
tap_ok $? "PostgreSQL is down"
bytes0=$(rec_seg_bytes)

# Session i: i % 3 == 0 relay refused on 25 (recorded at close), else an
# accepted message on 587 (i % 3 == 1) or 5870 (i % 3 == 2).
start=$(date +%s%N)
REC_N=$N rec_lua stream <<'EOF'
mt.set_timeout(3)
local N = math.tointeger(tonumber(os.getenv("REC_N")))
local C = SMFIR_CONTINUE
local function now_ms()
	local p = assert(io.popen("date +%s%N"))
	local t = tonumber(p:read("l"))
	p:close()
	return t / 1e6
end
local bad, max, total, slowest = {}, 0, 0, 0
for i = 1, N do
	local t0 = now_ms()
	local good, err = pcall(function()
		if i % 3 == 0 then
			local r = session({ port = 25, client_ip = "203.0.113.9",
				helo = "outage.example", from = string.format("<outage-%04d@sender.example>", i),
				rcpts = { { addr = "<x@remote.example>", mailer = "smtp" } } })
			expect(r.rcpt[1], SMFIR_REPLYCODE, "RCPT")
		else
			local r = session({ port = i % 3 == 1 and 587 or 5870, tls = "TLSv1.3",
				auth = "PLAIN", user = "u" .. i % 7 .. "@example.test",
				client_ip = "198.51.100." .. i % 250 + 1, helo = "outage.example",
				from = string.format("<outage-%04d@example.test>", i),
				rcpts = { { addr = "<x@remote.example>", mailer = "smtp" } },
				headers = { { "Subject", "outage " .. i } }, body = "x\r\n", eom = true })
			expect(r.eom, C, "EOM")
		end
	end)
	local dt = now_ms() - t0
	total = total + dt
	if dt > max then max, slowest = dt, i end
	if not good then bad[#bad + 1] = i .. ": " .. tostring(err) end
end
local f = assert(io.open(os.getenv("PM_TMP") .. "/stream.stats", "w"))
f:write(string.format("%.1f %d %.1f\n", max, slowest, total / N))
f:close()
ok(#bad == 0, string.format("%d sessions with the database down: every reply in time and as expected", N),
   table.concat(bad, "\n", 1, math.min(#bad, 10)))
EOF
tap_ok $? "miltertest ran the stream to its end"
end=$(date +%s%N)
ms=$(((end - start) / 1000000))
read -r max slowest avg <"$PM_TMP/stream.stats" || max='?' slowest='?' avg='?'
tap_diag "stream of $N sessions: ${ms} ms in all; per session: mean ${avg} ms, max ${max} ms (session $slowest)"
[ "$ms" -lt 20000 ]
tap_ok $? "the whole stream took less than 20 s (${ms} ms)"

# Relay refusals are recorded at close, just after miltertest hangs up.
i=0
while [ "$(rec_records)" -ne "$N" ] && [ "$i" -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
records=$(rec_records)
[ "$records" -eq "$N" ]
tap_ok $? "the journal holds $N records ($records)"
# A record is at least 12 (header) + 3 + 27 * 4 (lengths) + 36 + 29 + 36
# + 29 (event and connection ids and times) = 253 bytes.
bytes1=$(rec_seg_bytes)
[ $((bytes1 - bytes0)) -ge $((N * 253)) ]
tap_ok $? "the journal grew by at least $N * 253 bytes ($bytes0 -> $bytes1)"
grep -q "shipper: .*mail keeps flowing" "$PM_LOG"
if ! tap_ok $? "the shipper logged the outage"; then
	grep "shipper" "$PM_LOG" | tail -n 5 | tap_diag_file -
fi

rec_pg_up
tap_ok $? "PostgreSQL started again (same port)"
if rec_wait "$N" "SELECT count(*) FROM portmilter.events" 45; then
	tap_ok 0 "$N rows shipped $((REC_WAITED / 10)).$((REC_WAITED % 10)) s after PostgreSQL came back"
else
	tap_ok 1 "$N rows shipped after PostgreSQL came back: $REC_GOT after 45 s"
	grep "shipper" "$PM_LOG" | tail -n 5 | tap_diag_file -
fi
sleep 1
nacc=$((N - N / 3))
rec_is "exactly N rows, N distinct event ids, N distinct senders, all transactions" \
	"$N|$N|$N|$N" \
	"SELECT count(*), count(DISTINCT event_id), count(DISTINCT sender),
		count(*) FILTER (WHERE kind = 'transaction' AND sender ~ '^<outage-[0-9]{4}@')
	 FROM portmilter.events"
# No SIZE= in these sessions and no limit_bytes: the milter does not read
# the message, so the recorded size is NULL (README "The size of a
# message").
rec_is "verdicts: $nacc accepted (587, 5870) with no size, $((N / 3)) relay refusals (25)" \
	"$nacc|$((N / 3))|$(((N + 2) / 3))|$(((N + 1) / 3))" \
	"SELECT count(*) FILTER (WHERE verdict = 'accepted' AND size IS NULL),
		count(*) FILTER (WHERE verdict = 'rejected' AND rule = 'relay' AND port = 25),
		count(*) FILTER (WHERE port = 587), count(*) FILTER (WHERE port = 5870)
	 FROM portmilter.events"
rec_drained
tap_ok $? "the journal was emptied after shipping ($(rec_seg_bytes) bytes left)"

rec_finish
