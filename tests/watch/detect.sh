#!/bin/sh
# detect.sh - portmilter-watch against a real PostgreSQL (TAP).
#
# A throwaway cluster (tests/lib/pg.sh), the migrations, a login role
# granted only portmilter_watch (the daemon runs as it), synthetic events
# with timestamps relative to now() (tests/watch/fixture.sql): a hijacked
# account (40 addresses in 40 networks in 20 minutes), a normal user
# (home, phone, one trip), a bulk sender in its limit_classes class, a
# burst far above a user's own baseline, an address spraying 50 users.
# Then two watch daemons (1 s cycle) on that database: what fired, once;
# the suspension; the stand-by taking over; an event-to-alert latency; a
# resolved notice; portmilter-report alerts; the configuration checks
# (-n, errors with file:line, the milter and portmilter-conf accepting
# the sections); the EXPLAIN of every detector with sequential scans off.
#
# Environment (set by the automake harness): top_srcdir, top_builddir,
# PG_BINDIR.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
watch=$builddir/watch/portmilter-watch
report=$builddir/report/portmilter-report
milter=$builddir/milter/portmilter
conf=$builddir/postfix-conf/portmilter-conf
. "$srcdir/tests/lib/pg.sh"

tmp='' n=0	# both set by pg_test_begin
pg_test_begin watch
pids=''
# Stop our daemons (and only them) before the cluster goes.
stop_all() {
	for _p in $pids; do
		kill "$_p" 2>/dev/null
	done
	wait
	pg_stop "$tmp"
	rm -rf "$tmp"
}
trap stop_all EXIT

if [ ! -x "$watch" ] || [ ! -x "$report" ]; then
	echo "Bail out! portmilter-watch or portmilter-report is not built"
	exit 1
fi
if ! pg_start "$tmp" 2>"$tmp/pg_start.err"; then
	sed 's/^/# /' "$tmp/pg_start.err"
	echo "Bail out! cannot start PostgreSQL"
	exit 1
fi
psqlq() { psql -X -q -v ON_ERROR_STOP=1 -At -d portmilter "$@"; }
if ! "$report" -d dbname=portmilter migrate --sql-dir "$srcdir/sql" \
	>"$tmp/migrate.out" 2>&1 ||
   ! psqlq -c "CREATE ROLE pm_watch LOGIN; GRANT portmilter_watch TO pm_watch" \
	>>"$tmp/migrate.out" 2>&1 ||
   ! psqlq -f "$srcdir/tests/watch/fixture.sql" >>"$tmp/migrate.out" 2>&1; then
	sed 's/^/# /' "$tmp/migrate.out"
	echo "Bail out! cannot set the database up"
	exit 1
fi

# is NAME WANT SQL: the query prints exactly WANT.
is() {
	got=$(psqlq -c "$3" 2>&1)
	if [ "$got" = "$2" ]; then
		ok "$1"
	else
		printf 'wanted: %s\ngot:    %s\n' "$2" "$got" >"$tmp/diff"
		not_ok "$1" "$tmp/diff"
	fi
}
# wait_for WANT SQL SECS: poll until the query prints WANT; $waited (0.1 s).
wait_for() {
	waited=0
	while [ "$waited" -lt $(($3 * 10)) ]; do
		[ "$(psqlq -c "$2" 2>/dev/null)" = "$1" ] && return 0
		sleep 0.1
		waited=$((waited + 1))
	done
	return 1
}

printf 'class bulk limit_messages = 5000/1h\nclass bulk limit_recipients = 100000/1h\nbulk@example.test bulk\n' \
	>"$tmp/classes"
cat >"$tmp/watch.conf" <<EOF
database = host=$PGHOST port=$PGPORT dbname=portmilter user=pm_watch
node_name = watch-test
limit_classes = $tmp/classes
[port 587]
mode = submission
[watch]
interval = 1s
syslog = yes
[detector many_places]
action = suspend
[port 5870]
like = 587
[detector auth_spray]
window = 1h
cooldown = 1h
EOF

# ---- configuration --------------------------------------------------------
"$watch" -n -c "$tmp/watch.conf" >"$tmp/n.out" 2>&1
if [ $? -eq 0 ] && grep -q '^many_places  *yes  *6  *1h  *suspend' "$tmp/n.out" &&
   grep -q '^new_place .*off: needs geoip' "$tmp/n.out"; then
	ok "-n accepts the file and prints the detectors (new_place off without geo)"
else
	not_ok "-n accepts the file and prints the detectors" "$tmp/n.out"
