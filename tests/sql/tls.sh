#!/bin/sh
# tls.sh - portmilter-report tls and tls-preview against a real
# PostgreSQL (TAP).
#
# A throwaway cluster (tests/lib/pg.sh), stopped by a trap whatever
# happens; the migrations; tests/sql/fixture.sql and
# tests/sql/tls-fixture.sql; then each command's output compared with
# values worked out BY HAND from those two files, in every format; the
# preview's notion of "below the minimum" compared with the milter's own
# policy engine (tests/unit/policy_driver, when built) on the same TLS
# version strings; then the bad command lines.
#
# Environment (set by the automake harness; defaults for a run by hand
# from the top of a built source tree): top_srcdir, top_builddir,
# PORTMILTER_REPORT (the binary), PG_BINDIR.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
report=${PORTMILTER_REPORT:-$builddir/report/portmilter-report}
driver=$builddir/tests/unit/policy_driver
. "$srcdir/tests/lib/pg.sh"

tmp='' n=0	# both set by pg_test_begin (tests/lib/pg.sh)
pg_test_begin tls	# skip, psql, $tmp and its cleanup, ok/not_ok

DB="dbname=portmilter"
W="--since 2024-03-10 --until 2024-03-12"
# rep ARGS...: the report on the test database; $rc, $tmp/out, $tmp/err.
rep() { "$report" -d "$DB" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }
exp_csv() { awk '{ printf "%s\r\n", $0 }' >"$tmp/exp"; }
exp_text() { cat >"$tmp/exp"; }
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

if [ ! -x "$report" ]; then
	echo "Bail out! $report is not built"
	exit 1
fi
if ! pg_start "$tmp" 2>"$tmp/pg_start.err"; then
	sed 's/^/# /' "$tmp/pg_start.err"
	echo "Bail out! cannot start PostgreSQL"
	exit 1
fi
PGTZ=America/New_York	# the report must print UTC whatever the zone
export PGTZ
if ! "$report" -d "$DB" migrate --sql-dir "$srcdir/sql" >"$tmp/out" 2>&1 ||
	! psql -X -q -v ON_ERROR_STOP=1 -d portmilter \
		-f "$srcdir/tests/sql/fixture.sql" \
		-f "$srcdir/tests/sql/tls-fixture.sql" >"$tmp/load" 2>&1; then
	cat "$tmp/out" "$tmp/load" | sed 's/^/# /'
	echo "Bail out! cannot load the fixtures"
	exit 1
fi
# A failed login from Postfix's log in W (the log reader's shape,
# doc/events.md): a mechanism, no TLS version, as the log does not say it.
# It is not "AUTH without TLS": no tls or tls-preview output below shows
# it (frank is nowhere).
if ! psql -X -q -v ON_ERROR_STOP=1 -d portmilter >"$tmp/load" 2>&1 <<'EOF'
INSERT INTO portmilter.events (event_id, event_time, conn_id, conn_time, kind,
	node, port, port_known, client_addr, sasl_method, sasl_user, nrcpt,
	nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused, verdict, rule, reply,
	credential_exposure)
VALUES ('f1000000-0000-4000-8000-000000000001', '2024-03-11 10:00:00+00',
	'f1000000-0000-4000-8000-000000000001', '2024-03-11 10:00:00+00',
	'auth_failure', 'mx1', 587, true, '192.0.2.99', 'LOGIN', 'frank', 0, 0, 0,
	0, 'rejected', 'auth_failed',
	'535 5.7.8 Error: authentication failed: authentication failure', false);
EOF
then
	sed 's/^/# /' "$tmp/load"
	echo "Bail out! cannot load the auth_failure row"
	exit 1
fi

# ---- tls ---------------------------------------------------------------------

