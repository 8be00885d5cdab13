#!/bin/sh
# shellcheck disable=SC2154 # seed, cols: set by tests/lib/rollgen.sh (sourced)
# rollups.sh - the rollups of sql/014_rollups.sql against brute force (TAP).
#
# A throwaway cluster (tests/lib/pg.sh); the migrations; random events
# (connections of 1 to 4 events spread over up to 3 hours, so that they
# cross hour and day boundaries; users, addresses, ports, kinds, verdicts
# and rules drawn from small sets so that keys repeat over days) written
# by every path a row can take: many small INSERTs in random order, a
# plain COPY, late rows (earlier times) with duplicates through INSERT
# ... ON CONFLICT DO NOTHING as the shipper does, two writers at once,
# then UPDATEs, DELETEs, forget_user(), an address reduction of a
# partition and a TRUNCATE of one. Between the steps the catch-up
# (rollup_catchup) is run for a random number of days, or not at all, so
# that the reports meet every mix of clean and dirty days. After each
# step, for random windows (ragged edges, aligned, tiny, longer than the
# data, open-ended), port_traffic_between(a, b) and
# port_adoption_between(a, b) must equal the brute-force aggregates over
# the events (port_traffic_raw, port_adoption_raw). Then the races of
# the catch-up with a writer (two sessions), and the plans of `ports` and
# `adoption` over a year: no events partition read by a sequential scan
# (enable_seqscan off: an index or the rollups must serve).
#
# Environment: top_srcdir, top_builddir, PORTMILTER_REPORT, PG_BINDIR;
# PM_SEED (0..1) replays a run (each run prints its seed).

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
report=${PORTMILTER_REPORT:-$builddir/report/portmilter-report}
# shellcheck disable=SC2034 # read by rg_begin (tests/lib/rollgen.sh)
sqldir=$srcdir/sql
. "$srcdir/tests/lib/pg.sh"
. "$srcdir/tests/lib/rollgen.sh"

tmp='' n=0	# both set by pg_test_begin (tests/lib/pg.sh)
# SQL alone: tools/check-all runs it in one build (PM_SQL_ONCE in the other).
if [ -n "${PM_SQL_ONCE:-}" ]; then
	tap_skip_all "SQL alone, run in the other build (PM_SQL_ONCE)"
fi
pg_test_begin rollups	# skip, psql, $tmp and its cleanup, ok/not_ok

