#!/bin/sh
# standby.sh - portmilter-report against a hot standby (TAP).
#
# A throwaway primary (tests/lib/pg.sh) with the migrations and the
# fixtures (tests/sql/fixture.sql, tls-fixture.sql); a real streaming
# replica made from it with pg_basebackup -R (standby.signal and
# primary_conninfo written by pg_basebackup), started on its own port.
# Every read command of portmilter-report, as the reader role, gives on
# the standby exactly what it gives on the primary (whose answers
# tests/sql/report.sh and tls.sh check by hand), without a write: the
# standby refuses any. A row inserted on the primary afterwards reaches
# the standby's report (streaming, not only the base backup). migrate,
# which writes, is refused on the standby with a message saying so.
#
# Environment: top_srcdir, top_builddir, PORTMILTER_REPORT, PG_BINDIR.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
report=${PORTMILTER_REPORT:-$builddir/report/portmilter-report}
. "$srcdir/tests/lib/pg.sh"

tmp='' n=0	# both set by pg_test_begin (tests/lib/pg.sh)
pg_test_begin standby	# skip, psql, $tmp and its cleanup, ok/not_ok
trap 'pg_stop "$tmp/s"; pg_stop "$tmp"; rm -rf "$tmp"' EXIT

W="--since 2024-03-10 --until 2024-03-12"
if [ ! -x "$report" ]; then
	echo "Bail out! $report is not built"
	exit 1
fi
if ! pg_start "$tmp" 2>"$tmp/pg_start.err"; then
	sed 's/^/# /' "$tmp/pg_start.err"
	echo "Bail out! cannot start PostgreSQL"
	exit 1
fi
P_HOST=$PGHOST P_PORT=$PGPORT
psql_p() { PGHOST=$P_HOST PGPORT=$P_PORT psql -X -q -A -t -v ON_ERROR_STOP=1 -d portmilter "$@"; }
if ! "$report" -d dbname=portmilter migrate --sql-dir "$srcdir/sql" >"$tmp/load" 2>&1 ||
   ! psql_p -f "$srcdir/tests/sql/fixture.sql" -f "$srcdir/tests/sql/tls-fixture.sql" \
	-c "CREATE ROLE abuse LOGIN IN ROLE portmilter_reader" >>"$tmp/load" 2>&1; then
	sed 's/^/# /' "$tmp/load"
	echo "Bail out! cannot load the schema and the fixtures"
	exit 1
fi

# ---- the standby -------------------------------------------------------------
bin=$(pg_bindir)
mkdir -p "$tmp/s/sock" && chmod 755 "$tmp/s" "$tmp/s/sock" && : >"$tmp/s/log"
[ "$(id -u)" -ne 0 ] || chown postgres "$tmp/s" "$tmp/s/sock" "$tmp/s/log"
if _pg_as_server "$bin/pg_basebackup" -h "$P_HOST" -p "$P_PORT" -U postgres \
	-D "$tmp/s/data" -R -X stream -c fast >"$tmp/bb.log" 2>&1 &&
   [ -f "$tmp/s/data/standby.signal" ] &&
   grep -q "primary_conninfo" "$tmp/s/data/postgresql.auto.conf"; then
	ok "pg_basebackup -R: a copy with standby.signal and primary_conninfo"
else
	not_ok "pg_basebackup -R: a copy with standby.signal and primary_conninfo" "$tmp/bb.log"
	exit 1
fi
# Every statement in the standby's log (the dashboard's connections).
echo "log_statement = 'all'" >>"$tmp/s/data/postgresql.auto.conf"
started=1
for try in 1 2 3 4 5 6 7 8; do
	port=$(_pg_random_port)
	_pg_port_free "$port" || continue
	if _pg_ctl_start "$bin" "$tmp/s" "$port"; then
		started=0
		break
	fi
	pg_stop "$tmp/s"
done
S_HOST=$PGHOST S_PORT=$PGPORT
PGHOST=$P_HOST PGPORT=$P_PORT
psql_s() { PGHOST=$S_HOST PGPORT=$S_PORT psql -X -q -A -t -v ON_ERROR_STOP=1 -d portmilter "$@"; }
if [ "$started" -eq 0 ] && [ "$(psql_s -c 'SELECT pg_catalog.pg_is_in_recovery()')" = t ]; then
	ok "the standby runs, in recovery (port $S_PORT; try $try)"
else
	not_ok "the standby runs, in recovery" "$tmp/s/log"
	exit 1
fi
if [ "$(psql_p -c "SELECT count(*) FROM pg_catalog.pg_stat_replication WHERE state = 'streaming'")" = 1 ]; then
	ok "the primary streams to it (pg_stat_replication)"
else
	not_ok "the primary streams to it (pg_stat_replication)" "$tmp/s/log"
fi

P="host=$P_HOST port=$P_PORT dbname=portmilter user=abuse"
S="host=$S_HOST port=$S_PORT dbname=portmilter user=abuse"

# same_on_both NAME ARGS...: exit 0 and the same output on both servers
same_on_both() {
	name=$1
	shift
	"$report" -d "$P" "$@" >"$tmp/p.out" 2>"$tmp/p.err"; prc=$?
	"$report" -d "$S" "$@" >"$tmp/s.out" 2>"$tmp/s.err"; src=$?
	if [ "$prc" -eq 0 ] && [ "$src" -eq 0 ] && [ -s "$tmp/p.out" ] &&
	   cmp -s "$tmp/p.out" "$tmp/s.out"; then
		ok "standby = primary: $name"
	else
		diff -u "$tmp/p.out" "$tmp/s.out" >"$tmp/diff" 2>&1
		echo "exit status $prc on the primary, $src on the standby" >>"$tmp/diff"
		not_ok "standby = primary: $name" "$tmp/diff" "$tmp/s.err" "$tmp/p.err"
	fi
}

