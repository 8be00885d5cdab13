#!/bin/sh
# multinode-bench.sh - four milter nodes shipping into one PostgreSQL at
# once, on demand (not part of make check; tests/recorder/multinode.sh is
# the short version).
#
#   sh bench/multinode-bench.sh [N]   (N transactions per node, default
#                                      50000; as root; BUILD = a configured
#                                      build directory, default _build/bench)
#
# Four daemons (node_name node1..node4, each its own journal, socket and
# log) and one throwaway PostgreSQL; the load is bench/milter_load, the
# milter protocol as Postfix speaks it (4 connections a node, sessions of
# 10 transactions), as fast as the milters answer.
#
# 1. Shipping rate: with PostgreSQL down, N transactions a node are
#    journaled (the load's rate is printed: the SMTP path with 4 nodes).
#    The nodes are stopped, PostgreSQL started, the nodes started again:
#    the time from their start until the four journals are shipped and
#    empty, and PostgreSQL's CPU over that span, give the aggregate
#    shipping rate. Exact counts per node.
# 2. Baseline in the same run: the same 4 N rows exported, the table
#    emptied, then a raw COPY of them (one psql \copy), and again as four
#    COPYs at once (one per node's rows); timed the same way.
# 3. Disruption: the table emptied, N transactions a node again with
#    PostgreSQL up; in the middle of the load node 2 is killed with SIGKILL
#    and started again, then PostgreSQL is restarted. Exact counts per
#    node: every answered transaction stored once, nothing twice, node 2
#    at most its transactions in flight at the kill more; no deadlock or
#    serialization failure in PostgreSQL's log.
# Exits 1 at the first count that is not exact.
set -eu
N=${1:-50000}
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/_build/bench}
top_srcdir=$top top_builddir=$build
export top_srcdir top_builddir
if [ ! -x "$build/milter/portmilter" ] || [ ! -f "$build/Makefile" ]; then
	mkdir -p "$build"
	(cd "$build" && "$top/configure" >/dev/null)
fi
make -C "$build" -j2 all bench/milter_load >/dev/null
set +e	# the test libraries return non-zero as a matter of course
. "$top/tests/recorder/lib.sh"
. "$top/tests/recorder/multinode-lib.sh"
. "$top/bench/lib.sh"
# A missing tool fails a bench (tap_skip_all, tests/lib/tap.sh); its
# reason on stderr, stdout is the figures.
# shellcheck disable=SC2034 # read by tap_skip_all (tests/lib/tap.sh)
TAP_SKIP_STATUS=1
rec_init >&2
# shellcheck disable=SC2016,SC2034 # run by pm_cleanup
PM_CLEANUP_HOOK='for k in 1 2 3 4; do mn_kill9 $k; done; pg_stop "$PM_TMP/pg"'
NODES="1 2 3 4"
S=$((N / 10))
N=$((S * 10))

die() { echo "FAILED: $*"; exit 1; }
load_all() {	# load_all: N a node, on all nodes at once; waits
	for k in $NODES; do
		mn_load "$k" "$S" 10 4
	done
	for k in $NODES; do
		eval "wait \$MN_LOADER_$k" || die "node $k: load: $(cat "$PM_TMP/load$k.err")"
	done
}
drained() {	# drained: every journal empty
	for k in $NODES; do
		[ "$(cat "$PM_TMP/j$k"/*.seg 2>/dev/null | wc -c)" -eq 0 ] || return 1
	done
}
# exact K KILLED: the counts of node K (mn_check), or die
exact() {
	# shellcheck disable=SC2046 # seven numbers
	set -- $(mn_check "$1") "$1" "$2"
	# answered broken wrong rows distinct in_answered outside node killed
	[ "$3" -eq 0 ] && [ "$5" -eq "$4" ] && [ "$6" -eq "$1" ] && [ "$7" -eq 0 ] ||
		die "node $8: answered $1, broken $2, wrong $3, rows $4, distinct $5, answered stored $6, others $7"
	if [ "$9" = killed ]; then
		[ "$4" -ge "$1" ] && [ "$4" -le $(($1 + $2)) ] ||
			die "node $8: $4 rows for $1 answered and $2 in flight"
		echo "node $8 (killed): $1 answered all stored once, $4 rows ($2 in flight at the kill), none twice"
	else
		[ "$2" -eq 0 ] && [ "$4" -eq "$N" ] && [ "$1" -eq "$N" ] ||
			die "node $8: $4 rows for $1 answered of $N"
		echo "node $8: exactly $N rows, one per transaction, none twice"
	fi
}
stop_all() {	# stop_all: SIGTERM to every node at once, then wait for each
	for k in $NODES; do
		kill -TERM "$(eval "echo \$MN_PID_$k")"
	done
	for k in $NODES; do
		mn_stop "$k" || die "node $k did not stop cleanly"
	done
}
line() {	# line NAME ROWS WALL_MS CPU_MS
	awk -v name="$1" -v n="$2" -v w="$3" -v c="$4" 'BEGIN {
		w = w > 0 ? w : 1
		printf "%-22s %8d rows %7d ms %8d rows/s   PostgreSQL CPU %6d ms = %5.1f us/row\n",
		       name, n, w, n * 1000 / w, c, c * 1000 / n }'
}

echo "load: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs); $N transactions a node"
for k in $NODES; do
	mn_start "$k" || die "node $k did not start"
