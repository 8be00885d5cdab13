#!/bin/sh
# report.sh - sql/ and portmilter-report against a real PostgreSQL (TAP).
#
# Starts a throwaway cluster (tests/lib/pg.sh) in a temporary directory,
# stopped by a trap whatever happens; applies the migrations with
# `portmilter-report migrate`; checks the roles' privileges, partitions,
# idempotent shipping and retention in SQL; loads tests/sql/fixture.sql and
# compares every command's output, in every format, with values worked
# out BY HAND from the fixture (see the comments there); then the bad
# inputs and their exit codes.
#
# Environment (set by the automake harness; defaults for a run by hand
# from the top of a built source tree): top_srcdir, top_builddir,
# PORTMILTER_REPORT (the binary), PG_BINDIR.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
report=${PORTMILTER_REPORT:-$builddir/report/portmilter-report}
sqldir=$srcdir/sql
. "$srcdir/tests/lib/pg.sh"

tmp='' n=0	# both set by pg_test_begin (tests/lib/pg.sh)
pg_test_begin report	# skip, psql, $tmp and its cleanup, ok/not_ok

# ---- TAP helpers ------------------------------------------------------------

# check NAME COMMAND...: the command succeeds.
check() {
	name=$1; shift
	if "$@" >"$tmp/cout" 2>&1; then ok "$name"; else not_ok "$name" "$tmp/cout"; fi
}

DB="dbname=portmilter"
# rep ARGS...: the report on the test database; $rc, $tmp/out, $tmp/err.
rep() { "$report" -d "$DB" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }
W="--since 2024-03-10 --until 2024-03-12"

# Expected text from stdin, as CSV (CRLF line ends) or as is.
exp_csv() { awk '{ printf "%s\r\n", $0 }' >"$tmp/exp"; }
exp_text() { cat >"$tmp/exp"; }
# A table with runs of blanks squeezed and the dashes line dropped, so
# that the expected text can be written by hand; alignment is checked
# exactly on the ports and adoption tables.
squeeze() { sed -e '2d' -e 's/^ *//' -e 's/  */ /g' "$tmp/out" >"$tmp/out.sq" && mv "$tmp/out.sq" "$tmp/out"; }
# fails NAME RC TEXT ARGS...: the report exits RC and says TEXT on stderr.
fails() {
	name=$1 want=$2 text=$3; shift 3
	"$report" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
	if [ "$rc" -eq "$want" ] && grep -qF -- "$text" "$tmp/err" && [ ! -s "$tmp/out" ]; then
		ok "$name"
	else
		echo "exit status $rc, wanted $want and \"$text\"" >"$tmp/diff"
		not_ok "$name" "$tmp/diff" "$tmp/err" "$tmp/out"
	fi
}
# sql [-U ROLE] SQL: one value per line, UTC, stop on error (tests/lib/pg.sh).
# sql_is NAME EXPECTED [-U ROLE] SQL: the values are EXPECTED.
sql_is() { _sql_is sql "$@"; }
# tag_is NAME EXPECTED [-U ROLE] SQL: the command tag is EXPECTED.
tag_is() { _sql_is sql_tag "$@"; }
sql_tag() { PGTZ=UTC psql -X -A -t -v ON_ERROR_STOP=1 -d portmilter "$@"; }
_sql_is() {
	how=$1 name=$2 want=$3; shift 3
	got=$("$how" "$@" 2>"$tmp/err")
	if [ "$got" = "$want" ]; then
		ok "$name"
	else
		printf 'got:    %s\nwanted: %s\n' "$got" "$want" >"$tmp/diff"
		not_ok "$name" "$tmp/diff" "$tmp/err"
	fi
}
# denied NAME ROLE SQL: the statement fails with "permission denied".
denied() {
	if sql -U "$2" -c "$3" >"$tmp/out" 2>&1; then
		not_ok "$1" "$tmp/out"
	elif grep -q "permission denied" "$tmp/out"; then
		ok "$1"
	else
		not_ok "$1" "$tmp/out"
	fi
}

# ---- a cluster, the migrations ---------------------------------------------

if [ ! -x "$report" ]; then
	echo "Bail out! $report is not built"
	exit 1
fi
if ! pg_start "$tmp" 2>"$tmp/pg_start.err"; then
	sed 's/^/# /' "$tmp/pg_start.err"
	echo "Bail out! cannot start PostgreSQL"
	exit 1
fi
# The report must print UTC whatever the client's zone.
PGTZ=America/New_York
export PGTZ

# Every NNN_*.sql of sql/, in order (branches add their own numbers).
files=$(cd "$sqldir" && ls [0-9][0-9][0-9]_*.sql)
newest=$(echo "$files" | tail -n 1 | sed 's/^0*\([0-9][0-9]*\)_.*/\1/')
versions=$(echo "$files" | sed 's/^0*\([0-9][0-9]*\)_.*/\1/' | paste -s -d, -)
rep migrate --sql-dir "$sqldir"
{
	echo "$files" | sed 's/^/applied /'
	echo "schema is at version $newest"
} | exp_text
same "migrate applies 001 to $newest"
rep migrate --sql-dir "$sqldir"
echo "schema is up to date (version $newest)" | exp_text
same "migrate again is a no-op"
sql_is "schema_version holds $versions" "$versions" \
	-c "SELECT string_agg(version::text, ',' ORDER BY version) FROM portmilter.schema_version"
# shellcheck disable=SC2046 # one -f per file name (no blanks in them)
check "psql -f each migration again is harmless" \
	sql $(echo "$files" | sed "s|^|-f $sqldir/|")
# The programs know the newest migration shipped (lib/schema.h).
known=$(sed -n 's/^#define PM_SCHEMA_VERSION \([0-9][0-9]*\)$/\1/p' "$srcdir/lib/schema.h")
if [ -n "$known" ] && [ "$known" = "$newest" ]; then
	ok "PM_SCHEMA_VERSION ($known) is the newest migration in sql/ ($newest)"
else
	not_ok "PM_SCHEMA_VERSION ($known) is the newest migration in sql/ ($newest)"
fi

mkdir "$tmp/badsql"
next=$(printf '%03d' $((newest + 1)))
echo "CREATE TABLE portmilter.junk (x integer);" >"$tmp/badsql/${next}_junk.sql"
fails "a migration that records no version fails" 1 "did not record version $((newest + 1))" \
	-d "$DB" migrate --sql-dir "$tmp/badsql"
sql_is "... and is rolled back" "" -c "SELECT pg_catalog.to_regclass('portmilter.junk')"
printf 'SELECT 1;\nSELEC oops;\n' >"$tmp/badsql/${next}_junk.sql"
fails "a migration with an error fails" 1 "${next}_junk.sql failed" \
	-d "$DB" migrate --sql-dir "$tmp/badsql"
fails "migrate from a missing directory fails" 1 "cannot read" \
	-d "$DB" migrate --sql-dir "$tmp/nonexistent"

# ---- partitions -------------------------------------------------------------

# month K: the partition name K months from the current UTC month
month() { date -u -d "$(date -u +%Y-%m-01) +$1 month" +events_%Y%m; }
want="$(month 0),$(month 1),$(month 2),$(month 3),events_default"
sql_is "migrate made this month's partition, 3 ahead and DEFAULT" "$want" -c \
	"SELECT string_agg(c.relname::text, ',' ORDER BY c.relname)
	 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	 WHERE i.inhparent = 'portmilter.events'::regclass"

sql -c "CREATE ROLE t_writer LOGIN; GRANT portmilter_writer TO t_writer;
	CREATE ROLE t_reader LOGIN; GRANT portmilter_reader TO t_reader;" >/dev/null 2>&1