# The migrations before 016 first: the events are written and partly
# rolled up with 014's tables, which 016 then converts (below).
mkdir "$tmp/sql-015"
for f in "$srcdir"/sql/[0-9][0-9][0-9]_*.sql; do
	v=${f##*/}; v=$((1${v%%_*} - 1000))
	[ "$v" -lt 16 ] && ln -s "$f" "$tmp/sql-015/"
done
sqldir=$tmp/sql-015
rg_begin	# the cluster, the seed, the migrations (tests/lib/rollgen.sh)
sqldir=$srcdir/sql

# The random events (tests/lib/rollgen.sh): 500 connections over 30 days
# from 2024-02-20, 26 users, 31 addresses of one network.
rg_gen '2024-02-20 00:00+00' 30 500 25 "('192.0.2.' || (random() * 30)::int)::inet" \
	2024-02-01 2024-03-01
rg_write

# The brute-force answers, and the comparison of one window.
sql >/dev/null <<'SQL' || echo "Bail out! cannot create the checker"
-- Rows of one answer missing from the other, both ways.
CREATE FUNCTION differ(a timestamptz, b timestamptz) RETURNS bigint
LANGUAGE sql STABLE AS $fn$
	WITH r AS MATERIALIZED (SELECT * FROM portmilter.port_traffic_between(a, b)),
	     w AS MATERIALIZED (SELECT * FROM portmilter.port_traffic_raw(a, b, NULL)),
	     ra AS MATERIALIZED (SELECT * FROM portmilter.port_adoption_between(a, b)),
	     wa AS MATERIALIZED (SELECT * FROM portmilter.port_adoption_raw(a, b))
	SELECT (SELECT count(*) FROM ((SELECT * FROM r EXCEPT ALL SELECT * FROM w)
				      UNION ALL (SELECT * FROM w EXCEPT ALL SELECT * FROM r)) AS x)
	     + (SELECT count(*) FROM ((SELECT * FROM ra EXCEPT ALL SELECT * FROM wa)
				      UNION ALL (SELECT * FROM wa EXCEPT ALL SELECT * FROM ra)) AS y)
$fn$;
SQL
rg_windows '2024-02-18 00:00+00' 36 30 '1 minute' '50 minutes' '3 hours' '1 day' \
	'2 days 5 hours' '9 days' '40 days'
sql >/dev/null <<SQL
INSERT INTO windows VALUES
	('aligned days', '2024-02-25 00:00+00', '2024-03-05 00:00+00'),
	('aligned hours', '2024-02-25 07:00+00', '2024-02-27 13:00+00'),
	('one hour', '2024-03-01 10:00+00', '2024-03-01 11:00+00'),
	('inside one hour', '2024-03-01 10:10+00', '2024-03-01 10:50+00'),
	('across midnight', '2024-03-01 23:30+00', '2024-03-02 00:30+00'),
	('day and a second', '2024-03-01 00:00+00', '2024-03-02 00:00:01+00'),
	('all of it', '2020-01-01 00:00+00', '2025-01-01 00:00+00'),
	('open', '-infinity', 'infinity');
SQL
sql -F ' | ' -c "SELECT name, a, b, differ(a, b) FROM windows WHERE differ(a, b) <> 0" \
	>"$tmp/bad" 2>&1
if [ ! -s "$tmp/bad" ]; then
	ok "rollups = brute force: ports and adoption on $(sql -c 'SELECT count(*) FROM windows') windows"
else
	not_ok "rollups = brute force: ports and adoption on every window (seed $seed)" "$tmp/bad"
fi

# 014 rolls up a part of the days (the oldest: those of the DEFAULT
# partition three years earlier, then some of February), then 016
# converts its per-year keys: one row per port and key.
sql -c "SELECT portmilter.rollup_catchup(12)" >/dev/null
"$report" -d dbname=portmilter migrate --sql-dir "$sqldir" >"$tmp/migrate" 2>&1 || {
	cat "$tmp/migrate"; echo "Bail out! migrate to 016 failed"; exit 1
}
# The check that `ports` over a year reads none of the keys (below) is
# about a big table. On these few rows, once autovacuum has analyzed
# them, a row or two are fetched even with sequential scans off (most
# likely the planner probing the index on last_day for its actual bounds),
# and they count as read: whether autovacuum had been, depended on
# timing (the check failed on main with an ANALYZE before it).
sql -c "ALTER TABLE portmilter.rollup_users SET (autovacuum_enabled = false)" \
	-c "ALTER TABLE portmilter.rollup_ips SET (autovacuum_enabled = false)" \
	-c "ALTER TABLE portmilter.rollup_last SET (autovacuum_enabled = false)" >/dev/null
sql_is "016 applied over 014's rollups of 12 days" "16|12" -c "SELECT
	(SELECT max(version) FROM portmilter.schema_version WHERE version <= 16),
	(SELECT count(*) FROM portmilter.rollup_days)"
rg_years "018 built its year totals from 015's month rows"

# The keys (016) against the events: on every clean day (rolled up,
# not dirty), each key of rollup_users and rollup_ips is set exactly on
# the days it was seen; rollup_last counts the keys per last day; one
# row per port and user. The rows wrong or missing.
sql >/dev/null <<'SQL' || echo "Bail out! cannot create the keys' checker"
CREATE FUNCTION keys_differ() RETURNS bigint
LANGUAGE sql STABLE AS $fn$
	WITH clean AS MATERIALIZED (
		SELECT d.day FROM portmilter.rollup_days AS d
		WHERE NOT EXISTS (SELECT FROM portmilter.rollup_dirty AS y
				  WHERE y.day = d.day)
	), held AS MATERIALIZED (
		SELECT 'user' AS what, u.port, u.sasl_user AS k, u.first_day + i AS day
		FROM portmilter.rollup_users AS u,
		     generate_series(0, length(u.days) - 1) AS i
		WHERE get_bit(u.days, i) = 1
		UNION ALL
		SELECT 'ip', u.port, u.client_addr::text, u.first_day + i
		FROM portmilter.rollup_ips AS u,
		     generate_series(0, length(u.days) - 1) AS i
		WHERE get_bit(u.days, i) = 1
	), seen AS MATERIALIZED (
		SELECT DISTINCT 'user' AS what, e.port, e.sasl_user AS k,
		       (e.event_time AT TIME ZONE 'UTC')::date AS day
		FROM portmilter.events AS e
		WHERE e.kind IN ('transaction', 'connection') AND e.sasl_user IS NOT NULL
		UNION ALL
		SELECT DISTINCT 'ip', e.port, e.client_addr::text,
		       (e.event_time AT TIME ZONE 'UTC')::date
		FROM portmilter.events AS e WHERE e.client_addr IS NOT NULL
	), h AS (
		SELECT * FROM held WHERE day IN (SELECT day FROM clean)
	), s AS (
		SELECT * FROM seen WHERE day IN (SELECT day FROM clean)
	), l AS (
		SELECT 'user' AS what, u.last_day AS day, u.port, count(*) AS n
		FROM portmilter.rollup_users AS u GROUP BY 2, 3
		UNION ALL
		SELECT 'ip', u.last_day, u.port, count(*)
		FROM portmilter.rollup_ips AS u GROUP BY 2, 3
	)
	SELECT (SELECT count(*) FROM ((SELECT * FROM h EXCEPT ALL SELECT * FROM s)
				      UNION ALL (SELECT * FROM s EXCEPT ALL SELECT * FROM h)) AS x)
	     + (SELECT count(*) FROM ((SELECT what, day, port, n FROM portmilter.rollup_last
				       EXCEPT ALL SELECT * FROM l)
				      UNION ALL (SELECT * FROM l EXCEPT ALL
				       SELECT what, day, port, n FROM portmilter.rollup_last)) AS y)
	     + (SELECT count(*) FROM (SELECT u.port, u.sasl_user FROM portmilter.rollup_users AS u
				      GROUP BY 1, 2 HAVING count(*) > 1) AS z)
$fn$;
SQL

# catchup_all: every dirty day, one transaction each.
catchup_all() {
	sql -c 'DO $$ BEGIN
		WHILE portmilter.rollup_catchup(1) > 0 LOOP COMMIT; END LOOP; END $$' >/dev/null
}
# catchup: the catch-up for a random number of days (0: not run), in
# 1-day calls as the shipper makes them.
catchup() {
	k=$(od -An -N1 -tu1 /dev/urandom | tr -d ' ')
	k=$((k % 4))
	case $k in
	0) ;;	# not run
	1) sql -c "SELECT portmilter.rollup_catchup(3)" >/dev/null ;;
	2) sql -c "SELECT portmilter.rollup_catchup(20)" >/dev/null ;;
	*) catchup_all ;;
	esac
	echo "# catch-up: $k ($(sql -c 'SELECT count(*) FROM portmilter.rollup_dirty') days dirty)"
}
# check NAME: every window equal to brute force, the keys to the events.
# check NAME: every window equal to brute force.
check() {
	sql -F ' | ' -c "SELECT * FROM (SELECT name, a, b, differ(a, b) AS d FROM windows) AS x
		WHERE d <> 0" >"$tmp/bad" 2>&1
	sql -c "SELECT 'keys wrong or missing: ' || keys_differ() WHERE keys_differ() <> 0" \
		>>"$tmp/bad" 2>&1
	if [ ! -s "$tmp/bad" ]; then
		ok "$1"
	else
		# the first window's rows, rollups (r) then brute force (b)
		sql -F ' | ' -c "SELECT 'r', * FROM portmilter.port_traffic_between(
				(SELECT a FROM windows WHERE differ(a, b) <> 0 LIMIT 1),
				(SELECT b FROM windows WHERE differ(a, b) <> 0 LIMIT 1))
			UNION ALL SELECT 'b', * FROM portmilter.port_traffic_raw(
				(SELECT a FROM windows WHERE differ(a, b) <> 0 LIMIT 1),
				(SELECT b FROM windows WHERE differ(a, b) <> 0 LIMIT 1), NULL)
			ORDER BY 3, 1" >>"$tmp/bad" 2>&1
		not_ok "$1 (seed $seed)" "$tmp/bad"
	fi
}
rg_catchup
check "rollups = brute force: ports and adoption on $(sql -c 'SELECT count(*) FROM windows') windows"