done

echo "== 1. four nodes ship a backlog at once"
rec_pg_down
t0=$(bench_ms)
load_all
t1=$(bench_ms)
awk -v n=$((4 * N)) -v w=$((t1 - t0)) 'BEGIN {
	printf "load, PostgreSQL down: %d transactions on 4 nodes in %d ms: %d/s\n", n, w, n * 1000 / w }'
# Stopped, so that the shipping starts when the daemons start, not when
# their reconnection backoff (up to 30 s) next tries.
stop_all
rec_pg_up || die "PostgreSQL did not start again"
rec_sql "CHECKPOINT"
c0=$(pg_cpu_ms "$PM_TMP/pg")
t0=$(bench_ms)
for k in $NODES; do
	mn_start "$k" || die "node $k did not start again"
done
until drained; do
	[ $(($(bench_ms) - t0)) -lt 900000 ] || die "not shipped after 900 s"
	sleep 0.02
done
t1=$(bench_ms)
c1=$(pg_cpu_ms "$PM_TMP/pg")
sw=$((t1 - t0)) sc=$((c1 - c0))
for k in $NODES; do
	exact "$k" no
done
line "shipping, 4 nodes" $((4 * N)) "$sw" "$sc"

echo "== 2. baseline: raw COPY of the same rows"
for k in $NODES; do
	rec_sql "\\copy (SELECT * FROM portmilter.events WHERE node = 'node$k') TO '$PM_TMP/rows$k.copy'"
done
cat "$PM_TMP"/rows[1-4].copy >"$PM_TMP/rows.copy"
rec_sql "TRUNCATE portmilter.events; CHECKPOINT"
c0=$(pg_cpu_ms "$PM_TMP/pg")
t0=$(bench_ms)
rec_sql "\\copy portmilter.events FROM '$PM_TMP/rows.copy'"
t1=$(bench_ms)
c1=$(pg_cpu_ms "$PM_TMP/pg")
rw=$((t1 - t0)) rc=$((c1 - c0))
line "raw COPY, one" $((4 * N)) "$rw" "$rc"
rec_sql "TRUNCATE portmilter.events; CHECKPOINT"
c0=$(pg_cpu_ms "$PM_TMP/pg")
t0=$(bench_ms)
pids=
for k in $NODES; do
	rec_sql "\\copy portmilter.events FROM '$PM_TMP/rows$k.copy'" &
	pids="$pids $!"
done
for p in $pids; do
	wait "$p"
done
t1=$(bench_ms)
c1=$(pg_cpu_ms "$PM_TMP/pg")
pw=$((t1 - t0)) pc=$((c1 - c0))
line "raw COPY, 4 at once" $((4 * N)) "$pw" "$pc"
[ "$(rec_sql "SELECT count(*) FROM portmilter.events")" -eq $((4 * N)) ] ||
	die "the raw COPYs did not store $((4 * N)) rows"
awk -v s="$sw" -v r="$rw" -v p="$pw" -v sc="$sc" -v rc="$rc" -v pc="$pc" 'BEGIN {
	printf "aggregate shipping rate / raw COPY rate = %.2f (one COPY), %.2f (4 COPYs at once)\n", r / s, p / s
	printf "PostgreSQL CPU per row, shipping / raw COPY = %.2f (one COPY), %.2f (4 COPYs)\n", sc / (rc > 0 ? rc : 1), sc / (pc > 0 ? pc : 1)
}'

echo "== 3. disruption: SIGKILL of node 2 and a PostgreSQL restart in the load"
rec_sql "TRUNCATE portmilter.events"
t0=$(bench_ms)
for k in $NODES; do
	mn_load "$k" "$S" 10 4
done
mn_wait_answered 2 $((N / 4)) 600 || die "node 2: no progress"
a=$(mn_answered 2)
mn_kill9 2
mn_start 2 || die "node 2 did not start again"
echo "node 2 killed with SIGKILL after $a answered, started again"
mn_wait_answered 1 $((N / 2)) 600 || die "node 1: no progress"
a=$(mn_answered 1)
rec_pg_down
rec_pg_up || die "PostgreSQL did not start again"
echo "PostgreSQL restarted after $a answered on node 1 (now $(mn_answered 1))"
for k in $NODES; do
	eval "wait \$MN_LOADER_$k" || die "node $k: load: $(cat "$PM_TMP/load$k.err")"
	echo "node $k: $(cat "$PM_TMP/load$k.txt")"
done
want=0
for k in $NODES; do
	want=$((want + $(mn_answered "$k")))
done
rec_wait t "SELECT count(*) >= $want FROM portmilter.events" 900 ||
	die "the answered transactions not stored after 900 s ($REC_GOT)"
until drained; do sleep 0.1; done
t1=$(bench_ms)
echo "load and shipping with the disruptions: $((t1 - t0)) ms"
for k in $NODES; do
	if [ "$k" -eq 2 ]; then exact "$k" killed; else exact "$k" no; fi
done
if grep -q "deadlock detected\|could not serialize" "$PM_TMP/pg/log"; then
	die "a deadlock or serialization failure in PostgreSQL's log"
fi
echo "no deadlock or serialization failure in PostgreSQL's log"
stop_all
for f in "$PM_TMP"/n[1-4].*.log; do
	pm_log_clean "$f" || die "panic or fatal error in $f"
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
