#!/bin/sh
# ship-bench.sh - recording throughput, on demand (not part of make check).
#
#   sh bench/ship-bench.sh [N]        (default N = 200000; as root)
#
# 1. journal_bench journals N events: microseconds per event on the SMTP
#    path (encode + append).
# 2. portmilter starts with a copy of that journal and PostgreSQL up, as
#    the INSERT-only writer role, and ships it; timed until all N rows are
#    stored, with PostgreSQL's CPU time (bench/lib.sh: pg_cpu_ms) over the
#    same span. Twice, the same rows each time:
#      staged  the writer may not use portmilter.ship_watermark (as with a
#              schema before 011): every batch is COPYed into a temporary
#              table, then INSERT ... ON CONFLICT DO NOTHING;
#      direct  the watermark in use: COPY straight into portmilter.events.
# 3. Baseline in the same run: the same N rows exported, the table
#    emptied, and a raw "COPY portmilter.events FROM" of them (psql
#    \copy), timed the same way.
# Prints, for each, the wall time, events/s, PostgreSQL's CPU per event,
# and the rate as a ratio of the raw COPY's.
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
make -C "$build" -j2 all bench/journal_bench >/dev/null
. "$top/tests/milter/lib.sh"
. "$top/tests/lib/pg.sh"
. "$top/bench/lib.sh"
pm_tmp_setup
chmod 755 "$PM_TMP"
# shellcheck disable=SC2034 # run by pm_cleanup before the directory goes
PM_CLEANUP_HOOK='pg_stop "$PM_TMP/pg"'

pg_start "$PM_TMP/pg"
"$build/report/portmilter-report" -d dbname=portmilter migrate --sql-dir "$top/sql" >/dev/null
psql -q -d portmilter -c "CREATE ROLE pm_bench LOGIN IN ROLE portmilter_writer"
sql() { psql -X -q -At -d portmilter -c "$1"; }
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"

echo "== 1. journaling $N events (the SMTP path's cost)"
mkdir -p "$PM_TMP/journal.orig"
"$build/bench/journal_bench" "$PM_TMP/journal.orig" "$N"
du -sh "$PM_TMP/journal.orig" | awk '{print "journal size: " $1}'

printf 'database = host=%s port=%s dbname=portmilter user=pm_bench\n' \
	"$PGHOST" "$PGPORT" >"$PM_TMP/head"
pm_conf_build "$PM_TMP/conf" "$PM_TMP/head"

# The number of journal segments. Not "[ -e "$1" ]": the milter may
# delete the first one between the glob and the test (it did, ending the
# timed window with half the rows unstored).
segments() {
	set -- "$PM_TMP"/journal/*.seg
	if [ "$1" != "$PM_TMP/journal/*.seg" ]; then echo "$#"; else echo 0; fi
}

# ship NAME: portmilter ships a fresh copy of the journal into an empty
# table; sets WALL and CPU (ms).
ship() {
	rm -rf "$PM_TMP/journal"
	cp -a "$PM_TMP/journal.orig" "$PM_TMP/journal"
	sql "TRUNCATE portmilter.events; DELETE FROM portmilter.ship_watermark; CHECKPOINT"
	c0=$(pg_cpu_ms "$PM_TMP/pg")
	t0=$(bench_ms)
	pm_start "$PM_TMP/conf" "unix:$PM_TMP/pm.sock" "$PM_TMP/pm.$1.log"
	# Done when every segment journal_bench wrote has been shipped and
	# deleted (only the milter's own, empty, segment is left). Polling
	# the directory costs nothing; counting rows every few ms would
	# compete with the server for the CPU.
	while [ "$(segments)" -gt 1 ]; do
		[ $(($(bench_ms) - t0)) -lt 600000 ] || { echo "timeout"; exit 1; }
		sleep 0.02
	done
	# The journal's end is a hint, not the truth: the window ends when
	# all N rows are committed (one count(*) a poll, from here on only).
	# EARLY says how many were missing when the journal looked done.
	EARLY=$((N - $(sql "SELECT count(*) FROM portmilter.events")))
	while [ "$(sql "SELECT count(*) FROM portmilter.events")" -lt "$N" ]; do
		[ $(($(bench_ms) - t0)) -lt 600000 ] || { echo "timeout"; exit 1; }
		sleep 0.02
	done
	t1=$(bench_ms)
	c1=$(pg_cpu_ms "$PM_TMP/pg")
	MCPU=$(proc_cpu_ms "$PM_PID")
	pm_stop
	c=$(sql "SELECT count(*) FROM portmilter.events")
	[ "$c" -eq "$N" ] || { echo "FAILED: $c rows stored, $N expected"; exit 1; }
	WALL=$((t1 - t0)) CPU=$((c1 - c0))
	[ "$EARLY" -eq 0 ] ||
		echo "($1: $EARLY rows were not yet stored when the journal looked shipped)"
}

# line NAME WALL CPU [MILTER_CPU]: one line of figures
line() {
	awk -v n="$N" -v name="$1" -v w="$2" -v c="$3" -v m="${4:-}" 'BEGIN {
		w = w > 0 ? w : 1
		printf "%-8s %7d ms %9d events/s   PostgreSQL CPU %6d ms = %5.1f us/event",
		       name, w, n * 1000 / w, c, c * 1000 / n
		if (m != "")
			printf "   portmilter CPU %6d ms = %5.1f us/event", m, m * 1000 / n
		printf "\n" }'
}

echo "== 2. shipping them with portmilter (writer role, batches of 10,000)"
sql "REVOKE ALL ON portmilter.ship_watermark FROM portmilter_writer"
ship staged
sw=$WALL sc=$CPU
line staged "$sw" "$sc" "$MCPU"
grep -q "no shipping watermark" "$PM_TMP/pm.staged.log" ||
	{ echo "FAILED: the staged run used the watermark"; exit 1; }
sql "\\copy (SELECT * FROM portmilter.events) TO '$PM_TMP/rows.copy'"
sql "GRANT SELECT, INSERT, UPDATE ON portmilter.ship_watermark TO portmilter_writer"
ship direct
dw=$WALL dc=$CPU
line direct "$dw" "$dc" "$MCPU"

echo "== 3. baseline: raw COPY of the same $N rows"
sql "TRUNCATE portmilter.events; CHECKPOINT"
c0=$(pg_cpu_ms "$PM_TMP/pg")
t0=$(bench_ms)
sql "\\copy portmilter.events FROM '$PM_TMP/rows.copy'"
t1=$(bench_ms)
c1=$(pg_cpu_ms "$PM_TMP/pg")
rw=$((t1 - t0)) rc=$((c1 - c0))
line "raw COPY" "$rw" "$rc"

echo "== shipping rate / raw COPY rate (load now: $(cut -d' ' -f1-3 /proc/loadavg))"
awk -v r="$rw" -v s="$sw" -v d="$dw" -v rc="$rc" -v sc="$sc" -v dc="$dc" 'BEGIN {
	printf "staged: %.2f (PostgreSQL CPU %.2f x the raw COPY)\n", r / s, sc / (rc > 0 ? rc : 1)
	printf "direct: %.2f (PostgreSQL CPU %.2f x the raw COPY)\n", r / d, dc / (rc > 0 ? rc : 1)
}'