sql_is "the writer's ensure_partitions(5) adds months 4 and 5" "$(month 4),$(month 5)" \
	-U t_writer -c "SELECT string_agg(p, ',' ORDER BY p) FROM portmilter.ensure_partitions(5) AS p"
sql_is "... and a second call adds nothing" "" \
	-U t_writer -c "SELECT string_agg(p, ',') FROM portmilter.ensure_partitions(5) AS p"

# A row of month 7 in DEFAULT: that month cannot be made, the others can.
m7=$(date -u -d "$(date -u +%Y-%m-01) +7 month" +%Y-%m-15)
ins() { # ins ID TIME PORT: a connection event, as the shipper writes it
	echo "INSERT INTO portmilter.events (event_id, event_time, conn_id, conn_time,
	kind, node, port, port_known, nrcpt, nrcpt_rejected, nrcpt_tempfailed,
	nrcpt_refused, verdict, credential_exposure) VALUES ('$1', $2,
	'$1', $2, 'connection', 'mx1', $3, true, 0, 0, 0, 0, 'none', false)"
}
sql -c "$(ins 00000000-0000-4000-8000-0000000000a7 "'$m7 12:00+00'" 2526)" >/dev/null
sql_is "ensure_partitions skips a month with rows in DEFAULT, makes the rest" \
	"$(month 6),$(month 8)" \
	-U t_writer -c "SELECT string_agg(p, ',' ORDER BY p) FROM portmilter.ensure_partitions(8) AS p"
if grep -q "WARNING:.*month ${m7%-15}" "$tmp/err"; then
	ok "... with a WARNING naming that month"
else
	not_ok "... with a WARNING naming that month" "$tmp/err"
fi

# ---- roles, idempotent shipping ----------------------------------------------

ev1=$(ins 00000000-0000-4000-8000-0000000000b1 "'2024-03-20 10:00+00'" 2527)
tag_is "the writer can INSERT" "INSERT 0 1" -U t_writer -c "$ev1"
tag_is "the same event ON CONFLICT DO NOTHING inserts nothing" "INSERT 0 0" \
	-U t_writer -c "$ev1 ON CONFLICT DO NOTHING"
sql_is "... so it is there once" "1" \
	-c "SELECT count(*) FROM portmilter.events WHERE port = 2527"
denied "the writer cannot SELECT" t_writer "SELECT count(*) FROM portmilter.events"
denied "the writer cannot UPDATE" t_writer "UPDATE portmilter.events SET port = 1"
denied "the writer cannot DELETE" t_writer "DELETE FROM portmilter.events"
denied "the writer cannot drop partitions" t_writer \
	"SELECT portmilter.drop_partitions_older_than(1)"
sql_is "the writer can read schema_version (004: the shipper checks it)" "$known" \
	-U t_writer -c "SELECT pg_catalog.max(version) FROM portmilter.schema_version"
denied "... and nothing else: not change it" t_writer \
	"DELETE FROM portmilter.schema_version"
wm="INSERT INTO portmilter.ship_watermark (node, run, seg, off)
	VALUES ('mx1', '00000000-0000-4000-8000-0000000000c1', 0, 0)"
tag_is "the writer can add its node's watermark (011)" "INSERT 0 1" -U t_writer -c "$wm"
tag_is "... move it" "UPDATE 1" -U t_writer -c "UPDATE portmilter.ship_watermark
	SET seg = 2, off = 100 WHERE node = 'mx1'"
sql_is "... and read it" "2|100" -U t_writer -c "SELECT seg, off
	FROM portmilter.ship_watermark WHERE node = 'mx1'"
denied "... but not delete it" t_writer "DELETE FROM portmilter.ship_watermark"
sql_is "the reader can read the watermarks" "mx1" -U t_reader -c \
	"SELECT node FROM portmilter.ship_watermark"
denied "... but not move them" t_reader "UPDATE portmilter.ship_watermark SET seg = 0"
sql -c "DELETE FROM portmilter.ship_watermark" >/dev/null
sql_is "the reader can SELECT events and every view" "1|0|0|0|0|0" -U t_reader -c \
	"SELECT (SELECT count(*) FROM portmilter.events WHERE port = 2527),
		(SELECT count(*) FROM portmilter.port_hourly WHERE port = 0),
		(SELECT count(*) FROM portmilter.port_daily WHERE port = 0),
		(SELECT count(*) FROM portmilter.port_adoption WHERE port = 0),
		(SELECT count(*) FROM portmilter.user_activity WHERE sasl_user = ''),
		(SELECT count(*) FROM portmilter.ip_activity WHERE client_addr = '0.0.0.0')"
denied "the reader cannot INSERT" t_reader "$(ins 00000000-0000-4000-8000-0000000000b2 "now()" 1)"
denied "the reader cannot create partitions" t_reader "SELECT portmilter.ensure_partitions()"
sql -c "DELETE FROM portmilter.events WHERE port = 2527" >/dev/null

# ---- the fixture --------------------------------------------------------------

check "the fixture loads" sql -f "$srcdir/tests/sql/fixture.sql"
sql_is "21 fixture events, raw bytes of a non-UTF-8 sender kept" \
	"21|3c636166e9406578616d706c652e636f6d3e" -c \
	"SELECT count(*), (SELECT encode(sender_raw, 'hex') FROM portmilter.events
	 WHERE event_id = 'e0000000-0000-4000-8000-000000000011')
	 FROM portmilter.events WHERE event_id::text LIKE 'e0000000-%'"

# ---- ports --------------------------------------------------------------------

rep $W ports --format csv
exp_csv <<'EOF'
port,connections,transactions,accepted,rejected,tempfailed,aborted,rejects_by_rule,users,ips,exposures,auth_failures,refused_before_mail,tls_failures
25,3,3,0,3,0,0,"{""relay"": 3}",0,2,0,0,0,0
465,2,2,2,0,0,0,{},1,1,0,0,0,0
587,6,7,4,3,0,0,"{""(none)"": 1, ""min_tls_version"": 1, ""tls_before_auth"": 1}",4,6,1,0,0,0
4650,1,2,1,0,0,1,{},1,1,0,0,0,0
5870,2,1,1,0,0,0,{},1,2,0,0,0,0
12345,1,1,0,0,1,0,{},1,1,0,0,0,0
EOF
same "ports, csv"
cp "$tmp/exp" "$tmp/ports.csv"

rep --since 2024-03-10T02:00:00+02:00 --until 2024-03-12T00:00Z ports --format csv
cp "$tmp/ports.csv" "$tmp/exp"
same "ports, the same window in ISO 8601 with offsets"
rep --since '2024-03-09 19:00:00-05:00' --until 2024-03-11T19:00-0500 ports --format csv
same "ports, the same window at -05:00"

rep --since 2024-03-10 --until '2024-03-11 00:00' ports --format csv
exp_csv <<'EOF'
port,connections,transactions,accepted,rejected,tempfailed,aborted,rejects_by_rule,users,ips,exposures,auth_failures,refused_before_mail,tls_failures
25,3,3,0,3,0,0,"{""relay"": 3}",0,2,0,0,0,0
465,1,1,1,0,0,0,{},1,1,0,0,0,0
587,4,5,4,1,0,0,"{""tls_before_auth"": 1}",4,4,1,0,0,0
5870,1,1,1,0,0,0,{},1,1,0,0,0,0
12345,1,1,0,0,1,0,{},1,1,0,0,0,0
EOF
same "ports, day 1 only (00:00 of day 2 excluded)"

