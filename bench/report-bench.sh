#!/bin/sh
# report-bench - how fast portmilter-report answers on a year of events.
# On demand, not part of `make check`:
#
#   sh bench/report-bench.sh [ROWS...]     (default 1000000 3000000 10000000)
#
# Starts a throwaway PostgreSQL (tests/lib/pg.sh) in a temporary
# directory, applies the migrations with portmilter-report, then for each
# ROWS in increasing order tops portmilter.events up to ROWS synthetic
# events spread over the last 365 days (monthly partitions for all of
# them, generate_series, a fixed seed; the rollup triggers mark every day
# dirty as they would for any writer; the mix is below), runs the catch-up
# (portmilter.rollup_catchup, one day per call as the shipper does) until
# no day is dirty and records its time per day, runs each report command
# and records its wall-clock time. At the end it prints the times side by
# side, one column per size, and the cost of the rollups on writes: the
# microseconds per 1000-row statement of shipper-like batches (INSERT ...
# SELECT ... ON CONFLICT DO NOTHING, 1000 rows a statement, one
# transaction each, rolled back) with the rollup triggers enabled and
# disabled, in the same run, alternating, and with the triggers on but
# the partial indexes of sql/017_report_indexes.sql dropped (inside the
# rolled-back transaction), when they exist; and the time migration 017
# takes on the events of that size (its indexes dropped, its version
# forgotten, the file applied again with psql). PLANS=1 also
# prints a summary of each command's plan (auto_explain, nested
# statements included: the plan of the program's own queries). Stops the
# server and removes everything at the end, even on failure or ^C.
#
# Environment: PORTMILTER_REPORT (default ./report/portmilter-report, then
# the one on PATH), SQLDIR (default the sql/ next to this script),
# PG_BINDIR, KEEP=1 to keep the directory (and the server stopped),
# ONLY=ERE to run only the commands whose label matches it (grep -E;
# ONLY='^ports' for the four `ports` windows), MIX=uniform or clustered
# (below), RUNS=N to run each command N times (default 3) and record the
# median (the table shows it; each line printed as it runs gives the
# median and the range: times on a shared VM vary up to twice from one
# run to the next), and REUSE=DIR to time the reports again on a
# directory a KEEP=1 run left (its server restarted, the migrations of
# SQLDIR applied with this portmilter-report, any dirty day caught up,
# then the reports only, at the number of events it holds: no fill, no
# INSERT cost, no migration 017 timing; stopped again at the end, never
# removed).
#
# DAY=1 measures the catch-up of a large provider's day instead: the
# ROWS events (e.g. 1000000) all on the day before yesterday (UTC), the
# same mix; the day caught up in one transaction (rollup_catchup(1), as
# `maintain`), then marked dirty again and caught up one step per
# transaction (rollup_catchup_step(), sql/025_catchup_steps.sql, as the
# milter's shipper does, under its 60 s statement_timeout): the time of
# each step, its share of that timeout, and the whole day's against the
# sum of its steps. Then `ports`, `top`, `tls` and `dashboard` over that
# day whole (its rollups) and over its last 12 hours and last hour (read
# from its events: a window's raw edge at that many events a day). No
# INSERT cost; one ROWS value.
#
# The mix, plausible where the reports look (what the milter and the log
# reader record, doc/events.md), the same at every size:
#   ports     25 (35 %), 587 (30 %), 465, 5870, 12345 (10 % each), 4650
#             (5 %): the rounding of the draw gives the end ones half;
#   TLS       on the submission ports (587, 5870, 12345, 465, 4650)
#             90 % TLSv1.3, 9 % TLSv1.2, 0.5 % TLSv1.1, 0.5 % TLSv1; on
#             port 25 (servers) 30 % no TLS, 50 % TLSv1.3, 19 % TLSv1.2,
#             0.5 % TLSv1.1, 0.5 % TLSv1;
#   AUTH      PLAIN, 5000 users, on the submission ports only (port 25
#             has no AUTH);
#   kinds     3 % of the submission rows (2 % of all) are failed logins
#             as the log reader writes them: kind auth_failure, verdict
#             rejected, rule auth_failed, reply 535 5.7.8, the mechanism
#             (PLAIN or LOGIN) and the user as logged (10 % without
#             one), no TLS version (the log line does not say it), no
#             recipients, no size; of the others 5 % are connections
#             without a transaction, then 70 % accepted, 20 % rejected
#             (relay, require_tls, tls_before_auth, min_tls_version),
#             3 % tempfailed, 2 % aborted; 0.5 % of the submission rows
#             are credential exposures;
#   addresses 10.0.0.0/16 at random; 3 nodes; 997 HELO names.
# MIX=clustered (default MIX=uniform, the mix above) keeps the shares of
# ports, kinds, verdicts and TLS versions but gives the keys the shape
# real traffic has, where the uniform mix makes every submission its own
# (user, address) pair:
#   users     each user submits from its own 3 addresses (10.1.0.0/16,
#             three consecutive: a few /24s hold them all) 90 % of the
#             time, 10 % roaming: from any address of its mobile
#             carrier's /24 (64 carriers in 10.2.0.0/18);
#   TLS       a user's client keeps its version (0.5 % of users TLSv1,
#             0.5 % TLSv1.1, 10 % TLSv1.2, the rest TLSv1.3); on port 25
#             a server's (30 % none, 1 % TLSv1 or TLSv1.1, 20 % TLSv1.2);
#   port 25   servers are few and busy: address offset 65535 * x^2, x
#             uniform (the lowest /24s take the most);
#   failures  70 % of the failed logins come from 200 attackers
#             (10.3.0.0/24), the rest from the user's own addresses.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/tests/lib/pg.sh"
. "$here/bench/lib.sh"

