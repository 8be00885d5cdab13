# shellcheck shell=sh disable=SC2154 # tmp, report, sqldir: the caller's
# rollgen.sh - random events written by every path, for the tests of the
# rollups against brute force (tests/sql/rollups*.sh; sourced, POSIX sh,
# after tests/lib/pg.sh and pg_test_begin).
#
#   rg_begin       start the throwaway cluster in $tmp, print the seed
#                  (PM_SEED replays a run), apply the migrations, and turn
#                  retention and address reduction off (the events are
#                  old: every day is recomputed from its events). Bails
#                  out on failure.
#   sql ARGS...    psql on the database, UTC, unaligned, tuples only,
#                  stopping at the first error
#   sql_is NAME EXPECTED ARGS...
#                  ok NAME when the output of sql ARGS is EXPECTED
#   rg_gen START DAYS NCONN NUSERS ADDR PARTITION...
#                  the table gen of random events to write: NCONN
#                  connections starting in [START, START + DAYS days) of
#                  1 to 4 events spread over up to 3 hours (so that they
#                  cross hour and day boundaries, with the connection's
#                  user and address on both sides), kinds, ports (25, 587,
#                  465 and 0), verdicts and rules from small sets, users
#                  u0..uNUSERS (20% NULL), the address the SQL expression
#                  ADDR gives (10% NULL); 5 rows moved 3 years back (the
#                  DEFAULT partition). The monthly partitions named by
#                  their first day are made. Each row has a phase (1 to 4)
#                  and a batch (0 to 40) for rg_write.
#   rg_write       write gen into portmilter.events: phase 1 one INSERT
#                  per batch in random order, 2 a COPY, 3 late rows with
#                  the duplicates of phase 1 by INSERT ... ON CONFLICT DO
#                  NOTHING (the shipper's way), 4 two writers at once; two
#                  test lines (written, stored once)
#   rg_windows START DAYS COUNT LENGTH...
#                  the table windows (name, a, b): COUNT random windows
#                  starting in [START, START + DAYS days), each as long as
#                  one of the LENGTHs (intervals) times 0.5 to 1.5
#   rg_late        10% of the rows again, 20 minutes later, new ids: late
#                  rows into days already rolled up
#   rg_update      UPDATEs (40 verdicts, the user u4 merged into u5, 40
#                  times moved 13 hours, across midnight), 60 DELETEs,
#                  then 30 transactions made connections, 30 rows given
#                  another address, 40 times moved 11 hours back and 20
#                  set 2 minutes before their conn_time (its day)
#   rg_catchup_all the catch-up over every dirty day, one transaction each
#   rg_catchup     the catch-up for a random number of days or of steps
#                  (seeded: 0 = not run; steps as the shipper runs them,
#                  a day maybe left half done); prints what it did
#                  and sets rg_caught (the days caught up)
#
# The caller sets report (portmilter-report) and sqldir (sql/) and has
# run pg_test_begin (tmp, ok, not_ok). Sets seed (the run's, 0..1), cols
# and sel (the columns of events that gen fills, and their values from
# gen).

seed='' rg_caught=0

# sql, sql_is: tests/lib/pg.sh