# Everything rolled up: the same, read from the rollups alone.
rg_catchup_all
sql_is "the catch-up leaves no day dirty" "0" -c "SELECT count(*) FROM portmilter.rollup_dirty"
check "... with every day rolled up"

# More late rows into days already rolled up.
rg_late
check "... after late rows into rolled-up days"
rg_catchup
check "... and after a catch-up"

# UPDATEs (a verdict, a user, times moved across midnight both ways and
# before their conn_time, a kind, an address), DELETEs.
rg_update
check "... after UPDATEs (verdicts, users merged, times moved both ways, kinds, addresses) and DELETEs"
rg_catchup
check "... and after a catch-up"
sql -c "UPDATE portmilter.events SET size = 77 WHERE event_id IN
	(SELECT event_id FROM portmilter.events LIMIT 50)" >/dev/null
rg_catchup_all
sql -c "UPDATE portmilter.events SET size = 78 WHERE event_id IN
	(SELECT event_id FROM portmilter.events LIMIT 50)" >/dev/null
sql_is "an UPDATE of a column no rollup reads (size) marks no day" "0" \
	-c "SELECT count(*) FROM portmilter.rollup_dirty"

# One user under three spellings on one port, on days rolled up:
# forget_user renames them all to one pseudonym with one UPDATE, which
# would give the port two rows of one key: they are merged.
sql -c "INSERT INTO portmilter.events ($cols)
	SELECT gen_random_uuid(), v.t, gen_random_uuid(), v.t, 'transaction', 'n0', 587,
	       true, '198.51.100.3', 'TLSv1.3', 'PLAIN', v.u, 1, 0, 0, 0, 'accepted', NULL, false
	FROM (VALUES ('2024-02-22 10:00+00'::timestamptz, 'Mixed'),
		     ('2024-02-25 10:00+00', 'mixed'), ('2024-03-04 10:00+00', 'Mixed'),
		     ('2024-03-04 11:00+00', 'MIXED')) AS v(t, u)" >/dev/null