# Every event in W in TLS, or with AUTH (e08: AUTH without TLS, "none");
# per port (numeric), version (oldest first: unknown SSLv3, none, TLSv1,
# ...), user (bytewise, no user last), network. e05-e07, e12, e17, e18
# (no TLS, no AUTH) are not there.
rep $W tls --format csv
exp_csv <<'EOF'
port,tls_version,user,network,connections,transactions,accepted,rejected,first_seen,last_seen
25,TLSv1.2,,203.0.113.0/24,1,1,1,0,2024-03-11 17:00:00+00,2024-03-11 17:00:00+00
465,TLSv1.2,bob,198.51.100.0/24,2,2,2,0,2024-03-10 09:30:00+00,2024-03-11 00:00:00+00
465,TLSv1.2,,198.51.100.0/24,1,0,0,0,2024-03-11 19:00:00+00,2024-03-11 19:00:00+00
587,SSLv3,dave,192.0.2.0/24,1,1,1,0,2024-03-11 16:00:00+00,2024-03-11 16:00:00+00
587,none,bob,198.51.100.0/24,1,1,0,1,2024-03-10 11:00:00+00,2024-03-10 11:00:00+00
587,TLSv1,carol,2001:db8:1::/64,2,2,2,0,2024-03-10 15:00:00+00,2024-03-11 15:00:00+00
587,TLSv1.1,alice,192.0.2.0/24,1,1,0,1,2024-03-11 08:00:00+00,2024-03-11 08:00:00+00
587,TLSv1.2,erin,192.0.2.0/24,1,1,1,0,2024-03-11 18:00:00+00,2024-03-11 18:00:00+00
587,TLSv1.3,alice,192.0.2.0/24,1,2,2,0,2024-03-10 08:00:05+00,2024-03-10 08:01:00+00
587,TLSv1.3,caf�,192.0.2.0/24,1,1,1,0,2024-03-10 14:00:00+00,2024-03-10 14:00:00+00
587,TLSv1.3,o'brien\x,2001:db8::/64,1,1,1,0,2024-03-10 13:00:00+00,2024-03-10 13:00:00+00
4650,TLSv1.3,alice,192.0.2.0/24,1,2,1,0,2024-03-11 07:00:00+00,2024-03-11 07:00:10+00
5870,TLSv1.3,alice,192.0.2.0/24,1,1,1,0,2024-03-10 09:15:00+00,2024-03-10 09:15:00+00
12345,TLSv1.3,alice,192.0.2.0/24,1,1,0,0,2024-03-10 12:00:00+00,2024-03-10 12:00:00+00
EOF
same "tls, csv: every version per port, user and network, oldest first"

rep $W tls --below TLSv1.2
exp_text <<'EOF'
port  tls_version  user   network          connections  transactions  accepted  rejected  first_seen              last_seen
----  -----------  -----  ---------------  -----------  ------------  --------  --------  ----------------------  ----------------------
587   SSLv3        dave   192.0.2.0/24               1             1         1         0  2024-03-11 16:00:00+00  2024-03-11 16:00:00+00
587   none         bob    198.51.100.0/24            1             1         0         1  2024-03-10 11:00:00+00  2024-03-10 11:00:00+00
587   TLSv1        carol  2001:db8:1::/64            2             2         2         0  2024-03-10 15:00:00+00  2024-03-11 15:00:00+00
587   TLSv1.1      alice  192.0.2.0/24               1             1         0         1  2024-03-11 08:00:00+00  2024-03-11 08:00:00+00
(4 rows)
EOF
same "tls --below TLSv1.2, table: unknown, none (AUTH without TLS), TLSv1, TLSv1.1"

rep $W tls --port 465 --format json
exp_text <<'EOF'
[
{"port":465,"tls_version":"TLSv1.2","user":"bob","network":"198.51.100.0/24","connections":2,"transactions":2,"accepted":2,"rejected":0,"first_seen":"2024-03-10 09:30:00+00","last_seen":"2024-03-11 00:00:00+00"},
{"port":465,"tls_version":"TLSv1.2","user":null,"network":"198.51.100.0/24","connections":1,"transactions":0,"accepted":0,"rejected":0,"first_seen":"2024-03-11 19:00:00+00","last_seen":"2024-03-11 19:00:00+00"}
]
EOF
same "tls --port 465, json: a connection without a transaction counts as a connection only"