fi
if "$milter" -n -c "$tmp/watch.conf" >"$tmp/mn.out" 2>&1 &&
   "$conf" -c "$tmp/watch.conf" main >"$tmp/cn.out" 2>&1; then
	ok "the milter and portmilter-conf accept the [watch] and [detector] sections"
else
	not_ok "the milter and portmilter-conf accept the sections" "$tmp/mn.out" "$tmp/cn.out"
fi
{ cat "$tmp/watch.conf"; printf '[detector volume]\nfloor = 3x\nbogus = 1\n[detector nosuch]\n'; } \
	>"$tmp/bad.conf"
"$watch" -n -c "$tmp/bad.conf" >"$tmp/bad.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q 'bad.conf:17: .*bad value "3x" for floor' "$tmp/bad.out" &&
   grep -q 'bad.conf:18: unknown key "bogus" in \[detector volume\]' "$tmp/bad.out" &&
   grep -q 'bad.conf:19: unknown detector "nosuch"' "$tmp/bad.out"; then
	ok "-n: each error with file and line, exit 1"
else
	not_ok "-n: each error with file and line, exit 1 (got $rc)" "$tmp/bad.out"
fi

# ---- EXPLAIN: every detector has an index path -----------------------------
PGOPTIONS='-c enable_seqscan=off' "$watch" -x -c "$tmp/watch.conf" >"$tmp/x.out" 2>&1
if [ $? -eq 0 ] && [ "$(grep -c '^detector ' "$tmp/x.out")" -eq 8 ] &&
   ! grep -q 'Seq Scan on events' "$tmp/x.out"; then
	ok "EXPLAIN: 8 detectors, no sequential scan of events"
else
	not_ok "EXPLAIN: 8 detectors, no sequential scan of events" "$tmp/x.out"
fi

# ---- two instances --------------------------------------------------------
"$watch" -f -c "$tmp/watch.conf" >"$tmp/w1.log" 2>&1 &
w1=$!
pids="$w1"
sleep 0.5
"$watch" -f -c "$tmp/watch.conf" >"$tmp/w2.log" 2>&1 &
w2=$!
pids="$pids $w2"

if wait_for 1 "SELECT count(*) FROM portmilter.alerts WHERE detector = 'auth_spray'" 10; then
	sleep 3	# three more cycles of both daemons
	ok "the first evaluation alerted (after $waited tenths of a second)"
else
	not_ok "the first evaluation alerted" "$tmp/w1.log" "$tmp/w2.log"
fi
is "hijacked account: many_places fired once, suspended, networks in the evidence" \
	"user|hijacked@example.test|t|40|40" \
	"SELECT subject_kind, subject, suspended, evidence->>'networks', evidence->>'addresses'
	 FROM portmilter.alerts WHERE detector = 'many_places'"
is "the suspension names the detector" \
	"user|hijacked@example.test|portmilter-watch: many_places|portmilter-watch@watch-test" \
	"SELECT kind, subject, reason, created_by FROM portmilter.suspensions_active"
is "spraying address: auth_spray fired once, 50 users" \
	"address|192.0.2.99|50|100" \
	"SELECT subject_kind, subject, evidence->>'users', evidence->>'failures'
	 FROM portmilter.alerts WHERE detector = 'auth_spray'"
is "burst far above the user's own baseline: volume fired once" \
	"burst@example.test|300" \
	"SELECT subject, evidence->>'messages' FROM portmilter.alerts WHERE detector = 'volume'"
is "guessing one account: auth_guess fired once, 25 failures from 3 addresses" \
	"guessed@example.test|25|3" \
	"SELECT subject, evidence->>'failures', evidence->>'addresses'
	 FROM portmilter.alerts WHERE detector = 'auth_guess'"
is "spam to a bad list: refusals fired once, 40 of 50 refused" \
	"spammer@example.test|40|10" \
	"SELECT subject, evidence->>'refused_recipients', evidence->>'accepted_recipients'
	 FROM portmilter.alerts WHERE detector = 'refusals'"
is "a budget hit 4 times (1 in monitor mode): budget_hits fired once" \
	"pusher@example.test|4|1" \
	"SELECT subject, evidence->>'hits', evidence->>'monitor_only'
	 FROM portmilter.alerts WHERE detector = 'budget_hits'"
is "normal user, a typo, bulk sender in its class: no alert" "0" \
	"SELECT count(*) FROM portmilter.alerts
	 WHERE subject IN ('normal@example.test', 'bulk@example.test', 'typo@example.test')"
is "six alerts in all, none twice (two daemons, several cycles)" "6" \
	"SELECT count(*) FROM portmilter.alerts"
is "one syslog delivery queued per alert" "6|syslog" \
	"SELECT count(*), min(channel) FROM portmilter.alert_deliveries"
