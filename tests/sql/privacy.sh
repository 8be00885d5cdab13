#!/bin/sh
# privacy.sh - data that expires (sql/010_privacy.sql, portmilter-report
# maintain, forget, export) against a real PostgreSQL (TAP).
#
# A throwaway cluster (tests/lib/pg.sh), stopped by a trap whatever
# happens; the migrations; nine events placed relative to now (below),
# retention 100 days and reduction after 30; then: maintain drops the
# old partition and reduces the addresses, the reports read the reduced
# rows (ip on an address finds its network), a second run does nothing,
# two runs at once do the work once, backfills into a reduced or dropped
# period behave as sql/README.md says; export is valid JSON holding
# everything about a user, forget pseudonymises it everywhere (and
# stand-ins of the suspensions, alerts and a per-user table when their
# migrations are not here), a second forget changes nothing; the
# budgets' usage addresses are reduced too, and forget and export take
# every spelling of a name that differs only in ASCII case (013). Every
# expected value is worked out by hand from the rows below.
#
# Environment (set by the automake harness; defaults for a run by hand
# from the top of a built source tree): top_srcdir, top_builddir,
# PORTMILTER_REPORT (the binary), PG_BINDIR.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
report=${PORTMILTER_REPORT:-$builddir/report/portmilter-report}
. "$srcdir/tests/lib/pg.sh"

tmp='' n=0	# both set by pg_test_begin (tests/lib/pg.sh)
pg_test_begin privacy	# skip, psql, $tmp and its cleanup, ok/not_ok

if ! command -v python3 >/dev/null 2>&1; then
	tap_skip_all "python3 not found (checks the JSON)"
fi

DB="dbname=portmilter"
# rep ARGS...: the report on the test database; $rc, $tmp/out, $tmp/err.
rep() { "$report" -d "$DB" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }
exp_text() { cat >"$tmp/exp"; }
# sql, sql_is: tests/lib/pg.sh
# csv_cols FIELDS: $tmp/out (CSV) cut to FIELDS, CR dropped.
csv_cols() { tr -d '\r' <"$tmp/out" | cut -d, -f"$1" >"$tmp/out.cut" && mv "$tmp/out.cut" "$tmp/out"; }
# maintained: $tmp/out with the cutoff (a time stamp of now) blanked.
# The rollups' catch-up (014) is part of maintain: its day count (how
# many UTC days the fixture's relative times fall on) blanked too.
maintained() { sed 's/ before [0-9][^i]* in / before CUTOFF in /; s/^rolled up [0-9][0-9]* days*$/rolled up N days/' "$tmp/out" >"$tmp/out.m" && mv "$tmp/out.m" "$tmp/out"; }
# py NAME CODE: python3 CODE reads the JSON of $tmp/out as d; it must print ok.
py() {
	got=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); $2" "$tmp/out" 2>&1)
	if [ "$got" = ok ]; then ok "$1"; else echo "$got" >"$tmp/diff"; not_ok "$1" "$tmp/diff" "$tmp/out"; fi
}

if [ ! -x "$report" ]; then
	echo "Bail out! $report is not built"
	exit 1
fi
if ! pg_start "$tmp" 2>"$tmp/pg_start.err"; then
	sed 's/^/# /' "$tmp/pg_start.err"
	echo "Bail out! cannot start PostgreSQL"
	exit 1
fi
rep migrate --sql-dir "$srcdir/sql"
if [ "$rc" -ne 0 ]; then
	sed 's/^/# /' "$tmp/err"
	echo "Bail out! migrate failed"
	exit 1
fi