rep $W ports --format json
exp_text <<'EOF'
[
{"port":25,"connections":3,"transactions":3,"accepted":0,"rejected":3,"tempfailed":0,"aborted":0,"rejects_by_rule":{"relay": 3},"users":0,"ips":2,"exposures":0,"auth_failures":0,"refused_before_mail":0,"tls_failures":0},
{"port":465,"connections":2,"transactions":2,"accepted":2,"rejected":0,"tempfailed":0,"aborted":0,"rejects_by_rule":{},"users":1,"ips":1,"exposures":0,"auth_failures":0,"refused_before_mail":0,"tls_failures":0},
{"port":587,"connections":6,"transactions":7,"accepted":4,"rejected":3,"tempfailed":0,"aborted":0,"rejects_by_rule":{"(none)": 1, "min_tls_version": 1, "tls_before_auth": 1},"users":4,"ips":6,"exposures":1,"auth_failures":0,"refused_before_mail":0,"tls_failures":0},
{"port":4650,"connections":1,"transactions":2,"accepted":1,"rejected":0,"tempfailed":0,"aborted":1,"rejects_by_rule":{},"users":1,"ips":1,"exposures":0,"auth_failures":0,"refused_before_mail":0,"tls_failures":0},
{"port":5870,"connections":2,"transactions":1,"accepted":1,"rejected":0,"tempfailed":0,"aborted":0,"rejects_by_rule":{},"users":1,"ips":2,"exposures":0,"auth_failures":0,"refused_before_mail":0,"tls_failures":0},
{"port":12345,"connections":1,"transactions":1,"accepted":0,"rejected":0,"tempfailed":1,"aborted":0,"rejects_by_rule":{},"users":1,"ips":1,"exposures":0,"auth_failures":0,"refused_before_mail":0,"tls_failures":0}
]
EOF
same "ports, json"

rep $W ports
{
	f='%-5s  %11s  %12s  %8s  %8s  %10s  %7s  %-57s  %5s  %3s  %9s  %13s  %19s  %12s\n'
	# shellcheck disable=SC2059
	printf "$f" port connections transactions accepted rejected tempfailed \
		aborted rejects_by_rule users ips exposures auth_failures \
		refused_before_mail tls_failures
	printf "$f" ----- ----------- ------------ -------- -------- ---------- ------- \
		--------------------------------------------------------- ----- --- --------- \
		------------- ------------------- ------------
	printf "$f" 25 3 3 0 3 0 0 '{"relay": 3}' 0 2 0 0 0 0
	printf "$f" 465 2 2 2 0 0 0 '{}' 1 1 0 0 0 0
	printf "$f" 587 6 7 4 3 0 0 \
		'{"(none)": 1, "min_tls_version": 1, "tls_before_auth": 1}' 4 6 1 0 0 0
	printf "$f" 4650 1 2 1 0 0 1 '{}' 1 1 0 0 0 0
	printf "$f" 5870 2 1 1 0 0 0 '{}' 1 2 0 0 0 0
	printf "$f" 12345 1 1 0 0 1 0 '{}' 1 1 0 0 0 0
	echo "(6 rows)"
} >"$tmp/exp"
same "ports, table (aligned)"

# ---- the unknown port (issue 16) ------------------------------------------------
# Port 0: neither {daemon_port} nor a generated {daemon_name} said which
# (doc/events.md). The report names it "unknown" in a table and in CSV,
# null in JSON; the other ports stay numbers. Two connections without a
# transaction on port 0 and one on 25, on 2024-04-20, outside every other
# window; deleted again afterwards.

sql >/dev/null <<'EOS'
INSERT INTO portmilter.events (event_id, event_time, conn_id, conn_time,
	kind, node, port, port_known, client_addr, nrcpt, nrcpt_rejected,
	nrcpt_tempfailed, nrcpt_refused, verdict, credential_exposure)
VALUES
('e0000000-0000-4000-8000-0000000000a1', '2024-04-20 10:00:00+00',
 'c0000000-0000-4000-8000-0000000000a1', '2024-04-20 10:00:00+00',
 'connection', 'mx1', 0, false, NULL, 0, 0, 0, 0, 'none', false),
('e0000000-0000-4000-8000-0000000000a2', '2024-04-20 10:00:01+00',
 'c0000000-0000-4000-8000-0000000000a2', '2024-04-20 10:00:01+00',
 'connection', 'mx1', 0, false, '203.0.113.9', 0, 0, 0, 0, 'none', false),
('e0000000-0000-4000-8000-0000000000a3', '2024-04-20 10:00:02+00',
 'c0000000-0000-4000-8000-0000000000a3', '2024-04-20 10:00:02+00',
 'connection', 'mx1', 25, true, '203.0.113.9', 0, 0, 0, 0, 'none', false);
EOS
U="--since 2024-04-20 --until 2024-04-21"
rep $U ports --format csv
exp_csv <<'EOF'
port,connections,transactions,accepted,rejected,tempfailed,aborted,rejects_by_rule,users,ips,exposures,auth_failures,refused_before_mail,tls_failures
unknown,2,0,0,0,0,0,{},0,1,0,0,0,0
25,1,0,0,0,0,0,{},0,1,0,0,0,0
EOF
same "ports: port 0 is \"unknown\" in CSV, first"
rep $U ports --format json
exp_text <<'EOF'
[
{"port":null,"connections":2,"transactions":0,"accepted":0,"rejected":0,"tempfailed":0,"aborted":0,"rejects_by_rule":{},"users":0,"ips":1,"exposures":0,"auth_failures":0,"refused_before_mail":0,"tls_failures":0},
{"port":25,"connections":1,"transactions":0,"accepted":0,"rejected":0,"tempfailed":0,"aborted":0,"rejects_by_rule":{},"users":0,"ips":1,"exposures":0,"auth_failures":0,"refused_before_mail":0,"tls_failures":0}
]
EOF
same "ports: port 0 is null in JSON, the others numbers"
rep $U ports
squeeze
exp_text <<'EOF'
port connections transactions accepted rejected tempfailed aborted rejects_by_rule users ips exposures auth_failures refused_before_mail tls_failures
unknown 2 0 0 0 0 0 {} 0 1 0 0 0 0
25 1 0 0 0 0 0 {} 0 1 0 0 0 0
(2 rows)
EOF
same "ports: port 0 is \"unknown\" in a table"
rep $U ip 203.0.113.9 --format csv
exp_csv <<'EOF'
client_addr,port,connections,transactions,accepted,rejected,tempfailed,aborted,recipients,exposures,rules,users,helos,first_seen,last_seen
203.0.113.9,unknown,1,0,0,0,0,0,0,0,[],[],[],2024-04-20 10:00:01+00,2024-04-20 10:00:01+00
203.0.113.9,25,1,0,0,0,0,0,0,0,[],[],[],2024-04-20 10:00:02+00,2024-04-20 10:00:02+00
EOF
same "ip: port 0 is \"unknown\""
rep $U top --port unknown --by ip --format csv
exp_csv <<'EOF'
client_addr,connections,transactions,accepted,rejected,tempfailed,aborted,recipients,exposures,users,first_seen,last_seen
203.0.113.9,1,0,0,0,0,0,0,0,0,2024-04-20 10:00:01+00,2024-04-20 10:00:01+00
EOF
same "top --port unknown: the same as --port 0"
sql -c "DELETE FROM portmilter.events WHERE event_id::text LIKE 'e0000000-%-0000000000a_'" >/dev/null

# ---- user ---------------------------------------------------------------------

