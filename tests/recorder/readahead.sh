#!/bin/sh
# readahead.sh - the shipper reads the next batch while the server works
# on the COPY of the one in hand (milter/shipper.c, "read ahead") (TAP).
#
# 1. N events (default 25,000: two full batches of 10,000 and a partial
#    one) journaled by bench/journal_bench before the start are stored
#    exactly once, every batch straight into events: none through the
#    staging table (a batch read ahead from the wrong place would repeat
#    or skip records; repeated ones would fail the direct COPY and be
#    staged, which the log says).
# 2. 2N more, and PostgreSQL stopped and started again once the first
#    batch of them is stored: the batch in hand fails with a batch read
#    ahead behind it, and both are shipped after the reconnection; still
#    exactly 3N rows, each once, and the journal drained.

set -u
. "${top_srcdir:?top_srcdir must be set}/tests/recorder/lib.sh"

N=${REC_N:-25000}
JB=${top_builddir:?top_builddir must be set}/bench/journal_bench
rec_init
if [ ! -x "$JB" ]; then
	echo "Bail out! $JB is not built"
	exit 99
fi
rec_conf "$PM_TMP/portmilter.conf"
count="SELECT count(*) FROM portmilter.events"

"$JB" "$REC_JOURNAL" "$N" >"$PM_TMP/jb.1.out" 2>&1
tap_ok $? "1. $N events journaled before the start" || tap_diag_file "$PM_TMP/jb.1.out"
rec_start "$PM_TMP/portmilter.conf"
rec_wait "$N" "$count" 120
tap_ok $? "1. all $N stored ($REC_GOT rows after $REC_WAITED tenths of a second)"
rec_is "1. each once (distinct event ids)" "$N" \
	"SELECT count(DISTINCT event_id) FROM portmilter.events"
! grep -E "already stored|before the watermark|staging table" "$PM_LOG" >"$PM_TMP/staged.1"
tap_ok $? "1. every batch shipped straight into events, none staged" ||
	tap_diag_file "$PM_TMP/staged.1"
rec_drained
tap_ok $? "1. the journal drained"
rec_stop

"$JB" "$REC_JOURNAL" $((2 * N)) >"$PM_TMP/jb.2.out" 2>&1
tap_ok $? "2. $((2 * N)) more journaled with the milter stopped" ||
	tap_diag_file "$PM_TMP/jb.2.out"
rec_start "$PM_TMP/portmilter.conf"
# The first batch of them stored: PostgreSQL goes down under the next.
first=$((N + 10000))
rec_wait t "SELECT count(*) >= $first FROM portmilter.events" 120
tap_ok $? "2. the first batch of them stored ($(rec_sql "$count") rows)"
rec_pg_down
down_at=$(sed -n '$=' "$PM_LOG")
sleep 1
rec_pg_up
tap_ok $? "2. PostgreSQL started again"
rec_wait $((3 * N)) "$count" 120
tap_ok $? "2. all $((3 * N)) stored after the restart ($REC_GOT rows)"
rec_is "2. each once (distinct event ids)" $((3 * N)) \
	"SELECT count(DISTINCT event_id) FROM portmilter.events"
sed -n "$((down_at + 1)),\$p" "$PM_LOG" | grep -q "shipper: connected to database"
tap_ok $? "2. the shipper reconnected after the restart" || tap_diag_file "$PM_LOG"
rec_drained
tap_ok $? "2. the journal drained"
rec_finish