if [ "$(grep -c 'leader: node' "$tmp/w1.log" "$tmp/w2.log" | awk -F: '{ s += $2 } END { print s }')" -eq 1 ] &&
   grep -q 'standing by' "$tmp/w2.log"; then
	ok "one leader, the other stands by"
else
	not_ok "one leader, the other stands by" "$tmp/w1.log" "$tmp/w2.log"
fi

# ---- the leader dies: the other takes over, and measures a latency --------
kill "$w1"
wait "$w1"
st=$?
pids="$w2"
if [ "$st" -eq 0 ] &&
   { i=0; while [ $i -lt 50 ] && ! grep -q 'leader: node' "$tmp/w2.log"; do sleep 0.1; i=$((i + 1)); done;
     grep -q 'leader: node' "$tmp/w2.log"; }; then
	ok "SIGTERM stops the leader (status 0), the stand-by takes over"
else
	not_ok "the stand-by takes over (status $st)" "$tmp/w1.log" "$tmp/w2.log"
fi
psqlq -c "SELECT pmt_ev(NULL, '192.0.2.77', now(), 'exposure', 'rejected', 0, 'tls_before_auth', true)" >/dev/null
if wait_for 1 "SELECT count(*) FROM portmilter.alerts WHERE detector = 'exposure'" 10; then
	ok "exposure without a user name: alert on the address, $waited tenths of a second after the event"
	tap_lat=$waited
else
	not_ok "exposure alert within 10 s" "$tmp/w2.log"
	tap_lat=
fi
is "exposure: subject is the address" "address|192.0.2.77" \
	"SELECT subject_kind, subject FROM portmilter.alerts WHERE detector = 'exposure'"

# ---- resolved: the spraying stops (its events gone from the window) -----
psqlq -c "DELETE FROM portmilter.events WHERE client_addr = '192.0.2.99'" >/dev/null
if wait_for 1 "SELECT count(*) FROM portmilter.alerts WHERE state = 'resolved' AND detector = 'auth_spray'" 10; then
	ok "a resolved notice when the condition clears"
else
	not_ok "a resolved notice when the condition clears" "$tmp/w2.log"
fi
psqlq -c "SELECT pmt_ev('victim' || u || '@example.test', '192.0.2.99', now(), 'auth_failure', 'rejected', 0)
	FROM generate_series(1, 50) AS u" >/dev/null
sleep 2.5
is "the same condition again within the cool-down: no new alert" "1" \
	"SELECT count(*) FROM portmilter.alerts WHERE detector = 'auth_spray' AND state = 'fired'"

# ---- SIGHUP: a bad file is refused and logged, a good one taken ---------
cp "$tmp/watch.conf" "$tmp/watch.conf.good"
printf '[detector volume]\nfloor = none\n' >>"$tmp/watch.conf"
kill -HUP "$w2"
i=0
while [ $i -lt 50 ] && ! grep -q 'keeping the running settings' "$tmp/w2.log"; do
	sleep 0.1; i=$((i + 1))
done
cp "$tmp/watch.conf.good" "$tmp/watch.conf"
kill -HUP "$w2"
i=0
while [ $i -lt 50 ] && ! grep -q 'reloaded' "$tmp/w2.log"; do
	sleep 0.1; i=$((i + 1))
done
if grep -q 'watch.conf:17: bad value "none" for floor' "$tmp/w2.log" &&
   grep -q 'keeping the running settings' "$tmp/w2.log" &&
   grep -q 'reloaded' "$tmp/w2.log" && kill -0 "$w2" 2>/dev/null; then
	ok "SIGHUP: a file with errors is logged (file:line) and refused, a good one taken"
else
	not_ok "SIGHUP reloads" "$tmp/w2.log"
fi

kill "$w2"
wait "$w2"
st=$?
pids=''
if [ "$st" -eq 0 ] && ! grep -qE 'fatal|panic|ERROR|runtime error|Sanitizer' "$tmp/w1.log" "$tmp/w2.log"; then
	ok "both daemons stopped cleanly, no error in their logs"
else
	not_ok "both daemons stopped cleanly (status $st)" "$tmp/w1.log" "$tmp/w2.log"
fi

# ---- -1 -T: a replay of three days ago ----------------------------------
psqlq -c "SELECT pmt_ev('old@example.test', '192.0.2.90',
	now() - interval '3 days' - make_interval(secs => 10 * i), 'auth_failure', 'rejected', 0)
	FROM generate_series(1, 25) AS i" >/dev/null