rep $W user alice --format csv
exp_csv <<'EOF'
port,client_addr,connections,transactions,accepted,rejected,tempfailed,aborted,recipients,exposures,rules,first_seen,last_seen
587,192.0.2.10,1,2,2,0,0,0,3,0,[],2024-03-10 08:00:05+00,2024-03-10 08:01:00+00
587,192.0.2.12,1,1,0,1,0,0,0,0,"[""min_tls_version""]",2024-03-11 08:00:00+00,2024-03-11 08:00:00+00
4650,192.0.2.10,1,2,1,0,0,1,1,0,[],2024-03-11 07:00:00+00,2024-03-11 07:00:10+00
5870,192.0.2.11,1,1,1,0,0,0,1,0,[],2024-03-10 09:15:00+00,2024-03-10 09:15:00+00
12345,192.0.2.10,1,1,0,0,1,0,0,0,"[""max_recipients""]",2024-03-10 12:00:00+00,2024-03-10 12:00:00+00
EOF
same "user alice, csv"

rep $W user alice
squeeze
exp_text <<'EOF'
port client_addr connections transactions accepted rejected tempfailed aborted recipients exposures rules first_seen last_seen
587 192.0.2.10 1 2 2 0 0 0 3 0 2024-03-10 08:00:05+00 2024-03-10 08:01:00+00
587 192.0.2.12 1 1 0 1 0 0 0 0 min_tls_version 2024-03-11 08:00:00+00 2024-03-11 08:00:00+00
4650 192.0.2.10 1 2 1 0 0 1 1 0 2024-03-11 07:00:00+00 2024-03-11 07:00:10+00
5870 192.0.2.11 1 1 1 0 0 0 1 0 2024-03-10 09:15:00+00 2024-03-10 09:15:00+00
12345 192.0.2.10 1 1 0 0 1 0 0 0 max_recipients 2024-03-10 12:00:00+00 2024-03-10 12:00:00+00
(5 rows)
EOF
same "user alice, table"

rep $W user bob --format json
exp_text <<'EOF'
[
{"port":465,"client_addr":"198.51.100.7","connections":2,"transactions":2,"accepted":2,"rejected":0,"tempfailed":0,"aborted":0,"recipients":4,"exposures":0,"rules":[],"first_seen":"2024-03-10 09:30:00+00","last_seen":"2024-03-11 00:00:00+00"},
{"port":587,"client_addr":"198.51.100.7","connections":1,"transactions":1,"accepted":0,"rejected":1,"tempfailed":0,"aborted":0,"recipients":0,"exposures":1,"rules":["tls_before_auth"],"first_seen":"2024-03-10 11:00:00+00","last_seen":"2024-03-10 11:00:00+00"}
]
EOF
same "user bob, json"

rep --until 2024-03-11 user bob --format csv
exp_csv <<'EOF'
port,client_addr,connections,transactions,accepted,rejected,tempfailed,aborted,recipients,exposures,rules,first_seen,last_seen
465,198.51.100.7,1,1,1,0,0,0,3,0,[],2024-03-10 09:30:00+00,2024-03-10 09:30:00+00
587,198.51.100.7,1,1,0,1,0,0,0,1,"[""tls_before_auth""]",2024-03-10 11:00:00+00,2024-03-10 11:00:00+00
EOF
same "user bob, --until alone: the 24 hours before it"

rep $W user "o'brien\\x" --format json
exp_text <<'EOF'
[
{"port":587,"client_addr":"2001:db8::5","connections":1,"transactions":1,"accepted":1,"rejected":0,"tempfailed":0,"aborted":0,"recipients":1,"exposures":0,"rules":[],"first_seen":"2024-03-10 13:00:00+00","last_seen":"2024-03-10 13:00:00+00"}
]
EOF
same "user with a quote and a backslash in the name, json"

rep $W user "nobody' OR '1'='1" --format json
echo "[]" | exp_text
same "user: SQL in the name is only a name"

# ---- ip -----------------------------------------------------------------------

x10k=$(printf '%10000s' '' | tr ' ' x)
rep $W ip 203.0.113.0/24 --format csv
exp_csv <<'EOF'
client_addr,port,connections,transactions,accepted,rejected,tempfailed,aborted,recipients,exposures,rules,users,helos,first_seen,last_seen
203.0.113.5,25,2,3,0,3,0,0,0,0,"[""relay""]",[],"[""evil\u001b[2J\u000dhost""]",2024-03-10 10:00:00+00,2024-03-10 23:59:59+00
203.0.113.6,25,1,0,0,0,0,0,0,0,[],[],"[""X10K""]",2024-03-10 10:05:00+00,2024-03-10 10:05:00+00
EOF
sed "s/X10K/$x10k/" "$tmp/exp" >"$tmp/exp2" && mv "$tmp/exp2" "$tmp/exp"
same "ip 203.0.113.0/24, csv (control characters, 10 kB HELO in full)"

rep $W ip 203.0.113.0/24 --format json
exp_text <<'EOF'
[
{"client_addr":"203.0.113.5","port":25,"connections":2,"transactions":3,"accepted":0,"rejected":3,"tempfailed":0,"aborted":0,"recipients":0,"exposures":0,"rules":["relay"],"users":[],"helos":["evil\u001b[2J\u000dhost"],"first_seen":"2024-03-10 10:00:00+00","last_seen":"2024-03-10 23:59:59+00"},
{"client_addr":"203.0.113.6","port":25,"connections":1,"transactions":0,"accepted":0,"rejected":0,"tempfailed":0,"aborted":0,"recipients":0,"exposures":0,"rules":[],"users":[],"helos":["X10K"],"first_seen":"2024-03-10 10:05:00+00","last_seen":"2024-03-10 10:05:00+00"}
]
EOF
sed "s/X10K/$x10k/" "$tmp/exp" >"$tmp/exp2" && mv "$tmp/exp2" "$tmp/exp"
same "ip 203.0.113.0/24, json"
if command -v python3 >/dev/null 2>&1; then
	if python3 -c 'import json, sys; json.load(sys.stdin)' <"$tmp/out" 2>"$tmp/err"; then
		ok "... which a JSON parser accepts"
	else
		not_ok "... which a JSON parser accepts" "$tmp/err"
	fi
else
	ok "... which a JSON parser accepts # SKIP python3 not installed"
fi

rep $W ip 203.0.113.0/24
cp "$tmp/out" "$tmp/table"
if [ "$rc" -eq 0 ] && ! tr -d '\n' <"$tmp/table" | LC_ALL=C grep -q '[[:cntrl:]]'; then
	ok "ip, table: no raw control bytes"
else
	not_ok "ip, table: no raw control bytes" "$tmp/err"
fi
squeeze
x57=$(printf '%57s' '' | tr ' ' x)
exp_text <<EOF
client_addr port connections transactions accepted rejected tempfailed aborted recipients exposures rules users helos first_seen last_seen
203.0.113.5 25 2 3 0 3 0 0 0 0 relay evil\\x1b[2J\\x0dhost 2024-03-10 10:00:00+00 2024-03-10 23:59:59+00
203.0.113.6 25 1 0 0 0 0 0 0 0 $x57... 2024-03-10 10:05:00+00 2024-03-10 10:05:00+00
(2 rows)
EOF
same "ip, table: ESC and CR escaped, the 10 kB HELO cut to 60"

rep $W ip 192.0.2.200
c1=$(printf '\302\233') rlo=$(printf '\342\200\256')
if [ "$rc" -eq 0 ] && grep -qF 'c1\u009bX\u202ertl' "$tmp/out" &&
	! grep -qF "$c1" "$tmp/out" && ! grep -qF "$rlo" "$tmp/out"; then
	ok "ip, table: C1 CSI and right-to-left override escaped"
else
	not_ok "ip, table: C1 CSI and right-to-left override escaped" "$tmp/out"
fi

rep $W ip 2001:db8::/32 --format csv
exp_csv <<'EOF'
client_addr,port,connections,transactions,accepted,rejected,tempfailed,aborted,recipients,exposures,rules,users,helos,first_seen,last_seen
2001:db8::5,587,1,1,1,0,0,0,1,0,[],"[""o'brien\\x""]","[""quote\""helo\\""]",2024-03-10 13:00:00+00,2024-03-10 13:00:00+00
EOF
same "ip 2001:db8::/32, csv (quotes, backslashes)"