rg_begin() {
	if ! pg_start "$tmp" 2>"$tmp/pg_start.err"; then
		sed 's/^/# /' "$tmp/pg_start.err"
		echo "Bail out! cannot start PostgreSQL"
		exit 1
	fi
	seed=${PM_SEED:-0.$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
	echo "# seed $seed (PM_SEED=$seed replays this run)"
	"$report" -d dbname=portmilter migrate --sql-dir "$sqldir" >"$tmp/migrate" 2>&1 || {
		cat "$tmp/migrate"; echo "Bail out! migrate failed"; exit 1
	}
	sql -c "UPDATE portmilter.privacy_settings SET raw_days = NULL, reduce_days = NULL" \
		>/dev/null
	_rg_draw=0
}

cols="event_id, event_time, conn_id, conn_time, kind, node, port, port_known,
	client_addr, tls_version, sasl_method, sasl_user, nrcpt, nrcpt_rejected,
	nrcpt_tempfailed, nrcpt_refused, verdict, rule, credential_exposure"
sel="event_id, event_time, conn_id, conn_time, kind, node, port, port_known,
	client_addr, tls_version, sasl_method, sasl_user, nrcpt, 0, 0, 0,
	verdict, rule, credential_exposure"
# What rollgen's own writes from gen add: the HELO (gen's last column,
# NULL in the callers' rows).
_rg_cols="$cols, helo"
_rg_sel="$sel, helo"

rg_gen() {
	_rg_start=$1 _rg_days=$2 _rg_nconn=$3 _rg_nusers=$4 _rg_addr=$5
	shift 5
	_rg_parts=''
	for _rg_p; do
		_rg_parts="$_rg_parts SELECT portmilter.create_month_partition('$_rg_p');"
	done
	sql >/dev/null <<SQL || { echo "Bail out! cannot generate events"; exit 1; }
$_rg_parts
SELECT setseed($seed);
CREATE TABLE gen AS
SELECT gen_random_uuid() AS event_id, t AS event_time, c.conn_id,
       c.t0 AS conn_time, c.kind, 'n' || (c.i % 2) AS node, c.port,
       c.port <> 0 AS port_known, c.addr AS client_addr,
       CASE WHEN random() < 0.7 THEN 'TLSv1.' || (1 + (random() * 2)::int) END
	 AS tls_version,
       CASE WHEN c.usr IS NOT NULL AND random() < 0.9 THEN 'PLAIN' END AS sasl_method,
       c.usr AS sasl_user,
       (random() * 3)::int AS nrcpt,
       (ARRAY['accepted', 'rejected', 'rejected', 'tempfailed', 'aborted', 'none'])
	 [1 + (random() * 5)::int] AS verdict,
       (ARRAY[NULL, 'relay', 'require_tls', 'postfix_rcpt', 'postfix_helo',
	      'tls_before_auth'])[1 + (random() * 5)::int] AS rule,
       random() < 0.05 AS credential_exposure,
       CASE WHEN random() < 0.5 THEN 1 WHEN random() < 0.7 THEN 2
	    WHEN random() < 0.8 THEN 3 ELSE 4 END AS phase,
       (random() * 40)::int AS batch,
       -- last: the fixtures' INSERTs into gen leave it NULL
       (ARRAY[NULL, 'mx.example', 'MX.example', 'a', '[10.1.2.3]', 'b c'])
	 [1 + (random() * 5)::int] AS helo
FROM (
	SELECT i, gen_random_uuid() AS conn_id,
	       '$_rg_start'::timestamptz + random() * interval '$_rg_days days' AS t0,
	       (ARRAY['transaction', 'transaction', 'transaction', 'connection',
		      'auth_failure', 'refused', 'tls_failure', 'exposure'])
		 [1 + (random() * 7)::int] AS kind,
	       (ARRAY[25, 587, 465, 0])[1 + (random() * 3)::int] AS port,
	       CASE WHEN random() < 0.8 THEN 'u' || (random() * $_rg_nusers)::int END AS usr,
	       CASE WHEN random() < 0.9 THEN $_rg_addr END AS addr,
	       1 + (random() * 3)::int AS k
	FROM generate_series(1, $_rg_nconn) AS i
) AS c,
LATERAL (SELECT c.t0 + random() * interval '3 hours' AS t
	 FROM generate_series(1, c.k)) AS ev;
-- A few rows far off: the DEFAULT partition.
UPDATE gen SET event_time = event_time - interval '3 years', phase = 1
WHERE event_id IN (SELECT event_id FROM gen ORDER BY event_id LIMIT 5);
SQL
}

# _rg_writer PARITY: phase 4's batches of that parity, a commit each.
_rg_writer() {
	sql >/dev/null <<SQL
DO \$\$
DECLARE b integer;
BEGIN
	FOR b IN SELECT DISTINCT g.batch FROM gen AS g WHERE g.batch % 2 = $1 ORDER BY 1 LOOP
		INSERT INTO portmilter.events ($_rg_cols)
		SELECT $_rg_sel FROM gen WHERE phase = 4 AND batch = b;
		COMMIT;
	END LOOP;
END
\$\$;
SQL
}

rg_write() {
	# Phase 1: one INSERT per batch, the batches in random order.
	sql >/dev/null <<SQL
DO \$\$
DECLARE b integer;
BEGIN
	FOR b IN SELECT x.batch FROM (SELECT DISTINCT g.batch FROM gen AS g) AS x ORDER BY random() LOOP
		INSERT INTO portmilter.events ($_rg_cols)
		SELECT $_rg_sel FROM gen WHERE phase = 1 AND batch = b;
	END LOOP;
END
\$\$;
SQL
	_rg_ok1=$?
	# Phase 2: COPY (psql's \copy: a plain COPY ... FROM STDIN).
	sql -c "\\copy (SELECT $(echo "$_rg_sel" | tr -d '\n') FROM gen WHERE phase = 2) TO '$tmp/copy.txt'" &&
		sql -c "\\copy portmilter.events ($(echo "$_rg_cols" | tr -d '\n')) FROM '$tmp/copy.txt'"
	_rg_ok2=$?
	# Phase 3: late rows and duplicates, as the shipper writes them.
	sql -c "INSERT INTO portmilter.events ($_rg_cols)
		SELECT $_rg_sel FROM gen WHERE phase IN (1, 3) ORDER BY event_time
		ON CONFLICT DO NOTHING" >/dev/null
	_rg_ok3=$?
	# Phase 4: two writers at once, 20 statements each.
	_rg_writer 0 & _rg_w0=$!
	_rg_writer 1 & _rg_w1=$!
	wait $_rg_w0; _rg_ok4a=$?
	wait $_rg_w1; _rg_ok4b=$?
	_rg_what="random events written by INSERT, COPY, late INSERT ... ON CONFLICT, two writers"
	if [ $_rg_ok1 -eq 0 ] && [ $_rg_ok2 -eq 0 ] && [ $_rg_ok3 -eq 0 ] &&
		[ $_rg_ok4a -eq 0 ] && [ $_rg_ok4b -eq 0 ]; then
		ok "$_rg_what"
	else
		not_ok "$_rg_what"
	fi
	sql_is "every generated event is stored once" "t" \
		-c "SELECT (SELECT count(*) FROM gen) = (SELECT count(*) FROM portmilter.events)"
}

rg_windows() {
	_rg_start=$1 _rg_days=$2 _rg_count=$3
	shift 3
	_rg_lengths=''
	for _rg_l; do
		_rg_lengths="$_rg_lengths${_rg_lengths:+, }interval '$_rg_l'"
	done
	sql >/dev/null <<SQL || { echo "Bail out! cannot make the windows"; exit 1; }
CREATE TABLE IF NOT EXISTS windows (name text, a timestamptz, b timestamptz);
SELECT setseed($seed);
INSERT INTO windows
SELECT 'random ' || i, a, a + len
FROM (SELECT i, '$_rg_start'::timestamptz + random() * interval '$_rg_days days' AS a,
	     (ARRAY[$_rg_lengths])[1 + (random() * ($# - 1))::int] * (0.5 + random()) AS len
      FROM generate_series(1, $_rg_count) AS i) AS w;
SQL
}

rg_late() {
	sql -c "SELECT setseed($seed / 2);
		INSERT INTO portmilter.events ($_rg_cols)
		SELECT gen_random_uuid(), event_time + interval '20 minutes', conn_id, conn_time,
		       kind, node, port, port_known, client_addr, tls_version, sasl_method,
		       sasl_user, nrcpt, 0, 0, 0, verdict, rule, credential_exposure, helo
		FROM gen WHERE random() < 0.1" >/dev/null
}

rg_update() {
	sql >/dev/null <<SQL
SELECT setseed($seed / 3);
UPDATE portmilter.events SET verdict = 'accepted', rule = NULL
WHERE event_id IN (SELECT event_id FROM portmilter.events ORDER BY random() LIMIT 40);
UPDATE portmilter.events SET sasl_user = 'u5' WHERE sasl_user = 'u4';
UPDATE portmilter.events SET event_time = event_time + interval '13 hours'
WHERE event_id IN (SELECT event_id FROM portmilter.events ORDER BY random() LIMIT 40);
DELETE FROM portmilter.events
WHERE event_id IN (SELECT event_id FROM portmilter.events ORDER BY random() LIMIT 60);
UPDATE portmilter.events SET kind = 'connection'
WHERE event_id IN (SELECT event_id FROM portmilter.events WHERE kind = 'transaction'
		   ORDER BY random() LIMIT 30);
UPDATE portmilter.events SET client_addr = '198.51.100.77'
WHERE event_id IN (SELECT event_id FROM portmilter.events ORDER BY random() LIMIT 30);
UPDATE portmilter.events SET event_time = event_time - interval '11 hours'
WHERE event_id IN (SELECT event_id FROM portmilter.events ORDER BY random() LIMIT 40);
UPDATE portmilter.events SET event_time = conn_time - interval '2 minutes'
WHERE event_id IN (SELECT event_id FROM portmilter.events
		   WHERE (conn_time AT TIME ZONE 'UTC')::time > '00:02'
		   ORDER BY random() LIMIT 20);
SQL
}

rg_catchup_all() {
	sql -c 'DO $$ BEGIN
		WHILE portmilter.rollup_catchup(1) > 0 LOOP COMMIT; END LOOP; END $$' >/dev/null
}

# _rg_random N: a number in 0..N-1, the next of the run's sequence (awk's
# generator seeded with the seed, drawn as many times as this was
# called: a replayed run draws the same). Sets
# _rg_r (a command substitution would lose the count).
_rg_random() {
	_rg_draw=$((_rg_draw + 1))
	_rg_r=$(awk -v s="$seed" -v i="$_rg_draw" -v n="$1" \
		'BEGIN { srand(int(s * 1000000000)); for (j = 0; j < i; j++) r = rand()
			print int(r * n) }')
}

rg_catchup() {
	_rg_random 5
	_rg_mode=$_rg_r
	_rg_before=$(sql -c 'SELECT count(*) FROM portmilter.rollup_dirty')
	case $_rg_mode in
	0) ;;	# not run
	1) sql -c "SELECT portmilter.rollup_catchup(3)" >/dev/null ;;
	2) sql -c "SELECT portmilter.rollup_catchup(20)" >/dev/null ;;
	3)	# as the shipper: steps (025), one a transaction; a day left
		# half done when the count runs out (before 025: 3 days)
		_rg_random 12
		_rg_mode="3, $((_rg_r + 1)) steps at most"
		sql -c "DO \$\$ BEGIN
			IF pg_catalog.to_regprocedure('portmilter.rollup_catchup_step()') IS NULL THEN
				PERFORM portmilter.rollup_catchup(3);
			ELSE
				FOR i IN 0..$_rg_r LOOP
					EXIT WHEN portmilter.rollup_catchup_step() IS NULL;
					COMMIT;
				END LOOP;
			END IF;
		END \$\$" >/dev/null ;;
	*) rg_catchup_all ;;
	esac
	_rg_after=$(sql -c 'SELECT count(*) FROM portmilter.rollup_dirty')
	rg_caught=$((_rg_before - _rg_after))
	echo "# catch-up: $_rg_mode ($rg_caught days caught up, $_rg_after days dirty)"
}

