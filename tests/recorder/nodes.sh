#!/bin/sh
# nodes.sh - sending budgets across nodes (issue 11): two milters with
# different node_name, journals and sockets on one throwaway PostgreSQL,
# limit_messages = 4/1h on 5870, driven by miltertest.
#   - alice sends 2 through node A; through node B the 3rd and 4th are
#     accepted and, once B has pulled A's usage, the 5th is refused at
#     MAIL (the lag from A's 2nd message to B's first refusal is printed
#     and must stay under 10 s); A then refuses her too (B's 2 learnt);
#   - the same for a login that is not valid UTF-8 ("Dave" 0xff
#     "@example.test"): the usage rows hold its text form (U+FFFD,
#     lower case), which its budget is keyed by too;
#   - portmilter.usage holds 2 messages of each node for each;
#   - PostgreSQL stopped: each node still refuses the 5th message of a
#     user it counted itself, says once that it counts its own usage
#     only, and B accepts bob, whose 4 messages went through A; once
#     PostgreSQL is back and A has shipped, B refuses bob;
#   - A restarted: it reloads its own and B's usage and refuses alice.
# Probes are MAIL commands whose session then ends without a message:
# an aborted transaction consumes no budget.
. "${top_srcdir:?top_srcdir must be set}/tests/recorder/lib.sh"

rec_init

A_PID=
stop_a() {
	[ -n "$A_PID" ] || return 0
	_sa_pid=$PM_PID
	PM_PID=$A_PID
	pm_stop 200
	_sa_rc=$?
	A_STATUS=$PM_STATUS
	A_PID=
	PM_PID=$_sa_pid
	return "$_sa_rc"
}
# shellcheck disable=SC2016,SC2034 # run by pm_cleanup (tests/milter/lib.sh)
PM_CLEANUP_HOOK='stop_a; pg_stop "$PM_TMP/pg"'

node_conf() {	# NAME
	mkdir -p "$PM_TMP/journal-$1" || exit 99
	cat >"$PM_TMP/$1.conf" <<EOF || exit 99
journal_directory = $PM_TMP/journal-$1
database = $REC_CONNINFO
node_name = node-$1
local_domains = example.test

[port 5870]
mode = submission
limit_messages = 4/1h
EOF
}

# start_node NAME: the daemon on $PM_TMP/NAME.sock (PM_PID), its log
# NAME.K.log in SN_LOG
start_node() {
	REC_STARTS=$((REC_STARTS + 1))
	SN_LOG=$PM_TMP/$1.$REC_STARTS.log
	if ! pm_start "$PM_TMP/$1.conf" "unix:$PM_TMP/$1.sock" "$SN_LOG"; then
		echo "Bail out! node $1 did not start"
		tap_diag_file "$SN_LOG"
		exit 99
	fi
}

node_conf a
node_conf b
start_node a
A_PID=$PM_PID
LOG_a=$SN_LOG
start_node b
B_PID=$PM_PID
LOG_b=$SN_LOG
# PM_PID is B from now on; A is A_PID.
PM_LOG=$LOG_b
export PM_LOG
PM_SOCKET=unix:$PM_TMP/b.sock
export PM_SOCKET
pm_wait_log "$LOG_a" "usage: loaded" 100 &&
	pm_wait_log "$LOG_b" "usage: loaded" 100
tap_ok $? "both nodes loaded the (empty) usage at start"

# The Lua side: sessions on either node, the probe loop, and the time.
cat >"$PM_TMP/nodes.lua" <<'EOF'
A = "unix:" .. os.getenv("PM_TMP") .. "/a.sock"
B = "unix:" .. os.getenv("PM_TMP") .. "/b.sock"
local C = SMFIR_CONTINUE

function now_ms()
	local p = assert(io.popen("date +%s%N"))
	local t = tonumber(p:read("l")) // 1000000
	p:close()
	return t
end

-- One message of user through node on 5870 (STARTTLS, AUTH).
function send(node, user, tag, eom)
	return session({ socket = node, port = 5870, tls = "TLSv1.3",
			 auth = true, user = user, from = tag_from(tag),
			 rcpts = { LOCAL_RCPT }, eom = eom ~= false })
end

function send_ok(node, user, tag)
	local r = send(node, user, tag)
	expect(r.mail, C, tag .. ": MAIL")
	expect(r.rcpt[1], C, tag .. ": RCPT")
	expect(r.eom, C, tag .. ": end of message")
end

-- MAIL probes (no message) until one is refused; the ms it took, or
-- nil after max_s seconds.
function probe_until_refused(node, user, tag, max_s)
	local t0 = now_ms()
	local i = 0
	while now_ms() - t0 < max_s * 1000 do
		i = i + 1
		local r = send(node, user, tag .. "-p" .. i, false)
		if r.mail ~= C then
			return now_ms() - t0, r
		end
		os.execute("sleep 0.1")
	end
	return nil
end

function save(name, value)
	local f = assert(io.open(os.getenv("PM_TMP") .. "/" .. name, "w"))
	f:write(tostring(value), "\n")
	f:close()
end

function load(name)
	local f = assert(io.open(os.getenv("PM_TMP") .. "/" .. name))
	local v = tonumber(f:read("l"))
	f:close()
	return v
end
EOF
lua_run() {	# NAME: stdin after lib.lua and nodes.lua (in this shell:
		# rec_lua counts the TAP cases in tap_n)
	{
		echo "dofile(os.getenv(\"PM_TMP\") .. \"/nodes.lua\")"
		cat
	} >"$PM_TMP/$1.in" || exit 99
	rec_lua "$1" <"$PM_TMP/$1.in"
}