# ---- the events ---------------------------------------------------------------
#
# Days before now, and the rows (retention 100 days, reduction after 30):
#   200 d  r1 alice 192.0.2.10, r2 bob 198.51.100.7: their month ends at
#          least 169 days ago, so it is dropped (2 events)
#    75 d  r3 alice 192.0.2.10 (name dsl-192-0-2-10.isp.example, HELO
#          [192.0.2.10]), r4 alice 2001:db8:1:2::5 (HELO alice-pc),
#          r5 no user 203.0.113.5 (a reply naming the address): their
#          month ends at least 44 days ago: all reduced, and the month
#          gets the trigger
#    35 d  r6 bob 198.51.100.7, r7 an auth_failure of alice from
#          203.0.113.9: reduced (their month holds the cutoff or ends
#          before it, and is at least 4 days of the 35 from another)
#    10 d  r8 alice 192.0.2.10 (a reply naming her and her sender),
#          r9 carol 192.0.2.99: kept whole
month_of() { date -u -d "-$1 days" +%Y%m; }
P200=events_$(month_of 200) P75=events_$(month_of 75) P35=events_$(month_of 35)
ev() { # ev ID DAYS KIND USER ADDR PORT VERDICT NAME HELO SENDER REPLY
	printf "('e0000000-0000-4000-8000-%012d', now() - interval '%s days',
	 gen_random_uuid(), now() - interval '%s days', '%s', 'mx1', %s, true,
	 %s, %s, %s, 'TLSv1.3', 'PLAIN', %s, %s, 1, 0, 0, 0, 100, '%s',
	 NULL, %s, false)" "$1" "$2" "$2" "$3" "$6" "$5" "$8" "$9" "$4" "${10}" \
		"$7" "${11}"
}
sql -c "SET TimeZone = 'UTC';
SELECT portmilter.create_month_partition((now() - make_interval(days => d))::date)
FROM (VALUES (200), (75), (35), (10)) AS v(d);
INSERT INTO portmilter.events (event_id, event_time, conn_id, conn_time, kind,
	node, port, port_known, client_addr, client_name, helo, tls_version,
	sasl_method, sasl_user, sender, nrcpt, nrcpt_rejected, nrcpt_tempfailed,
	nrcpt_refused, size, verdict, rule, reply, credential_exposure) VALUES
$(ev 1 200 transaction "'alice'" "'192.0.2.10'" 587 accepted NULL "'a'" "'<alice@example.com>'" NULL),
$(ev 2 200 transaction "'bob'" "'198.51.100.7'" 465 accepted NULL "'b'" "'<bob@example.com>'" NULL),
$(ev 3 75 transaction "'alice'" "'192.0.2.10'" 587 accepted "'dsl-192-0-2-10.isp.example'" \
	"'[192.0.2.10]'" "'<alice@example.com>'" "'250 2.0.0 Ok'"),
$(ev 4 75 transaction "'alice'" "'2001:db8:1:2::5'" 587 accepted NULL "'alice-pc'" \
	"'<alice@example.com>'" NULL),
$(ev 5 75 transaction NULL "'203.0.113.5'" 25 rejected "'unknown'" "'evil'" "'<x@evil.example>'" \
	"'554 5.7.1 <unknown[203.0.113.5]>: Client host rejected'"),
$(ev 6 35 transaction "'bob'" "'198.51.100.7'" 465 accepted NULL "'b'" "'<bob@example.com>'" NULL),
$(ev 7 35 auth_failure "'alice'" "'203.0.113.9'" 587 rejected NULL NULL NULL NULL),
$(ev 8 10 transaction "'alice'" "'192.0.2.10'" 587 rejected NULL "'alice-pc'" "'<alice@example.com>'" \
	"'553 5.7.1 <alice@example.com>: Sender address rejected: not owned by user alice'"),
$(ev 9 10 transaction "'carol'" "'192.0.2.99'" 5870 accepted NULL "'c'" "'<carol@example.com>'" NULL);
UPDATE portmilter.privacy_settings SET raw_days = 100, reduce_days = 30;
-- the budgets' usage by address (013): two rows past the cutoff, one not
INSERT INTO portmilter.usage (node, at, port, login, client, messages, recipients, kbytes)
VALUES ('mx1', now() - interval '40 days', 25, NULL, '192.0.2.44', 1, 1, 1),
       ('mx1', now() - interval '40 days', 25, NULL, '2001:db8:5:6::/64', 1, 1, 1),
       ('mx1', now() - interval '1 day', 25, NULL, '192.0.2.45', 1, 1, 1);" >/dev/null 2>"$tmp/err" ||
	{ sed 's/^/# /' "$tmp/err"; echo "Bail out! the events"; exit 1; }