[ $# -gt 0 ] || set -- 1000000 3000000 10000000
for rows; do
	case $rows in '' | *[!0-9]*) echo "usage: $0 [ROWS...]" >&2; exit 2 ;; esac
done
case ${RUNS:-3} in '' | 0 | *[!0-9]*) echo "$0: RUNS must be a positive number" >&2; exit 2 ;; esac
report='' dir='' psql='' sqldir=''	# set by bench_pg_begin (bench/lib.sh)
if [ -n "${REUSE:-}" ]; then
	report=${PORTMILTER_REPORT:-$here/report/portmilter-report}
	[ -x "$report" ] || report=$(command -v portmilter-report) || {
		echo "$0: build portmilter-report first (or set PORTMILTER_REPORT)" >&2
		exit 2
	}
	sqldir=${SQLDIR:-$here/sql}
	dir=$REUSE
	[ -f "$dir/port" ] && [ -d "$dir/data" ] || {
		echo "$0: REUSE=$dir is not a directory a KEEP=1 run left" >&2
		exit 2
	}
	trap 'pg_stop "$dir"' EXIT
	trap 'exit 130' INT TERM
	pg_restart "$dir" || exit 1
	psql="psql -X -q -v ON_ERROR_STOP=1 -d portmilter"
	"$report" -d dbname=portmilter migrate --sql-dir "$sqldir" >/dev/null || exit 1
	$psql -c 'DO $$ BEGIN
		WHILE portmilter.rollup_catchup(1) > 0 LOOP COMMIT; END LOOP; END $$' || exit 1
	$psql -c "VACUUM ANALYZE" || exit 1
	set -- "$($psql -Atc "SELECT count(*) FROM portmilter.events")"
	echo "# reused $dir: $1 events, schema $($psql -Atc \
		"SELECT max(version) FROM portmilter.schema_version")"
else
	bench_pg_begin report-bench
fi

[ -n "${REUSE:-}" ] || $psql -c "SELECT portmilter.create_month_partition(
	(date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => m))::date)