catchup_all
sql_is "forget_user of a user rolled up under three spellings on one port: one row left" \
	"t
1|0" -c "SELECT sum(nrows) > 0 FROM portmilter.forget_user('mixed')" \
	-c "SELECT (SELECT count(*) FROM portmilter.rollup_users
	 WHERE port = 587 AND sasl_user LIKE 'forgotten:%'),
	(SELECT count(*) FROM portmilter.rollup_users WHERE lower(sasl_user) = 'mixed')"
check "... and the reports and keys after it"

# Privacy: a user forgotten, a partition's addresses reduced (straight
# into the partition, as maintain does), a partition truncated.
sql >/dev/null <<'SQL'
SELECT * FROM portmilter.forget_user('u7');
SELECT portmilter.reduce_partition('events_202402', '2024-03-01 00:00+00');
SQL
check "... after forget_user and reduce_partition (events written per partition)"
sql_is "forget_user leaves the name in no rollup" "0" \
	-c "SELECT count(*) FROM portmilter.rollup_users WHERE sasl_user = 'u7'"
rg_catchup
check "... and after a catch-up"
sql -c "TRUNCATE portmilter.events_default" >/dev/null
check "... after TRUNCATE of a partition"
rg_catchup
check "... and after a catch-up"
catchup_all
sql_is "once caught up, no address or user in the rollups that no event has" "0|0" \
	-c "SELECT (SELECT count(*) FROM portmilter.rollup_ips AS r
		    WHERE NOT EXISTS (SELECT FROM portmilter.events AS e
				      WHERE e.port = r.port AND e.client_addr = r.client_addr)),
		   (SELECT count(*) FROM portmilter.rollup_users AS r
		    WHERE NOT EXISTS (SELECT FROM portmilter.events AS e
				      WHERE e.port = r.port AND e.sasl_user = r.sasl_user))"