# ---- before: the reports on whole addresses -----------------------------------

rep ip 192.0.2.10 --since 365d --format csv
csv_cols 1,2,4
exp_text <<'EOF'
client_addr,port,transactions
192.0.2.10,587,3
EOF
same "before maintain: ip 192.0.2.10 over a year, three transactions"

# ---- maintain -----------------------------------------------------------------------

rep maintain
maintained
exp_text <<EOF
settings: events kept 100 days, client addresses reduced after 30 days
dropped partition portmilter.$P200 (2 events)
reduced 3 client addresses before CUTOFF in portmilter.$P75
reduced 2 client addresses before CUTOFF in portmilter.$P35
reduced 2 client addresses before CUTOFF in portmilter.usage
rolled up N days
EOF
same "maintain drops the month past retention, reduces the rest past 30 days, rolls up the days"
sql_is "... the budgets' usage: addresses past 30 days to /24 and /48, the recent one whole" \
	"192.0.2.0/24,2001:db8:5::/48,192.0.2.45/32" -c \
	"SELECT string_agg(client::text, ',' ORDER BY at, client) FROM portmilter.usage
	 WHERE client IS NOT NULL"
sql_is "... the events left: r3 to r9" "3,4,5,6,7,8,9" -c \
	"SELECT string_agg(right(event_id::text, 1), ',' ORDER BY event_id) FROM portmilter.events"
sql_is "... r3: /24, the reverse name and the HELO literal reduced" \
	"192.0.2.0/24|*.isp.example|[192.0.2.0/24]" -c \
	"SELECT client_addr, client_name, helo FROM portmilter.events WHERE event_id::text LIKE '%3'"
sql_is "... r4: IPv6 to its /48, the HELO kept (no address in it)" \
	"2001:db8:1::/48|alice-pc" -c \
	"SELECT client_addr, helo FROM portmilter.events WHERE event_id::text LIKE '%4'"
sql_is "... r5: the address in the reply reduced" \
	"203.0.113.0/24|554 5.7.1 <unknown[203.0.113.0/24]>: Client host rejected|unknown" -c \
	"SELECT client_addr, reply, client_name FROM portmilter.events WHERE event_id::text LIKE '%5'"
sql_is "... r6, r7 reduced; r8, r9 (10 days old) whole" \
	"198.51.100.0/24,203.0.113.0/24,192.0.2.10/32,192.0.2.99/32" -c \
	"SELECT string_agg(client_addr::text, ',' ORDER BY event_id) FROM portmilter.events
	 WHERE right(event_id::text, 1) IN ('6', '7', '8', '9')"
sql_is "... the month of r3 to r5 has the backfill trigger" "t" -c \
	"SELECT reduced FROM portmilter.event_partitions() WHERE name = '$P75'"

rep maintain
exp_text <<'EOF'
settings: events kept 100 days, client addresses reduced after 30 days
nothing to do
EOF
same "maintain again: nothing to do"

# ---- the reports on reduced rows ------------------------------------------------------

rep ip 192.0.2.10 --since 365d --format csv
csv_cols 1,2,4
exp_text <<'EOF'
client_addr,port,transactions
192.0.2.0/24,587,1
192.0.2.10,587,1
EOF
same "ip 192.0.2.10: its reduced row as 192.0.2.0/24, the recent one whole"
rep ip 192.0.2.0/24 --since 365d --format csv
csv_cols 1,2,4
exp_text <<'EOF'
client_addr,port,transactions
192.0.2.0/24,587,1
192.0.2.10,587,1
192.0.2.99,5870,1
EOF
same "ip 192.0.2.0/24: the reduced row and the whole ones"
rep ip 2001:db8:1:2::5 --since 365d --format csv
csv_cols 1,2,4
exp_text <<'EOF'
client_addr,port,transactions
2001:db8:1::/48,587,1
EOF
same "ip on an IPv6 address finds its /48"
rep user alice --since 365d --format csv
csv_cols 1,2,4
exp_text <<'EOF'
port,client_addr,transactions
587,192.0.2.0/24,1
587,192.0.2.10,1
587,203.0.113.0/24,0
587,2001:db8:1::/48,1
EOF
same "user alice: dropped rows gone, reduced rows by network"
rep auth --ip 203.0.113.9 --since 365d --format csv
csv_cols 1,2,4
exp_text <<'EOF'
user,client_addr,failures
alice,203.0.113.0/24,1
EOF
same "auth --ip on an address finds its reduced failure"
rep ports --since 365d --format json
py "ports: transactions and users per port as before, less the dropped month" \
	"r = {x['port']: (x['transactions'], x['users']) for x in d}
