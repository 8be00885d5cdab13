#!/bin/sh
# fields.sh - every column of portmilter.events, for a handful of sessions
# played through the real daemon and shipped to a real PostgreSQL (TAP).
#
# The milter ships as pm_milter, a login role with portmilter_writer only
# (INSERT; the least privilege sql/README.md recommends). Each session has
# its own HELO, the key its row is found by; the expected row is written
# out below from what the session sends (doc/events.md says what each
# column holds), never taken from the database. Message size: no port
# has a limit_bytes budget, so the milter does not read the message
# (headers and body are not even sent): the size is the SIZE= of MAIL,
# NULL without one (doc/events.md; the exact size from Postfix's log is
# tests/recorder/logread.sh's).
# Then one smoke check of `portmilter-report ports` (as a reader role).

set -u
. "${top_srcdir:?top_srcdir must be set}/tests/recorder/lib.sh"

rec_init
t0=$(rec_sql "SELECT now()")

# Port 2527 is an mx port that takes one recipient per message.
rec_conf "$PM_TMP/portmilter.conf" "[port 2527]" "mode = mx" \
	"max_recipients = 1"
rec_start "$PM_TMP/portmilter.conf"

# acc587: MAIL ... SIZE=4321, headers and body not sent.
size_acc587=4321
# refused25: no SIZE=: no size.
size_refused25='\N'
# implicit465 (raw transport): SIZE=512, EOM without header or body.
size_implicit465=512
# tempfail2527: no SIZE=.
size_tempfail2527='\N'

rec_lua fields <<'EOF'
local C = SMFIR_CONTINUE
local function remote(u) return { addr = "<" .. u .. "@remote.example>", mailer = "smtp" } end
local function loc(u, m) return { addr = "<" .. u .. "@example.test>", mailer = m or "local" } end

case("acc587: TLS + AUTH on 587, two recipients, headers and body: accepted", function()
	local r = session({ port = 587, tls = "TLSv1.3", auth = "PLAIN",
		user = "alice@example.test", client_ip = "198.51.100.7",
		client_name = "mua1.example.net", helo = "fields-acc587.example",
		from = "<alice@example.test>", mail_args = { "SIZE=4321" },
		rcpts = { remote("bob"), remote("carol") },
		extra = { [SMFIC_MAIL] = { "i", "4Vx1Hq2Bz9" } },
		headers = { { "From", "alice@example.test" }, { "Subject", "fields test" },
			    { "To", "bob@remote.example" } },
		body = { "Hello\r\n", "world.\r\n" }, eom = true })
	expect(r.mail, C, "MAIL")
	expect(r.rcpt[1], C, "RCPT 1")
	expect(r.rcpt[2], C, "RCPT 2")
	expect(r.eom, C, "EOM")
end)

case("relay25: unauthenticated relay on 25: RCPT 554 5.7.1", function()
	local m = log_mark()
	local r = session({ port = 25, client_ip = "203.0.113.25",
		client_name = "mx.sender.example", helo = "fields-relay25.example",
		from = "<spam@sender.example>", rcpts = { remote("victim") } })
	refused(r.rcpt[1], m, "spam@sender.example", "RCPT", "554", "5.7.1", "relay")
end)

case("expose587: AUTH without TLS on 587: MAIL 538 5.7.11", function()
	local m = log_mark()
	local r = session({ port = 587, auth = "LOGIN", user = "dave@example.test",
		client_ip = "198.51.100.8", client_name = "mua2.example.net",
		helo = "fields-expose587.example", from = "<dave@example.test>" })
	refused(r.mail, m, "dave@example.test", "MAIL", "538", "5.7.11", "tls_before_auth")
end)

case("notxn5870: STARTTLS, EHLO twice, no MAIL (IPv6 client)", function()
	local r = session({ port = 5870, tls = "TLSv1.2",
		cipher = "ECDHE-RSA-AES128-GCM-SHA256", client_ip = "2001:db8::5870",
		client_name = "client6.example.org", helo = "fields-notxn5870.example",
		mail = false })
	expect(r.helo, C, "HELO")
end)

case("abort25: one local recipient, then abort before DATA", function()
	local r = session({ port = 25, client_ip = "203.0.113.26",
		client_name = "mx2.sender.example", helo = "fields-abort25.example",
		from = "<news@sender.example>", rcpts = { loc("postmaster") },
		extra = { [SMFIC_MAIL] = { "i", "4Vx1Hq2BzB" } }, keep = true })
	expect(r.rcpt[1], C, "RCPT")
	check(mt.abort(r.handle) == nil, "mt.abort failed")
	mt.disconnect(r.handle)
end)