# The races of the catch-up with a writer. A writer whose statement has
# fired its trigger holds the day's mark: the catch-up skips that day.
day=2024-03-02
sql -c "SELECT portmilter.rollup_catchup(1000);
	INSERT INTO portmilter.rollup_dirty (day) VALUES ('$day')" >/dev/null
sql >/dev/null <<SQL &
BEGIN;
INSERT INTO portmilter.events ($cols)
SELECT gen_random_uuid(), '$day 12:00+00', gen_random_uuid(), '$day 11:59+00',
       'transaction', 'n0', 587, true, '198.51.100.1', NULL, 'PLAIN', 'race-a', 1, 0, 0, 0,
       'accepted', NULL, false;
SELECT pg_sleep(3);
COMMIT;
SQL
w=$!
sleep 1
sql_is "a day a writer holds (trigger fired, not committed) is skipped by the catch-up" \
	"0" -c "SELECT portmilter.rollup_catchup(1000)"
wait $w
sql_is "... and stays dirty" "t" \
	-c "SELECT EXISTS (SELECT FROM portmilter.rollup_dirty WHERE day = '$day')"
check "... and once the writer committed, the reports count its rows"
# A writer whose rows are in but whose trigger has not fired yet (a
# slow statement): the catch-up takes the day (dirty from before),
# recomputes it without those rows and deletes the mark; the writer's
# trigger then waits for that commit and marks the day again.
sql -c "SELECT portmilter.rollup_catchup(1000);
	INSERT INTO portmilter.rollup_dirty (day) VALUES ('$day') ON CONFLICT DO NOTHING" >/dev/null
sql >/dev/null <<SQL &
INSERT INTO portmilter.events ($cols)
SELECT gen_random_uuid(), '$day 13:00+00'::timestamptz + i * interval '1 second',
       gen_random_uuid(), '$day 12:59+00', 'transaction', 'n0', 587, true, '198.51.100.2',
       NULL, 'PLAIN', 'race-b', 1, 0, 0, 0, 'accepted', NULL, pg_sleep(0.5) IS NULL
FROM generate_series(1, 6) AS i;
SQL
w=$!
sleep 1
got=$(sql -c "SELECT portmilter.rollup_catchup(1000)")
wait $w
sql_is "a day whose writer's trigger had not fired: caught up ($got day), then dirty again" \
	"t" -c "SELECT EXISTS (SELECT FROM portmilter.rollup_dirty WHERE day = '$day')"
check "... and the reports count the writer's rows"
rg_catchup_all
check "... and after the catch-up"

# Retention: February's partition dropped, its days keep their rollups
# (marked again or not); the DEFAULT partition's old rows deleted keep
# theirs too.
w="'2020-01-01 00:00+00', '2024-03-01 00:00+00'"
before=$(sql -c "SELECT * FROM portmilter.port_traffic_between($w)" \
	-c "SELECT * FROM portmilter.port_adoption_between($w)")
sql -c "UPDATE portmilter.privacy_settings
	SET raw_days = (now() AT TIME ZONE 'UTC')::date - date '2024-03-03'" >/dev/null
sql -c "SELECT * FROM portmilter.maintain_partitions()" >"$tmp/maint" 2>&1
sql_is "retention dropped February's partition, deleted DEFAULT's rows: ports and adoption unchanged" \
	"$before" -c "SELECT * FROM portmilter.port_traffic_between($w)" \
	-c "SELECT * FROM portmilter.port_adoption_between($w)"
sql -c "INSERT INTO portmilter.rollup_dirty (day) SELECT day FROM portmilter.rollup_days
	WHERE day < '2024-03-01' ON CONFLICT DO NOTHING" >/dev/null
sql_is "... marked dirty" "$before" \
	-c "SELECT * FROM portmilter.port_traffic_between($w)" \
	-c "SELECT * FROM portmilter.port_adoption_between($w)"
rg_catchup_all
sql_is "... and after the catch-up ran over those days" \
	"$before" -c "SELECT * FROM portmilter.port_traffic_between($w)" \
	-c "SELECT * FROM portmilter.port_adoption_between($w)"