print('ok' if r == {25: (1, 0), 465: (1, 1), 587: (3, 1), 5870: (1, 1)} else r)"
rep tls --since 365d --port 587 --format csv
if tr -d '\r' <"$tmp/out" | grep -q '^587,TLSv1.3,alice,2001:db8:1::/48,'; then
	ok "tls: a reduced IPv6 address is its /48, not a /64"
else
	not_ok "tls: a reduced IPv6 address is its /48, not a /64" "$tmp/out"
fi

# ---- backfills ----------------------------------------------------------------------

sql -c "CREATE ROLE t_writer LOGIN; GRANT portmilter_writer TO t_writer;
	CREATE ROLE t_reader LOGIN; GRANT portmilter_reader TO t_reader;" >/dev/null 2>&1
sql -U t_writer -c "INSERT INTO portmilter.events (event_id, event_time, conn_id,
	conn_time, kind, node, port, port_known, client_addr, client_name, helo,
	nrcpt, nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused, verdict,
	credential_exposure) VALUES ('e0000000-0000-4000-8000-000000000010',
	now() - interval '75 days', gen_random_uuid(), now() - interval '75 days',
	'connection', 'mx2', 25, true, '192.0.2.77', 'h77.isp.example',
	'[192.0.2.77]', 0, 0, 0, 0, 'none', false) ON CONFLICT DO NOTHING" >/dev/null 2>"$tmp/err"
sql_is "the writer's backfill into a reduced month is reduced as it lands" \
	"192.0.2.0/24|*.isp.example|[192.0.2.0/24]" -c \
	"SELECT client_addr, client_name, helo FROM portmilter.events
	 WHERE event_id = 'e0000000-0000-4000-8000-000000000010'"
sql -c "INSERT INTO portmilter.events (event_id, event_time, conn_id, conn_time,
	kind, node, port, port_known, client_addr, nrcpt, nrcpt_rejected,
	nrcpt_tempfailed, nrcpt_refused, verdict, credential_exposure) VALUES
	('e0000000-0000-4000-8000-000000000011', now() - interval '200 days',
	 gen_random_uuid(), now() - interval '200 days', 'connection', 'mx2', 25,
	 true, '192.0.2.78', 0, 0, 0, 0, 'none', false),
	('e0000000-0000-4000-8000-000000000012', now() - interval '30 days 1 minute',
	 gen_random_uuid(), now() - interval '30 days 1 minute', 'connection', 'mx2', 25,
	 true, '192.0.2.79', 0, 0, 0, 0, 'none', false)" >/dev/null