rep $W tls --port 587 --below TLSv1 --format csv
exp_csv <<'EOF'
port,tls_version,user,network,connections,transactions,accepted,rejected,first_seen,last_seen
587,SSLv3,dave,192.0.2.0/24,1,1,1,0,2024-03-11 16:00:00+00,2024-03-11 16:00:00+00
587,none,bob,198.51.100.0/24,1,1,0,1,2024-03-10 11:00:00+00,2024-03-10 11:00:00+00
EOF
same "tls --port 587 --below TLSv1: only the unknown version and none"

rep --since 2024-03-13 --until 2024-03-14 tls --format json
echo '[]' | exp_text
same "tls on a window with no TLS: an empty JSON array"

# ---- tls-preview ------------------------------------------------------------

# preview_checks WHEN: the preview's outputs (portmilter.tls_preview(),
# sql/024_rollups_preview.sql), first with no day rolled up (read from
# the events), then after the catch-up (from the rollups).
preview_checks() {
	# Transactions on 587 whose TLS the minimum refuses: carol (TLSv1, two),
	# alice (TLSv1.1, e16, already refused), dave (SSLv3, unknown): bob's
	# e08 (no TLS) is require_tls/tls_before_auth business, not counted.
	rep $W tls-preview --port 587 --min-tls-version TLSv1.2 --format csv
	exp_csv <<'EOF'
user,network,tls_versions,refused_transactions,accepted_now,rejected_now,connections,first_seen,last_seen
carol,2001:db8:1::/64,"[""TLSv1""]",2,2,0,2,2024-03-10 15:00:00+00,2024-03-11 15:00:00+00
alice,192.0.2.0/24,"[""TLSv1.1""]",1,0,1,1,2024-03-11 08:00:00+00,2024-03-11 08:00:00+00
dave,192.0.2.0/24,"[""SSLv3""]",1,1,0,1,2024-03-11 16:00:00+00,2024-03-11 16:00:00+00
EOF
	same "tls-preview --port 587 --min-tls-version TLSv1.2, csv$1"

	rep $W tls-preview --port 587 --min-tls-version TLSv1.3 --format json
	exp_text <<'EOF'
[
{"user":"carol","network":"2001:db8:1::/64","tls_versions":["TLSv1"],"refused_transactions":2,"accepted_now":2,"rejected_now":0,"connections":2,"first_seen":"2024-03-10 15:00:00+00","last_seen":"2024-03-11 15:00:00+00"},
{"user":"alice","network":"192.0.2.0/24","tls_versions":["TLSv1.1"],"refused_transactions":1,"accepted_now":0,"rejected_now":1,"connections":1,"first_seen":"2024-03-11 08:00:00+00","last_seen":"2024-03-11 08:00:00+00"},
{"user":"dave","network":"192.0.2.0/24","tls_versions":["SSLv3"],"refused_transactions":1,"accepted_now":1,"rejected_now":0,"connections":1,"first_seen":"2024-03-11 16:00:00+00","last_seen":"2024-03-11 16:00:00+00"},
{"user":"erin","network":"192.0.2.0/24","tls_versions":["TLSv1.2"],"refused_transactions":1,"accepted_now":1,"rejected_now":0,"connections":1,"first_seen":"2024-03-11 18:00:00+00","last_seen":"2024-03-11 18:00:00+00"}
]
EOF
	same "tls-preview --min-tls-version TLSv1.3, json: erin (TLSv1.2) too$1"

	rep $W tls-preview --port 465 --min-tls-version TLSv1.2
	exp_text <<'EOF'
user  network  tls_versions  refused_transactions  accepted_now  rejected_now  connections  first_seen  last_seen
----  -------  ------------  --------------------  ------------  ------------  -----------  ----------  ---------
(0 rows)
EOF
	same "tls-preview --port 465 --min-tls-version TLSv1.2: nobody$1"
}
preview_checks ", from the events"
if psql -X -q -v ON_ERROR_STOP=1 -d portmilter >"$tmp/load" 2>&1 \
	-c "SELECT portmilter.rollup_catchup(10000)"; then
	preview_checks ", from the rollups"