grep -q 'dropped|portmilter.events_202402' "$tmp/maint" || not_ok "maintain_partitions dropped events_202402" "$tmp/maint"

# Over a year whose keys all end inside it, `ports` reads none of them:
# rollup_last counts them (014 read every key of the year). Sequential
# scans off, as in the plan checks: on tables this small the planner may
# read a whole one and filter out every row, which would say nothing
# about the function (a helper saw "read 84 rows of 206" once).
total=$(sql -c "SELECT (SELECT count(*) FROM portmilter.rollup_users)
	+ (SELECT count(*) FROM portmilter.rollup_ips)")
read=$(sql <<'SQL'
BEGIN;
SET LOCAL enable_seqscan = off;
CREATE TEMP TABLE t AS SELECT * FROM portmilter.port_traffic_between(
	'2024-02-18 10:17+00', '2025-02-17 13:45+00');
SELECT COALESCE(sum(seq_tup_read + COALESCE(idx_tup_fetch, 0)), 0)
FROM pg_stat_xact_user_tables
WHERE schemaname = 'portmilter' AND relname IN ('rollup_users', 'rollup_ips');
COMMIT;
SQL
)
if [ "$total" -gt 20 ] && [ "$read" -eq 0 ]; then
	ok "ports over a year reads none of the $total keys ending in it"
else
	echo "read $read rows of $total" >"$tmp/diff"
	not_ok "ports over a year reads none of the keys ending in it" "$tmp/diff"
fi

# The plans of the report's own queries over a year, nested statements
# included (auto_explain), with sequential scans made a last resort: an
# events partition read by a Seq Scan means no index or rollup could
# serve.
sql -c "ANALYZE" >/dev/null
PGOPTIONS="-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 \
-c auto_explain.log_nested_statements=on -c enable_seqscan=off"
export PGOPTIONS
for cmd in ports adoption; do
	lines=$(wc -l <"$tmp/log")
	if "$report" -d dbname=portmilter --since '2024-02-18 10:17' --until '2025-02-17 13:45' \
		"$cmd" >"$tmp/out" 2>"$tmp/err"; then
		tail -n +"$((lines + 1))" "$tmp/log" >"$tmp/plan"
		[ "$cmd" != ports ] || cp "$tmp/plan" "$tmp/plan.ports"
		if grep -q 'Seq Scan on events' "$tmp/plan"; then
			not_ok "$cmd over a year: a Seq Scan on an events partition" "$tmp/plan"
		elif ! grep -q 'rollup_port_day' "$tmp/plan"; then
			not_ok "$cmd over a year: the plan does not read the rollups" "$tmp/plan"
		else
			ok "$cmd over a year: rollups and indexes, no Seq Scan on events"
		fi
	else
		not_ok "$cmd over a year" "$tmp/err"
	fi
done
unset PGOPTIONS

# The users and addresses of the raw part are probed one by one (027): the
# NOT EXISTS against rollup_users / rollup_ips stays a subplan (an index
# probe a key), never an anti join, which PostgreSQL ran as a hash over
# every row of rollup_ips (all the addresses ever seen). In the plan of
# `ports` above: any Anti Join with one of the two tables under it.
anti=$(awk '
	{ ind = match($0, /[^ \t]/) }
	inside && ind <= aind { inside = 0 }
	/Anti Join/ { inside = 1; aind = ind; node = $0; next }
	inside && / on rollup_(users|ips) / { print node; print $0; inside = 0 }
' "$tmp/plan.ports")
if [ -z "$anti" ] && grep -q 'SubPlan' "$tmp/plan.ports" &&
   grep -Eq 'Scan.* on rollup_ips c' "$tmp/plan.ports"; then
	ok "ports over a year: the raw part's users and addresses probed one by one (subplans, no anti join)"
else
	printf '%s\n' "${anti:-no subplan probing rollup_ips in the plan}" >"$tmp/diff"
	not_ok "ports over a year: the raw part's users and addresses probed one by one (subplans, no anti join)" \
		"$tmp/diff" "$tmp/plan.ports"
fi

echo "1..$n"
