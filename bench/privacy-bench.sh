#!/bin/sh
# privacy-bench - what `portmilter-report maintain` costs on a year of
# events. On demand, not part of `make check`:
#
#   sh bench/privacy-bench.sh [ROWS] [REDUCE_DAYS] [RAW_DAYS]
#                                  (default 10000000 30 300)
#
# Starts a throwaway PostgreSQL (tests/lib/pg.sh) in a temporary
# directory, applies the migrations, fills portmilter.events with ROWS
# synthetic events spread over the last 365 days (monthly partitions,
# generate_series, a fixed seed; every row with an address, a reverse
# name and a HELO, as a real one has), then times:
#   1. the first maintain with reduce_days = REDUCE_DAYS and retention
#      off: every address older than that reduced (the one-time cost when
#      reduction is switched on; afterwards a run reduces one day's rows);
#   2. a second maintain (the daily cost once caught up: only the month
#      holding the cutoff is read again);
#   3. a maintain with raw_days = RAW_DAYS: the months past it dropped;
#   4. `ip ADDR` over the year on a reduced address, and its plan.
# Prints rows, times, rows per second and the table size before and
# after (an UPDATE leaves the old row versions to VACUUM). Stops the
# server and removes everything at the end, even on failure or ^C.
#
# Environment: PORTMILTER_REPORT (default ./report/portmilter-report,
# then the one on PATH), SQLDIR (default the sql/ next to this script),
# PG_BINDIR, KEEP=1 to keep the directory (and the server stopped).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/tests/lib/pg.sh"
. "$here/bench/lib.sh"

rows=${1:-10000000} reduce=${2:-30} raw=${3:-300}
for v in "$rows" "$reduce" "$raw"; do
	case $v in '' | *[!0-9]*) echo "usage: $0 [ROWS] [REDUCE_DAYS] [RAW_DAYS]" >&2; exit 2 ;; esac
done
report='' dir='' psql=''	# set by bench_pg_begin (bench/lib.sh)
bench_pg_begin privacy-bench
size() {
	$psql -Atc "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid)))
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'portmilter.events'::regclass"
}
count() { $psql -Atc "SELECT count(*) FROM portmilter.events WHERE $1"; }
# timed LABEL ARGS...: run the report, print its output and time.
timed() {
	label=$1; shift
	t0=$(bench_ms)
	"$report" -d dbname=portmilter "$@" >"$dir/out" 2>&1 || {
		echo "FAILED: $label"; cat "$dir/out"; exit 1
	}
	ms=$(( $(bench_ms) - t0 ))
	sed 's/^/    /' "$dir/out" | head -n 20
	printf '%-52s %8d ms\n' "$label" "$ms"
}

echo "# load: $(uptime | sed 's/.*load average/load average/')"
echo "# generating $rows events over the last 365 days"
t0=$(bench_ms)
$psql <<SQL || exit 1
SELECT portmilter.create_month_partition(
	(date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => m))::date)
FROM generate_series(1, 13) AS m;
UPDATE portmilter.privacy_settings SET raw_days = NULL, reduce_days = NULL;
SELECT setseed(0.42);
INSERT INTO portmilter.events
	(event_id, event_time, conn_id, conn_time, kind, node, port, port_known,
	 client_addr, client_name, helo, tls_version, sasl_method, sasl_user,
	 sender, nrcpt, nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused, size,
	 verdict, rule, reply, credential_exposure)
SELECT gen_random_uuid(), t, gen_random_uuid(), t - interval '2 seconds',
       'transaction', 'mx' || (i % 3), port, true, a,
       'dsl-' || replace(host(a), '.', '-') || '.isp.example',
       CASE WHEN i % 4 = 0 THEN '[' || host(a) || ']' ELSE 'pc' || (i % 997) END,
       'TLSv1.3', 'PLAIN', 'user' || (i % 5000), '<u' || (i % 5000) || '@example.com>',
       1, 0, 0, 0, 1000 + i % 50000,
       CASE WHEN i % 10 = 0 THEN 'rejected' ELSE 'accepted' END,
       CASE WHEN i % 10 = 0 THEN 'relay' END,
       CASE WHEN i % 10 = 0 THEN '554 5.7.1 <unknown[' || host(a) || ']>: Relay access denied'
            ELSE '250 2.0.0 Ok' END,
       false
FROM (SELECT i, now() - random() * interval '365 days' AS t,
	     '10.0.0.0'::inet + (random() * 16777215)::int AS a,
	     (ARRAY[25, 587, 587, 465, 5870, 12345, 4650])[1 + (random() * 6)::int] AS port
      FROM generate_series(1, $rows) AS i) AS g
ORDER BY t;
VACUUM ANALYZE portmilter.events;
SQL
echo "# generated in $(( $(bench_ms) - t0 )) ms; table size: $(size)"
old=$(count "event_time < now() - make_interval(days => $reduce)")
echo "# rows older than $reduce days: $old"

$psql -c "UPDATE portmilter.privacy_settings SET reduce_days = $reduce" || exit 1
t0=$(bench_ms)
timed "1. first maintain: reduce after $reduce days" maintain
ms1=$(( $(bench_ms) - t0 ))
[ "$ms1" -gt 0 ] || ms1=1
echo "#    $old rows reduced: $(( old * 1000 / ms1 )) rows/s; table size now: $(size)"
left=$(count "event_time < now() - make_interval(days => $reduce) AND portmilter.addr_is_full(client_addr)")
echo "#    whole addresses left before the cutoff: $left"
timed "2. second maintain (caught up)" maintain
$psql -c "VACUUM portmilter.events" || exit 1
echo "# after VACUUM: $(size)"
$psql -c "UPDATE portmilter.privacy_settings SET raw_days = $raw" || exit 1
timed "3. maintain with raw_days = $raw: months dropped" maintain
echo "# table size now: $(size)"

addr=$($psql -Atc "SELECT host(client_addr) FROM portmilter.events
	WHERE event_time < now() - make_interval(days => $reduce + 5) LIMIT 1")
addr=${addr%/*}
addr=${addr%.0}.7
timed "4. ip $addr over the year (reduced rows)" --format csv ip "$addr" --since 365d
$psql -c "EXPLAIN SELECT count(*) FROM portmilter.events AS e
	WHERE (e.client_addr <<= '$addr/32'::cidr OR e.client_addr =
	       pg_catalog.network(pg_catalog.set_masklen('$addr/32'::cidr::inet, 24))::inet)
	  AND e.event_time >= now() - interval '365 days'" |
	grep -E 'Scan|Bitmap|Append|Subplans' |
	sed -E 's/\(cost=[^)]*\)//; s/events_[0-9]{6}/events_YYYYMM/g; s/ e_[0-9]+/ e/; s/  +/ /g' |
	sort | uniq -c | sort -rn | sed 's/^/    /'
echo "# load: $(uptime | sed 's/.*load average/load average/')"