rep $W ip 2001:db8::/32 --format json
exp_text <<'EOF'
[
{"client_addr":"2001:db8::5","port":587,"connections":1,"transactions":1,"accepted":1,"rejected":0,"tempfailed":0,"aborted":0,"recipients":1,"exposures":0,"rules":[],"users":["o'brien\\x"],"helos":["quote\"helo\\"],"first_seen":"2024-03-10 13:00:00+00","last_seen":"2024-03-10 13:00:00+00"}
]
EOF
same "ip 2001:db8::/32, json"

rep $W ip 2001:db8::/32
squeeze
exp_text <<'EOF'
client_addr port connections transactions accepted rejected tempfailed aborted recipients exposures rules users helos first_seen last_seen
2001:db8::5 587 1 1 1 0 0 0 1 0 o'brien\\x quote"helo\\ 2024-03-10 13:00:00+00 2024-03-10 13:00:00+00
(1 row)
EOF
same "ip 2001:db8::/32, table (backslashes doubled)"

rep $W ip 192.0.2.10 --format csv
exp_csv <<'EOF'
client_addr,port,connections,transactions,accepted,rejected,tempfailed,aborted,recipients,exposures,rules,users,helos,first_seen,last_seen
192.0.2.10,587,1,2,2,0,0,0,3,0,[],"[""alice""]","[""alice-pc""]",2024-03-10 08:00:05+00,2024-03-10 08:01:00+00
192.0.2.10,4650,1,2,1,0,0,1,1,0,[],"[""alice""]","[""alice-pc""]",2024-03-11 07:00:00+00,2024-03-11 07:00:10+00
192.0.2.10,12345,1,1,0,0,1,0,0,0,"[""max_recipients""]","[""alice""]","[""alice-pc""]",2024-03-10 12:00:00+00,2024-03-10 12:00:00+00
EOF
same "ip 192.0.2.10 (one host), csv"

rep $W ip 192.0.2.0/24 --format csv
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 9 ]; then
	ok "ip 192.0.2.0/24: 8 rows"
else
	not_ok "ip 192.0.2.0/24: 8 rows" "$tmp/out" "$tmp/err"
fi
# issue 9, item 6: host bits are refused with a hint, never widened; a
# signed prefix ("/-0" was 0.0.0.0/0: every client) is refused.
rep $W ip 192.0.2.10/24 --format csv
if [ "$rc" -eq 2 ] && [ ! -s "$tmp/out" ] &&
	grep -qF 'did you mean 192.0.2.0/24?' "$tmp/err"; then
	ok "ip 192.0.2.10/24: host bits refused, hint 192.0.2.0/24"
else
	not_ok "ip 192.0.2.10/24: host bits refused, hint 192.0.2.0/24" "$tmp/out" "$tmp/err"
fi
rep $W ip 192.0.2.9/-0 --format csv
if [ "$rc" -eq 2 ] && [ ! -s "$tmp/out" ] &&
	grep -qF 'prefix length must be 0..32' "$tmp/err"; then
	ok "ip 192.0.2.9/-0: refused (was every address)"
else
	not_ok "ip 192.0.2.9/-0: refused (was every address)" "$tmp/out" "$tmp/err"
fi
rep $W ip ::ffff:203.0.113.5 --format csv
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 2 ] && grep -q '^203\.0\.113\.5,25,' "$tmp/out"; then
	ok "ip ::ffff:203.0.113.5 is the IPv4 address"
else
	not_ok "ip ::ffff:203.0.113.5 is the IPv4 address" "$tmp/out" "$tmp/err"
fi

# ---- top ----------------------------------------------------------------------

fffd=$(printf '\357\277\275')
rep $W top --port 587 --by user --format csv
exp_csv <<EOF
user,connections,transactions,accepted,rejected,tempfailed,aborted,recipients,exposures,ips,first_seen,last_seen
alice,2,3,2,1,0,0,3,0,2,2024-03-10 08:00:05+00,2024-03-11 08:00:00+00
bob,1,1,0,1,0,0,0,1,1,2024-03-10 11:00:00+00,2024-03-10 11:00:00+00
caf$fffd,1,1,1,0,0,0,1,0,1,2024-03-10 14:00:00+00,2024-03-10 14:00:00+00
o'brien\\x,1,1,1,0,0,0,1,0,1,2024-03-10 13:00:00+00,2024-03-10 13:00:00+00
EOF
same "top --port 587 --by user, csv"

rep $W top --port 587 --by user --limit 2 --format json
exp_text <<'EOF'
[
{"user":"alice","connections":2,"transactions":3,"accepted":2,"rejected":1,"tempfailed":0,"aborted":0,"recipients":3,"exposures":0,"ips":2,"first_seen":"2024-03-10 08:00:05+00","last_seen":"2024-03-11 08:00:00+00"},
{"user":"bob","connections":1,"transactions":1,"accepted":0,"rejected":1,"tempfailed":0,"aborted":0,"recipients":0,"exposures":1,"ips":1,"first_seen":"2024-03-10 11:00:00+00","last_seen":"2024-03-10 11:00:00+00"}
]
EOF
same "top --port 587 --by user --limit 2, json"

rep $W top --port 25 --by ip
squeeze
exp_text <<'EOF'
client_addr connections transactions accepted rejected tempfailed aborted recipients exposures users first_seen last_seen
203.0.113.5 2 3 0 3 0 0 0 0 0 2024-03-10 10:00:00+00 2024-03-10 23:59:59+00
203.0.113.6 1 0 0 0 0 0 0 0 0 2024-03-10 10:05:00+00 2024-03-10 10:05:00+00
(2 rows)
EOF
same "top --port 25 --by ip, table"

# ---- CSV formula injection (issue 9, item 11) ---------------------------------

# tx ID USER: a transaction on port 2531 on 2024-03-20, accepted, by USER
# (an SQL literal, also the HELO), as the shipper writes it; deleted after.
tx() {
	echo "INSERT INTO portmilter.events (event_id, event_time, conn_id, conn_time,
	kind, node, port, port_known, client_addr, helo, sasl_user, nrcpt,
	nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused, verdict,
	credential_exposure) VALUES ('$1', '2024-03-20 10:00+00', '$1',
	'2024-03-20 10:00+00', 'transaction', 'mx1', 2531, true, '192.0.2.99',
	$2, $2, 1, 0, 0, 0, 'accepted', false)"
}
sql -c "$(tx 00000000-0000-4000-8000-0000000000f1 "'+cmd|'' /C calc''!A0'")" \
	-c "$(tx 00000000-0000-4000-8000-0000000000f2 "'=HYPERLINK(\"http://x.example\")'")" \
	-c "$(tx 00000000-0000-4000-8000-0000000000f3 "'-2+3'")" \
	-c "$(tx 00000000-0000-4000-8000-0000000000f4 "'@SUM(A1:A9)'")" \
	-c "$(tx 00000000-0000-4000-8000-0000000000f5 "E'\t=1+1'")" \
	-c "$(tx 00000000-0000-4000-8000-0000000000f6 "E'\r=1+1'")" \
	-c "$(tx 00000000-0000-4000-8000-0000000000f7 "'a=1+1'")" >/dev/null