before=$(psqlq -c "SELECT count(*) FROM portmilter.alerts WHERE subject = 'old@example.test'")
"$watch" -1 -T "$(psqlq -c "SELECT now() - interval '3 days' + interval '1 minute'")" \
	-c "$tmp/watch.conf" >"$tmp/replay.log" 2>&1
is "-1 -T: an evaluation as of three days ago finds what now does not ($before before)" \
	"auth_guess|25" \
	"SELECT detector, evidence->>'failures' FROM portmilter.alerts WHERE subject = 'old@example.test'"
is "-1 -T: the replay resolved nothing that fires now" "1" \
	"SELECT count(*) FROM portmilter.alerts WHERE state = 'resolved'"

# ---- GeoIP: countries in many_places, new_place ---------------------------
if perl -MMaxMind::DB::Writer::Tree -e 1 2>/dev/null &&
   perl "$srcdir/tests/watch/mkgeo.pl" "$tmp/country.mmdb" >"$tmp/mkgeo.out" 2>&1; then
	last=$(psqlq -c "SELECT max(alert_id) FROM portmilter.alerts")
	psqlq -c "DELETE FROM portmilter.watch_state WHERE detector = 'many_places'" >/dev/null
	# networks out of reach: only the countries can fire many_places
	sed -e 's/^\[detector many_places\]$/&\nthreshold = 1000/' \
		-e 's/^action = suspend$/action = alert/' \
		-e "s|^\\[watch\\]\$|&\\ngeoip_country_db = $tmp/country.mmdb|" \
		"$tmp/watch.conf" >"$tmp/geo.conf"
	"$watch" -1 -c "$tmp/geo.conf" >"$tmp/geo.log" 2>&1
	is "geo: many_places by countries (5 in 20 minutes), new_place for the hijacked account only" \
		"many_places|hijacked@example.test|[\"BR\", \"DE\", \"FR\", \"NL\", \"US\"]
new_place|hijacked@example.test|[\"BR\", \"DE\", \"FR\", \"NL\", \"US\"]" \
		"SELECT detector, subject, (SELECT jsonb_agg(c ORDER BY c) FROM jsonb_array_elements_text(evidence->'countries') AS c)
		 FROM portmilter.alerts WHERE detector IN ('many_places', 'new_place')
		 AND alert_id > $last ORDER BY detector"
else
	n=$((n + 1))
	echo "ok $n # SKIP libmaxmind-db-writer-perl missing: geo cases"
fi

# ---- two leaders in a split moment: the unique key, not the lock --------
for i in 1 2; do
	psqlq -c "BEGIN" -c "SELECT count(*) FROM portmilter.watch_fire('split', 'user',
		'x@example.test', 's', '{}', '1 hour', 'n$i', '{syslog}', false)" \
		-c "SELECT pg_sleep(1)" -c "COMMIT" >/dev/null 2>"$tmp/split$i.err" &
done
wait
is "watch_fire() in two concurrent transactions: one alert" "1" \
	"SELECT count(*) FROM portmilter.alerts WHERE detector = 'split'"
psqlq -c "DELETE FROM portmilter.alerts WHERE detector = 'split'" >/dev/null

# ---- portmilter-report alerts ----------------------------------------------
"$report" -d dbname=portmilter --format csv alerts --since 1h >"$tmp/a.csv" 2>"$tmp/a.err"
st=$?
all=$(psqlq -c "SELECT count(*) FROM portmilter.alerts")
if [ $st -eq 0 ] && [ "$all" -ge 9 ] && [ "$(wc -l <"$tmp/a.csv")" -eq $((all + 1)) ] &&
   grep -q '^alert_id,fired_at,detector,subject_kind,subject,state,suspended,summary,evidence' "$tmp/a.csv" &&
   grep -q 'many_places,user,hijacked@example.test,fired,true,' "$tmp/a.csv"; then
	ok "portmilter-report alerts: all $all alerts with their evidence (csv)"
else
	not_ok "portmilter-report alerts (csv)" "$tmp/a.csv" "$tmp/a.err"
fi
"$report" -d dbname=portmilter --format json alerts --since 1h >"$tmp/a.json" 2>"$tmp/a.err"
if [ $? -eq 0 ] && grep -q '"evidence":{' "$tmp/a.json" &&
   grep -q '"state":"resolved"' "$tmp/a.json"; then
	ok "portmilter-report alerts --format json: evidence as JSON"
else
	not_ok "portmilter-report alerts (json)" "$tmp/a.json" "$tmp/a.err"
fi
[ -n "$tap_lat" ] && echo "# event-to-alert latency with a 1 s cycle: 0.$tap_lat s (tenths: $tap_lat)"
echo "1..$n"