# r12 is just before the cutoff: in the month that holds it, reduced by
# the next maintain; or (when a month began in that minute) in a reduced
# month, reduced as it landed.
late=$(sql -c "SELECT reduced FROM portmilter.event_partitions() AS p
	JOIN portmilter.events AS e ON e.tableoid::regclass::text = 'portmilter.' || p.name
	WHERE e.event_id = 'e0000000-0000-4000-8000-000000000012'")
[ "$late" = t ] && late=0 || late=1
sql_is "a backfill into the dropped month lands in DEFAULT" "portmilter.events_default" -c \
	"SELECT tableoid::regclass FROM portmilter.events
	 WHERE event_id = 'e0000000-0000-4000-8000-000000000011'"
# Two at once: one does the work, the other waits for it, then has none.
"$report" -d "$DB" maintain >"$tmp/m1" 2>&1 &
p1=$!
"$report" -d "$DB" maintain >"$tmp/m2" 2>&1
rc2=$?
wait "$p1"
rc1=$?
cat "$tmp/m1" "$tmp/m2" >"$tmp/both"
if [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] &&
	[ "$(grep -c '^deleted 1 events past retention from portmilter.events_default$' "$tmp/both")" -eq 1 ] &&
	[ "$(grep -c '^reduced 1 client addresses before .* in portmilter\.' "$tmp/both")" -eq "$late" ] &&
	[ "$(grep -c '^nothing to do$' "$tmp/both")" -eq 1 ]; then
	ok "two maintain at once: the DEFAULT row past retention deleted and the late row reduced, once"
else
	not_ok "two maintain at once: the DEFAULT row past retention deleted and the late row reduced, once" "$tmp/both"
fi
sql_is "... the backfill before the cutoff is reduced, the one past retention gone" \
	"192.0.2.0/24" -c "SELECT string_agg(client_addr::text, ',') FROM portmilter.events
	 WHERE event_id IN ('e0000000-0000-4000-8000-000000000011',
			    'e0000000-0000-4000-8000-000000000012')"

# ---- the other tables (stand-ins when their migrations are not here) ---------------
# suspensions (006) and alerts (007) as their briefs define them, usage
# (008) as it is, and t_usage: any table with a sasl_user column.

sql -c "CREATE TABLE IF NOT EXISTS portmilter.suspensions (
	suspension_id bigserial PRIMARY KEY, kind text NOT NULL,
	subject text NOT NULL, reason text NOT NULL DEFAULT '',
	created_by text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
	until timestamptz, lifted_at timestamptz, lifted_by text);
CREATE TABLE IF NOT EXISTS portmilter.alerts (
	alert_id bigserial PRIMARY KEY, fired_at timestamptz NOT NULL DEFAULT now(),
	detector text NOT NULL, subject_kind text NOT NULL, subject text NOT NULL,
	state text NOT NULL, summary text NOT NULL, evidence jsonb NOT NULL,
	suspended boolean NOT NULL DEFAULT false, watch_node text NOT NULL);
CREATE TABLE IF NOT EXISTS portmilter.usage (node text NOT NULL,
	at timestamptz NOT NULL, port integer NOT NULL, login text, client inet,
	messages bigint NOT NULL, recipients bigint NOT NULL, kbytes bigint NOT NULL);
CREATE TABLE portmilter.t_usage (sasl_user text, minute timestamptz, messages integer);
GRANT SELECT ON portmilter.suspensions, portmilter.alerts, portmilter.t_usage,
	portmilter.usage TO portmilter_reader;
DELETE FROM portmilter.usage;	-- what 008's trigger made of the events: known rows instead
INSERT INTO portmilter.usage (node, at, port, login, client, messages, recipients, kbytes)
	VALUES ('mx1', now(), 587, 'alice', NULL, 1, 1, 1),
	       ('mx1', now(), 587, 'bob', NULL, 1, 1, 1),
	       ('mx1', now(), 25, NULL, '192.0.2.10', 1, 1, 1);
INSERT INTO portmilter.suspensions (kind, subject, reason, created_by) VALUES
	('user', 'alice', 'alice sent spam', 'test'), ('user', 'bob', 'x', 'test'),
	('address', '192.0.2.10/32', 'y', 'test');
INSERT INTO portmilter.alerts (detector, subject_kind, subject, state, summary,
	evidence, watch_node) VALUES
	('volume', 'user', 'alice', 'fired', 'alice: 500 messages', '{\"n\": 500}', 'w1'),
	('auth_spray', 'address', '203.0.113.9', 'fired', '203.0.113.9 tried 3 users',
	 '{\"users\": [\"alice\", \"bob\", \"alicex\"]}', 'w1'),
	('auth_spray', 'address', '203.0.113.8', 'fired', 'tried 1 user',
	 '{\"users\": [\"alicex\"]}', 'w1');
