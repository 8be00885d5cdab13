#!/bin/sh
# catchup.sh - the rollups' catch-up runs in a thread of its own
# (milter/catchup.c): shipping never waits for a step, and a stop does
# not wait for one either (TAP).
#
# A slow step is put first in the registry of the day's rollups
# (portmilter.rollup_steps, sql/025_catchup_steps.sql): a function that
# sleeps 30 s, the time read from a table. A past day is marked dirty.
# The milter ships a first session, which starts the catch-up: its first
# step, on the day, sleeps. Sessions played meanwhile must be stored
# within 3 s, while the step still runs (when the shipper ran the
# catch-up itself they waited for the step's end). SIGTERM during the
# step: the milter exits within 10 s with status 0, the step is
# cancelled on the server (no backend left sleeping), its transaction
# rolled back (the day's mark unchanged); after a restart, with the
# step fast, the day is caught up. A day marked right after a round
# waits for the next one (60 s later: the pacing), and a reload with
# another conninfo closes the catch-up's connection at once.

set -u
. "${top_srcdir:?top_srcdir must be set}/tests/recorder/lib.sh"

rec_init
rec_sql "CREATE TABLE public.catchup_sleep (secs float8 NOT NULL);
	INSERT INTO public.catchup_sleep VALUES (30);
	CREATE FUNCTION public.catchup_slow(d date) RETURNS void
	LANGUAGE plpgsql AS \$\$
	BEGIN
		PERFORM pg_catalog.pg_sleep((SELECT s.secs FROM public.catchup_sleep AS s));
	END
	\$\$;
	INSERT INTO portmilter.rollup_steps (ord, fn)
	VALUES (5, 'public.catchup_slow(date)'::regprocedure);
	INSERT INTO portmilter.rollup_dirty (day) VALUES (current_date - 3)" >/dev/null
rec_is "a slow first step registered, a past day marked dirty" "1|1" \
	"SELECT (SELECT count(*) FROM portmilter.rollup_steps WHERE ord < 10),
		count(*) FROM portmilter.rollup_dirty
	 WHERE day < (now() AT TIME ZONE 'UTC')::date"

# play TAG: one accepted message on 587 (rec_submit).
play() { rec_submit "$1" catch@example.test 198.51.100.8; }

# The backends running a catch-up step that sleeps.
sleeping="SELECT count(*) FROM pg_stat_activity
	  WHERE wait_event = 'PgSleep' AND query LIKE '%rollup_catchup_step%'"
# ms since the epoch
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

rec_conf "$PM_TMP/portmilter.conf"
rec_start "$PM_TMP/portmilter.conf"
play first
rec_wait 1 "$sleeping" 10
tap_ok $? "the first shipped batch starts the catch-up: its slow step runs ($((REC_WAITED / 10)).$((REC_WAITED % 10)) s)"
t0=$(now_ms)
play during1 && play during2 && play during3
tap_ok $? "three sessions played during the step"
rec_wait 3 "SELECT count(*) FROM portmilter.events WHERE sender LIKE '<during%'" 3
tap_ok $? "... stored within 3 s, not after the step ($REC_GOT rows, $(($(now_ms) - t0)) ms after the first was played)"
rec_is "... while the step still runs" "1" "$sleeping"
rec_is "the step runs on the catch-up's own connection" "portmilter-rollups" \
	"SELECT string_agg(application_name, ',') FROM pg_stat_activity
	 WHERE wait_event = 'PgSleep'"

# SIGTERM during the step.
t0=$(now_ms)
pm_stop 200
killed=$?
ms=$(($(now_ms) - t0))
[ "$killed" -eq 0 ] && [ "$PM_STATUS" -eq 0 ] && [ "$ms" -lt 10000 ]
tap_ok $? "SIGTERM during the step: stopped within 10 s with status 0 (status $PM_STATUS, $ms ms)"
grep -q "rollups: the catch-up step running was cancelled by the stop" "$PM_LOG"
tap_ok $? "... the step cancelled, said in the log"
rec_wait 0 "$sleeping" 3
tap_ok $? "... and on the server: no backend left in the step ($REC_GOT)"
rec_is "... its transaction rolled back: the day still dirty, no step done" \
	"0|t" "SELECT step, step_gen IS NULL FROM portmilter.rollup_dirty
	 WHERE day = current_date - 3"

# The step fast again: the next start catches the day up.
rec_sql "UPDATE public.catchup_sleep SET secs = 0" >/dev/null
rec_start "$PM_TMP/portmilter.conf"
play after
rec_wait 0 "SELECT count(*) FROM portmilter.rollup_dirty
	    WHERE day < (now() AT TIME ZONE 'UTC')::date" 20
tap_ok $? "after a restart the cancelled step is run again, the day caught up ($REC_GOT left)"
pm_wait_log "$PM_LOG" "rollups: 1 day caught up in" 50
tap_ok $? "... and logged"

# Rounds are paced: a day marked right after one waits for the next,
# CATCHUP_EVERY (60 s) after it, however many batches are shipped.
rec_sql "INSERT INTO portmilter.rollup_dirty (day) VALUES (current_date - 5)" >/dev/null
play paced
rec_wait 1 "SELECT count(*) FROM portmilter.events WHERE sender = '<paced@example.test>'" 5
tap_ok $? "a session shipped right after the round"
sleep 3
rec_is "... the day marked meanwhile still waits for the next round" "1" \
	"SELECT count(*) FROM portmilter.rollup_dirty
	 WHERE day < (now() AT TIME ZONE 'UTC')::date"

# A reload with another conninfo closes the catch-up's connection at
# once (the next round connects with the new one).
rollups_conn="SELECT string_agg(usename, ',') FROM pg_stat_activity
	      WHERE application_name = 'portmilter-rollups'"
rec_is "the catch-up's connection, idle between rounds" "pm_milter" "$rollups_conn"
rec_sql "CREATE ROLE pm_milter2 LOGIN IN ROLE portmilter_writer" >/dev/null
conninfo=$REC_CONNINFO
REC_CONNINFO="host=$PGHOST port=$PGPORT dbname=portmilter user=pm_milter2"
rec_conf "$PM_TMP/portmilter.conf"
REC_CONNINFO=$conninfo
kill -HUP "$PM_PID"
pm_wait_log "$PM_LOG" ": reloaded " 50
tap_ok $? "SIGHUP with another database conninfo: reloaded"
rec_wait "\\N" "$rollups_conn" 3
tap_ok $? "... the catch-up's connection to the old one closed at once ($REC_GOT)"

rec_is "every session stored once" "after=1 during1=1 during2=1 during3=1 first=1 paced=1" \
	"SELECT string_agg(t || '=' || n, ' ' ORDER BY t)
	 FROM (SELECT substring(sender from '^<([a-z0-9]+)@') AS t, count(*) AS n
	       FROM portmilter.events GROUP BY 1) AS x"
rec_finish