else
	not_ok "the catch-up" "$tmp/load"
fi

# The preview's "below the minimum" is the milter's: the same version
# strings through the policy engine with that min_tls_version on a port.
if [ -x "$driver" ]; then
	versions="TLSv1 TLSv1.0 tlsv1.1 TLSv1.1 TLSv1.2 TLSv1.3 TLSv2.0 SSLv3 TLSv1.10 TLS1.2 Tlsv1.3"
	i=0
	for v in $versions; do
		i=$((i + 1))
		echo "INSERT INTO portmilter.events (event_id, event_time, conn_id,
		conn_time, kind, node, port, port_known, tls_version, sasl_method,
		sasl_user, nrcpt, nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused,
		verdict, credential_exposure) VALUES
		('a0000000-0000-4000-8000-0000000000$((10 + i))', '2024-03-11 20:00+00',
		 'b0000000-0000-4000-8000-0000000000$((10 + i))', '2024-03-11 20:00+00',
		 'transaction', 'mx1', 2600, true, '$v', 'PLAIN', '$v', 1, 0, 0, 0,
		 'accepted', false);"
	done | psql -X -q -v ON_ERROR_STOP=1 -d portmilter >"$tmp/load" 2>&1
	bad=
	for min in TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; do
		{
			printf 'append [port 2600]\nappend mode = submission\n'
			printf 'append min_tls_version = %s\n' "$min"
			printf 'connect port=2600 client=192.0.2.1\n'
			for v in $versions; do printf 'mail tls=%s auth=yes\n' "$v"; done
		} | "$driver" "$srcdir/etc/portmilter.conf" 2>&1 |
			sed -n 's/^mail tls=\([^ ]*\) auth=yes: REJECT min_tls_version .*/\1/p' |
			sort >"$tmp/policy"
		"$report" -d "$DB" $W tls-preview --port 2600 --min-tls-version "$min" \
			--format csv 2>&1 | tr -d '\r' | sed 1d | cut -d, -f1 |
			sort >"$tmp/preview"
		cmp -s "$tmp/policy" "$tmp/preview" ||
			bad="$bad $min: policy [$(tr '\n' ' ' <"$tmp/policy")] preview [$(tr '\n' ' ' <"$tmp/preview")];"
	done
	if [ -z "$bad" ] && [ -s "$tmp/policy" ]; then
		ok "tls-preview refuses exactly the versions the policy engine refuses, for each minimum"
	else
		echo "$bad" >"$tmp/diff"
		not_ok "tls-preview refuses exactly the versions the policy engine refuses, for each minimum" "$tmp/diff" "$tmp/load"
	fi
else
	n=$((n + 1))
	echo "ok $n # SKIP tests/unit/policy_driver not built (cmocka missing)"
fi

# ---- plans over a year ------------------------------------------------------

# Each command's plan, nested statements included (auto_explain), with
# sequential scans made a last resort: over a year, auth must read the
# failed logins through events_auth_time_idx, tls --below the old-TLS
# rows through events_old_tls_idx (sql/017_report_indexes.sql), on
# every partition, and tls-preview its rollups (whole months from
# rollup_preview_month, sql/024_rollups_preview.sql), and no events
# partition by a Seq Scan. (With seqscan off the primary key would serve
# any window too, by reading every event of the year: hence the index
# names. The partition of the fixtures must be read through it, by an
# index-only scan: the index carries every column the report reads
# (after a VACUUM, as autovacuum does for rows left alone); another
# index may serve a partition of a row or two, the DEFAULT one, as the
# costs are then a tie.) The names of the indexes on the partitions:
# $tmp/idx.NAME.
for idx in events_auth_time_idx events_old_tls_idx; do
	psql -X -A -t -d portmilter -c "SELECT c.relname FROM pg_catalog.pg_inherits AS i
		JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'portmilter.$idx'::regclass" >"$tmp/idx.$idx" 2>&1 ||
		: >"$tmp/idx.$idx"