case("refused25: two recipients refused by Postfix ({rcpt_mailer} error), one taken", function()
	local r = session({ port = 25, client_ip = "203.0.113.27",
		client_name = "lists.sender.example", helo = "fields-refused25.example",
		from = "<list@sender.example>",
		rcpts = { loc("user"), loc("nosuch1", "error"), loc("nosuch2", "error") },
		extra = { [SMFIC_MAIL] = { "i", "4Vx1Hq2BzC" } },
		headers = { { "Subject", "x" } }, body = "hi\r\n", eom = true })
	for i = 1, 3 do expect(r.rcpt[i], C, "RCPT " .. i) end
	expect(r.eom, C, "EOM")
end)

case("unknown2526: a port without a section, no TLS: strict, MAIL 530", function()
	local m = log_mark()
	local r = session({ port = 2526, client_ip = "192.0.2.26",
		client_name = "odd.example.net", helo = "fields-unknown2526.example",
		from = "<who@example.net>" })
	refused(r.mail, m, "who@example.net", "MAIL", "530", "5.7.0", "require_tls")
end)

case("implicit465: implicit TLS on 465, AUTH, EOM without data (raw transport)", function()
	local r = session({ raw = true, port = 465, tls = "TLSv1.3", auth = "PLAIN",
		user = "erin@example.test", client_ip = "198.51.100.9",
		client_name = "mua3.example.net", helo = "fields-implicit465.example",
		from = "<erin@example.test>", mail_args = { "SIZE=512" },
		rcpts = { remote("frank") },
		extra = { [SMFIC_MAIL] = { "i", "4Vx1Hq2BzD" } }, eom = true })
	expect(r.eom, C, "EOM")
end)

case("tempfail2527: second recipient over max_recipients = 1: 452 4.5.3", function()
	local m = log_mark()
	local r = session({ port = 2527, client_ip = "192.0.2.27",
		client_name = "bulk.example.net", helo = "fields-tempfail2527.example",
		from = "<bulk@example.net>", rcpts = { loc("one"), loc("two") },
		headers = { { "Subject", "y" } }, body = "z\r\n", eom = true })
	expect(r.rcpt[1], C, "RCPT 1")
	refused(r.rcpt[2], m, "bulk@example.net", "RCPT", "452", "4.5.3", "max_recipients")
	expect(r.eom, C, "EOM")
end)
EOF
tap_ok $? "miltertest played the sessions"

nsess=9
if rec_wait "$nsess" "SELECT count(*) FROM portmilter.events" 20; then
	tap_ok 0 "all $nsess events shipped (after $((REC_WAITED / 10)).$((REC_WAITED % 10)) s)"
else
	tap_ok 1 "all $nsess events shipped: $REC_GOT after 20 s"
	tail -n 20 "$PM_LOG" | tap_diag_file -
fi

# row HELO: the columns of the one event with that HELO, in this order.
cols="kind, node, port, port_known, service, client_addr, client_name, tls_version,
	tls_cipher, sasl_method, sasl_user, sender, nrcpt, nrcpt_rejected,
	nrcpt_tempfailed, nrcpt_refused, size, queue_id, verdict, rule, reply,
	credential_exposure"