FROM generate_series(1, 13) AS m" >/dev/null || exit 1

# The columns that MIX shapes (above); u: a user number, ka, kb: uniform
# draws, a25: a port-25 address offset, af: a failed login, i: the row;
# auth_net: a network that failed logins come from.
case ${MIX:-uniform} in
uniform)
	mix_addr="'10.0.0.0'::inet + (random() * 65535)::int"
	mix_tls="CASE WHEN af THEN NULL
            WHEN port = 25 AND rt < 0.30 THEN NULL
            WHEN port = 25 AND rt < 0.80 THEN 'TLSv1.3'
            WHEN port = 25 AND rt < 0.99 THEN 'TLSv1.2'
            WHEN port <> 25 AND rt < 0.90 THEN 'TLSv1.3'
            WHEN port <> 25 AND rt < 0.99 THEN 'TLSv1.2'
            WHEN rt < 0.995 THEN 'TLSv1.1' ELSE 'TLSv1' END"
	mix_user="(random() * 5000)::int"
	auth_net=10.0.1.0/24 ;;
clustered)
	mix_addr="CASE WHEN port = 25 THEN '10.0.0.0'::inet + a25
            WHEN af AND ka < 0.7 THEN '10.3.0.0'::inet + (ka * 285)::int
            WHEN kb < 0.9 THEN '10.1.0.0'::inet + (u * 3 + i % 3)
            ELSE '10.2.0.0'::inet + ((u % 64) * 256 + (random() * 255)::int) END"
	mix_tls="CASE WHEN af THEN NULL
            WHEN port = 25 THEN CASE WHEN a25 % 10 < 3 THEN NULL
                WHEN a25 % 200 = 199 THEN 'TLSv1' WHEN a25 % 200 = 198 THEN 'TLSv1.1'
                WHEN a25 % 10 >= 8 THEN 'TLSv1.2' ELSE 'TLSv1.3' END
            WHEN u % 200 = 0 THEN 'TLSv1' WHEN u % 200 = 1 THEN 'TLSv1.1'
            WHEN u % 10 = 2 THEN 'TLSv1.2' ELSE 'TLSv1.3' END"
	mix_user="(random() * 4999)::int"
	auth_net=10.3.0.0/24 ;;	# the attackers'
*)
	echo "$0: MIX must be uniform or clustered, not ${MIX}" >&2
	exit 2 ;;
esac
if [ -n "${REUSE:-}" ]; then
	echo "# mix: ${MIX:-uniform} (MIX must be the one the reused run had)"
else
	echo "# mix: ${MIX:-uniform}"
fi