INSERT INTO portmilter.t_usage VALUES ('alice', now(), 3), ('bob', now(), 1);
INSERT INTO portmilter.watch_state (detector, subject_kind, subject, active, last_fired)
	VALUES ('volume', 'user', 'alice', true, now()),
	       ('volume', 'user', 'bob', true, now());" \
	>/dev/null 2>"$tmp/err" || not_ok "the stand-in tables" "$tmp/err"

# ---- export, forget -----------------------------------------------------------------

"$report" -d "$DB user=t_reader" export alice --format json >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 0 ] && python3 -m json.tool "$tmp/out" >/dev/null 2>&1; then
	ok "export alice (as the reader): valid JSON"
else
	not_ok "export alice (as the reader): valid JSON" "$tmp/err" "$tmp/out"
fi
py "... her events r3 r4 r7 r8 with every column, and her other rows" \
	"t = d['data']; e = t['portmilter.events']
got = ([x['event_id'][-1] for x in e], e[3]['sender'], e[3]['helo'], e[0]['client_name'],
       len(t['portmilter.suspensions']), len(t['portmilter.alerts']), len(t['portmilter.t_usage']),
       [u['login'] for u in t['portmilter.usage']], d['user'], d['retention'],
       [w['subject'] for w in t['portmilter.watch_state']])
want = (['3', '4', '7', '8'], '<alice@example.com>', 'alice-pc', '*.isp.example', 1, 2, 1,
        ['alice'], 'alice', {'raw_days': 100, 'reduce_days': 30}, ['alice'])
print('ok' if got == want else got)"

# Her rows of rollup_users (016): one per port she was seen on;
# her name in rollup_user_names (015): once.
nroll=$(sql -c "SELECT count(*) FROM portmilter.rollup_users WHERE sasl_user = 'alice'")
nname=$(sql -c "SELECT count(*) FROM portmilter.rollup_user_names WHERE sasl_user = 'alice'")
rep forget alice
{
	echo "portmilter.events: 4 rows pseudonymised"
	echo "portmilter.alerts: 2 rows pseudonymised"
	[ "$nname" -eq 1 ] && echo "portmilter.rollup_user_names: 1 row pseudonymised"
	[ "$nroll" -eq 1 ] && echo "portmilter.rollup_users: 1 row pseudonymised"
	[ "$nroll" -gt 1 ] && echo "portmilter.rollup_users: $nroll rows pseudonymised"
	echo "portmilter.suspensions: 1 row pseudonymised"
	echo "portmilter.t_usage: 1 row pseudonymised"
	echo "portmilter.usage: 1 row pseudonymised"
	echo "portmilter.watch_state: 1 row pseudonymised"
	echo "forgot \"alice\": $((10 + nroll + nname)) rows in $((6 + (nroll > 0) + (nname > 0))) tables"
} | exp_text
same "forget alice: the rows changed, per table"
sql_is "... no row of any table mentions alice any more" "0|0|0|0|0|0|0|0" -c \
	"SELECT (SELECT count(*) FROM portmilter.events AS e WHERE e::text ~ 'alice\\M'),
	        (SELECT count(*) FROM portmilter.rollup_user_names AS r WHERE r::text ~ 'alice\\M'),
	        (SELECT count(*) FROM portmilter.rollup_users AS r WHERE r::text ~ 'alice\\M'),
	        (SELECT count(*) FROM portmilter.suspensions AS s WHERE s::text ~ 'alice\\M'),
	        (SELECT count(*) FROM portmilter.alerts AS a WHERE a::text ~ 'alice\\M'),
	        (SELECT count(*) FROM portmilter.t_usage AS u WHERE u::text ~ 'alice\\M'),
	        (SELECT count(*) FROM portmilter.usage AS u WHERE u::text ~ 'alice\\M'),
	        (SELECT count(*) FROM portmilter.watch_state AS w WHERE w::text ~ 'alice\\M')"