tab=$(printf '\t')
cr=$(printf '\r')
rep --since 2024-03-20 --until 2024-03-21 top --port 2531 --by user --format csv
exp_csv <<EOF
user,connections,transactions,accepted,rejected,tempfailed,aborted,recipients,exposures,ips,first_seen,last_seen
"'$tab=1+1",1,1,1,0,0,0,1,0,1,2024-03-20 10:00:00+00,2024-03-20 10:00:00+00
"'$cr=1+1",1,1,1,0,0,0,1,0,1,2024-03-20 10:00:00+00,2024-03-20 10:00:00+00
"'+cmd|' /C calc'!A0",1,1,1,0,0,0,1,0,1,2024-03-20 10:00:00+00,2024-03-20 10:00:00+00
"'-2+3",1,1,1,0,0,0,1,0,1,2024-03-20 10:00:00+00,2024-03-20 10:00:00+00
"'=HYPERLINK(""http://x.example"")",1,1,1,0,0,0,1,0,1,2024-03-20 10:00:00+00,2024-03-20 10:00:00+00
"'@SUM(A1:A9)",1,1,1,0,0,0,1,0,1,2024-03-20 10:00:00+00,2024-03-20 10:00:00+00
a=1+1,1,1,1,0,0,0,1,0,1,2024-03-20 10:00:00+00,2024-03-20 10:00:00+00
EOF
same "top --by user, csv: a cell starting with = + - @ tab CR gets a leading ' and quotes"
rep --since 2024-03-20 --until 2024-03-21 top --port 2531 --by user --limit 1 --format json
exp_text <<'EOF'
[
{"user":"\u0009=1+1","connections":1,"transactions":1,"accepted":1,"rejected":0,"tempfailed":0,"aborted":0,"recipients":1,"exposures":0,"ips":1,"first_seen":"2024-03-20 10:00:00+00","last_seen":"2024-03-20 10:00:00+00"}
]
EOF
same "... json is not for a spreadsheet: the value unchanged"
sql -c "DELETE FROM portmilter.events WHERE port = 2531" >/dev/null

# ---- adoption -----------------------------------------------------------------

rep $W adoption --format csv
exp_csv <<'EOF'
day,port,submissions,users,share
2024-03-10,465,1,1,0.1250
2024-03-10,587,5,4,0.6250
2024-03-10,5870,1,1,0.1250
2024-03-10,12345,1,1,0.1250
2024-03-11,465,1,1,0.2500
2024-03-11,587,1,1,0.2500
2024-03-11,4650,2,1,0.5000
EOF
same "adoption, csv"

rep $W adoption --format json
exp_text <<'EOF'
[
{"day":"2024-03-10","port":465,"submissions":1,"users":1,"share":0.1250},
{"day":"2024-03-10","port":587,"submissions":5,"users":4,"share":0.6250},
{"day":"2024-03-10","port":5870,"submissions":1,"users":1,"share":0.1250},
{"day":"2024-03-10","port":12345,"submissions":1,"users":1,"share":0.1250},
{"day":"2024-03-11","port":465,"submissions":1,"users":1,"share":0.2500},
{"day":"2024-03-11","port":587,"submissions":1,"users":1,"share":0.2500},
{"day":"2024-03-11","port":4650,"submissions":2,"users":1,"share":0.5000}
]
EOF
same "adoption, json"

rep $W adoption
{
	f='%-10s  %-5s  %11s  %5s  %6s\n'
	# shellcheck disable=SC2059
	printf "$f" day port submissions users share
	printf "$f" ---------- ----- ----------- ----- ------
	printf "$f" 2024-03-10 465 1 1 0.1250
	printf "$f" 2024-03-10 587 5 4 0.6250
	printf "$f" 2024-03-10 5870 1 1 0.1250
	printf "$f" 2024-03-10 12345 1 1 0.1250
	printf "$f" 2024-03-11 465 1 1 0.2500
	printf "$f" 2024-03-11 587 1 1 0.2500
	printf "$f" 2024-03-11 4650 2 1 0.5000
	echo "(7 rows)"
} >"$tmp/exp"
same "adoption, table (aligned)"

# ---- the views ----------------------------------------------------------------

sql_is "port_daily, 2024-03-10, port 587" \
	'2024-03-10 00:00:00+00|587|4|5|4|1|0|0|{"tls_before_auth": 1}|4|4|1|0|0|0' -c \
	"SELECT * FROM portmilter.port_daily
	 WHERE bucket = '2024-03-10 00:00+00' AND port = 587"
sql_is "port_hourly, 2024-03-10 10:00, port 25" \
	'2024-03-10 10:00:00+00|25|2|2|0|2|0|0|{"relay": 2}|0|2|0|0|0|0' -c \
	"SELECT * FROM portmilter.port_hourly
	 WHERE bucket = '2024-03-10 10:00+00' AND port = 25"
sql_is "user_activity, bob" \
	'bob|{465,587}|1|3|3|2|1|0|0|1|2024-03-10 09:30:00+00|2024-03-11 00:00:00+00|0' \
	-c "SELECT * FROM portmilter.user_activity WHERE sasl_user = 'bob'"
sql_is "ip_activity, 192.0.2.10 (all time)" \
	'192.0.2.10|{587,4650,12345}|1|6|8|6|0|1|1|0|2024-03-09 23:59:59+00|2024-04-02 10:00:00+00|0' \
	-c "SELECT * FROM portmilter.ip_activity WHERE client_addr = '192.0.2.10'"
sql_is "port_adoption, 2024-03-11" \
	'2024-03-11|465|1|1|0.2500
2024-03-11|587|1|1|0.2500
2024-03-11|4650|2|1|0.5000' \
	-c "SELECT * FROM portmilter.port_adoption WHERE day = '2024-03-11'"

# ---- the default window, relative times -----------------------------------------

sql -c "$(ins 00000000-0000-4000-8000-0000000000c1 "now() - interval '1 hour'" 2525)" >/dev/null
rep ports --format csv
exp_csv <<'EOF'
port,connections,transactions,accepted,rejected,tempfailed,aborted,rejects_by_rule,users,ips,exposures,auth_failures,refused_before_mail,tls_failures
2525,1,0,0,0,0,0,{},0,0,0,0,0,0
EOF
same "ports, default window (last 24 h)"
rep --since 2h ports --format csv
same "ports --since 2h"
rep --until 30m ports --format csv
same "ports --until 30m (24 h before it)"
rep --since 30m ports --format csv
echo "port,connections,transactions,accepted,rejected,tempfailed,aborted,rejects_by_rule,users,ips,exposures,auth_failures,refused_before_mail,tls_failures" | exp_csv
same "ports --since 30m: nothing"
rep --since 1w --until 90m ports --format csv
same "ports --since 1w --until 90m: nothing"

# ---- the reader runs the report; configuration --------------------------------------

"$report" -d "dbname=portmilter user=t_reader" $W ports --format csv >"$tmp/out" 2>"$tmp/err"; rc=$?
cp "$tmp/ports.csv" "$tmp/exp"
same "the reader role can run the report"
fails "the writer role cannot" 1 "portmilter_reader" \
	-d "dbname=portmilter user=t_writer" $W ports
