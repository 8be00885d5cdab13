#!/bin/sh
# watermark.sh - the shipping watermark (sql/011_ship.sql): batches COPYed
# straight into events, exactly once whatever the journal replays (TAP).
#
# A backlog journaled with the database down is saved aside (cp -a), then
# shipped: straight into events, the node's watermark row set. Putting
# the saved copy back is what a crash between the database's commit and
# the journal checkpoint leaves behind (or a snapshot restored):
#   1. the copy again: the direct COPY meets stored events (unique
#      violation), the batch goes through the staging table: nothing
#      stored twice; what follows goes straight in again;
#   2. the copy plus new events: only the new ones are added;
#   3. a watermark ahead of the batch (as after a commit whose outcome
#      was lost with the connection: set by hand, then a reconnection):
#      the batch goes through the staging table;
#   4. a writer that may not use the watermark (a schema before 011)
#      ships through the staging table.
# Rows are counted per sender tag (bench/milter_load: <TAG-SEQ@load.test>).

set -u
. "${top_srcdir:?top_srcdir must be set}/tests/recorder/lib.sh"
. "$top_srcdir/tests/recorder/multinode-lib.sh"

[ -x "$MN_LOAD" ] || { echo "Bail out! $MN_LOAD is not built"; exit 99; }
rec_init
rec_conf "$PM_TMP/portmilter.conf"

# load TAG N: N transactions with senders <TAG-SEQ@load.test>
load() {
	"$MN_LOAD" -c 1 -s "$(($2 / 10))" -t 10 "unix:$PM_TMP/pm.sock" "$1" \
		"$PM_TMP/$1.out" >"$PM_TMP/$1.txt" 2>&1 &&
		[ "$(grep -c '^a ' "$PM_TMP/$1.out")" -eq "$2" ]
}
# rows_is NAME WANT: one TAP case: the rows per tag, "tag=count ..."
rows_is() {
	rec_is "$1" "$2" "SELECT coalesce(string_agg(t || '=' || n, ' ' ORDER BY t), '')
		FROM (SELECT substring(sender from '^<([a-z0-9]+)-') AS t, count(*) AS n
		      FROM portmilter.events GROUP BY 1) s"
}
# restore: the saved journal back in place (the milter stopped)
restore() {
	rm -rf "$REC_JOURNAL" && cp -a "$PM_TMP/saved" "$REC_JOURNAL"
}
# shipped_log TEXT: the current log says TEXT within 10 s
shipped_log() {
	pm_wait_log "$PM_LOG" "$1" 100
}

# ---- a backlog, saved, then shipped -----------------------------------------
rec_pg_down
rec_start "$PM_TMP/portmilter.conf"
load aa 300
tap_ok $? "300 transactions journaled with the database down"
rec_kill9
cp -a "$REC_JOURNAL" "$PM_TMP/saved"
rec_pg_up
rec_start "$PM_TMP/portmilter.conf"
rec_wait 300 "SELECT count(*) FROM portmilter.events" 20
tap_ok $? "the 300 shipped ($REC_GOT)"
rec_drained
rec_is "the node's watermark row, moved" "rec-node-1|t" \
	"SELECT node, (seg, off) > (0, 0) FROM portmilter.ship_watermark"
! grep -q "staging table" "$PM_LOG"
tap_ok $? "shipped straight into events (no staging table named in the log)"
load ab 50 && rec_wait 350 "SELECT count(*) FROM portmilter.events" 20
tap_ok $? "50 more with the database up, shipped"
rec_kill9

# ---- 1. the saved journal again: a replay ------------------------------------
restore
rec_start "$PM_TMP/portmilter.conf"
shipped_log "shipping it through the staging table"
tap_ok $? "1. replayed journal: unique violation on the direct COPY, the batch is staged"
rec_drained
tap_ok $? "1. ... and the journal drained"
rows_is "1. nothing stored twice" "aa=300 ab=50"
load ac 20 && rec_wait 370 "SELECT count(*) FROM portmilter.events" 20
tap_ok $? "1. new events after it shipped ($REC_GOT rows)"
[ "$(grep -c "staging table" "$PM_LOG")" -eq 1 ]
tap_ok $? "1. ... straight into events"
rec_kill9

# ---- 2. the saved journal plus new events -------------------------------------
restore
rec_pg_down
rec_start "$PM_TMP/portmilter.conf"
load ad 40
tap_ok $? "2. 40 new transactions journaled behind the replayed ones"
rec_pg_up
rec_wait 410 "SELECT count(*) FROM portmilter.events" 20
tap_ok $? "2. the new ones shipped ($REC_GOT rows)"
rec_drained
rows_is "2. only the new ones stored" "aa=300 ab=50 ac=20 ad=40"

# ---- 3. a watermark ahead of the batch ----------------------------------------
rec_sql "UPDATE portmilter.ship_watermark SET seg = 999999" >/dev/null
rec_pg_down
load ae 30
rec_pg_up
shipped_log "a batch from before the watermark"
tap_ok $? "3. a batch behind the watermark (re-read at the reconnection) is staged"
rec_wait 440 "SELECT count(*) FROM portmilter.events" 20
tap_ok $? "3. ... and stored ($REC_GOT rows)"
rec_kill9

# ---- 4. no watermark for the writer: a schema before 011 -----------------------
rec_sql "REVOKE ALL ON portmilter.ship_watermark FROM portmilter_writer" >/dev/null
rec_start "$PM_TMP/portmilter.conf"
shipped_log "no shipping watermark in this database"
tap_ok $? "4. without the watermark the shipper says so"
load af 30 && rec_wait 470 "SELECT count(*) FROM portmilter.events" 20
tap_ok $? "4. ... and ships through the staging table ($REC_GOT rows)"
rows_is "every event once" "aa=300 ab=50 ac=20 ad=40 ae=30 af=30"

rec_finish
