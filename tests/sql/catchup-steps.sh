#!/bin/sh
# shellcheck disable=SC2154 # cols: set by tests/lib/rollgen.sh (sourced)
# catchup-steps.sh - the rollups' catch-up in steps (sql/025_catchup_steps.sql,
# issue 14) (TAP).
#
# Random events of a few days (tests/lib/rollgen.sh), then the step
# function by hand on the oldest dirty day: each call does one rollup of
# rollup_steps and says how many are left; the mark stays until the last
# and the reports stay exact while the day is half done; a row written
# to the day between two steps sends it back to the first step; the last
# step takes the mark away. The rollups a day gets in steps are the ones
# rollup_catchup() gives it in one transaction (every rollup table
# compared). A day a writer holds is skipped; nothing to do is NULL.
# One session running every step seven times plans each for its day
# (026: no generic plans).

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
# shellcheck disable=SC2034 # read by rg_begin (tests/lib/rollgen.sh)
report=${PORTMILTER_REPORT:-$builddir/report/portmilter-report}
# shellcheck disable=SC2034 # read by rg_begin (tests/lib/rollgen.sh)
sqldir=$srcdir/sql
. "$srcdir/tests/lib/pg.sh"
. "$srcdir/tests/lib/rollgen.sh"

tmp='' n=0	# both set by pg_test_begin (tests/lib/pg.sh)
if [ -n "${PM_SQL_ONCE:-}" ]; then
	tap_skip_all "SQL alone, run in the other build (PM_SQL_ONCE)"
fi
pg_test_begin catchup-steps	# skip, psql, $tmp and its cleanup, ok/not_ok

# check STATUS NAME: ok when STATUS is 0.
check() { if [ "$1" -eq 0 ]; then ok "$2"; else not_ok "$2"; fi; }

rg_begin

day0=$(sql -c "SELECT (now() AT TIME ZONE 'UTC')::date - 6")
rg_gen "$day0 00:00+00" 4 300 20 "('192.0.2.' || (random() * 30)::int)::inet"
rg_write

# The expected steps: every rollup of a day the tree's migrations define.
sql_is "rollup_steps lists the five rollups of a day, in order" \
	"rollup_day,rollup_day_keys,rollup_day_tls,rollup_day_addr,rollup_day_preview" \
	-c "SELECT string_agg(p.proname, ',' ORDER BY s.ord)
	    FROM portmilter.rollup_steps AS s JOIN pg_proc AS p ON p.oid = s.fn"
nsteps=5

d=$(sql -c "SELECT min(day) FROM portmilter.rollup_dirty")
sql_is "the oldest dirty day ($d) has events, no step done" "t|0" \
	-c "SELECT EXISTS (SELECT FROM portmilter.events
			   WHERE event_time >= '$d' AND event_time < '$d'::date + 1), step
	    FROM portmilter.rollup_dirty WHERE day = '$d'"

# exact: how many rows of `ports` differ between the rollups and the
# events, over the days from $d (the oldest dirty day: rollgen moves a
# few rows three years back) to now
exact() {
	sql -c "SELECT count(*) FROM (
	  (SELECT * FROM portmilter.port_traffic_between('$d', now())
	   EXCEPT ALL SELECT * FROM portmilter.port_traffic_raw('$d', now(), NULL))
	  UNION ALL
	  (SELECT * FROM portmilter.port_traffic_raw('$d', now(), NULL)
	   EXCEPT ALL SELECT * FROM portmilter.port_traffic_between('$d', now()))) AS x"
}

sql_is "the first step: $((nsteps - 1)) left" "$((nsteps - 1))" \
	-c "SELECT portmilter.rollup_catchup_step()"
sql_is "... the mark stays, one step done at its gen" "1|t" \
	-c "SELECT step, step_gen = gen FROM portmilter.rollup_dirty WHERE day = '$d'"
got=$(exact)
[ "$got" = 0 ]
check $? "ports over the window = brute force with the day half done ($got rows differ)"

sql_is "the second step: $((nsteps - 2)) left" "$((nsteps - 2))" \
	-c "SELECT portmilter.rollup_catchup_step()"

# A late row of that day: its mark's gen moves, the steps start again.
sql -c "INSERT INTO portmilter.events ($cols)
	SELECT gen_random_uuid(), event_time + interval '1 second', conn_id, conn_time,
	       kind, node, port, port_known, client_addr, tls_version, sasl_method,
	       sasl_user, nrcpt, 0, 0, 0, verdict, rule, credential_exposure
	FROM portmilter.events
	WHERE event_time >= '$d' AND event_time < '$d'::date + 1
	ORDER BY event_time LIMIT 3" >/dev/null