sql_is "... one pseudonym for her 4 events, the same in the other tables" "4|1|1" -c \
	"SELECT count(*), count(DISTINCT sasl_user),
	        (SELECT count(DISTINCT x) FROM (
		  SELECT subject FROM portmilter.suspensions WHERE subject LIKE 'forgotten:%'
		  UNION ALL SELECT sasl_user FROM portmilter.t_usage WHERE sasl_user LIKE 'forgotten:%'
		  UNION ALL SELECT login FROM portmilter.usage WHERE login LIKE 'forgotten:%'
		  UNION ALL SELECT sasl_user FROM portmilter.events WHERE sasl_user LIKE 'forgotten:%') AS u(x))
	 FROM portmilter.events WHERE sasl_user LIKE 'forgotten:%'"
sql_is "... her reply names neither her nor her address; others' rows kept" \
	"553 5.7.1 <forgotten>: Sender address rejected: not owned by user forgotten:|bob|alicex|bob" -c \
	"SELECT regexp_replace(reply, '[0-9a-f-]{36}$', ''),
	        (SELECT subject FROM portmilter.suspensions WHERE subject = 'bob'),
	        (SELECT evidence->'users'->>0 FROM portmilter.alerts WHERE subject = '203.0.113.8'),
	        (SELECT sasl_user FROM portmilter.t_usage WHERE messages = 1)
	 FROM portmilter.events WHERE event_id::text LIKE '%8'"
sql_is "... her recent address reduced, sender and HELO gone" "192.0.2.0/24||" -c \
	"SELECT client_addr, sender, helo FROM portmilter.events WHERE event_id::text LIKE '%8'"
rep ports --since 365d --format json
py "... ports: transactions and users per port unchanged" \
	"r = {x['port']: (x['transactions'], x['users']) for x in d}
print('ok' if r == {25: (1, 0), 465: (1, 1), 587: (3, 1), 5870: (1, 1)} else r)"

rep forget alice
exp_text <<'EOF'
nothing held about "alice": nothing changed
EOF
same "forget alice again: nothing changed"
rep forget alice --format json
py "... in JSON: every table, 0 rows" \
	"print('ok' if d == [{'relation': 'portmilter.events', 'nrows': 0},
	{'relation': 'portmilter.alerts', 'nrows': 0},
	{'relation': 'portmilter.rollup_user_names', 'nrows': 0},
	{'relation': 'portmilter.rollup_users', 'nrows': 0},
	{'relation': 'portmilter.suspensions', 'nrows': 0},
	{'relation': 'portmilter.t_usage', 'nrows': 0},
	{'relation': 'portmilter.usage', 'nrows': 0},
	{'relation': 'portmilter.watch_state', 'nrows': 0}] else d)"
rep export alice
py "export alice after forget: nothing held" \
	"print('ok' if all(v == [] for v in d['data'].values()) and len(d['data']) == 8 else d)"

# ---- one user whatever the case of the name ---------------------------------------------
# As the milter and the suspensions fold a login: Dave, dave, DAVE and
# DaVe are one user; davey is another. The accepted event of Dave made a
# usage row of login dave (008's trigger).

sql -c "INSERT INTO portmilter.events (event_id, event_time, conn_id, conn_time, kind,
	node, port, port_known, client_addr, client_name, helo, tls_version,
	sasl_method, sasl_user, sender, nrcpt, nrcpt_rejected, nrcpt_tempfailed,
	nrcpt_refused, size, verdict, rule, reply, credential_exposure) VALUES
$(ev 20 5 transaction "'Dave'" "'192.0.2.30'" 587 accepted NULL "'d'" "'<dave@example.com>'" NULL),
$(ev 21 5 transaction "'dave'" "'192.0.2.31'" 587 rejected NULL "'d'" "'<dave@example.com>'" \
	"'553 5.7.1 <dave@example.com>: Sender address rejected: not owned by user dave'"),
$(ev 22 5 auth_failure "'DAVE'" "'203.0.113.30'" 587 rejected NULL NULL NULL NULL),
$(ev 23 5 transaction "'davey'" "'192.0.2.32'" 587 accepted NULL "'d'" "'<davey@example.com>'" NULL);
INSERT INTO portmilter.suspensions (kind, subject, reason, created_by)
	VALUES ('user', 'DaVe', 'DaVe sent spam', 'test');