printf '# test\ndatabase = dbname=portmilter\n' >"$tmp/pm.conf"
"$report" -c "$tmp/pm.conf" $W ports --format csv >"$tmp/out" 2>"$tmp/err"; rc=$?
same "the conninfo from the config file"
printf 'database = dbname=portmilter\nno_such_key = 1\n' >"$tmp/bad.conf"
fails "a bad config file is an error" 1 "bad.conf:2:" -c "$tmp/bad.conf" ports

# ---- bad input ----------------------------------------------------------------------

fails "--since garbage" 2 'bad --since "garbage"' -d "$DB" --since garbage ports
fails "--since 2024-02-30" 2 "no such date" -d "$DB" --since 2024-02-30 ports
fails "--since 2023-02-29" 2 "no such date" -d "$DB" --since 2023-02-29 ports
fails "--since 24:00" 2 "no such time" -d "$DB" --since '2024-03-10 24:00' ports
fails "--since with trailing junk" 2 "bad --since" -d "$DB" --since '2024-03-10 10:00x' ports
fails "--since with a bad offset" 2 "offset" -d "$DB" --since 2024-03-10T10:00+24:00 ports
fails "--since 5y: unknown unit" 2 "unknown unit" -d "$DB" --since 5y ports
fails "--since overflow" 2 "too far back" -d "$DB" --since 99999999999999999999w ports
fails "--until garbage" 2 "bad --until" -d "$DB" --until yesterday ports
fails "since after until" 2 "empty time window" \
	-d "$DB" --since 2024-03-12 --until 2024-03-10 ports
fails "since equal to until" 2 "empty time window" \
	-d "$DB" --since 2024-03-10 --until 2024-03-10T00:00:00Z ports
fails "ip 10.0.0.0/33" 2 "prefix length" -d "$DB" ip 10.0.0.0/33
fails "ip 10.0.0.1x" 2 "malformed address" -d "$DB" ip 10.0.0.1x
fails "ip with no address" 2 "bad address" -d "$DB" ip ''
fails "top without --port" 2 "--port" -d "$DB" top --by user
fails "top --by host" 2 "--by must be" -d "$DB" top --port 587 --by host
fails "top --port 70000" 2 "--port" -d "$DB" top --port 70000 --by ip
fails "top --limit 0" 2 "--limit" -d "$DB" top --port 587 --by ip --limit 0
fails "unknown command" 2 "unknown command" -d "$DB" frobnicate
fails "user without a name" 2 "takes 1 argument" -d "$DB" user
fails "an option of another command" 2 "not valid" -d "$DB" ports --sql-dir /tmp
fails "--format xml" 2 "--format" -d "$DB" --format xml ports
fails "a malformed conninfo" 2 "bad connection string" -d "no_such_option=1" ports
fails "database unreachable: says where, not the password" 1 '"portmilter" on 127.0.0.1 (port 1)' \
	-d "host=127.0.0.1 port=1 dbname=portmilter password=s3cr3t connect_timeout=3" ports
if grep -q s3cr3t "$tmp/err"; then
	not_ok "... never the password" "$tmp/err"
else
	ok "... never the password"
fi
sql -c "CREATE DATABASE empty" -c "CREATE DATABASE old" >/dev/null
fails "schema missing" 1 "run portmilter-report migrate" -d dbname=empty ports
PGDATABASE=old sql -d old -c "CREATE SCHEMA portmilter;
	CREATE TABLE portmilter.schema_version (version integer PRIMARY KEY, applied_at timestamptz);
	INSERT INTO portmilter.schema_version VALUES (1, now())" >/dev/null
fails "schema too old" 1 "at version 1, this portmilter-report needs 5" -d dbname=old ports
# issue 9, item 12: a schema newer than this portmilter-report is refused
sql -c "CREATE DATABASE newer" >/dev/null
PGDATABASE=newer sql -d newer -c "CREATE SCHEMA portmilter;
	CREATE TABLE portmilter.schema_version (version integer PRIMARY KEY, applied_at timestamptz);
	INSERT INTO portmilter.schema_version VALUES (1, now()), (99, now())" >/dev/null
fails "schema 99 newer, migrate touches nothing" 1 \
	"database schema 99 is newer than the migrations in $sqldir ($known): upgrade portmilter" \
	-d dbname=newer migrate --sql-dir "$sqldir"
PGDATABASE=newer sql_is "... (only schema_version in the schema)" "schema_version" -d newer \
	-c "SELECT string_agg(tablename, ',') FROM pg_catalog.pg_tables WHERE schemaname = 'portmilter'"
for c in ports "user alice" "ip 192.0.2.0/24" "top --port 587 --by user" adoption; do
	# shellcheck disable=SC2086 # c is a command and its arguments
	fails "schema 99 newer, $c" 1 \
		"database schema 99 is newer than this portmilter-report ($known): upgrade portmilter" \
		-d dbname=newer $c
done

# ---- the default window includes what happened this very second ------------------

sql -c "$(ins 00000000-0000-4000-8000-0000000000e1 "now()" 2529)" >/dev/null
rep ports --format csv
if [ "$rc" -eq 0 ] && grep -q '^2529,1,' "$tmp/out"; then
	ok "default window (last 24 h) includes an event of the current second"
else
	not_ok "default window (last 24 h) includes an event of the current second" "$tmp/out"
fi
sql -c "DELETE FROM portmilter.events WHERE port = 2529" >/dev/null

# ---- lists of several values in a group ------------------------------------------
# The rules, users and HELOs of `ip` and `user` and the mechanisms of
# `auth` are the distinct non-NULL values of the group, sorted bytewise
# ("B" < "Z" < "b" < "z" < UTF-8): worked out by hand from the rows below,
# on 2024-04-25, outside every other window. For `auth` the report builds
# a list of one value without a sort and sorts only the others
# (SQL_DISTINCT in report/portmilter-report.c): groups of one value, of
# several with repeats and NULLs, and of NULLs only.

sql >/dev/null <<'EOS'
INSERT INTO portmilter.events (event_id, event_time, conn_id, conn_time,
	kind, node, port, port_known, client_addr, helo, sasl_method, sasl_user,
	nrcpt, nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused, verdict, rule,
	credential_exposure)
VALUES
('e0000000-0000-4000-8000-0000000000b1', '2024-04-25 10:00:00+00',
 'c0000000-0000-4000-8000-0000000000b1', '2024-04-25 10:00:00+00',
 'transaction', 'mx1', 587, true, '192.0.2.200', 'b-host', 'PLAIN', 'zed',
 0, 1, 0, 0, 'rejected', 'relay', false),
('e0000000-0000-4000-8000-0000000000b2', '2024-04-25 10:01:00+00',
 'c0000000-0000-4000-8000-0000000000b1', '2024-04-25 10:00:00+00',
 'transaction', 'mx1', 587, true, '192.0.2.200', 'B-host', 'PLAIN', 'Alice',
 0, 1, 0, 0, 'rejected', 'Zeta', false),
('e0000000-0000-4000-8000-0000000000b3', '2024-04-25 10:02:00+00',
 'c0000000-0000-4000-8000-0000000000b2', '2024-04-25 10:02:00+00',
 'connection', 'mx1', 587, true, '192.0.2.200', 'b-host', NULL, NULL,
 0, 0, 0, 0, 'none', NULL, false),
('e0000000-0000-4000-8000-0000000000b4', '2024-04-25 10:03:00+00',
 'c0000000-0000-4000-8000-0000000000b2', '2024-04-25 10:02:00+00',
 'transaction', 'mx1', 587, true, '192.0.2.200', E'\u00e4-host', 'PLAIN', 'zed',
 0, 1, 0, 0, 'rejected', 'relay', false),
