#!/bin/sh
# cap.sh - journal_max_size reached with the database down (TAP).
#
# journal_max_size = 64k (the smallest allowed), PostgreSQL down from the
# start. Every session is an accepted message on 587 whose event has the
# same length (fixed-width sender, subject, address), so the journal
# fills up with whole records and the next one does not fit.
# 1. journal_full_action = drop: mail keeps being accepted past the cap,
#    "not recorded" is logged, the journal stays within the cap.
# 2. The same full journal, journal_full_action = tempfail: the first
#    message that cannot be recorded gets 451 4.3.0 at end of message,
#    the next ones at MAIL (rule journal_full, logged, naming the sender).
# 3. SIGHUP with journal_max_size = 128k: mail is accepted and journaled
#    again at once (3 messages); SIGHUP back to 64k: the next message
#    gets 451 4.3.0 at end of message again.
# 4. PostgreSQL up: exactly the journaled events are shipped (the first
#    ones of step 1 and those of step 3), the journal drains, and mail is
#    accepted (and recorded) again.

set -u
. "${top_srcdir:?top_srcdir must be set}/tests/recorder/lib.sh"

M=${REC_N:-250}
CAP=65536
rec_init
rec_pg_down
for action in drop tempfail; do
	rec_conf "$PM_TMP/$action.conf" "journal_max_size = 64k" \
		"journal_full_action = $action"
done
rec_conf "$PM_TMP/raised.conf" "journal_max_size = 128k" \
	"journal_full_action = tempfail"