# fill FROM TO: events number FROM+1 .. TO, then their rollups.
fill() {
	echo "# generating events $(($1 + 1)) to $2 $fill_what"
	t0=$(bench_ms)
	$psql <<SQL || exit 1
SELECT setseed(0.42 * $1 / ($2 + 1));
CREATE TABLE public.fill AS
SELECT gen_random_uuid() AS event_id, t AS event_time, gen_random_uuid() AS conn_id,
       t - interval '2 seconds' AS conn_time,
       CASE WHEN af THEN 'auth_failure' WHEN r < 0.05 THEN 'connection'
            ELSE 'transaction' END AS kind,
       'mx' || (i % 3) AS node, port, true AS port_known,
       $mix_addr AS client_addr,
       'host' || (i % 997) || '.example.net' AS helo,
       $mix_tls AS tls_version,
       CASE WHEN port = 25 THEN NULL WHEN af AND i % 2 = 0 THEN 'LOGIN'
            ELSE 'PLAIN' END AS sasl_method,
       CASE WHEN port = 25 OR (af AND i % 10 = 0) THEN NULL
            ELSE 'user' || u END AS sasl_user,
       CASE WHEN NOT af THEN '<s' || (i % 5000) || '@example.com>' END AS sender,
       CASE WHEN af THEN 0 ELSE 1 END AS nrcpt,
       0 AS nrcpt_rejected, 0 AS nrcpt_tempfailed, 0 AS nrcpt_refused,
       CASE WHEN NOT af THEN 1000 + i % 50000 END AS size,
       CASE WHEN af THEN 'rejected' WHEN r < 0.05 THEN 'none'
            WHEN r < 0.75 THEN 'accepted'
            WHEN r < 0.95 THEN 'rejected' WHEN r < 0.98 THEN 'tempfailed'
            ELSE 'aborted' END AS verdict,
       CASE WHEN af THEN 'auth_failed' WHEN r >= 0.75 AND r < 0.95 THEN
            (ARRAY['relay', 'require_tls', 'tls_before_auth', 'min_tls_version'])[1 + i % 4]
       END AS rule,
       CASE WHEN af THEN '535 5.7.8 Error: authentication failed: authentication failure'
       END AS reply,
       port <> 25 AND NOT af AND r > 0.995 AS credential_exposure
FROM (SELECT i, r, t, port, rt, port <> 25 AND ra < 0.03 AS af, u, ka, kb,
	     (65535 * ka * ka)::int AS a25
      FROM (SELECT i, random() AS r, random() AS rt, random() AS ra,
		   $mix_user AS u, random() AS ka, random() AS kb,
		   $fill_time AS t,
		   (ARRAY[25, 25, 25, 25, 587, 587, 587, 465, 5870, 12345, 4650])
			[1 + (random() * 10)::int] AS port
	    FROM generate_series($1 + 1, $2) AS i) AS g0) AS g
ORDER BY t;	-- as the shipper does: in time order
INSERT INTO portmilter.events
	(event_id, event_time, conn_id, conn_time, kind, node, port, port_known,
	 client_addr, helo, tls_version, sasl_method, sasl_user, sender,
	 nrcpt, nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused, size,
	 verdict, rule, reply, credential_exposure)
SELECT * FROM public.fill;
DROP TABLE public.fill;
VACUUM ANALYZE portmilter.events;
SQL
	t1=$(bench_ms)
	ndays=$($psql -Atc "SELECT count(*) FROM portmilter.rollup_dirty
		WHERE day < (now() AT TIME ZONE 'UTC')::date")
	$psql -c 'DO $$ BEGIN
		WHILE portmilter.rollup_catchup(1) > 0 LOOP COMMIT; END LOOP; END $$' || exit 1
	t2=$(bench_ms)
	$psql -c "VACUUM ANALYZE" || exit 1
	echo "catchup_day	$(( (t2 - t1) / (ndays > 0 ? ndays : 1) ))" >>"$dir/cost.$2"
	echo "# events in $((t1 - t0)) ms; catch-up of $ndays days in $((t2 - t1)) ms" \
		"($(( (t2 - t1) / (ndays > 0 ? ndays : 1) )) ms a day); sizes:" \
		"events $($psql -Atc "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid)))
			FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'portmilter.events'::regclass")," \
		"rollups $($psql -Atc "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid)))
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = 'portmilter' AND c.relname LIKE 'rollup\_%' AND c.relkind = 'r'")"
}

# With PLANS=1 every statement of the report is logged with its plan and
# actual rows (auto_explain with ANALYZE: it slows every statement down,
# so the times of such a run are not the ones to quote).
if [ "${PLANS:-0}" = 1 ]; then
	PGOPTIONS="-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 \
-c auto_explain.log_analyze=on -c auto_explain.log_timing=off \
-c auto_explain.log_nested_statements=on"
	export PGOPTIONS
fi