INSERT INTO portmilter.t_usage VALUES ('Dave', now(), 2);" >/dev/null 2>"$tmp/err" ||
	not_ok "the rows of Dave" "$tmp/err"
rep export DAVE
py "export DAVE: every spelling held, and the rows of each" \
	"t = d['data']
got = (d['user'], d['spellings'], sorted(x['event_id'][-2:] for x in t['portmilter.events']),
       [s['subject'] for s in t['portmilter.suspensions']],
       [u['login'] for u in t['portmilter.usage']], [u['sasl_user'] for u in t['portmilter.t_usage']])
want = ('DAVE', ['DAVE', 'DaVe', 'Dave', 'dave'], ['20', '21', '22'], ['DaVe'], ['dave'], ['Dave'])
print('ok' if got == want else got)"
rep forget dAVE
exp_text <<'EOF'
portmilter.events: 3 rows pseudonymised
portmilter.suspensions: 1 row pseudonymised
portmilter.t_usage: 1 row pseudonymised
portmilter.usage: 1 row pseudonymised
forgot "dAVE": 6 rows in 4 tables
EOF
same "forget dAVE: Dave, dave, DAVE and DaVe, in every table"
sql_is "... one pseudonym for all of them; no spelling of dave left; davey kept" "1|0|1" -c \
	"SELECT (SELECT count(DISTINCT x) FROM (
		  SELECT sasl_user FROM portmilter.events
		  WHERE right(event_id::text, 2) IN ('20', '21', '22')
		  UNION ALL SELECT subject FROM portmilter.suspensions
		  WHERE suspension_id = (SELECT max(suspension_id) FROM portmilter.suspensions)
		  UNION ALL SELECT sasl_user FROM portmilter.t_usage WHERE messages = 2
		  UNION ALL SELECT login FROM portmilter.usage
		  WHERE at < now() - interval '4 days' AND login LIKE 'forgotten:%') AS u(x)),
	        (SELECT count(*) FROM (
		  SELECT e::text FROM portmilter.events AS e
		  UNION ALL SELECT s::text FROM portmilter.suspensions AS s
		  UNION ALL SELECT u::text FROM portmilter.usage AS u
		  UNION ALL SELECT t::text FROM portmilter.t_usage AS t) AS a(r)
		 WHERE r ~* 'dave\\M'),
	        (SELECT count(*) FROM portmilter.events WHERE sasl_user = 'davey')"
rep forget Dave
exp_text <<'EOF'
nothing held about "Dave": nothing changed
EOF
same "forget Dave again: nothing changed"

# ---- privileges and bad usage -----------------------------------------------------------

fails() { # fails NAME RC TEXT ARGS...: exits RC saying TEXT on stderr, nothing on stdout
	name=$1 want=$2 text=$3; shift 3
	"$report" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
	if [ "$rc" -eq "$want" ] && grep -qF -- "$text" "$tmp/err" && [ ! -s "$tmp/out" ]; then
		ok "$name"
	else
		echo "exit status $rc, wanted $want and \"$text\"" >"$tmp/diff"
		not_ok "$name" "$tmp/diff" "$tmp/err" "$tmp/out"
	fi
}
fails "the reader cannot forget" 1 "run it as the owner of the portmilter schema" \
	-d "$DB user=t_reader" forget bob
fails "the writer cannot maintain" 1 "permission denied" -d "$DB user=t_writer" maintain
sql_is "... and bob (r6; r2 was dropped) is untouched" "1" -c \
	"SELECT count(*) FROM portmilter.events WHERE sasl_user = 'bob'"
fails "export --format csv" 2 "export writes JSON only" -d "$DB" export bob --format csv
fails "forget without a user" 2 "forget takes 1 argument" -d "$DB" forget
fails "forget an empty name" 2 "forget: the name must be non-empty UTF-8" -d "$DB" forget ''
fails "maintain --since" 2 "option not valid" -d "$DB" maintain --since 1d

echo "1..$n"