lua_run across <<'EOF'
DAVE = "Dave\xff@example.test"
case("alice: 2 messages through node A", function()
	send_ok(A, "alice@example.test", "n-alice-1")
	send_ok(A, "alice@example.test", "n-alice-2")
	save("t0", now_ms())
	send_ok(A, DAVE, "n-dave-1")
	send_ok(A, DAVE, "n-dave-2")
end)
case("alice: the 3rd and 4th through node B", function()
	send_ok(B, "alice@example.test", "n-alice-3")
	send_ok(B, "alice@example.test", "n-alice-4")
	send_ok(B, DAVE, "n-dave-3")
	send_ok(B, DAVE, "n-dave-4")
end)
case("alice: the 5th refused by node B once it knows A's 2 (lag < 10 s)",
     function()
	local waited = probe_until_refused(B, "alice@example.test",
					   "n-alice-5", 20)
	check(waited ~= nil, "node B still accepts MAIL after 20 s")
	local lag = now_ms() - load("t0")
	diag(string.format("cross-node lag: %.1f s from A's 2nd message to B's "
			   .. "first refusal", lag / 1000))
	check(lag < 10000, "lag %d ms, over 10 s", lag)
	local m = log_mark()
	local r = send(B, "alice@example.test", "n-alice-5")
	refused(r.mail, m, "n-alice-5@", "MAIL", "451", "4.7.1",
		"limit_messages")
end)
case("Dave 0xff (not UTF-8): the 5th refused by node B, A's 2 counted",
     function()
	local waited = probe_until_refused(B, DAVE, "n-dave-5", 20)
	check(waited ~= nil, "node B still accepts MAIL after 20 s")
end)
EOF

PM_LOG=$LOG_a
lua_run back <<'EOF'
case("alice: node A refuses her too once it knows B's 2", function()
	local waited = probe_until_refused(A, "alice@example.test",
					   "n-alice-a5", 20)
	check(waited ~= nil, "node A still accepts MAIL after 20 s")
	diag(string.format("node A refused after %.1f s of probes",
			   waited / 1000))
end)
EOF
PM_LOG=$LOG_b

rec_is "portmilter.usage: 2 messages of alice and of Dave 0xff (as dave U+FFFD) on each node" \
	"node-a|alice@example.test|2
node-a|dave$(printf '\357\277\275')@example.test|2
node-b|alice@example.test|2
node-b|dave$(printf '\357\277\275')@example.test|2" \
	"SELECT node, login, sum(messages) FROM portmilter.usage
	 GROUP BY 1, 2 ORDER BY node, login COLLATE \"C\""

rec_pg_down
lua_run down <<'EOF'
case("database down, node A: bob's 4 accepted, the 5th refused", function()
	for i = 1, 4 do
		send_ok(A, "bob@example.test", "n-bob-" .. i)
	end
	local m = log_mark()
	local r = send(A, "bob@example.test", "n-bob-5")
	check(r.mail ~= SMFIR_CONTINUE, "bob's 5th MAIL accepted by A")
end)
case("database down, node B: carol's 4 accepted, the 5th refused", function()
	for i = 1, 4 do
		send_ok(B, "carol@example.test", "n-carol-" .. i)
	end
	local m = log_mark()
	local r = send(B, "carol@example.test", "n-carol-5")
	refused(r.mail, m, "n-carol-5@", "MAIL", "451", "4.7.1",
		"limit_messages")
end)
case("database down, node B: bob accepted (A's usage unknown)", function()
	send_ok(B, "bob@example.test", "n-bob-b1")
end)
EOF
pm_wait_log "$LOG_a" "usage only until it is back" 100 &&
	pm_wait_log "$LOG_b" "usage only until it is back" 100
tap_ok $? "both nodes logged that they count their own usage only"
[ "$(grep -c "usage only until it is back" "$LOG_b")" -eq 1 ]
tap_ok $? "logged once (not at every attempt)"

rec_pg_up || echo "Bail out! PostgreSQL did not restart"
lua_run up <<'EOF'
case("database back: node B refuses bob once A's usage is shipped and "
     .. "pulled", function()
	local waited = probe_until_refused(B, "bob@example.test", "n-bob-b2",
					   40)
	check(waited ~= nil, "node B still accepts bob after 40 s")
	diag(string.format("after the database came back: %.1f s",
			   waited / 1000))
end)
EOF

stop_a
tap_ok $? "node A stopped on SIGTERM (status $A_STATUS)"
start_node a
A_PID=$PM_PID
LOG_a=$SN_LOG
PM_PID=$B_PID
pm_wait_log "$LOG_a" "usage: loaded" 100
tap_ok $? "node A restarted and loaded the usage"
PM_LOG=$LOG_a
lua_run restart <<'EOF'
case("node A after a restart: alice still refused (her 4 reloaded)",
     function()
	local m = log_mark()
	local r = send(A, "alice@example.test", "n-alice-r")
	refused(r.mail, m, "n-alice-r@", "MAIL", "451", "4.7.1",
		"limit_messages")
end)
EOF
PM_LOG=$LOG_b

pm_log_clean "$LOG_a"
tap_ok $? "node A: no panic, fatal error or sanitizer report in the log"
stop_a
tap_ok $? "node A stopped on SIGTERM (status $A_STATUS)"
rec_finish
