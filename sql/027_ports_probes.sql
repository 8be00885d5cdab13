-- 027_ports_probes.sql - `ports` probes the users and addresses of a
-- window's raw part one by one, as 016 meant (issue 14).
--
-- port_traffic_rollup() (016) counts a distinct user or address of the
-- raw part (the day in progress, a partial first day, the dirty days)
-- unless its row of rollup_users / rollup_ips meets the window's clean
-- days: NOT EXISTS (SELECT ... WHERE key = ... AND rollup_meets(...)),
-- meant as one index probe per key. PostgreSQL planned the addresses'
-- as a hash anti join instead: every row of rollup_ips read and tested
-- with rollup_meets(), whatever the window. At 10 M events a year that
-- was 222,000 rows and 250 ms of the 390 ms of `ports --since 7d`; and
-- the table holds every (port, address) ever seen, so the cost grew with
-- the years kept, not with the window. OFFSET 0 keeps each NOT EXISTS a
-- subplan: a probe of the primary key per key of the raw part (about
-- 6 us each; 17,000 keys there). And when the window has no clean day
-- (the last 24 hours, any window within two days) no key can meet one:
-- nothing is probed.
--
-- And the function runs with enable_sort = off: the raw part comes out
-- of CTEs whose size the planner cannot tell, and it sorted those rows
-- for every DISTINCT (the users', the connections'), where hashing them
-- is cheaper. At a million events a day (bench/report-bench.sh DAY=1),
-- `ports` over the last 12 hours of a day (500,000 events read raw)
-- took 3.9 s with sorts and 3.0-3.3 s without; at 10 M events a year
-- the same within the noise (24 h, 7 days, a year, 51 hours).
--
-- The function is 016's, those changes apart; what it returns is
-- unchanged (tests/sql/rollups.sh compares it with the events on random
-- windows, and checks that its plan probes the keys by subplans).
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/027_ports_probes.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 27.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 26) THEN
		RAISE EXCEPTION 'portmilter: migration 027 needs 001 to 026 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 27) THEN
		RAISE NOTICE 'portmilter: migration 027 already applied, nothing done';
		RETURN;
	END IF;

	-- As in 016; the raw part's keys probed one by one (OFFSET 0), and
	-- enable_sort off.
	CREATE OR REPLACE FUNCTION portmilter.port_traffic_rollup(
		p_since timestamptz, p_until timestamptz)
	RETURNS TABLE (bucket timestamptz, port integer, connections bigint,
		       transactions bigint, accepted bigint, rejected bigint,
		       tempfailed bigint, aborted bigint, rejects_by_rule jsonb,
		       users bigint, ips bigint, exposures bigint,
		       auth_failures bigint, refused_before_mail bigint,
		       tls_failures bigint)
	LANGUAGE plpgsql
	STABLE
	SET search_path = pg_catalog, pg_temp
	-- a plan over a few thousand rows: compiling it (JIT, seconds on a
	-- busy machine) would cost more than running it
	SET jit = off
	SET work_mem = '64MB'
	-- (027) the raw part's rows are grouped by hashing, not sorting: the
	-- planner cannot size what comes out of the CTEs and sorted them for
	-- every DISTINCT (315,000 users' rows, 490,000 connections' at a
	-- million events a day); a sort still runs where nothing else can
	SET enable_sort = off
	AS $fn$
	DECLARE
		pt record;
		lo date;	-- the first clean day
		hi date;	-- the last
		mask bit varying;	-- bit i: day lo + i is clean
		holes date[];		-- the days between lo and hi that are not
		-- The partial first day of the window, when it is clean: every
		-- key seen in its part of the window has that day's bit, so
		-- those keys are found from the rollups, not probed one by one.
		-- pend: its end (the raw rows before it are that day's).
		pday date;
		pend timestamptz := '-infinity';
	BEGIN
		SELECT * INTO pt FROM portmilter.rollup_parts(p_since, p_until);
		lo := pt.days[1];
		hi := pt.days[pg_catalog.cardinality(pt.days)];
		SELECT pg_catalog.string_agg(CASE WHEN d.x IS NULL THEN '0' ELSE '1' END,
			'' ORDER BY g.t)::bit varying,
		       COALESCE(pg_catalog.array_agg(g.t::date ORDER BY g.t)
				FILTER (WHERE d.x IS NULL), '{}')
		INTO mask, holes
		FROM pg_catalog.generate_series(lo::timestamp, hi::timestamp,
			interval '1 day') AS g(t)
		LEFT JOIN pg_catalog.unnest(pt.days) AS d(x) ON d.x = g.t::date;
		IF lo IS NOT NULL AND p_since > '-infinity' THEN
			pday := (p_since AT TIME ZONE 'UTC')::date;
			IF (pday::timestamp AT TIME ZONE 'UTC') < p_since AND pday < lo
			   AND EXISTS (SELECT FROM portmilter.rollup_days AS x WHERE x.day = pday)
			   AND NOT EXISTS (SELECT FROM portmilter.rollup_dirty AS y
					   WHERE y.day = pday) THEN
				pend := (pday + 1)::timestamp AT TIME ZONE 'UTC';
			ELSE
				pday := NULL;
			END IF;
		END IF;
		RETURN QUERY
		WITH raw AS MATERIALIZED (
			SELECT e.port, e.conn_id, e.conn_time, e.kind, e.verdict,
			       e.rule, e.sasl_user, e.client_addr, e.credential_exposure,
			       e.event_time < pend AS early
			FROM pg_catalog.unnest(pt.raw) AS r(x)
			CROSS JOIN LATERAL (
				SELECT * FROM portmilter.events AS y
				WHERE y.event_time >= pg_catalog.lower(r.x)
				  AND y.event_time < pg_catalog.upper(r.x)
				OFFSET 0) AS e	-- an index range per part
		), adds AS (
			SELECT a.port, sum(a.nevents) AS nevents,
			       sum(a.connections) AS connections,
			       sum(a.transactions) AS transactions,
			       sum(a.accepted) AS accepted, sum(a.rejected) AS rejected,
			       sum(a.tempfailed) AS tempfailed, sum(a.aborted) AS aborted,
			       sum(a.exposures) AS exposures,
			       sum(a.auth_failures) AS auth_failures,
			       sum(a.refused_before_mail) AS refused_before_mail,
			       sum(a.tls_failures) AS tls_failures
			FROM (
				SELECT d.port, d.nevents, d.connections, d.transactions,
				       d.accepted, d.rejected, d.tempfailed, d.aborted,
				       d.exposures, d.auth_failures, d.refused_before_mail,
				       d.tls_failures
				FROM portmilter.rollup_port_day AS d
				WHERE d.day = ANY (pt.days)
				UNION ALL
				SELECT e.port, count(*), 0,
				       count(*) FILTER (WHERE e.kind = 'transaction'),
				       count(*) FILTER (WHERE e.verdict = 'accepted'),
				       count(*) FILTER (WHERE e.verdict = 'rejected' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
				AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
						   'postfix_end-of-message')))),
				       count(*) FILTER (WHERE e.verdict = 'tempfailed' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
				AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
						   'postfix_end-of-message')))),
				       count(*) FILTER (WHERE e.verdict = 'aborted' AND e.kind IN
					('transaction', 'connection')),
				       count(*) FILTER (WHERE e.credential_exposure),
				       count(*) FILTER (WHERE e.kind = 'auth_failure'),
				       count(*) FILTER (WHERE e.kind = 'refused' AND e.rule NOT IN
					('postfix_rcpt', 'postfix_data', 'postfix_bdat',
					 'postfix_end-of-message')),
				       count(*) FILTER (WHERE e.kind = 'tls_failure')
				FROM raw AS e GROUP BY e.port
			) AS a
			GROUP BY a.port
		), rules AS (
			SELECT x.port, pg_catalog.jsonb_object_agg(x.rule, x.n) AS by_rule
			FROM (
				SELECT y.port, y.rule, sum(y.n)::bigint AS n
				FROM (
					SELECT k.port, k.rule, k.n
					FROM portmilter.rollup_rule_day AS k
					WHERE k.day = ANY (pt.days)
					UNION ALL
					SELECT e.port, COALESCE(e.rule, '(none)'), count(*)
					FROM raw AS e
					WHERE e.verdict = 'rejected' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
				AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
						   'postfix_end-of-message')))
					GROUP BY 1, 2
				) AS y
				GROUP BY 1, 2
			) AS x
			GROUP BY x.port
		), usr AS (
			-- Distinct keys: those whose last day is a clean day of
			-- the window (counted per day in rollup_last, not read);
			-- those ending after the clean days or on a hole between
			-- them (the index on last_day) that meet the clean days
			-- (rollup_meets()); the raw part's keys not among them:
			-- those of the rest probed one by one, those of the partial
			-- first day (pday, when clean) among the keys with its bit
			-- that end before the clean days, on a hole or after them
			-- and do not meet them (the index on last_day again), not
			-- seen in the rest of the raw part.
			SELECT k.port, sum(k.n)::bigint AS n
			FROM (
				SELECT l.port, l.n FROM portmilter.rollup_last AS l
				WHERE l.what = 'user' AND l.day >= lo AND l.day <= hi
				  AND CASE WHEN l.day BETWEEN lo AND hi
				      THEN pg_catalog.get_bit(mask, l.day - lo) = 1 END
				UNION ALL
				SELECT u.port, 1 FROM portmilter.rollup_users AS u
				WHERE (u.last_day > hi OR u.last_day = ANY (holes))
				  AND u.first_day <= hi
				  AND portmilter.rollup_meets(u.first_day, u.last_day, u.days,
							      lo, hi, mask)
				UNION ALL
				SELECT r.port, 1
				FROM (SELECT DISTINCT e.port, e.sasl_user FROM raw AS e
				      WHERE NOT e.early AND e.kind IN ('transaction', 'connection') AND e.sasl_user IS NOT NULL) AS r
				WHERE mask IS NULL	-- no clean day: no key meets one
				   OR NOT EXISTS (SELECT FROM portmilter.rollup_users AS c
						  WHERE c.port = r.port AND c.sasl_user = r.sasl_user
						    AND portmilter.rollup_meets(c.first_day,
							c.last_day, c.days, lo, hi, mask)
						  OFFSET 0)
				UNION ALL
				SELECT c.port, 1
				FROM (SELECT c.port, c.sasl_user FROM portmilter.rollup_users AS c
				      WHERE (c.last_day BETWEEN pday AND lo - 1 OR c.last_day > hi
					     OR c.last_day = ANY (holes))
					AND c.first_day <= pday
					AND CASE WHEN c.first_day <= pday AND c.last_day >= pday
					    THEN pg_catalog.get_bit(c.days, pday - c.first_day) = 1 END
					AND NOT portmilter.rollup_meets(c.first_day, c.last_day,
									c.days, lo, hi, mask)
				      OFFSET 0) AS c
				JOIN (SELECT e.port, e.sasl_user FROM raw AS e
				      WHERE e.kind IN ('transaction', 'connection') AND e.sasl_user IS NOT NULL
				      GROUP BY 1, 2 HAVING pg_catalog.bool_and(e.early)) AS x
				  ON x.port = c.port AND x.sasl_user = c.sasl_user
			) AS k
			GROUP BY k.port
		), ips AS (
			SELECT k.port, sum(k.n)::bigint AS n
			FROM (
				SELECT l.port, l.n FROM portmilter.rollup_last AS l
				WHERE l.what = 'ip' AND l.day >= lo AND l.day <= hi
				  AND CASE WHEN l.day BETWEEN lo AND hi
				      THEN pg_catalog.get_bit(mask, l.day - lo) = 1 END
				UNION ALL
				SELECT u.port, 1 FROM portmilter.rollup_ips AS u
				WHERE (u.last_day > hi OR u.last_day = ANY (holes))
				  AND u.first_day <= hi
				  AND portmilter.rollup_meets(u.first_day, u.last_day, u.days,
							      lo, hi, mask)
				UNION ALL
				SELECT r.port, 1
				FROM (SELECT DISTINCT e.port, e.client_addr FROM raw AS e
				      WHERE NOT e.early AND e.client_addr IS NOT NULL) AS r
				WHERE mask IS NULL	-- no clean day: no key meets one
				   OR NOT EXISTS (SELECT FROM portmilter.rollup_ips AS c
						  WHERE c.port = r.port AND c.client_addr = r.client_addr
						    AND portmilter.rollup_meets(c.first_day,
							c.last_day, c.days, lo, hi, mask)
						  OFFSET 0)
				UNION ALL
				SELECT c.port, 1
				FROM (SELECT c.port, c.client_addr FROM portmilter.rollup_ips AS c
				      WHERE (c.last_day BETWEEN pday AND lo - 1 OR c.last_day > hi
					     OR c.last_day = ANY (holes))
					AND c.first_day <= pday
					AND CASE WHEN c.first_day <= pday AND c.last_day >= pday
					    THEN pg_catalog.get_bit(c.days, pday - c.first_day) = 1 END
					AND NOT portmilter.rollup_meets(c.first_day, c.last_day,
									c.days, lo, hi, mask)
				      OFFSET 0) AS c
				JOIN (SELECT e.port, e.client_addr FROM raw AS e
				      WHERE e.client_addr IS NOT NULL
				      GROUP BY 1, 2 HAVING pg_catalog.bool_and(e.early)) AS x
				  ON x.port = c.port AND x.client_addr = c.client_addr
			) AS k
			GROUP BY k.port
		), dup AS (
			-- a connection on k clean days is counted k times
			SELECT c.port, sum(c.k - 1) AS n
			FROM (SELECT s.port, s.conn_id, count(*) AS k
			      FROM portmilter.rollup_conn_days AS s
			      WHERE s.day = ANY (pt.days)
			      GROUP BY 1, 2) AS c
			GROUP BY c.port
		), rc AS MATERIALIZED (
			SELECT DISTINCT e.port, e.conn_id,
			       (e.conn_time AT TIME ZONE 'UTC')::date AS home
			FROM raw AS e
			WHERE e.kind IN ('transaction', 'connection')
		), seen AS (
			-- raw connections seen on a clean day of the window: one
			-- listed there, or at home on a clean day (the whole day
			-- read: the few connections whose conn_time falls on a
			-- clean day are those crossing into a raw part)
			SELECT rc.port, rc.conn_id FROM rc
			WHERE EXISTS (SELECT FROM portmilter.rollup_conn_days AS s
				      WHERE s.conn_id = rc.conn_id AND s.port = rc.port
					AND s.day = ANY (pt.days))
			UNION
			SELECT e.port, e.conn_id
			FROM (SELECT DISTINCT rc.home FROM rc
			      WHERE rc.home = ANY (pt.days)) AS h
			-- LATERAL ... OFFSET 0: each day an index range, never a
			-- join with every event
			CROSS JOIN LATERAL (
				SELECT x.port, x.conn_id FROM portmilter.events AS x
				WHERE x.event_time >= (h.home::timestamp AT TIME ZONE 'UTC')
				  AND x.event_time < ((h.home + 1)::timestamp AT TIME ZONE 'UTC')
				  AND x.kind IN ('transaction', 'connection')
				OFFSET 0) AS e
			JOIN rc ON rc.conn_id = e.conn_id AND rc.port = e.port
			       AND rc.home = h.home
		), rawconn AS (
			SELECT x.port, count(*) AS n
			FROM (SELECT DISTINCT rc.port, rc.conn_id FROM rc) AS x
			GROUP BY x.port
		), seenconn AS (
			SELECT x.port, count(*) AS n FROM seen AS x GROUP BY x.port
		)
		SELECT p_since, a.port,
		       (a.connections - COALESCE(dup.n, 0) + COALESCE(rawconn.n, 0)
			- COALESCE(seenconn.n, 0))::bigint,
		       a.transactions::bigint, a.accepted::bigint, a.rejected::bigint,
		       a.tempfailed::bigint, a.aborted::bigint,
		       COALESCE(rules.by_rule, '{}'::jsonb),
		       COALESCE(usr.n, 0), COALESCE(ips.n, 0),
		       a.exposures::bigint, a.auth_failures::bigint,
		       a.refused_before_mail::bigint, a.tls_failures::bigint
		FROM adds AS a
		LEFT JOIN rules ON rules.port = a.port
		LEFT JOIN usr ON usr.port = a.port
		LEFT JOIN ips ON ips.port = a.port
		LEFT JOIN dup ON dup.port = a.port
		LEFT JOIN rawconn ON rawconn.port = a.port
		LEFT JOIN seenconn ON seenconn.port = a.port
		WHERE a.nevents > 0
		ORDER BY a.port;
	END
	$fn$;

	INSERT INTO portmilter.schema_version (version) VALUES (27);
END
$migration$;