# run LABEL ARGS...: time one report (appended to $dir/times.$rows),
# then, with PLANS=1, summarize its plans.
run() {
	label=$1; shift
	if [ -n "${ONLY:-}" ] && ! printf '%s\n' "$label" | grep -Eq -- "$ONLY"; then
		rm -f "$dir/dash.html"
		return 0
	fi
	lines=$(wc -l <"$dir/log")
	: >"$dir/runs"
	i=0
	while [ $i -lt "${RUNS:-3}" ]; do
		t0=$(bench_ms)
		if "$report" -d dbname=portmilter --format csv "$@" >"$dir/out" 2>"$dir/err"; then
			echo $(( $(bench_ms) - t0 )) >>"$dir/runs"
		else
			echo FAILED >>"$dir/runs"; cat "$dir/err" >&2
		fi
		i=$((i + 1))
	done
	if grep -q FAILED "$dir/runs"; then
		ms=FAILED range=
	else
		ms=$(sort -n "$dir/runs" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
		range=$(sort -n "$dir/runs" | awk 'NR == 1 { lo = $1 } { hi = $1 }
			END { if (NR > 1) printf "(%d-%d)", lo, hi }')
	fi
	printf '%s\t%s\n' "$label" "$ms" >>"$dir/times.$rows"
	printf '%-44s %8s ms %-13s %8d rows\n' "$label" "$ms" "$range" \
		$(( $(wc -l <"$dir/out") - 1 ))
	[ "${PLANS:-0}" = 1 ] || return 0
	tail -n +"$((lines + 1))" "$dir/log" | awk '
		/duration: .* plan:/ { keep = 1; next }
		/LOG: |STATEMENT: |CONTEXT: / { keep = 0 }
		keep { print }' |
		grep -E 'Scan|Subplans Removed|Aggregate' |
		sed -E 's/  +/ /g; s/\(cost=[^)]*\) //; s/^/    /' | sort | uniq -c | sort -rn | head -n 12
}

# insert_cost: microseconds per 1000-row statement of shipper-like
# batches (one transaction each, rolled back: the rows would crowd
# today's edge; the rows of the mix above), with the rollup triggers
# disabled, enabled, and enabled with the indexes of migration 017
# dropped (in the transaction, when they exist), in turn, 5 rounds of 10
# statements each so that all see the same load; the INSERTs' own time
# (psql's \timing, on around each INSERT only), one session per round;
# "on off noidx" on stdout (noidx "-" without migration 017).
insert_cost() {
	on=0 off=0 noidx=0 round=0 modes="DISABLE ENABLE"
	idx=$(PGOPTIONS='' $psql -Atc "SELECT count(*) FROM pg_class
		WHERE relname IN ('events_auth_time_idx', 'events_old_tls_idx')
		AND relnamespace = 'portmilter'::regnamespace") || exit 1
	[ "$idx" = 2 ] && modes="$modes NOIDX"
	while [ $round -lt 5 ]; do
		for mode in $modes; do
			{
				case $mode in
				NOIDX) echo "ALTER TABLE portmilter.events ENABLE TRIGGER rollup_ins;" ;;
				*) echo "ALTER TABLE portmilter.events $mode TRIGGER rollup_ins;" ;;
				esac
				i=0
				while [ $i -lt 10 ]; do
					echo "BEGIN;"
					[ $mode = NOIDX ] && echo "DROP INDEX portmilter.events_auth_time_idx,
						portmilter.events_old_tls_idx;"
					printf '%s\n' '\timing on'	# not echo: dash's turns \t into a tab
					echo "INSERT INTO portmilter.events
				(event_id, event_time, conn_id, conn_time, kind, node, port, port_known,
				 client_addr, tls_version, sasl_method, sasl_user, sender,
				 nrcpt, nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused, size,
				 verdict, rule, credential_exposure)
				SELECT gen_random_uuid(), now() - random() * interval '1 minute', c,
				       now() - interval '1 minute',
				       CASE WHEN af THEN 'auth_failure' ELSE 'transaction' END,
				       'mx0', port, true, '10.1.0.0'::inet + (random() * 65535)::int,
				       CASE WHEN af OR (port = 25 AND rt < 0.30) THEN NULL
					    WHEN rt < CASE WHEN port = 25 THEN 0.80 ELSE 0.90 END THEN 'TLSv1.3'
					    WHEN rt < 0.99 THEN 'TLSv1.2' ELSE 'TLSv1' END,
				       CASE WHEN port <> 25 THEN 'PLAIN' END,
				       CASE WHEN port <> 25 THEN 'user' || (random() * 5000)::int END,
				       '<a@example.com>', 1, 0, 0, 0, 1000,
				       CASE WHEN af THEN 'rejected' ELSE 'accepted' END,
				       CASE WHEN af THEN 'auth_failed' END, false
				FROM (SELECT gen_random_uuid() AS c, random() AS rt, port,
					     port <> 25 AND random() < 0.03 AS af
				      FROM (SELECT (ARRAY[25, 25, 25, 25, 587, 587, 587, 465, 5870,
							  12345, 4650])[1 + (random() * 10)::int] AS port
					    FROM generate_series(1, 1000)) AS p) AS g
				ON CONFLICT DO NOTHING;"
					printf '%s\n' '\timing off'
					echo "ROLLBACK;"
					i=$((i + 1))
				done
			} | PGOPTIONS='' $psql 2>&1 | awk '/^Time: / { t += $2 }
				END { printf "%d\n", t * 1000 }' >"$dir/ms"
			us=$(cat "$dir/ms")
			case $mode in
			ENABLE) on=$((on + us)) ;;
			DISABLE) off=$((off + us)) ;;
			*) noidx=$((noidx + us)) ;;
			esac
		done
		round=$((round + 1))
	done
	PGOPTIONS='' $psql -c "ALTER TABLE portmilter.events ENABLE TRIGGER rollup_ins" || exit 1
	if [ "$idx" = 2 ]; then noidx=$((noidx / 50)); else noidx=-; fi
	echo "$((on / 50)) $((off / 50)) $noidx"
}