# rg_years NAME: the running totals of sql/018_top_years.sql against the
# month tables they sum: for every year, port and key with a transaction
# in a folded month (before rollup_year_folded's) of a month table,
# tx[i] = its transactions in the folded months of that year before
# month i (i = 1..13), and no other row. Checked as NAME.
rg_years() {
	sql_is "$1" "0" <<'SQL'
WITH m AS (
	SELECT 'user' AS what, month, port, uid::text AS k, transactions AS t
	FROM portmilter.rollup_user_month
	WHERE month < (SELECT month FROM portmilter.rollup_year_folded WHERE what = 'user')
	UNION ALL
	SELECT 'ip', month, port, client_addr::text, transactions
	FROM portmilter.rollup_ip_month
	WHERE month < (SELECT month FROM portmilter.rollup_year_folded WHERE what = 'ip')
), want AS (
	SELECT y.what, y.year, y.port, y.k, i,
	       (SELECT COALESCE(sum(m.t), 0) FROM m
		WHERE m.what = y.what AND m.port = y.port AND m.k = y.k
		  AND m.month >= y.year AND m.month < y.year + (i - 1) * interval '1 month') AS v
	FROM (SELECT DISTINCT what, date_trunc('year', month)::date AS year, port, k
	      FROM m WHERE t > 0) AS y,
	     generate_series(1, 13) AS i
), have AS (
	SELECT 'user' AS what, year, port, uid::text AS k, i, tx[i] AS v
	FROM portmilter.rollup_user_year, generate_series(1, 13) AS i
	UNION ALL
	SELECT 'ip', year, port, client_addr::text, i, tx[i]
	FROM portmilter.rollup_ip_year, generate_series(1, 13) AS i
)
SELECT count(*) FROM ((TABLE want EXCEPT ALL TABLE have)
		      UNION ALL (TABLE have EXCEPT ALL TABLE want)) AS x
SQL
}
