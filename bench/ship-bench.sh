#!/bin/sh
# ship-bench.sh - recording throughput, on demand (not part of make check).
#
#   sh bench/ship-bench.sh [N]        (default N = 200000; as root)
#
# 1. journal_bench journals N events: microseconds per event on the SMTP
#    path (encode + append).
# 2. portmilter starts with that journal and PostgreSQL up, as the
#    INSERT-only writer role: time until all N rows are stored = shipping
#    rate.
# 3. Baseline in the same run: the same N rows exported, the table
#    emptied, and a raw "COPY portmilter.events FROM" of them timed.
# Prints the shipping rate as a ratio of the raw COPY rate.
set -eu
N=${1:-200000}
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/_build/bench}
top_srcdir=$top top_builddir=$build
export top_srcdir top_builddir
if [ ! -x "$build/milter/portmilter" ] || [ ! -f "$build/Makefile" ]; then
	mkdir -p "$build"
	(cd "$build" && "$top/configure" >/dev/null)
fi
make -C "$build" -j"$(nproc)" all bench/journal_bench >/dev/null
. "$top/tests/milter/lib.sh"
. "$top/tests/lib/pg.sh"
pm_tmp_setup
chmod 755 "$PM_TMP"
# shellcheck disable=SC2034 # run by pm_cleanup before the directory goes
PM_CLEANUP_HOOK='pg_stop "$PM_TMP/pg"'

ms() { date +%s%3N; }
pg_start "$PM_TMP/pg"
"$build/report/portmilter-report" -d dbname=portmilter migrate --sql-dir "$top/sql" >/dev/null
psql -q -d portmilter -c "CREATE ROLE pm_bench LOGIN IN ROLE portmilter_writer"
mkdir -p "$PM_TMP/journal"

echo "== 1. journaling $N events (the SMTP path's cost)"
"$build/bench/journal_bench" "$PM_TMP/journal" "$N"
du -sh "$PM_TMP/journal" | awk '{print "journal size: " $1}'

echo "== 2. shipping them with portmilter (writer role, batches of 2000)"
printf 'database = host=%s port=%s dbname=portmilter user=pm_bench\n' \
	"$PGHOST" "$PGPORT" >"$PM_TMP/head"
pm_conf_build "$PM_TMP/conf" "$PM_TMP/head"
t0=$(ms)
pm_start "$PM_TMP/conf" "unix:$PM_TMP/pm.sock" "$PM_TMP/pm.log"
# Done when every segment journal_bench wrote has been shipped and
# deleted (only the milter's own, empty, segment is left). Polling the
# directory costs nothing; counting rows every few ms would compete with
# the server for the CPU.
# The number of journal segments.
segments() {
	set -- "$PM_TMP"/journal/*.seg
	if [ -e "$1" ]; then echo "$#"; else echo 0; fi
}
while [ "$(segments)" -gt 1 ]; do
	[ $(( $(ms) - t0 )) -lt 600000 ] || { echo "timeout"; exit 1; }
	sleep 0.02
done
t1=$(ms)
pm_stop
c=$(psql -At -d portmilter -c "SELECT count(*) FROM portmilter.events")
[ "$c" -eq "$N" ] || { echo "FAILED: $c rows stored, $N expected"; exit 1; }
ship=$((t1 - t0))
echo "shipped $N events in $ship ms (includes the milter's start): $((N * 1000 / (ship > 0 ? ship : 1))) events/s"

echo "== 3. baseline: raw COPY of the same $N rows"
psql -q -d portmilter -c "\\copy (SELECT * FROM portmilter.events) TO '$PM_TMP/rows.copy'"
psql -q -d portmilter -c "TRUNCATE portmilter.events"
t0=$(ms)
psql -q -d portmilter -c "\\copy portmilter.events FROM '$PM_TMP/rows.copy'"
t1=$(ms)
raw=$((t1 - t0))
echo "raw COPY of $N rows in $raw ms: $((N * 1000 / (raw > 0 ? raw : 1))) rows/s"
awk -v s="$ship" -v r="$raw" 'BEGIN { printf "shipping rate / raw COPY rate = %.2f\n", r / s }'