# migrate017: the time migration 017 takes on the events there are now
# (its indexes dropped and its version forgotten first), on stdout; "-"
# when SQLDIR has no 017.
migrate017() {
	f=$sqldir/017_report_indexes.sql
	[ -f "$f" ] || { echo -; return 0; }
	PGOPTIONS='' $psql -c "DROP INDEX portmilter.events_auth_time_idx,
		portmilter.events_old_tls_idx;
		DELETE FROM portmilter.schema_version WHERE version = 17" || exit 1
	t0=$(bench_ms)
	PGOPTIONS='' $psql -f "$f" 2>/dev/null || exit 1
	echo $(( $(bench_ms) - t0 ))
}

# The events' times: over the last 365 days, or (DAY=1) all on the day
# before yesterday (UTC).
fill_time="now() - random() * interval '365 days'" fill_what="over the last 365 days"
if [ "${DAY:-0}" = 1 ]; then
	[ $# -eq 1 ] && [ -z "${REUSE:-}" ] || {
		echo "$0: DAY=1 takes one ROWS value and no REUSE" >&2
		exit 2
	}
	fill_time="(date_trunc('day', now() AT TIME ZONE 'UTC') - interval '2 days'
		   + random() * interval '1 day') AT TIME ZONE 'UTC'"
	fill_what="on the day before yesterday (UTC)"
	fill 0 "$1"
	day=$($psql -Atc "SELECT (now() AT TIME ZONE 'UTC')::date - 2")
	echo "# the day $day: $($psql -Atc "SELECT count(*) FROM portmilter.events
		WHERE event_time >= '$day' AND event_time < '$day'::date + 1") events," \
		"load $(cut -d' ' -f1-3 /proc/loadavg)"
	whole=$(awk -F '\t' '$1 == "catchup_day" { print $2 }' "$dir/cost.$1")
	$psql -c "INSERT INTO portmilter.rollup_dirty (day) VALUES ('$day')" || exit 1
	total=0
	printf '%-36s %10s %9s\n' "step (rollup_steps)" "ms" "of 60 s"
	while :; do
		# the next step of the day: none once its mark is gone
		name=$($psql -Atc "SELECT s.fn::regproc FROM portmilter.rollup_dirty AS m
			CROSS JOIN LATERAL (SELECT x.fn FROM portmilter.rollup_steps AS x
				ORDER BY x.ord OFFSET CASE WHEN m.step_gen = m.gen
				THEN m.step ELSE 0 END LIMIT 1) AS s
			WHERE m.day = '$day'")
		[ -n "$name" ] || break
		t0=$(bench_ms)
		$psql -Atc "SELECT portmilter.rollup_catchup_step()" >/dev/null || exit 1
		ms=$(( $(bench_ms) - t0 ))
		total=$((total + ms))
		printf '%-36s %10s %8s%%\n' "$name" "$ms" "$((ms * 100 / 60000))"
	done
	printf '%-36s %10s\n' "the steps, in all" "$total"
	printf '%-36s %10s (%s of the steps)\n' "the day in one transaction" "$whole" \
		"$(awk -v a="$whole" -v b="$total" 'BEGIN { printf "%.2f", b ? a / b : 0 }')"
	# The reports over that day: whole (its rollups), and over windows
	# that cut it (the cut part read from its events, as the day in
	# progress and a window's partial first day always are): what a
	# window's raw edge costs a provider of ROWS events a day.
	rows=$1
	: >"$dir/times.$rows"
	d1=$(date -u -d "$day + 1 day" +%Y-%m-%d)
	echo "# reports over the day (its rollups) and over its last hours (its events)"
	for what in ports "top --port 587 --by user" "top --port 25 --by ip" tls; do
		# shellcheck disable=SC2086 # the command and its options
		run "$what, the whole day" $what --since "$day" --until "$d1"
		for h in 12 1; do
			# shellcheck disable=SC2086
			run "$what, its last $h h" $what \
				--since "${day}T$(printf %02d $((24 - h))):00:00Z" --until "$d1"
		done
	done
	run "dashboard, the whole day" dashboard -o "$dir/dash.html" --since "$day" --until "$d1"
	run "dashboard, its last 12 h" dashboard -o "$dir/dash.html" \
		--since "${day}T12:00:00Z" --until "$d1"
	exit 0
fi

prev=0
for rows; do
	[ -n "${REUSE:-}" ] || fill "$prev" "$rows"
	prev=$rows
	echo "# $rows events, load $(cut -d' ' -f1-3 /proc/loadavg)"
	: >"$dir/times.$rows"
	# Day-aligned windows (whole UTC days, ending at today's midnight):
	# no raw edge, only rolled-up days; against the same commands over
	# the last 24 h or 365 days they tell the edges' cost from the
	# rest's.
	d0=$(date -u +%Y-%m-%d)
	d1=$(date -u -d "$d0 - 1 day" +%Y-%m-%d)
	d365=$(date -u -d "$d0 - 365 days" +%Y-%m-%d)
	run "ports, last 24 h" ports --since 24h
	run "ports, last 7 days" ports --since 7d
	run "ports, whole year" ports --since 365d
	run "ports, 2 days 3 hours (ragged)" ports --since 51h --until 1h
	run "ports, yesterday (whole day)" ports --since "$d1" --until "$d0"
	run "ports, 365 whole days" ports --since "$d365" --until "$d0"
	run "user user42, last 30 days" user user42 --since 30d
	run "user user42, whole year" user user42 --since 365d
	run "ip 10.0.1.7, last 30 days" ip 10.0.1.7 --since 30d
	run "ip 10.0.1.0/24, whole year" ip 10.0.1.0/24 --since 365d
	run "top --port 587 --by user, last 7 days" top --port 587 --by user --since 7d
	run "top --port 25 --by ip, last 24 h" top --port 25 --by ip --since 24h
	run "adoption, last 30 days" adoption --since 30d
	run "adoption, whole year" adoption --since 365d
	run "adoption, 40 days ragged" adoption --since '40d' --until 3h
	run "tls, whole year" tls --since 365d
	run "tls, 365 whole days" tls --since "$d365" --until "$d0"
	run "tls --below TLSv1.2, whole year" tls --below TLSv1.2 --since 365d
	run "tls-preview --port 587, whole year" tls-preview --port 587 --min-tls-version TLSv1.3 --since 365d
	run "tls-preview --port 25 TLSv1.2, whole year" tls-preview --port 25 --min-tls-version TLSv1.2 --since 365d
	run "auth, last 30 days" auth --since 30d
	run "auth, whole year" auth --since 365d
	run "auth, 365 whole days" auth --since "$d365" --until "$d0"
	run "auth --user user42, whole year" auth --user user42 --since 365d
	run "auth --ip $auth_net, whole year" auth --ip $auth_net --since 365d
	run "auth --ip $auth_net, last 24 h" auth --ip $auth_net
	run "top --port 587 --by user, whole year" top --port 587 --by user --since 365d
	run "top --port 587 --by user, 365 whole days" top --port 587 --by user \
		--since "$d365" --until "$d0"
	run "top --port 25 --by ip, whole year" top --port 25 --by ip --since 365d
	run "dashboard, last 7 days" dashboard -o "$dir/dash.html" --since 7d
	[ ! -s "$dir/dash.html" ] || echo "    the page: $(wc -c <"$dir/dash.html") bytes"
	run "dashboard, whole year" dashboard -o "$dir/dash.html" --since 365d
	[ ! -s "$dir/dash.html" ] || echo "    the page: $(wc -c <"$dir/dash.html") bytes"
	run "dashboard, 365 whole days" dashboard -o "$dir/dash.html" \
		--since "$d365" --until "$d0"
	[ -z "${REUSE:-}" ] || continue
	cost=$(insert_cost) || exit 1
	echo "$cost" | awk '{ printf "insert_on\t%s\ninsert_off\t%s\ninsert_noidx\t%s\n",
		$1, $2, $3 }' >>"$dir/cost.$rows"
	m017=$(migrate017) || exit 1
	printf 'migrate017\t%s\n' "$m017" >>"$dir/cost.$rows"
	# insert_cost's rows were rolled back: their dead index entries sit
	# in today's range, which reports read raw (a REUSE run of this
	# directory)
	$psql -c "VACUUM portmilter.events" || exit 1