('e0000000-0000-4000-8000-0000000000b5', '2024-04-25 11:00:00+00',
 'c0000000-0000-4000-8000-0000000000b5', '2024-04-25 11:00:00+00',
 'auth_failure', 'mx1', 587, true, '192.0.2.201', NULL, 'PLAIN', 'multi',
 0, 0, 0, 0, 'rejected', 'auth_failed', false),
('e0000000-0000-4000-8000-0000000000b6', '2024-04-25 11:01:00+00',
 'c0000000-0000-4000-8000-0000000000b6', '2024-04-25 11:01:00+00',
 'auth_failure', 'mx1', 587, true, '192.0.2.201', NULL, 'LOGIN', 'multi',
 0, 0, 0, 0, 'rejected', 'auth_failed', false),
('e0000000-0000-4000-8000-0000000000b7', '2024-04-25 11:02:00+00',
 'c0000000-0000-4000-8000-0000000000b7', '2024-04-25 11:02:00+00',
 'auth_failure', 'mx1', 587, true, '192.0.2.201', NULL, 'PLAIN', 'multi',
 0, 0, 0, 0, 'rejected', 'auth_failed', false),
('e0000000-0000-4000-8000-0000000000b8', '2024-04-25 11:03:00+00',
 'c0000000-0000-4000-8000-0000000000b8', '2024-04-25 11:03:00+00',
 'auth_failure', 'mx1', 587, true, '192.0.2.201', NULL, NULL, 'multi',
 0, 0, 0, 0, 'rejected', 'auth_failed', false),
('e0000000-0000-4000-8000-0000000000b9', '2024-04-25 11:04:00+00',
 'c0000000-0000-4000-8000-0000000000b9', '2024-04-25 11:04:00+00',
 'auth_failure', 'mx1', 587, true, '192.0.2.201', NULL, 'CRAM-MD5', 'multi',
 0, 0, 0, 0, 'rejected', 'auth_failed', false),
('e0000000-0000-4000-8000-0000000000ba', '2024-04-25 11:05:00+00',
 'c0000000-0000-4000-8000-0000000000ba', '2024-04-25 11:05:00+00',
 'auth_failure', 'mx1', 587, true, '192.0.2.201', NULL, NULL, 'nomech',
 0, 0, 0, 0, 'rejected', 'auth_failed', false),
('e0000000-0000-4000-8000-0000000000bb', '2024-04-25 11:06:00+00',
 'c0000000-0000-4000-8000-0000000000bb', '2024-04-25 11:06:00+00',
 'auth_failure', 'mx1', 587, true, '192.0.2.201', NULL, NULL, 'nomech',
 0, 0, 0, 0, 'rejected', 'auth_failed', false),
('e0000000-0000-4000-8000-0000000000bc', '2024-04-25 11:07:00+00',
 'c0000000-0000-4000-8000-0000000000bc', '2024-04-25 11:07:00+00',
 'auth_failure', 'mx1', 587, true, '192.0.2.201', NULL, 'login', 'one',
 0, 0, 0, 0, 'rejected', 'auth_failed', false),
('e0000000-0000-4000-8000-0000000000bd', '2024-04-25 11:08:00+00',
 'c0000000-0000-4000-8000-0000000000bd', '2024-04-25 11:08:00+00',
 'auth_failure', 'mx1', 587, true, '192.0.2.201', NULL, 'login', 'one',
 0, 0, 0, 0, 'rejected', 'auth_failed', false);
EOS
L="--since 2024-04-25 --until 2024-04-26"
rep $L ip 192.0.2.200 --format csv
exp_csv <<'EOF'
client_addr,port,connections,transactions,accepted,rejected,tempfailed,aborted,recipients,exposures,rules,users,helos,first_seen,last_seen
192.0.2.200,587,2,3,0,3,0,0,0,0,"[""Zeta"",""relay""]","[""Alice"",""zed""]","[""B-host"",""b-host"",""ä-host""]",2024-04-25 10:00:00+00,2024-04-25 10:03:00+00
EOF
same "ip: several rules, users and HELOs, repeats and NULLs: distinct, sorted bytewise"
rep $L user zed --format csv
exp_csv <<'EOF'
port,client_addr,connections,transactions,accepted,rejected,tempfailed,aborted,recipients,exposures,rules,first_seen,last_seen
587,192.0.2.200,2,2,0,2,0,0,0,0,"[""relay""]",2024-04-25 10:00:00+00,2024-04-25 10:03:00+00
EOF
same "user: one rule twice is one"
rep $L auth --format csv
exp_csv <<'EOF'
user,client_addr,port,failures,mechanisms,first_seen,last_seen
multi,192.0.2.201,587,5,"[""CRAM-MD5"",""LOGIN"",""PLAIN""]",2024-04-25 11:00:00+00,2024-04-25 11:04:00+00
nomech,192.0.2.201,587,2,,2024-04-25 11:05:00+00,2024-04-25 11:06:00+00
one,192.0.2.201,587,2,"[""login""]",2024-04-25 11:07:00+00,2024-04-25 11:08:00+00
EOF
same "auth: mechanisms distinct and sorted, none (all NULL) empty, one twice is one"
rep $L auth --format json
exp_text <<'EOF'
[
{"user":"multi","client_addr":"192.0.2.201","port":587,"failures":5,"mechanisms":["CRAM-MD5","LOGIN","PLAIN"],"first_seen":"2024-04-25 11:00:00+00","last_seen":"2024-04-25 11:04:00+00"},
{"user":"nomech","client_addr":"192.0.2.201","port":587,"failures":2,"mechanisms":null,"first_seen":"2024-04-25 11:05:00+00","last_seen":"2024-04-25 11:06:00+00"},
{"user":"one","client_addr":"192.0.2.201","port":587,"failures":2,"mechanisms":["login"],"first_seen":"2024-04-25 11:07:00+00","last_seen":"2024-04-25 11:08:00+00"}
]
EOF
same "auth, json: the same lists, null for none"

# ---- retention (last: it drops the fixture's months) -----------------------------

sql -c "SELECT portmilter.create_month_partition('2000-01-01')" \
	-c "$(ins 00000000-0000-4000-8000-0000000000d1 "'2000-01-15 12:00+00'" 2528)" \
	-c "$(ins 00000000-0000-4000-8000-0000000000d2 "'1999-06-01 12:00+00'" 2528)" >/dev/null
sql_is "drop_partitions_older_than(1) drops the old months, returns their names" \
	"events_200001,events_202403,events_202404" \
	-c "SELECT string_agg(p, ',' ORDER BY p) FROM portmilter.drop_partitions_older_than(1) AS p"
sql_is "... keeps DEFAULT and its rows, this month, and the rows of kept months" \
	"t|t|1999-06-01 12:00:00+00|1" -c \
	"SELECT pg_catalog.to_regclass('portmilter.events_default') IS NOT NULL,
		pg_catalog.to_regclass('portmilter.$(month 0)') IS NOT NULL,
		(SELECT string_agg(event_time::text, ',') FROM portmilter.events WHERE port = 2528),
		(SELECT count(*) FROM portmilter.events WHERE port = 2525)"
if sql -c "SELECT portmilter.drop_partitions_older_than(0)" >"$tmp/out" 2>&1; then
	not_ok "drop_partitions_older_than(0) is refused" "$tmp/out"
else
	ok "drop_partitions_older_than(0) is refused"
fi
rep $W ports --format csv
echo "port,connections,transactions,accepted,rejected,tempfailed,aborted,rejects_by_rule,users,ips,exposures,auth_failures,refused_before_mail,tls_failures" | exp_csv
same "the report still works, and the dropped months are gone"

echo "1..$n"