done
psql -X -q -d portmilter -c "VACUUM ANALYZE portmilter.events" >/dev/null 2>&1
Y="--since 2023-04-01 --until 2024-04-01"
PGOPTIONS="-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 \
-c auto_explain.log_nested_statements=on -c enable_seqscan=off"
export PGOPTIONS
# plan NAME INDEX ARGS...: the report ARGS over a year reads the
# partition of March 2024 through INDEX alone (an index-only scan), and
# no partition by a Seq Scan.
plan() {
	name=$1 idx=$2; shift 2
	lines=$(wc -l <"$tmp/log")
	rep $Y "$@"
	tail -n +"$((lines + 1))" "$tmp/log" >"$tmp/plan"
	march=$(grep -oE 'events_202403_[a-z_]*(idx|pkey)' "$tmp/plan" | sort -u)
	only=$(grep -oE 'Index Only Scan using events_202403_[a-z_]*idx' "$tmp/plan" |
		sed 's/.* //' | sort -u)
	if [ "$rc" -ne 0 ]; then
		not_ok "$name" "$tmp/err"
	elif grep -q 'Seq Scan on events' "$tmp/plan"; then
		not_ok "$name: a Seq Scan on an events partition" "$tmp/plan"
	elif [ -z "$march" ] || [ ! -s "$tmp/idx.$idx" ] ||
		printf '%s\n' "$march" | grep -qvxF -f "$tmp/idx.$idx"; then
		echo "indexes used on events_202403: $march" >"$tmp/diff"
		not_ok "$name: not through $idx" "$tmp/diff" "$tmp/plan"
	elif [ "$only" != "$march" ]; then
		echo "index-only scans on events_202403: $only; indexes used: $march" >"$tmp/diff"
		not_ok "$name: not an index-only scan of $idx" "$tmp/diff" "$tmp/plan"
	else
		ok "$name: an index-only scan of $idx, no Seq Scan on events"
	fi
}
plan "auth over a year" events_auth_time_idx auth
plan "auth --port 587 over a year" events_auth_time_idx auth --port 587
plan "tls --below TLSv1.2 over a year" events_old_tls_idx tls --below TLSv1.2
plan "tls --port 587 --below TLSv1.3 over a year" events_old_tls_idx \
	tls --port 587 --below TLSv1.3
# plan_rollup NAME ARGS...: the report ARGS over a year (every day rolled
# up above) reads the month rollup, no events partition by a Seq Scan,
# and never the partition of March 2024 (a whole clean month: its month
# rows; the plans are those executed, where a partition the parts of the
# window prune at run time is "never executed").
plan_rollup() {
	name=$1; shift
	lines=$(wc -l <"$tmp/log")
	PGOPTIONS="$PGOPTIONS -c auto_explain.log_analyze=on -c auto_explain.log_timing=off" \
		rep $Y "$@"
	tail -n +"$((lines + 1))" "$tmp/log" >"$tmp/plan"
	if [ "$rc" -ne 0 ]; then
		not_ok "$name" "$tmp/err"
	elif grep -q 'Seq Scan on events' "$tmp/plan"; then
		not_ok "$name: a Seq Scan on an events partition" "$tmp/plan"
	elif ! grep -q 'on rollup_preview_month' "$tmp/plan"; then
		not_ok "$name: the month rollup is not read" "$tmp/plan"
	elif grep 'on events_202403' "$tmp/plan" | grep -qv 'never executed'; then
		not_ok "$name: the events of March 2024 are read" "$tmp/plan"
	else
		ok "$name: the month rollup, not the events of a whole month, no Seq Scan on events"
	fi
}
# (The rows of the policy comparison above marked days of W dirty.)
psql -X -q -d portmilter -c "SELECT portmilter.rollup_catchup(10000)" >/dev/null 2>&1
plan_rollup "tls-preview --port 587 --min-tls-version TLSv1.2 over a year" \
	tls-preview --port 587 --min-tls-version TLSv1.2