sql_is "a late row of the day: the steps start again ($((nsteps - 1)) left)" \
	"$((nsteps - 1))" -c "SELECT portmilter.rollup_catchup_step()"
sql_is "... one step done at the new gen" "1|t|t" \
	-c "SELECT step, step_gen = gen, gen > 0 FROM portmilter.rollup_dirty WHERE day = '$d'"

left=''
i=0
while [ $i -lt $((nsteps - 1)) ]; do
	left="$left$(sql -c "SELECT portmilter.rollup_catchup_step()") "
	i=$((i + 1))
done
want=''
i=$((nsteps - 2))
while [ $i -ge 0 ]; do want="$want$i "; i=$((i - 1)); done
[ "$left" = "$want" ]
check $? "the other steps count down to 0 ($left)"
sql_is "the last step took the mark away, a later day is the oldest" "f|t" \
	-c "SELECT EXISTS (SELECT FROM portmilter.rollup_dirty WHERE day = '$d'),
		   (SELECT min(day) FROM portmilter.rollup_dirty) > '$d'"
got=$(exact)
[ "$got" = 0 ]
check $? "ports over the window = brute force with the day rolled up ($got rows differ)"

# Every rollup table, as text, sorted: what the steps left for the day.
snap() {
	sql -c "CREATE FUNCTION pg_temp.h(oid) RETURNS text LANGUAGE plpgsql AS \$\$
	DECLARE h text;
	BEGIN
		EXECUTE format('SELECT md5(coalesce(string_agg(t::text, ''|'' ORDER BY t::text), '''')) FROM %s AS t', \$1::regclass)
		INTO h;
		RETURN h;
	END \$\$;
	SELECT string_agg(c.relname || ':' || pg_temp.h(c.oid), ' ' ORDER BY c.relname)
	FROM pg_class AS c JOIN pg_namespace AS s ON s.oid = c.relnamespace
	WHERE s.nspname = 'portmilter' AND c.relkind = 'r'
	  AND c.relname LIKE 'rollup%' AND c.relname NOT IN ('rollup_dirty', 'rollup_steps')" |
		tail -n 1
}
s1=$(snap)
sql -c "INSERT INTO portmilter.rollup_dirty (day) VALUES ('$d')" >/dev/null
sql_is "the same day again in one transaction (rollup_catchup(1))" "1" \
	-c "SELECT portmilter.rollup_catchup(1)"
s2=$(snap)
[ -n "$s1" ] && [ "$s1" = "$s2" ]
check $? "every rollup table is the same after the steps as after rollup_catchup ($(echo "$s1" | wc -w) tables)"
if [ "$s1" != "$s2" ]; then
	printf '%s\n' "$s1" | tr ' ' '\n' >"$tmp/s1"
	printf '%s\n' "$s2" | tr ' ' '\n' >"$tmp/s2"
	diff "$tmp/s1" "$tmp/s2" | sed 's/^/# /'
fi

# A day a writer holds (its mark locked until it commits) is left alone:
# a writer's mark, held 5 s by a second session.
d2=$(sql -c "SELECT min(day) FROM portmilter.rollup_dirty")
sql -c "BEGIN;
	INSERT INTO portmilter.rollup_dirty AS r (day) VALUES ('$d2')
	ON CONFLICT (day) DO UPDATE SET gen = r.gen + 1;
	SELECT pg_sleep(5);
	COMMIT" >/dev/null 2>&1 &
holder=$!
i=0
while [ $i -lt 50 ] && [ "$(sql -c "SELECT count(*) FROM pg_stat_activity
	WHERE state = 'active' AND query LIKE '%pg_sleep(5)%' AND pid <> pg_backend_pid()")" != 1 ]; do
	sleep 0.1; i=$((i + 1))
done
got=$(sql -c "SELECT coalesce(portmilter.rollup_catchup_step()::text, 'null')")
held_step=$(sql -c "SELECT step FROM portmilter.rollup_dirty WHERE day = '$d2'")
wait $holder
[ "$held_step" = 0 ] && [ "$got" != null ]
check $? "a day a writer holds is left alone, the next one taken (its step $held_step; the call: $got)"

# To the end: NULL when nothing is left.
sql -c 'DO $$ BEGIN
	WHILE portmilter.rollup_catchup_step() IS NOT NULL LOOP COMMIT; END LOOP; END $$' >/dev/null
sql_is "to the end: no past day dirty, the step function says NULL" "0|null" \
	-c "SELECT (SELECT count(*) FROM portmilter.rollup_dirty
		    WHERE day < (now() AT TIME ZONE 'UTC')::date),
		   coalesce(portmilter.rollup_catchup_step()::text, 'null')"
got=$(exact)
[ "$got" = 0 ]
check $? "ports over the window = brute force once caught up ($got rows differ)"

# Custom plans (026): one session catching up day after day, as the
# milter's catch-up thread and `maintain` do, must plan each step's
# statements for the day at hand. PL/pgSQL would otherwise switch to a
# generic plan after five runs, in which the day is a parameter ($1 in
# a plan's conditions): 2.4 times as slow at 10 M events a year. Every
# step of a day run seven times in one session through
# rollup_step_run() (both catch-ups run their steps through it), every
# plan logged.
sql -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 0" \
	-c "SET auto_explain.log_nested_statements = on" \
	-c "SET auto_explain.log_level = warning" -c "DO \$\$
	DECLARE
		f regprocedure;
	BEGIN
		FOR i IN 1..7 LOOP
			FOR f IN SELECT s.fn FROM portmilter.rollup_steps AS s ORDER BY s.ord LOOP
				PERFORM portmilter.rollup_step_run(f, '$d');
			END LOOP;
			COMMIT;
		END LOOP;
	END \$\$" >"$tmp/plans.out" 2>"$tmp/plans"
nplans=$(grep -c 'duration: .* plan:' "$tmp/plans")
generic=$(grep -E '(Cond|Filter): .*[$][0-9]' "$tmp/plans" | sort | uniq -c | sort -rn)
if [ "$nplans" -gt 500 ] && [ -z "$generic" ]; then
	ok "each step of a day seven times in one session: $nplans plans, all made for the day"
else
	printf 'plans logged: %s\nconditions with a parameter (generic plans):\n%s\n' \
		"$nplans" "$generic" | head -n 40 >"$tmp/diff"
	not_ok "each step of a day seven times in one session: every plan made for the day" \
		"$tmp/diff" "$tmp/plans.out"
fi
# An INSERT into a table of a day's rows (rollup_*_day) or into
# rollup_user_names never reads that table while it inserts (026): the
# rows to insert are picked before the insert starts (a temporary table,
# or an InitPlan: evaluated whole before the first row). An INSERT ...
# WHERE NOT EXISTS (SELECT FROM the same table), planned while the table
# was empty (a new database's first days), ran as a nested loop over a
# sequential scan of the table growing under it: quadratic in a day's
# rows (a day of 1,000,000 events still rolling up after 12 minutes). In
# the plans logged above: every "Insert on T" with a scan "on T " outside
# an InitPlan. (The upserts of rollup_users, rollup_ips, rollup_last and
# rollup_conn_days read their table in DELETE or UPDATE sub-statements,
# or behind a DISTINCT that takes all its input before the first row
# goes out: not this pattern.)
selfread=$(awk '
	function check(   n, i, l, t, tabs, hit, ind, init, initind) {
		n = split(block, l, "\n")
		for (i = 1; i <= n; i++)
			if (match(l[i], /Insert on rollup_[a-z_]*(_day|user_names) /)) {
				t = substr(l[i], RSTART + 10, RLENGTH - 11)
				tabs[t] = 1
			}
		for (i = 1; i <= n; i++) {
			ind = match(l[i], /[^ \t]/) - 1
			if (l[i] ~ /^[ \t]*InitPlan /) {
				init = 1; initind = ind; continue
			}
			if (init && ind <= initind)
				init = 0
			if (!init && l[i] ~ /Scan/)
				for (t in tabs)
					if (index(l[i] " ", " on " t " "))
						hit = hit "  " t ": " l[i] "\n"
		}
		if (hit != "")
			printf "%s%s", query, hit
	}
	/duration: .* plan:/ { check(); block = ""; query = ""; next }
	/Query Text:/ { query = $0 "\n" }
	{ block = block "\n" $0 }
	END { check() }' "$tmp/plans")
if [ -z "$selfread" ] && grep -q "Insert on rollup_addr_day " "$tmp/plans" &&
   grep -q "Insert on rollup_user_names " "$tmp/plans"; then
	ok "no INSERT of a day's rows or user names reads its own table"
else
	printf '%s\n' "${selfread:-no plan of an INSERT into rollup_addr_day or rollup_user_names logged}" |
		head -n 40 >"$tmp/diff"
	not_ok "no INSERT of a day's rows or user names reads its own table" "$tmp/diff"
fi
got=$(exact)
[ "$got" = 0 ]
check $? "ports over the window = brute force after those seven ($got rows differ)"

echo "1..$n"
