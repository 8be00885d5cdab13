#!/bin/sh
# multinode.sh - three milter nodes shipping into one PostgreSQL at once,
# with PostgreSQL restarted and one node killed with SIGKILL (and started
# again) in the middle of the load: exact counts per node (TAP).
#
# Each node gets MN_S sessions of 10 transactions over 2 connections from
# bench/milter_load (the milter protocol, as Postfix speaks it), paced at
# MN_RATE a second so that the restart and the kill fall within it. Exact:
# for every node, each transaction whose end of message was answered is
# stored once; no row is stored twice; nodes 1 and 3 (never killed) have
# exactly their answered transactions; node 2 has those plus at most the
# ones in flight when it was killed (recorded or not, the client cannot
# know), and nothing else. The short version of bench/multinode-bench.sh.

set -u
. "${top_srcdir:?top_srcdir must be set}/tests/recorder/lib.sh"
. "$top_srcdir/tests/recorder/multinode-lib.sh"

MN_S=${MN_S:-150}		# sessions per node, 10 transactions each
MN_RATE=${MN_RATE:-200}		# transactions a second per node
[ -x "$MN_LOAD" ] || { echo "Bail out! $MN_LOAD is not built"; exit 99; }
rec_init
# shellcheck disable=SC2016,SC2034 # run by pm_cleanup: every node, then the cluster
PM_CLEANUP_HOOK='for k in 1 2 3; do mn_kill9 $k; done; pg_stop "$PM_TMP/pg"'

for k in 1 2 3; do
	mn_start "$k"
	tap_ok $? "node $k started"
done
for k in 1 2 3; do
	pm_wait_log "$PM_TMP/n$k.1.log" "shipper: connected to database" 100
	tap_ok $? "node $k: the shipper connected"
done
t0=$(date +%s%N)
per=$((MN_S * 10))
for k in 1 2 3; do
	mn_load "$k" "$MN_S" 10 2 "$MN_RATE"
done

# Both disruptions early in the load, so that they fall within it even
# on a slow build: node 2 killed, PostgreSQL stopped, node 2 started
# again while it is down, PostgreSQL started again.
mn_wait_answered 2 $((per / 5)) 30
a=$(mn_answered 2)
mn_kill9 2
[ "$a" -lt "$per" ]
tap_ok $? "node 2 killed with SIGKILL in the middle of its load ($a of $per answered)"
a=$(mn_answered 1)
rec_pg_down
mn_start 2
tap_ok $? "node 2 started again (PostgreSQL down)"
rec_pg_up
tap_ok $? "PostgreSQL restarted in the middle of the load ($a of $per answered on node 1 at the stop, $(mn_answered 1) at the start)"
[ "$a" -lt "$per" ]
tap_ok $? "... before the end of the load"

# wait_rows N SECS: until N rows are stored
wait_rows() {
	rec_wait t "SELECT count(*) >= $1 FROM portmilter.events" "$2"
}
for k in 1 2 3; do
	eval "wait \$MN_LOADER_$k"
	tap_ok $? "node $k: the load ran to its end: $(cat "$PM_TMP/load$k.txt")" ||
		tap_diag_file "$PM_TMP/load$k.err"
done
ms=$((($(date +%s%N) - t0) / 1000000))
# Everything answered is stored once the journals are shipped.
want=0
for k in 1 2 3; do
	want=$((want + $(mn_answered "$k")))
done
wait_rows "$want" 60
tap_ok $? "every answered transaction reached the database ($want; load and shipping took $ms ms)"
for k in 1 2 3; do
	_i=0
	while [ "$(cat "$PM_TMP/j$k"/*.seg 2>/dev/null | wc -c)" -ne 0 ] && [ "$_i" -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
done
sleep 0.3

for k in 1 2 3; do
	# shellcheck disable=SC2046 # seven numbers
	set -- $(mn_check "$k")
	# answered broken wrong rows distinct in_answered outside
	if [ "$k" -eq 2 ]; then
		[ "$3" -eq 0 ] && [ "$5" -eq "$4" ] && [ "$6" -eq "$1" ] &&
			[ "$7" -eq 0 ] && [ "$4" -ge "$1" ] && [ "$4" -le $(($1 + $2)) ]
		tap_ok $? "node 2 (killed): $1 answered all stored once, $4 rows, $2 in flight at the kill, none twice, nothing else"
	else
		[ "$2" -eq 0 ] && [ "$3" -eq 0 ] && [ "$4" -eq "$1" ] && [ "$5" -eq "$4" ] &&
			[ "$6" -eq "$1" ] && [ "$7" -eq 0 ] && [ "$1" -eq $((MN_S * 10)) ]
		tap_ok $? "node $k: exactly $((MN_S * 10)) rows, one per transaction sent: $*"
	fi
done
rec_is "one watermark row per node" "node1|node2|node3" \
	"SELECT string_agg(node, '|' ORDER BY node) FROM portmilter.ship_watermark"
for k in 1 2 3; do
	read -r cs co <"$PM_TMP/j$k/checkpoint"
	rec_is "node $k: its watermark is not past its checkpoint ($cs $co)" "t" \
		"SELECT (seg, off) <= ($((0x$cs)), $co) AND (seg, off) > (0, 0)
		 FROM portmilter.ship_watermark WHERE node = 'node$k'"
done
! grep -q "deadlock detected\|could not serialize" "$PM_TMP/pg/log"
tap_ok $? "no deadlock or serialization failure in PostgreSQL's log"

for k in 1 2 3; do	# all three stop at once
	eval "kill -TERM \$MN_PID_$k"
done
for k in 1 2 3; do
	mn_stop "$k"
	tap_ok $? "node $k stopped on SIGTERM with status 0"
done
for f in "$PM_TMP"/n[123].*.log; do
	pm_log_clean "$f" || { tap_diag "in $f"; false; break; }
done
tap_ok $? "no panic, fatal error or sanitizer report in the logs"
tap_plan