plan_rollup "tls-preview --port 25 --min-tls-version TLSv1.3 over a year" \
	tls-preview --port 25 --min-tls-version TLSv1.3
unset PGOPTIONS

# ---- rollup_net(): the network of tls, inlined (029) -----------------------
# Values worked out by hand: a host gives its /24 (IPv4) or /64 (IPv6); a
# shorter prefix stays as it is; NULL gives NULL (shown as "-").
psql -X -A -t -d portmilter -c "SELECT COALESCE(portmilter.rollup_net(a), '-')
	FROM (VALUES (1, NULL::inet), (2, '192.0.2.77'), (3, '192.0.2.77/16'),
		     (4, '2001:db8:1:2:3::9'), (5, '2001:db8::/48'), (6, '10.9.8.0/24'))
	AS v(i, a) ORDER BY i" >"$tmp/out" 2>"$tmp/err"
printf '%s\n' - 192.0.2.0/24 192.0.0.0/16 2001:db8:1:2::/64 2001:db8::/48 10.9.8.0/24 \
	>"$tmp/exp"
if diff -u "$tmp/exp" "$tmp/out" >"$tmp/diff"; then
	ok "rollup_net(): /24, /64, shorter prefixes kept, NULL for NULL"
else
	not_ok "rollup_net(): /24, /64, shorter prefixes kept, NULL for NULL" "$tmp/diff" "$tmp/err"
fi
# Inlined into the query that calls it (not STRICT): no call of the SQL
# function per row, which cost tls's raw part about 1 us a row.
psql -X -A -t -d portmilter -c "EXPLAIN (VERBOSE, COSTS OFF)
	SELECT portmilter.rollup_net(e.client_addr) FROM portmilter.events AS e" \
	>"$tmp/plan" 2>&1
if grep -q 'network(set_masklen(' "$tmp/plan" && ! grep -q 'rollup_net(' "$tmp/plan"; then
	ok "rollup_net() is inlined where it is called"
else
	not_ok "rollup_net() is inlined where it is called" "$tmp/plan"
fi

# ---- bad command lines --------------------------------------------------------

fails "tls-preview without --port" 2 "needs --port" -d "$DB" tls-preview --min-tls-version TLSv1.2
fails "tls-preview without --min-tls-version" 2 "needs --min-tls-version" -d "$DB" tls-preview --port 587
fails "tls-preview --min-tls-version SSLv3" 2 'bad --min-tls-version "SSLv3"' \
	-d "$DB" tls-preview --port 587 --min-tls-version SSLv3
fails "tls-preview --min-tls-version none" 2 "bad --min-tls-version" \
	-d "$DB" tls-preview --port 587 --min-tls-version none
fails "tls-preview --port unknown" 2 "--port must be a port number 1..65535" \
	-d "$DB" tls-preview --port unknown --min-tls-version TLSv1.2
fails "tls --below TLSv1.4" 2 'bad --below "TLSv1.4"' -d "$DB" tls --below TLSv1.4
fails "tls --port 70000" 2 "--port must be a port number" -d "$DB" tls --port 70000
fails "tls --min-tls-version" 2 "--min-tls-version is an option of tls-preview" \
	-d "$DB" tls --min-tls-version TLSv1.2
fails "tls-preview --below" 2 "--below is an option of tls" \
	-d "$DB" tls-preview --port 587 --below TLSv1.2
fails "tls --by user" 2 "option not valid" -d "$DB" tls --by user
fails "ports --below" 2 "option not valid" -d "$DB" ports --below TLSv1.2
fails "top --below" 2 "option not valid" -d "$DB" top --port 587 --by ip --below TLSv1.2

echo "1..$n"