# sessions FIRST LAST: accepted messages number FIRST..LAST; prints one
# case; the number of sessions whose end of message was answered
# CONTINUE goes to $PM_TMP/acked.
sessions() {
	REC_FIRST=$1 REC_LAST=$2 rec_lua "sessions-$1" <<'EOF'
local first = math.tointeger(tonumber(os.getenv("REC_FIRST")))
local last = math.tointeger(tonumber(os.getenv("REC_LAST")))
local acked, bad = 0, {}
for i = first, last do
	local good, err = pcall(function()
		local r = session({ port = 587, tls = "TLSv1.3", auth = "PLAIN",
			user = "cap@example.test", helo = "cap.example", client_ip = "198.51.100.64",
			from = string.format("<cap-%04d@example.test>", i),
			rcpts = { { addr = "<x@remote.example>", mailer = "smtp" } },
			headers = { { "Subject", string.format("cap %04d", i) } },
			body = "x\r\n", eom = true })
		expect(r.eom, SMFIR_CONTINUE, "EOM")
	end)
	if good then acked = acked + 1 else bad[#bad + 1] = i .. ": " .. tostring(err) end
end
local f = assert(io.open(os.getenv("PM_TMP") .. "/acked", "w"))
f:write(acked, "\n")
f:close()
ok(#bad == 0, string.format("sessions %d..%d: every message accepted", first, last),
   table.concat(bad, "\n", 1, math.min(#bad, 5)))
EOF
}

# ---- 1. drop -------------------------------------------------------------------
rec_start "$PM_TMP/drop.conf"
sessions 1 "$M"
tap_ok $? "miltertest ran the sessions"
k=$(rec_records)
bytes=$(rec_seg_bytes)
tap_diag "journal: $k records, $bytes bytes"
[ "$k" -gt 0 ] && [ "$k" -lt "$M" ]
tap_ok $? "journal_full_action = drop: $M messages accepted, $k recorded, the rest dropped"
len=$((bytes / (k > 0 ? k : 1)))
[ "$bytes" -le "$CAP" ] && [ $((len * k)) -eq "$bytes" ] && [ $((bytes + len)) -gt "$CAP" ]
tap_ok $? "the journal is within the cap and full: $k records of $len bytes, the next would pass $CAP"
grep -q "warning: journal .*: size cap reached: [0-9]* events not recorded so far" "$PM_LOG"
if ! tap_ok $? "\"events not recorded\" logged"; then
	tail -n 5 "$PM_LOG" | tap_diag_file -
fi
rec_stop
pm_log_clean "$PM_LOG"
tap_ok $? "no panic, fatal error or sanitizer report in the log"

# ---- 2. tempfail ---------------------------------------------------------------
# The daemon reads live.conf: step 3 changes it and reloads.
cp "$PM_TMP/tempfail.conf" "$PM_TMP/live.conf"
rec_start "$PM_TMP/live.conf"
REC_FIRST=$((M + 1)) rec_lua tempfail <<'EOF'
local n = math.tointeger(tonumber(os.getenv("REC_FIRST")))
local function msg(i)
	return { port = 587, tls = "TLSv1.3", auth = "PLAIN",
		user = "cap@example.test", helo = "cap.example", client_ip = "198.51.100.64",
		from = string.format("<cap-%04d@example.test>", i),
		rcpts = { { addr = "<x@remote.example>", mailer = "smtp" } },
		headers = { { "Subject", string.format("cap %04d", i) } },
		body = "x\r\n", eom = true }
end
-- The decision line is found by its rule (one session per mark); it
-- also names the sender, like every other decision line.
local function names_sender(line, i)
	local want = string.format("from=<cap-%04d@example.test>", i)
	ok(line ~= nil and line:find(want, 1, true) ~= nil,
	   string.format("... and the decision line names the sender (%d)", i),
	   line)
end
local line
case("journal full: the message that cannot be recorded gets 451 4.3.0 at end of message", function()
	local m = log_mark()
	local r = session(msg(n))
	line = refused(r.eom, m, "rule=journal_full", "END-OF-MESSAGE", "451", "4.3.0", "journal_full")
end)
names_sender(line, n)
for i = n + 1, n + 2 do
	line = nil
	case(string.format("journal full: new mail (%d) gets 451 4.3.0 at MAIL, rule journal_full", i), function()
		local m = log_mark()
		local r = session(msg(i))
		line = refused(r.mail, m, "rule=journal_full", "MAIL", "451", "4.3.0", "journal_full")
	end)
	names_sender(line, i)
end
EOF
tap_ok $? "miltertest ran the tempfail sessions"
grep -q "warning: journal .*: size cap reached" "$PM_LOG"
tap_ok $? "the full journal is logged"
[ "$(rec_records)" -eq "$k" ]
tap_ok $? "the journal still holds the $k records"

# ---- 3. a reload changes the cap ----------------------------------------------
# reload CONF BYTES: live.conf = CONF, SIGHUP, wait for the new cap.
reload() {
	cp "$1" "$PM_TMP/live.conf"
	kill -HUP "$PM_PID"
	pm_wait_log "$PM_LOG" "journal_max_size now $2 bytes"
}
reload "$PM_TMP/raised.conf" 131072
tap_ok $? "SIGHUP with journal_max_size = 128k: the new cap is logged" ||
	tail -n 5 "$PM_LOG" | tap_diag_file -
sessions $((M + 4)) $((M + 6))
tap_ok $? "miltertest ran the sessions (the database still down)"
n=$(rec_records)
[ "$n" -eq $((k + 3)) ]
tap_ok $? "... and journaled: $((k + 3)) records (found $n)"
reload "$PM_TMP/tempfail.conf" 65536
tap_ok $? "SIGHUP with journal_max_size = 64k again: the new cap is logged" ||
	tail -n 5 "$PM_LOG" | tap_diag_file -
REC_FIRST=$((M + 7)) rec_lua lowered <<'EOF'
local n = math.tointeger(tonumber(os.getenv("REC_FIRST")))
case("journal_max_size = 64k: the next message gets 451 4.3.0 at end of message", function()
	local m = log_mark()
	local r = session({ port = 587, tls = "TLSv1.3", auth = "PLAIN",
		user = "cap@example.test", helo = "cap.example", client_ip = "198.51.100.64",
		from = string.format("<cap-%04d@example.test>", n),
		rcpts = { { addr = "<x@remote.example>", mailer = "smtp" } },
		headers = { { "Subject", string.format("cap %04d", n) } },
		body = "x\r\n", eom = true })
	refused(r.eom, m, "rule=journal_full", "END-OF-MESSAGE", "451", "4.3.0", "journal_full")
end)
EOF
tap_ok $? "miltertest ran the session"
[ "$(rec_records)" -eq $((k + 3)) ]
tap_ok $? "... and the journal still holds the $((k + 3)) records"

# ---- 4. the database comes back -----------------------------------------------
rec_pg_up
tap_ok $? "PostgreSQL started again"
if rec_wait "$((k + 3))" "SELECT count(*) FROM portmilter.events" 40; then
	tap_ok 0 "$((k + 3)) rows shipped $((REC_WAITED / 10)).$((REC_WAITED % 10)) s after PostgreSQL came back"
else
	tap_ok 1 "$((k + 3)) rows shipped after PostgreSQL came back: $REC_GOT after 40 s"
fi
idx="substring(sender from '^<cap-([0-9]{4})@')::int"
rec_is "exactly the first $k messages of step 1 and the 3 of step 3, once each" \
	"$((k + 3))|$((k + 3))|$k|3" \
	"SELECT count(*), count(DISTINCT event_id),
		count(*) FILTER (WHERE $idx BETWEEN 1 AND $k AND verdict = 'accepted'),
		count(*) FILTER (WHERE $idx BETWEEN $M + 4 AND $M + 6 AND verdict = 'accepted')
	 FROM portmilter.events"
rec_drained
tap_ok $? "the journal drained"
sessions $((M + 8)) $((M + 10))
tap_ok $? "journal_full_action = tempfail: mail is accepted again after the journal drained"
if rec_wait "3" "SELECT count(*) FROM portmilter.events WHERE $idx > $M + 7" 20; then
	tap_ok 0 "... and recorded: exactly the 3 new messages"
else
	tap_ok 1 "... and recorded: $REC_GOT rows of step 4, wanted 3"
fi
rec_is "nothing of the refused messages was recorded" "0" \
	"SELECT count(*) FROM portmilter.events
	 WHERE $idx BETWEEN $k + 1 AND $M + 3 OR $idx = $M + 7"

rec_finish