row() {
	rec_is "$1: $2" "$3" "SELECT $cols FROM portmilter.events WHERE helo = '$1'"
}
N=$REC_NODE
row fields-acc587.example "accepted with TLS and AUTH, size $size_acc587" \
"transaction|$N|587|t|portmilter/587|198.51.100.7|mua1.example.net|TLSv1.3|\
TLS_AES_256_GCM_SHA384|PLAIN|alice@example.test|<alice@example.test>|2|0|0|0|\
$size_acc587|4Vx1Hq2Bz9|accepted|\\N|\\N|f"
row fields-relay25.example "relay refused" \
"transaction|$N|25|t|portmilter/25|203.0.113.25|mx.sender.example|\\N|\\N|\\N|\\N|\
<spam@sender.example>|0|1|0|0|\\N|\\N|rejected|relay|554 5.7.1 Relay access denied|f"
row fields-expose587.example "credential exposure" \
"transaction|$N|587|t|portmilter/587|198.51.100.8|mua2.example.net|\\N|\\N|LOGIN|\
dave@example.test|<dave@example.test>|0|0|0|0|\\N|\\N|rejected|tls_before_auth|\
538 5.7.11 Encryption required for requested authentication mechanism|t"
row fields-notxn5870.example "connection without a transaction" \
"connection|$N|5870|t|portmilter/5870|2001:db8::5870|client6.example.org|TLSv1.2|\
ECDHE-RSA-AES128-GCM-SHA256|\\N|\\N|\\N|0|0|0|0|\\N|\\N|none|\\N|\\N|f"
row fields-abort25.example "aborted" \
"transaction|$N|25|t|portmilter/25|203.0.113.26|mx2.sender.example|\\N|\\N|\\N|\\N|\
<news@sender.example>|1|0|0|0|\\N|4Vx1Hq2BzB|aborted|\\N|\\N|f"
row fields-refused25.example "recipients refused by Postfix, size $size_refused25" \
"transaction|$N|25|t|portmilter/25|203.0.113.27|lists.sender.example|\\N|\\N|\\N|\\N|\
<list@sender.example>|1|0|0|2|$size_refused25|4Vx1Hq2BzC|accepted|postfix_rejected|\\N|f"
row fields-unknown2526.example "unknown port (port_known false)" \
"transaction|$N|2526|f|portmilter/2526|192.0.2.26|odd.example.net|\\N|\\N|\\N|\\N|\
<who@example.net>|0|0|0|0|\\N|\\N|rejected|require_tls|\
530 5.7.0 Must issue a STARTTLS command first|f"
row fields-implicit465.example "implicit TLS, EOM only: size $size_implicit465 (SIZE=)" \
"transaction|$N|465|t|portmilter/465|198.51.100.9|mua3.example.net|TLSv1.3|\
TLS_AES_256_GCM_SHA384|PLAIN|erin@example.test|<erin@example.test>|1|0|0|0|\
$size_implicit465|4Vx1Hq2BzD|accepted|\\N|\\N|f"
row fields-tempfail2527.example "one recipient tempfailed, message accepted" \
"transaction|$N|2527|t|portmilter/2527|192.0.2.27|bulk.example.net|\\N|\\N|\\N|\\N|\
<bulk@example.net>|1|0|1|0|$size_tempfail2527|\\N|accepted|max_recipients|\
452 4.5.3 Too many recipients|f"

rec_is "every event id distinct and a version 4 UUID; one conn_id per session" \
	"$nsess|$nsess|$nsess" \
	"SELECT count(DISTINCT event_id),
		count(*) FILTER (WHERE event_id::text ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'),
		count(DISTINCT conn_id) FROM portmilter.events"
rec_is "times: test start <= conn_time <= event_time <= now" "$nsess" \
	"SELECT count(*) FROM portmilter.events WHERE '$t0' <= conn_time
		AND conn_time <= event_time AND event_time <= now()"
rec_is "no *_raw column set (every value was valid UTF-8)" "0" \
	"SELECT count(*) FROM portmilter.events WHERE helo_raw IS NOT NULL
		OR client_name_raw IS NOT NULL OR sasl_user_raw IS NOT NULL
		OR sender_raw IS NOT NULL"

# ---- portmilter-report ports, as the reader role -------------------------
# Worked out from the sessions above: 25 = relay25 (rejected, relay),
# abort25 (aborted), refused25 (accepted); 465 = implicit465; 587 = acc587
# (accepted, alice) and expose587 (rejected, dave, exposure); 2526 =
# unknown2526; 2527 = tempfail2527 (accepted); 5870 = a connection only.
"$REC_REPORT" -d "$REC_READER" --since 1h ports --format csv \
	>"$PM_TMP/ports.out" 2>"$PM_TMP/ports.err"
rc=$?
awk '{ printf "%s\r\n", $0 }' >"$PM_TMP/ports.exp" <<'EOF'
port,connections,transactions,accepted,rejected,tempfailed,aborted,rejects_by_rule,users,ips,exposures,auth_failures,refused_before_mail,tls_failures
25,3,3,1,1,0,1,"{""relay"": 1}",0,3,0,0,0,0
465,1,1,1,0,0,0,{},1,1,0,0,0,0
587,2,2,1,1,0,0,"{""tls_before_auth"": 1}",2,2,1,0,0,0
2526,1,1,0,1,0,0,"{""require_tls"": 1}",0,1,0,0,0,0
2527,1,1,1,0,0,0,{},0,1,0,0,0,0
5870,1,0,0,0,0,0,{},0,1,0,0,0,0
EOF
[ "$rc" -eq 0 ] && cmp -s "$PM_TMP/ports.exp" "$PM_TMP/ports.out"
if ! tap_ok $? "portmilter-report ports (as pm_abuse) counts what was sent"; then
	diff -u "$PM_TMP/ports.exp" "$PM_TMP/ports.out" | tap_diag_file -
	tap_diag_file "$PM_TMP/ports.err"
fi

# ---- the daemon ------------------------------------------------------------
rec_finish
