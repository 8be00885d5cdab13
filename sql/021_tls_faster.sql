-- 021_tls_faster.sql - `tls` over a year from the same rollups (020),
-- faster (issue 14).
--
-- tls_usage() is restated: same signature, same rows in the same order,
-- same tables. What changed is how the month and day rows are summed:
--
--   1. 020 joined every month and day row of the window (over a year
--      about 890,000 on the 10 M-event benchmark: 505,000 month rows of
--      11 whole months, 385,000 day rows of the two partial ones) to
--      rollup_user_names, then grouped them by name. They are now summed
--      first per (port, tls_version, uid, network), the rollups' own key
--      (about 51,000 groups there), and only the groups are joined to
--      their name; the groups are then summed again by name with the
--      raw and away rows as before (two numbers may carry one name:
--      015, forget_user()).
--   2. The final GROUP BY was done as a sort of those 900,000 rows
--      (its ORDER BY then came for free), an external merge of ~90 MB
--      at the default work_mem. It is now done in a MATERIALIZED CTE,
--      and the ORDER BY sorts its ~51,000 rows.
--   3. The sums are taken by rollup_sum(bigint) (below), a bigint sum
--      kept in a bigint (int8pl: by value, an error on overflow), not
--      sum(bigint)'s numeric state, which in a parallel plan is
--      serialised between processes: summing the year's rows took
--      1.0 to 1.1 s against 1.4 to 1.5 s (from psql, alternating).
--      The results were cast back to bigint anyway.
--   4. work_mem 64MB for the function (as port_traffic_rollup(), 014
--      and 016): the ~51,000 groups are hashed in memory (about 15 MB
--      per process), no spill to disk.
--   5. The second grouping (by name) compares its text keys bytewise
--      (COLLATE "C": the same groups, as every collation PostgreSQL
--      can have as a default is deterministic), and the ORDER BY uses
--      the database's collation for the version, as SQL_TLS does.
--
-- Figures, 10 M events (bench/report-bench.sh MIX=clustered, PostgreSQL
-- 15, 2 cores), tls_usage(now() - 365 days, now()) from psql, 51,217
-- rows, the versions alternating, five rounds, load 1.1 to 1.6, ms:
--   020              3544 3267 3245 3202 3173
--   020 with 1. 2.   1931 1960 1953 1938 1944
--   021              1494 1464 1378 1496 1475
-- the report's query (WITH ORDINALITY): 3200 3161 3216 with 020, 1412
-- 1517 1541 with 021; port 587 (10,039 rows): 1613 1612 1686 against
-- 591 591 594. The rows are 020's, in its order (compared by ordinal,
-- both ways, over the year, 40 days, a ragged window on port 25 and one
-- ending now on 465). What is left is reading the 890,000 rollup rows
-- (about 0.4 s) and summing them (about 0.4 s, two workers): one row
-- per group and year (as 018 for `top`) would be the next step.
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/021_tls_faster.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 21.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 20) THEN
		RAISE EXCEPTION 'portmilter: migration 021 needs 001 to 020 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 21) THEN
		RAISE NOTICE 'portmilter: migration 021 already applied, nothing done';
		RETURN;
	END IF;

	-- sum(bigint) as a bigint: no numeric state. NULL over no row or
	-- only NULLs, as sum(); "bigint out of range" past 2^63 - 1, where
	-- sum(...)::bigint failed too.
	CREATE AGGREGATE portmilter.rollup_sum(bigint) (
		SFUNC = pg_catalog.int8pl,
		STYPE = bigint,
		COMBINEFUNC = pg_catalog.int8pl,
		PARALLEL = SAFE
	);

	-- `tls` without --below over [p_since, p_until), one port or every
	-- one (NULL): report/tls.c SQL_TLS's rows with $4 NULL, its port
	-- column the number, in its order (020; see the header).
	CREATE OR REPLACE FUNCTION portmilter.tls_usage(p_since timestamptz,
		p_until timestamptz, p_port integer DEFAULT NULL)
	RETURNS TABLE (port integer, tls_version text, "user" text, network cidr,
		       connections bigint, transactions bigint, accepted bigint,
		       rejected bigint, first_seen timestamptz, last_seen timestamptz)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET jit = off
	-- the groups of a year hashed in memory (header, 4.)
	SET work_mem = '64MB'
	AS $fn$
	DECLARE
		pt record;
	BEGIN
		SELECT * INTO pt FROM portmilter.rollup_key_parts(p_since, p_until);
		RETURN QUERY
		WITH raw AS MATERIALIZED (
			SELECT e.port, COALESCE(NULLIF(e.tls_version, ''), '') AS tv,
			       e.sasl_user AS u,
			       COALESCE(portmilter.rollup_net(e.client_addr), '') AS net,
			       e.conn_id, e.conn_time, e.event_time, e.kind, e.verdict,
			       e.conn_time <= e.event_time
			       AND (e.conn_time AT TIME ZONE 'UTC')::date
				= (e.event_time AT TIME ZONE 'UTC')::date AS home
			FROM pg_catalog.unnest(pt.raw) AS r(x)
			CROSS JOIN LATERAL (
				SELECT * FROM portmilter.events AS y
				WHERE y.event_time >= pg_catalog.lower(r.x)
				  AND y.event_time < pg_catalog.upper(r.x)
				  AND (p_port IS NULL OR y.port = p_port)
				  AND (NULLIF(y.tls_version, '') IS NOT NULL
				       OR (y.sasl_method IS NOT NULL
					   AND y.kind <> 'auth_failure'))
				OFFSET 0) AS e	-- an index range per part
		), away AS (
			SELECT a.port, a.tls_version AS tv, n.sasl_user AS u,
			       a.network AS net, a.conn_id, a.conn_time
			FROM portmilter.rollup_tls_away AS a
			LEFT JOIN portmilter.rollup_user_names AS n ON n.id = a.uid
			WHERE a.day = ANY (pt.clean) AND (p_port IS NULL OR a.port = p_port)
			UNION
			SELECT w.port, w.tv, w.u, w.net, w.conn_id, w.conn_time
			FROM raw AS w WHERE NOT w.home
		), sums AS (
			-- the month and day rows summed per user number, then
			-- named (header, 1.)
			SELECT x.port, x.tls_version AS tv, n.sasl_user AS u,
			       x.network AS net, x.nevents, x.transactions, x.accepted,
			       x.rejected, x.home_conns AS conns, x.first_seen, x.last_seen
			FROM (SELECT y.port, y.tls_version, y.uid, y.network,
				     portmilter.rollup_sum(y.nevents) AS nevents,
				     portmilter.rollup_sum(y.transactions) AS transactions,
				     portmilter.rollup_sum(y.accepted) AS accepted,
				     portmilter.rollup_sum(y.rejected) AS rejected,
				     portmilter.rollup_sum(y.home_conns) AS home_conns,
				     min(y.first_seen) AS first_seen,
				     max(y.last_seen) AS last_seen
			      FROM (SELECT m.port, m.tls_version, m.uid, m.network,
					   m.nevents, m.transactions, m.accepted,
					   m.rejected, m.home_conns, m.first_seen,
					   m.last_seen
				    FROM portmilter.rollup_tls_month AS m
				    WHERE m.month = ANY (pt.months)
				      AND (p_port IS NULL OR m.port = p_port)
				    UNION ALL
				    SELECT d.port, d.tls_version, d.uid, d.network,
					   d.nevents, d.transactions, d.accepted,
					   d.rejected, d.home_conns, d.first_seen,
					   d.last_seen
				    FROM portmilter.rollup_tls_day AS d
				    WHERE d.day = ANY (pt.days)
				      AND (p_port IS NULL OR d.port = p_port)) AS y
			      GROUP BY y.port, y.tls_version, y.uid, y.network) AS x
			LEFT JOIN portmilter.rollup_user_names AS n ON n.id = x.uid
			UNION ALL
			SELECT w.port, w.tv, w.u, w.net, count(*),
			       count(*) FILTER (WHERE w.kind = 'transaction'),
			       count(*) FILTER (WHERE w.verdict = 'accepted'),
			       count(*) FILTER (WHERE w.verdict = 'rejected'),
			       count(DISTINCT w.conn_id) FILTER (WHERE w.home),
			       min(w.event_time), max(w.event_time)
			FROM raw AS w GROUP BY w.port, w.tv, w.u, w.net
			UNION ALL
			-- the connections of a group with no home row of it in
			-- the window
			SELECT a.port, a.tv, a.u, a.net, 0, 0, 0, 0, count(*), NULL, NULL
			FROM away AS a
			WHERE NOT EXISTS (
				SELECT FROM portmilter.events AS x
				WHERE x.port = a.port
				  AND x.event_time >= GREATEST(p_since, a.conn_time)
				  AND x.event_time < LEAST(p_until,
					pg_catalog.date_trunc('day', a.conn_time) + interval '1 day')
				  AND x.conn_id = a.conn_id
				  AND COALESCE(NULLIF(x.tls_version, ''), '') = a.tv
				  AND x.sasl_user IS NOT DISTINCT FROM a.u
				  AND COALESCE(portmilter.rollup_net(x.client_addr), '') = a.net
				  AND (NULLIF(x.tls_version, '') IS NOT NULL
				       OR (x.sasl_method IS NOT NULL
					   AND x.kind <> 'auth_failure'))
				OFFSET 0)	-- an index range per connection, never a join
			GROUP BY a.port, a.tv, a.u, a.net
		), g AS MATERIALIZED (
			-- grouped apart from the ORDER BY (header, 2.), its text
			-- keys compared bytewise (5.)
			SELECT s.port, s.tv COLLATE pg_catalog."C" AS tv,
			       s.u COLLATE pg_catalog."C" AS u,
			       s.net COLLATE pg_catalog."C" AS net,
			       portmilter.rollup_sum(s.conns) AS conns,
			       portmilter.rollup_sum(s.transactions) AS transactions,
			       portmilter.rollup_sum(s.accepted) AS accepted,
			       portmilter.rollup_sum(s.rejected) AS rejected,
			       min(s.first_seen) AS first_seen, max(s.last_seen) AS last_seen
			FROM sums AS s
			GROUP BY s.port, s.tv COLLATE pg_catalog."C",
				 s.u COLLATE pg_catalog."C", s.net COLLATE pg_catalog."C"
			HAVING portmilter.rollup_sum(s.nevents) > 0
		)
		SELECT s.port, COALESCE(NULLIF(t.tv, ''), 'none'), s.u,
		       NULLIF(s.net, '')::cidr,
		       s.conns, s.transactions, s.accepted, s.rejected,
		       s.first_seen, s.last_seen
		FROM g AS s
		-- the version in the database's collation, as SQL_TLS orders it
		CROSS JOIN LATERAL (SELECT s.tv COLLATE pg_catalog."default" AS tv) AS t
		ORDER BY s.port,
		       CASE WHEN NULLIF(t.tv, '') IS NULL THEN 0
			    WHEN t.tv ~ '^(TLSv|tlsv)1$' THEN 10
			    WHEN t.tv ~ '^(TLSv|tlsv)[1-9]\.[0-9]$'
			    THEN pg_catalog.substr(t.tv, 5, 1)::integer * 10
				 + pg_catalog.substr(t.tv, 7, 1)::integer
			    ELSE -1 END,
		       2, s.u NULLS LAST, 4 NULLS LAST;	-- s.u: COLLATE "C"
	END
	$fn$;

	INSERT INTO portmilter.schema_version (version) VALUES (21);
END
$migration$;
