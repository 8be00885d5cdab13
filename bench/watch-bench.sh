#!/bin/sh
# watch-bench - portmilter-watch's cost and false positives. On demand,
# not part of `make check` (tests/watch/population.sh runs a small fp).
#
#   sh bench/watch-bench.sh cost [USERS [DAYS]]   (default 30000 30: ~10 M events)
#   sh bench/watch-bench.sh fp [USERS [DAYS [REPLAY_DAYS [STEP_HOURS]]]]
#                                                (default 10000 28 14 1)
#
# Starts a throwaway PostgreSQL (tests/lib/pg.sh) in a temporary
# directory, applies the migrations, fills portmilter.events with the
# synthetic population of bench/watch-population.sql (USERS normal users
# over the last DAYS days; its header is the behaviour model), then:
#   cost  prints the number of events, the EXPLAIN of every detector, and
#         the wall time of three evaluations (portmilter-watch -1, every
#         detector on, default settings) at now;
#   fp    replays an evaluation every STEP_HOURS over the last REPLAY_DAYS
#         days (portmilter-watch -1 -T TIME; the first DAYS - REPLAY_DAYS
#         days are history for the baselines) and prints the alerts
#         fired, per detector, then "alerts: N users: U".
# The cool-down runs in real time, so in a replay each detector alerts
# at most once per subject: N counts the users (or addresses) that would
# have been alerted at least once in REPLAY_DAYS days.
#
# Environment: top_builddir (default the source tree: an in-tree build),
# SQLDIR, PG_BINDIR, KEEP=1 to keep the directory.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/tests/lib/pg.sh"
build=${top_builddir:-$here}
watch=$build/watch/portmilter-watch
report=$build/report/portmilter-report
sqldir=${SQLDIR:-$here/sql}

mode=${1:-}
case $mode in
cost) users=${2:-30000} days=${3:-30} ;;
fp) users=${2:-10000} days=${3:-28} replay=${4:-14} step=${5:-1} ;;
*) echo "usage: $0 cost [USERS [DAYS]] | fp [USERS [DAYS [REPLAY_DAYS [STEP_HOURS]]]]" >&2
   exit 2 ;;
esac
for x in "$watch" "$report"; do
	[ -x "$x" ] || { echo "watch-bench: build $x first (top_builddir)" >&2; exit 2; }
done
command -v psql >/dev/null 2>&1 || PATH=$(pg_bindir):$PATH

dir=$(mktemp -d "${TMPDIR:-/tmp}/watch-bench.XXXXXX") || exit 1
cleanup() {
	pg_stop "$dir"
	[ "${KEEP:-0}" = 1 ] && echo "kept $dir" || rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pg_start "$dir" || exit 1
psqlq() { psql -X -q -v ON_ERROR_STOP=1 -At -d portmilter "$@"; }
"$report" -d dbname=portmilter migrate --sql-dir "$sqldir" >"$dir/migrate.out" 2>&1 || {
	cat "$dir/migrate.out" >&2
	exit 1
}
# Months of partitions for the whole span.
psqlq -c "SELECT portmilter.create_month_partition((now() - make_interval(days => d))::date)
	  FROM generate_series(0, $days, 28) AS d" >/dev/null 2>&1
cat >"$dir/watch.conf" <<EOF
database = host=$PGHOST port=$PGPORT dbname=portmilter user=postgres
node_name = bench
[watch]
syslog = no
EOF

# Loading is faster with the secondary indexes built afterwards (the same
# definitions as sql/001_schema.sql).
t0=$(date +%s)
psqlq -c "DROP INDEX portmilter.events_port_time_idx, portmilter.events_user_time_idx,
	portmilter.events_addr_time_idx" >/dev/null || exit 1
psqlq -v users="$users" -v days="$days" -f "$here/bench/watch-population.sql" >/dev/null || exit 1
psqlq -c "SET maintenance_work_mem = '256MB'" \
	-c "CREATE INDEX events_port_time_idx ON portmilter.events (port, event_time)" \
	-c "CREATE INDEX events_user_time_idx ON portmilter.events (sasl_user, event_time)
	    WHERE sasl_user IS NOT NULL" \
	-c "CREATE INDEX events_addr_time_idx ON portmilter.events (client_addr, event_time)
	    WHERE client_addr IS NOT NULL" -c "ANALYZE portmilter.events" >/dev/null || exit 1
t1=$(date +%s)
events=$(psqlq -c "SELECT count(*) FROM portmilter.events")
echo "population: $users users, $days days, $events events (made in $((t1 - t0)) s)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$mode" = cost ]; then
	"$watch" -x -c "$dir/watch.conf" >"$dir/explain.out" 2>&1
	echo "plans (scans of events):"
	grep -E 'detector |Scan' "$dir/explain.out" | sed 's/(cost=.*//' | sort | uniq -c |
		sed 's/^/  /'
	for i in 1 2 3; do
		"$watch" -1 -v -c "$dir/watch.conf" 2>&1 | grep -o 'evaluation: .*' |
			sed "s/^/run $i: /"
	done
	echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
	exit 0
fi

h=$((replay * 24))
runs=0
while [ "$h" -ge 0 ]; do
	"$watch" -1 -T "$(psqlq -c "SELECT now() - make_interval(hours => $h)")" \
		-c "$dir/watch.conf" >>"$dir/replay.log" 2>&1
	runs=$((runs + 1))
	h=$((h - step))
done
echo "replayed $runs evaluations, one every $step h over the last $replay days"
psqlq -c "SELECT detector, count(*) FROM portmilter.alerts WHERE state = 'fired'
	  GROUP BY 1 ORDER BY 1" | sed 's/^/  /'
echo "alerts: $(psqlq -c "SELECT count(*) FROM portmilter.alerts WHERE state = 'fired'") users: $(psqlq -c "SELECT count(DISTINCT subject) FROM portmilter.alerts WHERE state = 'fired'")"
psqlq -c "SELECT summary FROM portmilter.alerts WHERE state = 'fired' ORDER BY alert_id LIMIT 10" |
	sed 's/^/  e.g. /'
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
