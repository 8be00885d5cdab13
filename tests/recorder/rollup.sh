#!/bin/sh
# rollup.sh - the milter runs the rollups' catch-up (issue 14) (TAP).
#
# Events of three past days are inserted by hand (a backfill): those days
# are marked dirty. The milter starts and records one session: after
# shipping it, the catch-up thread (milter/catchup.c, as
# portmilter_writer, which may only INSERT events) runs the catch-up: the
# three days are rolled up
# and no past day is left dirty, today stays dirty (today is always read
# from the events), and `ports` over the last 8 days still equals the
# brute-force aggregate. The thread runs it in steps, one rollup of a
# day per transaction (rollup_catchup_step(), sql/025_catchup_steps.sql);
# without EXECUTE on that function it falls back to whole days; with
# EXECUTE on neither, it says so once and goes on shipping.

set -u
. "${top_srcdir:?top_srcdir must be set}/tests/recorder/lib.sh"

rec_init
rec_sql "INSERT INTO portmilter.events (event_id, event_time, conn_id, conn_time,
	kind, node, port, port_known, client_addr, sasl_method, sasl_user, nrcpt,
	nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused, verdict, credential_exposure)
	SELECT gen_random_uuid(), t, c, t, 'transaction', 'old', 587, true,
	       '198.51.100.9', 'PLAIN', 'back' || (i % 3), 1, 0, 0, 0, 'accepted', false
	FROM generate_series(1, 30) AS i,
	LATERAL (SELECT now() - make_interval(days => 2 + i % 3) AS t,
			gen_random_uuid() AS c) AS x" >/dev/null
rec_is "a backfill of three past days marks them dirty" "3" \
	"SELECT count(*) FROM portmilter.rollup_dirty
	 WHERE day < (now() AT TIME ZONE 'UTC')::date"

# play TAG: one accepted message on 587 (rec_submit).
play() { rec_submit "$1" roll@example.test 198.51.100.7; }

# The past days still dirty.
past_dirty="SELECT count(*) FROM portmilter.rollup_dirty
	    WHERE day < (now() AT TIME ZONE 'UTC')::date"

# again SQL DAYS TAG: the milter stopped, SQL run (the writer's
# privileges) and the day DAYS before today marked dirty, the milter
# started again and session TAG played.
again() {
	rec_stop
	rec_sql "$1; INSERT INTO portmilter.rollup_dirty (day) VALUES (current_date - $2)" \
		>/dev/null
	rec_start "$PM_TMP/portmilter.conf"
	play "$3"
}

rec_conf "$PM_TMP/portmilter.conf"
rec_start "$PM_TMP/portmilter.conf"
play one
if rec_wait "0" "$past_dirty" 20; then
	tap_ok 0 "after shipping, the milter caught the past days up ($((REC_WAITED / 10)).$((REC_WAITED % 10)) s)"
else
	tap_ok 1 "after shipping, the milter caught the past days up: $REC_GOT left"
	grep "shipper\|rollups" "$PM_LOG" | tail -n 5 | tap_diag_file -
fi
pm_wait_log "$PM_LOG" "rollups: 3 days caught up in" 50
tap_ok $? "the milter logged the catch-up"
rec_is "the three days are rolled up, today is not" "3|30|t" \
	"SELECT count(*), sum(transactions),
		EXISTS (SELECT FROM portmilter.rollup_dirty
			WHERE day = (now() AT TIME ZONE 'UTC')::date)
	 FROM portmilter.rollup_port_day"
rec_is "ports over 8 days (rollups and today's events) = brute force" "0" \
	"SELECT count(*) FROM (
	  (SELECT * FROM portmilter.port_traffic_between(now() - interval '8 days', now())
	   EXCEPT ALL SELECT * FROM portmilter.port_traffic_raw(now() - interval '8 days', now(), NULL))
	  UNION ALL
	  (SELECT * FROM portmilter.port_traffic_raw(now() - interval '8 days', now(), NULL)
	   EXCEPT ALL SELECT * FROM portmilter.port_traffic_between(now() - interval '8 days', now()))) AS x"

# The steps alone: without EXECUTE on rollup_catchup(integer), the
# milter still catches up (it never calls it while it has the steps).
again "REVOKE EXECUTE ON FUNCTION portmilter.rollup_catchup(integer) FROM portmilter_writer" 4 two
rec_wait "0" "$past_dirty" 20
tap_ok $? "with only rollup_catchup_step the milter catches up, in steps ($REC_GOT left)"

# Without the step function (a schema before 025, or no EXECUTE on it):
# whole days, rollup_catchup(1), as before.
again "GRANT EXECUTE ON FUNCTION portmilter.rollup_catchup(integer) TO portmilter_writer;
	REVOKE EXECUTE ON FUNCTION portmilter.rollup_catchup_step() FROM portmilter_writer" 5 three
rec_wait "0" "$past_dirty" 20
tap_ok $? "without EXECUTE on rollup_catchup_step the milter catches up whole days ($REC_GOT left)"
pm_wait_log "$PM_LOG" "rollups: 1 day caught up in" 50
tap_ok $? "... and logs the day"

# No EXECUTE on either: said once, shipping goes on.
again "REVOKE EXECUTE ON FUNCTION portmilter.rollup_catchup(integer) FROM portmilter_writer" 6 four
pm_wait_log "$PM_LOG" "rollups: no rollup catch-up in this database" 100
tap_ok $? "without EXECUTE on rollup_catchup the milter says so"
rec_wait "4" "SELECT count(*) FROM portmilter.events WHERE node <> 'old'" 20
tap_ok $? "... and ships on ($REC_GOT rows)"
rec_finish