done

echo
echo "# report times in ms (wall clock, csv output, the median of ${RUNS:-3} runs), by number of events"
printf '%-44s' "command"
for rows; do printf ' %10s' "$rows"; done
echo
cut -f1 "$dir/times.$1" | while IFS= read -r label; do
	printf '%-44s' "$label"
	for rows; do
		printf ' %10s' "$(awk -F '\t' -v l="$label" '$1 == l { print $2 }' "$dir/times.$rows")"
	done
	echo
done
[ -z "${REUSE:-}" ] || exit 0
echo "# shipper-like INSERT, microseconds per 1000-row statement; catch-up, ms per day;"
echo "# migration 017 (its two indexes built), ms"
for what in insert_on insert_off insert_noidx catchup_day migrate017; do
	case $what in
	insert_on) label="INSERT, rollup triggers on" ;;
	insert_off) label="INSERT, rollup_ins disabled" ;;
	insert_noidx) label="INSERT, triggers on, no 017 indexes" ;;
	catchup_day) label="catch-up, ms per day" ;;
	*) label="migration 017" ;;
	esac
	printf '%-44s' "$label"
	for rows; do
		printf ' %10s' "$(awk -F '\t' -v l=$what '$1 == l { print $2 }' "$dir/cost.$rows")"
	done
	echo
done