# wait_replayed: the standby has replayed what the primary wrote so far.
# The insert position, not pg_current_wal_lsn() (the write position): the
# test clusters run with synchronous_commit = off, so a commit returns
# before its record is written out, and the write position can still be
# short of it; the standby would then be "caught up" without the commit
# (CI saw the new row below missing from the standby's report that way).
wait_replayed() {
	lsn=$(psql_p -c "SELECT pg_catalog.pg_current_wal_insert_lsn()")
	i=0
	while [ "$(psql_s -c "SELECT pg_catalog.pg_last_wal_replay_lsn() >= '$lsn'")" != t ]; do
		[ "$i" -lt 100 ] || return 1
		sleep 0.1
		i=$((i + 1))
	done
}
wait_replayed
ok "the standby caught up"

# shellcheck disable=SC2086 # $W is several words
{
same_on_both "ports, csv" $W ports --format csv
same_on_both "ports, json" $W ports --format json
same_on_both "ports, table" $W ports
same_on_both "user alice" $W user alice --format csv
same_on_both "ip 203.0.113.0/24" $W ip 203.0.113.0/24 --format json
same_on_both "top --port 587 --by user" $W top --port 587 --by user --format csv
same_on_both "top --port 25 --by ip" $W top --port 25 --by ip
same_on_both "adoption" $W adoption --format csv
same_on_both "tls --below TLSv1.2" $W tls --below TLSv1.2 --format csv
same_on_both "tls-preview --port 587 --min-tls-version TLSv1.2" \
	$W tls-preview --port 587 --min-tls-version TLSv1.2 --format csv
same_on_both "auth" $W auth --format csv
}

# The dashboard: a file; the same page from both but for when it was made.
# shellcheck disable=SC2086
"$report" -d "$P" $W dashboard -o "$tmp/p.html" 2>"$tmp/p.err"; prc=$?
slines=$(wc -l <"$tmp/s/log")
# shellcheck disable=SC2086
"$report" -d "$S" $W dashboard -o "$tmp/s.html" 2>"$tmp/s.err"; src=$?
tail -n +"$((slines + 1))" "$tmp/s/log" >"$tmp/s.dash.log"
strip() { grep -v '[0-9][0-9]:[0-9][0-9]:[0-9][0-9]' "$1"; }
if [ "$prc" -eq 0 ] && [ "$src" -eq 0 ] && [ -s "$tmp/s.html" ] &&
   strip "$tmp/p.html" >"$tmp/p.strip" && strip "$tmp/s.html" >"$tmp/s.strip" &&
   cmp -s "$tmp/p.strip" "$tmp/s.strip"; then
	ok "standby = primary: dashboard -o FILE"
else
	diff -u "$tmp/p.strip" "$tmp/s.strip" 2>&1 | head -n 20 >"$tmp/diff"
	not_ok "standby = primary: dashboard -o FILE" "$tmp/diff" "$tmp/s.err"
fi
# A standby exports a snapshot too: the page's three connections share it.
if [ "$(grep -c 'statement: SELECT pg_catalog.pg_export_snapshot()' "$tmp/s.dash.log")" -eq 1 ] &&
   [ "$(grep -c "statement: SET TRANSACTION SNAPSHOT '" "$tmp/s.dash.log")" -eq 2 ] &&
   ! grep -q 'ERROR:' "$tmp/s.dash.log"; then
	ok "on the standby, the dashboard's 3 connections share one exported snapshot"
else
	not_ok "on the standby, the dashboard's 3 connections share one exported snapshot" \
		"$tmp/s.dash.log"
fi

# ---- streaming: a new row on the primary reaches the standby's report -----------
psql_p -c "INSERT INTO portmilter.events (event_id, event_time, conn_id, conn_time,
	kind, node, port, port_known, nrcpt, nrcpt_rejected, nrcpt_tempfailed,
	nrcpt_refused, verdict, credential_exposure, sasl_user) VALUES
	('00000000-0000-4000-8000-00000000d001', '2024-03-10 12:00+00',
	 '00000000-0000-4000-8000-00000000d001', '2024-03-10 12:00+00',
	 'connection', 'mx9', 2626, true, 0, 0, 0, 0, 'none', false, 'standby-new')" >/dev/null
if wait_replayed; then
	ok "the new row was streamed to the standby"
else
	not_ok "the new row was streamed to the standby" "$tmp/s/log"
fi
# shellcheck disable=SC2086
"$report" -d "$S" $W ports --format csv >"$tmp/s.out" 2>"$tmp/s.err"
if grep -q '^2626,' "$tmp/s.out"; then
	ok "the standby's report shows it (port 2626)"
else
	not_ok "the standby's report shows it (port 2626)" "$tmp/s.out" "$tmp/s.err"
fi
same_on_both "ports after the new row" $W ports --format csv

# ---- what writes is refused on the standby -------------------------------------
"$report" -d "host=$S_HOST port=$S_PORT dbname=portmilter user=postgres" \
	migrate --sql-dir "$srcdir/sql" >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ "$rc" -eq 1 ] && grep -q "migrate writes, and this server is a hot standby" "$tmp/err"; then
	ok "migrate on the standby: refused, run it against the primary"
else
	echo "exit status $rc" >"$tmp/diff"
	not_ok "migrate on the standby: refused, run it against the primary" "$tmp/diff" "$tmp/err" "$tmp/out"
fi
if grep -q "cannot execute" "$tmp/s/log"; then
	not_ok "nothing tried to write on the standby (its log)" "$tmp/s/log"
else
	ok "nothing tried to write on the standby (its log)"
fi
echo "1..$n"
