#!/bin/sh
# report-bench - how fast portmilter-report answers on a year of events.
# On demand, not part of `make check`:
#
#   sh bench/report-bench.sh [ROWS]        (default 3000000)
#
# Starts a throwaway PostgreSQL (tests/lib/pg.sh) in a temporary
# directory, applies the migrations with portmilter-report, fills
# portmilter.events with ROWS synthetic events spread over the last 365
# days (monthly partitions for all of them, generate_series, a fixed
# seed), then runs each report command and prints its wall-clock time and
# a summary of the plan PostgreSQL used (from auto_explain, so it is the
# plan of the program's own query, not of a copy of it). Stops the server
# and removes everything at the end, even on failure or ^C.
#
# Environment: PORTMILTER_REPORT (default ./report/portmilter-report, then
# the one on PATH), SQLDIR (default the sql/ next to this script),
# PG_BINDIR, KEEP=1 to keep the directory (and the server stopped).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/tests/lib/pg.sh"

rows=${1:-3000000}
case $rows in '' | *[!0-9]*) echo "usage: $0 [ROWS]" >&2; exit 2 ;; esac
report=${PORTMILTER_REPORT:-$here/report/portmilter-report}
[ -x "$report" ] || report=$(command -v portmilter-report) || {
	echo "report-bench: build portmilter-report first (or set PORTMILTER_REPORT)" >&2
	exit 2
}
sqldir=${SQLDIR:-$here/sql}

dir=$(mktemp -d "${TMPDIR:-/tmp}/report-bench.XXXXXX") || exit 1
cleanup() {
	pg_stop "$dir"
	[ "${KEEP:-0}" = 1 ] && echo "kept $dir" || rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pg_start "$dir" || exit 1
psql="psql -X -q -v ON_ERROR_STOP=1 -d portmilter"
"$report" -d dbname=portmilter migrate --sql-dir "$sqldir" >/dev/null || exit 1

now_ms() { date +%s%3N; }

echo "# generating $rows events over the last 365 days"
t0=$(now_ms)
$psql <<SQL || exit 1
SELECT portmilter.create_month_partition(
	(date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => m))::date)
FROM generate_series(1, 13) AS m;
SELECT setseed(0.42);
INSERT INTO portmilter.events
	(event_id, event_time, conn_id, conn_time, kind, node, port, port_known,
	 client_addr, helo, tls_version, sasl_method, sasl_user, sender,
	 nrcpt, nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused, size,
	 verdict, rule, reply, credential_exposure)
SELECT gen_random_uuid(), t, gen_random_uuid(), t - interval '2 seconds',
       CASE WHEN r < 0.05 THEN 'connection' ELSE 'transaction' END,
       'mx' || (i % 3), port, true,
       '10.0.0.0'::inet + (random() * 65535)::int,
       'host' || (i % 997) || '.example.net',
       CASE WHEN port = 25 THEN NULL ELSE 'TLSv1.3' END,
       CASE WHEN port = 25 THEN NULL ELSE 'PLAIN' END,
       CASE WHEN port = 25 THEN NULL ELSE 'user' || (random() * 5000)::int END,
       '<s' || (i % 5000) || '@example.com>',
       1, 0, 0, 0, 1000 + i % 50000,
       CASE WHEN r < 0.05 THEN 'none' WHEN r < 0.75 THEN 'accepted'
            WHEN r < 0.95 THEN 'rejected' WHEN r < 0.98 THEN 'tempfailed'
            ELSE 'aborted' END,
       CASE WHEN r >= 0.75 AND r < 0.95 THEN
            (ARRAY['relay', 'require_tls', 'tls_before_auth', 'min_tls_version'])[1 + i % 4]
       END,
       NULL, port <> 25 AND r > 0.995
FROM (SELECT i, random() AS r,
	     now() - random() * interval '365 days' AS t,
	     (ARRAY[25, 25, 25, 25, 587, 587, 587, 465, 5870, 12345, 4650])
		[1 + (random() * 10)::int] AS port
      FROM generate_series(1, $rows) AS i) AS g
ORDER BY t;	-- as the shipper does: in time order
VACUUM ANALYZE portmilter.events;
SQL
echo "# generated in $(( $(now_ms) - t0 )) ms; table size:" \
	"$($psql -Atc "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid)))
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'portmilter.events'::regclass")"

# Every statement of the report is logged with its plan and actual rows.
PGOPTIONS="-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 \
-c auto_explain.log_analyze=on -c auto_explain.log_timing=off"
export PGOPTIONS

# run LABEL ARGS...: time one report, then summarize its plan.
run() {
	label=$1; shift
	lines=$(wc -l <"$dir/log")
	t0=$(now_ms)
	"$report" -d dbname=portmilter --format csv "$@" >"$dir/out" 2>"$dir/err" || {
		echo "FAILED: $label"; cat "$dir/err"; return
	}
	ms=$(( $(now_ms) - t0 ))
	printf '%-44s %6d ms %8d rows\n' "$label" "$ms" $(( $(wc -l <"$dir/out") - 1 ))
	# The plan of the report query: the last logged plan of this run.
	tail -n +"$((lines + 1))" "$dir/log" | awk '
		/duration: .* plan:/ { plan = ""; keep = 1; next }
		/LOG: |STATEMENT: / { keep = 0 }
		keep { plan = plan $0 "\n" }
		END { printf "%s", plan }' |
		grep -E 'Scan|Subplans Removed|Append|Aggregate|Sort  \(' |
		sed -E 's/  +/ /g; s/\(cost=[^)]*\) //; s/^/    /' | head -n 12
}

run "ports, last 24 h" ports --since 24h
run "ports, last 7 days" ports --since 7d
run "ports, whole year" ports --since 365d
run "user user42, last 30 days" user user42 --since 30d
run "user user42, whole year" user user42 --since 365d
run "ip 10.0.1.7, last 30 days" ip 10.0.1.7 --since 30d
run "ip 10.0.1.0/24, whole year" ip 10.0.1.0/24 --since 365d
run "top --port 587 --by user, last 7 days" top --port 587 --by user --since 7d
run "top --port 25 --by ip, last 24 h" top --port 25 --by ip --since 24h
run "adoption, last 30 days" adoption --since 30d
run "adoption, whole year" adoption --since 365d
