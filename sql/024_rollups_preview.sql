-- 024_rollups_preview.sql - per-day and per-month rollups of
-- `portmilter-report tls-preview`, so that it answers over any window up
-- to a year from rollups (issue 14), exact right after rows land by any
-- path, like 015's and 020's.
--
-- `tls-preview --port P --min-tls-version V` groups the transactions of
-- port P in TLS below V (kind 'transaction', tls_version neither NULL
-- nor '', not 'TLSv1.3', rank below V's: report/tls.c SQL_PREVIEW) by
-- user and client network (the /24, the /64, or the /48 an IPv6 address
-- was reduced to), and gives per group the distinct versions, the
-- transactions, the accepted and the rejected ones, the distinct
-- connections, the first and the last time. 020's rollup_tls_* count
-- every kind of row and a connection once per version, so they cannot
-- answer it. This adds, filled by the same catch-up (rollup_catchup()
-- now calls rollup_day_preview() after rollup_day_tls() for each dirty
-- day):
--
--   rollup_preview_day    per UTC day and (port, uid, network,
--                         tls_version) over those transactions ("old
--                         TLS": every rank, so that any minimum is a
--                         sum): rank (rollup_tls_rank(), below),
--                         transactions, accepted, rejected, connections
--                         at home (015's header) counted under their
--                         lowest version (below), first and last time.
--                         uid is rollup_user_names.id (015: forget_user()
--                         renames the name there, never here), 0 no
--                         user; network is the text of the network, ''
--                         no address
--   rollup_preview_month  the same per month: the sums of the day rows
--                         of the month, first and last the least and
--                         the greatest, kept so by rollup_day_preview()
--   rollup_preview_away   the transactions of a day not at home, one row
--                         per (port, uid, network) and connection, with
--                         the lowest rank among them
--
-- Connections, exactly, for any minimum. A connection's rows in a group
-- may carry different versions (Postfix would not do that; random data
-- and hand-made rows do), and the preview counts it once if any of its
-- rows is below the minimum. So a day counts each of a group's home
-- connections once, in the row of its lowest version there (lowest
-- rank, then the text bytewise): "rank < minimum" over the rows then
-- counts exactly the connections with a home row below the minimum,
-- once, and those add up over days as in 015. A connection of the
-- group with rows below the minimum in the window but none at home
-- there has such a row away (rollup_preview_away, rank below the
-- minimum, for the clean days; the events for the rest): it is added
-- unless its home day holds a row of the group below the minimum inside
-- the window (one index range per such connection, as tls_usage()).
--
-- tls_preview(since, until, port, rank) answers a window as SQL_PREVIEW
-- does, rows and order: whole clean months from the month table, the
-- other clean days from the day table, the rest (ragged edges, dirty
-- days, today) from the events (rollup_key_parts(), 015), plus the
-- away connections.
--
-- On upgrade the tables are filled here, day by day, for every day
-- rolled up so far (rollup_days), by the catch-up's own
-- rollup_day_preview(): at 10 M events over a year (bench/report-bench.sh
-- MIX=clustered) 365 days in 67 s at load 3.5, in the migration's
-- transaction; then about 0.8 s per day in the catch-up. A day kept by
-- the retention (rollup_kept(), 014: its raw rows dropped) has no events
-- to fill it from and stays empty.
--
-- Figures, 10 M events, portmilter-report tls-preview --since 365d, five
-- runs each, the report before and with 024 alternating, load 2.9 to
-- 3.2, median ms, the same output: port 587 below TLSv1.3 (1,104 rows)
-- 1024 -> 238, below TLSv1.2 142 -> 124; port 25 below TLSv1.2 146 ->
-- 139, below TLSv1.3 2328 -> 420.
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/024_rollups_preview.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 24.

DO $migration$
DECLARE
	d date;
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 21) THEN
		RAISE EXCEPTION 'portmilter: migration 024 needs 001 to 021 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 24) THEN
		RAISE NOTICE 'portmilter: migration 024 already applied, nothing done';
		RETURN;
	END IF;

	-- The rank of a TLS version, as report/tls.c SQL_TLS_RANK over
	-- NULLIF(v, ''): 0 none, 10 TLSv1, 10 + N TLSv1.N, -1 unknown.
	-- No SET clause: a SQL function with one is never inlined, and this
	-- one is called per row (pg_catalog comes first in any search path
	-- that does not name it).
	CREATE FUNCTION portmilter.rollup_tls_rank(v text)
	RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $fn$
		SELECT CASE WHEN NULLIF(v, '') IS NULL THEN 0
			    WHEN v ~ '^(TLSv|tlsv)1$' THEN 10
			    WHEN v ~ '^(TLSv|tlsv)[1-9]\.[0-9]$'
			    THEN pg_catalog.substr(v, 5, 1)::integer * 10
				 + pg_catalog.substr(v, 7, 1)::integer
			    ELSE -1 END
	$fn$;

	CREATE TABLE portmilter.rollup_preview_day (
		day date NOT NULL,
		port integer NOT NULL,
		uid bigint NOT NULL,		-- rollup_user_names.id, 0: no user
		network text NOT NULL,		-- '': no address
		tls_version text NOT NULL,
		rank integer NOT NULL,		-- rollup_tls_rank(tls_version)
		transactions bigint NOT NULL,
		accepted bigint NOT NULL,
		rejected bigint NOT NULL,
		home_conns bigint NOT NULL,	-- under their lowest version
		first_seen timestamptz NOT NULL,
		last_seen timestamptz NOT NULL,
		PRIMARY KEY (day, port, uid, network, tls_version)
	);
	CREATE TABLE portmilter.rollup_preview_month (
		month date NOT NULL,
		port integer NOT NULL,
		uid bigint NOT NULL,
		network text NOT NULL,
		tls_version text NOT NULL,
		rank integer NOT NULL,
		transactions bigint NOT NULL,
		accepted bigint NOT NULL,
		rejected bigint NOT NULL,
		home_conns bigint NOT NULL,
		first_seen timestamptz NOT NULL,
		last_seen timestamptz NOT NULL,
		PRIMARY KEY (month, port, uid, network, tls_version)
	);
	CREATE TABLE portmilter.rollup_preview_away (
		day date NOT NULL,
		port integer NOT NULL,
		uid bigint NOT NULL,
		network text NOT NULL,
		conn_id uuid NOT NULL,
		conn_time timestamptz NOT NULL,
		rank integer NOT NULL		-- the lowest of its rows that day
	);
	-- The reader's: one port's rows of the window below the minimum,
	-- by an index-only scan (a port's rows are spread over the table:
	-- a year of month rows for port 25 at 10 M events, 5,400, were a
	-- bitmap heap scan of as many pages).
	CREATE INDEX rollup_preview_day_read ON portmilter.rollup_preview_day
		(port, day, rank) INCLUDE (uid, network, tls_version, transactions,
		accepted, rejected, home_conns, first_seen, last_seen);
	CREATE INDEX rollup_preview_month_read ON portmilter.rollup_preview_month
		(port, month, rank) INCLUDE (uid, network, tls_version, transactions,
		accepted, rejected, home_conns, first_seen, last_seen);
	CREATE INDEX rollup_preview_away_day
		ON portmilter.rollup_preview_away (day, port);
	COMMENT ON TABLE portmilter.rollup_preview_day IS
		'portmilter-report tls-preview per day (see sql/024_rollups_preview.sql)';
	COMMENT ON TABLE portmilter.rollup_preview_month IS
		'portmilter-report tls-preview per month (see sql/024_rollups_preview.sql)';

	-- ---- catch-up -----------------------------------------------------------
	-- Recompute one day's rows from the events, and keep the month table
	-- equal to the sums of its day rows, as rollup_day_tls() (020) does.
	-- Called by rollup_catchup() only, with the day's mark locked (and
	-- by this migration).
	CREATE FUNCTION portmilter.rollup_day_preview(p_day date)
	RETURNS void LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	AS $fn$
	DECLARE
		t0 timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
		t1 timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
		mon date := pg_catalog.date_trunc('month', p_day)::date;
		mon1 date := (pg_catalog.date_trunc('month', p_day) + interval '1 month')::date;
	BEGIN
		SET LOCAL client_min_messages = warning;
		CREATE TEMP TABLE IF NOT EXISTS rollup_preview_ev (
			port integer, conn_id uuid, conn_time timestamptz,
			event_time timestamptz, home boolean, verdict text,
			tls_version text, rank integer, sasl_user text, uid bigint,
			network text
		) ON COMMIT DROP;
		CREATE TEMP TABLE IF NOT EXISTS rollup_preview_old (
			port integer, uid bigint, network text, tls_version text
		) ON COMMIT DROP;
		TRUNCATE rollup_preview_ev, rollup_preview_old;
		-- the rows tls-preview can count (report/tls.c SQL_PREVIEW),
		-- every rank
		INSERT INTO rollup_preview_ev
		SELECT e.port, e.conn_id, e.conn_time, e.event_time,
		       e.conn_time >= t0 AND e.conn_time <= e.event_time,
		       e.verdict, e.tls_version,
		       portmilter.rollup_tls_rank(e.tls_version), e.sasl_user, 0,
		       COALESCE(portmilter.rollup_net(e.client_addr), '')
		FROM portmilter.events AS e
		WHERE e.event_time >= t0 AND e.event_time < t1
		  AND e.kind = 'transaction'
		  AND NULLIF(e.tls_version, '') IS NOT NULL
		  AND e.tls_version <> 'TLSv1.3';

		-- user numbers, as rollup_day_keys() gives them
		INSERT INTO portmilter.rollup_user_names (sasl_user)
		SELECT DISTINCT v.sasl_user FROM rollup_preview_ev AS v
		WHERE v.sasl_user IS NOT NULL
		  AND NOT EXISTS (SELECT FROM portmilter.rollup_user_names AS n
				  WHERE n.sasl_user = v.sasl_user);
		UPDATE rollup_preview_ev AS v SET uid = m.id
		FROM (SELECT n.sasl_user, min(n.id) AS id
		      FROM portmilter.rollup_user_names AS n
		      WHERE n.sasl_user IN (SELECT w.sasl_user FROM rollup_preview_ev AS w)
		      GROUP BY n.sasl_user) AS m
		WHERE v.sasl_user = m.sasl_user;
		ANALYZE rollup_preview_ev;

		WITH old AS (
			DELETE FROM portmilter.rollup_preview_day WHERE day = p_day
			RETURNING port, uid, network, tls_version
		)
		INSERT INTO rollup_preview_old SELECT * FROM old;
		INSERT INTO portmilter.rollup_preview_day
		SELECT p_day, v.port, v.uid, v.network, v.tls_version, min(v.rank),
		       count(*),
		       count(*) FILTER (WHERE v.verdict = 'accepted'),
		       count(*) FILTER (WHERE v.verdict = 'rejected'),
		       COALESCE(max(c.n), 0),
		       min(v.event_time), max(v.event_time)
		FROM rollup_preview_ev AS v
		LEFT JOIN (
			-- each home connection under its lowest version
			SELECT h.port, h.uid, h.network, h.tls_version, count(*) AS n
			FROM (SELECT DISTINCT ON (w.port, w.uid, w.network, w.conn_id)
				     w.port, w.uid, w.network, w.tls_version
			      FROM rollup_preview_ev AS w WHERE w.home
			      ORDER BY w.port, w.uid, w.network, w.conn_id, w.rank,
				       w.tls_version COLLATE pg_catalog."C") AS h
			GROUP BY h.port, h.uid, h.network, h.tls_version) AS c
		  ON c.port = v.port AND c.uid = v.uid AND c.network = v.network
		 AND c.tls_version = v.tls_version
		GROUP BY v.port, v.uid, v.network, v.tls_version;

		-- the month: the day's former groups summed again, the others added
		IF EXISTS (SELECT FROM rollup_preview_old) THEN
			ANALYZE rollup_preview_old;
			DELETE FROM portmilter.rollup_preview_month AS m
			USING rollup_preview_old AS o
			WHERE m.month = mon AND m.port = o.port AND m.uid = o.uid
			  AND m.network = o.network AND m.tls_version = o.tls_version;
			INSERT INTO portmilter.rollup_preview_month
			SELECT mon, d.port, d.uid, d.network, d.tls_version, min(d.rank),
			       sum(d.transactions), sum(d.accepted), sum(d.rejected),
			       sum(d.home_conns), min(d.first_seen), max(d.last_seen)
			FROM portmilter.rollup_preview_day AS d
			WHERE d.day >= mon AND d.day < mon1
			  AND EXISTS (SELECT FROM rollup_preview_old AS o
				      WHERE o.port = d.port AND o.uid = d.uid
					AND o.network = d.network
					AND o.tls_version = d.tls_version)
			GROUP BY d.port, d.uid, d.network, d.tls_version;
		END IF;
		INSERT INTO portmilter.rollup_preview_month AS m
		SELECT mon, d.port, d.uid, d.network, d.tls_version, d.rank,
		       d.transactions, d.accepted, d.rejected, d.home_conns,
		       d.first_seen, d.last_seen
		FROM portmilter.rollup_preview_day AS d
		WHERE d.day = p_day
		  AND NOT EXISTS (SELECT FROM rollup_preview_old AS o
				  WHERE o.port = d.port AND o.uid = d.uid
				    AND o.network = d.network
				    AND o.tls_version = d.tls_version)
		ON CONFLICT (month, port, uid, network, tls_version) DO UPDATE
		SET transactions = m.transactions + excluded.transactions,
		    accepted = m.accepted + excluded.accepted,
		    rejected = m.rejected + excluded.rejected,
		    home_conns = m.home_conns + excluded.home_conns,
		    first_seen = LEAST(m.first_seen, excluded.first_seen),
		    last_seen = GREATEST(m.last_seen, excluded.last_seen);

		DELETE FROM portmilter.rollup_preview_away WHERE day = p_day;
		INSERT INTO portmilter.rollup_preview_away
		SELECT p_day, v.port, v.uid, v.network, v.conn_id, v.conn_time,
		       min(v.rank)
		FROM rollup_preview_ev AS v WHERE NOT v.home
		GROUP BY v.port, v.uid, v.network, v.conn_id, v.conn_time;
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_day_preview(date) FROM PUBLIC;

	-- As in 020, and the day's `tls-preview` rollups after its `tls` ones.
	CREATE OR REPLACE FUNCTION portmilter.rollup_catchup(max_days integer DEFAULT 1)
	RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	AS $fn$
	DECLARE
		today date := (pg_catalog.now() AT TIME ZONE 'UTC')::date;
		d date;
		n integer := 0;
	BEGIN
		IF max_days IS NULL OR max_days < 1 THEN
			RAISE EXCEPTION 'rollup_catchup: max_days must be at least 1, not %',
				max_days USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF NOT pg_catalog.pg_try_advisory_xact_lock(1886219637) THEN
			RETURN 0;
		END IF;
		WHILE n < max_days LOOP
			SELECT r.day INTO d FROM portmilter.rollup_dirty AS r
			WHERE r.day < today ORDER BY r.day
			LIMIT 1 FOR UPDATE SKIP LOCKED;
			EXIT WHEN NOT FOUND;
			IF NOT COALESCE(portmilter.rollup_kept(d), false) THEN
				PERFORM portmilter.rollup_day(d);
				PERFORM portmilter.rollup_day_keys(d);
				PERFORM portmilter.rollup_day_tls(d);
				PERFORM portmilter.rollup_day_preview(d);
				-- 022's, when it is there (each restates the chain)
				IF pg_catalog.to_regprocedure(
					'portmilter.rollup_day_addr(date)') IS NOT NULL THEN
					PERFORM portmilter.rollup_day_addr(d);
				END IF;
			END IF;
			DELETE FROM portmilter.rollup_dirty WHERE day = d;
			n := n + 1;
		END LOOP;
		RETURN n;
	END
	$fn$;

	-- ---- reading ------------------------------------------------------------
	-- `tls-preview` over [p_since, p_until) on port p_port for the
	-- minimum of rank p_rank: report/tls.c SQL_PREVIEW's rows, in its
	-- order (see the header).
	CREATE FUNCTION portmilter.tls_preview(p_since timestamptz, p_until timestamptz,
		p_port integer, p_rank integer)
	RETURNS TABLE ("user" text, network cidr, tls_versions text[],
		       refused_transactions bigint, accepted_now bigint,
		       rejected_now bigint, connections bigint,
		       first_seen timestamptz, last_seen timestamptz)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET jit = off
	AS $fn$
	DECLARE
		pt record;
	BEGIN
		SELECT * INTO pt FROM portmilter.rollup_key_parts(p_since, p_until);
		RETURN QUERY
		WITH raw AS MATERIALIZED (
			SELECT e.tls_version AS tv, e.sasl_user AS u,
			       COALESCE(portmilter.rollup_net(e.client_addr), '') AS net,
			       e.conn_id, e.conn_time, e.event_time, e.verdict,
			       e.conn_time <= e.event_time
			       AND (e.conn_time AT TIME ZONE 'UTC')::date
				= (e.event_time AT TIME ZONE 'UTC')::date AS home
			FROM pg_catalog.unnest(pt.raw) AS r(x)
			CROSS JOIN LATERAL (
				SELECT * FROM portmilter.events AS y
				WHERE y.event_time >= pg_catalog.lower(r.x)
				  AND y.event_time < pg_catalog.upper(r.x)
				  AND y.port = p_port AND y.kind = 'transaction'
				  AND NULLIF(y.tls_version, '') IS NOT NULL
				  -- SQL_PREVIEW's, literally: events_old_tls_idx
				  -- (017) may serve (the planner's choice)
				  AND ((NULLIF(y.tls_version, '') IS NOT NULL
					AND y.tls_version <> 'TLSv1.3')
				       OR (NULLIF(y.tls_version, '') IS NULL
					   AND y.sasl_method IS NOT NULL
					   AND y.kind <> 'auth_failure'))
				  AND CASE WHEN NULLIF(NULLIF(y.tls_version, ''), '') IS NULL THEN 0
					   WHEN NULLIF(y.tls_version, '') ~ '^(TLSv|tlsv)1$' THEN 10
					   WHEN NULLIF(y.tls_version, '') ~ '^(TLSv|tlsv)[1-9]\.[0-9]$'
					   THEN pg_catalog.substr(NULLIF(y.tls_version, ''), 5, 1)::integer * 10
						+ pg_catalog.substr(NULLIF(y.tls_version, ''), 7, 1)::integer
					   ELSE -1 END < p_rank
				OFFSET 0) AS e	-- an index range per part
		), away AS (
			SELECT n.sasl_user AS u, a.network AS net, a.conn_id, a.conn_time
			FROM portmilter.rollup_preview_away AS a
			LEFT JOIN portmilter.rollup_user_names AS n ON n.id = a.uid
			WHERE a.day = ANY (pt.clean) AND a.port = p_port
			  AND a.rank < p_rank
			UNION
			SELECT w.u, w.net, w.conn_id, w.conn_time
			FROM raw AS w WHERE NOT w.home
		), sums AS (
			-- the month and day rows below the minimum, summed per
			-- user number, then named
			SELECT n.sasl_user AS u, x.network AS net, x.tls_version AS tv,
			       x.transactions, x.accepted, x.rejected, x.conns,
			       x.first_seen, x.last_seen
			FROM (SELECT y.uid, y.network, y.tls_version,
				     portmilter.rollup_sum(y.transactions) AS transactions,
				     portmilter.rollup_sum(y.accepted) AS accepted,
				     portmilter.rollup_sum(y.rejected) AS rejected,
				     portmilter.rollup_sum(y.home_conns) AS conns,
				     min(y.first_seen) AS first_seen,
				     max(y.last_seen) AS last_seen
			      FROM (SELECT m.uid, m.network, m.tls_version,
					   m.transactions, m.accepted, m.rejected,
					   m.home_conns, m.first_seen, m.last_seen
				    FROM portmilter.rollup_preview_month AS m
				    WHERE m.month = ANY (pt.months) AND m.port = p_port
				      AND m.rank < p_rank
				    UNION ALL
				    SELECT d.uid, d.network, d.tls_version,
					   d.transactions, d.accepted, d.rejected,
					   d.home_conns, d.first_seen, d.last_seen
				    FROM portmilter.rollup_preview_day AS d
				    WHERE d.day = ANY (pt.days) AND d.port = p_port
				      AND d.rank < p_rank) AS y
			      GROUP BY y.uid, y.network, y.tls_version) AS x
			LEFT JOIN portmilter.rollup_user_names AS n ON n.id = x.uid
			UNION ALL
			SELECT w.u, w.net, w.tv, count(*),
			       count(*) FILTER (WHERE w.verdict = 'accepted'),
			       count(*) FILTER (WHERE w.verdict = 'rejected'),
			       0, min(w.event_time), max(w.event_time)
			FROM raw AS w GROUP BY w.u, w.net, w.tv
			UNION ALL
			-- the raw part's home connections, once per group
			SELECT w.u, w.net, NULL, 0, 0, 0, count(DISTINCT w.conn_id),
			       NULL, NULL
			FROM raw AS w WHERE w.home GROUP BY w.u, w.net
			UNION ALL
			-- the connections of a group with no home row of it
			-- below the minimum in the window
			SELECT a.u, a.net, NULL, 0, 0, 0, count(*), NULL, NULL
			FROM away AS a
			WHERE NOT EXISTS (
				SELECT FROM portmilter.events AS x
				WHERE x.port = p_port
				  AND x.event_time >= GREATEST(p_since, a.conn_time)
				  AND x.event_time < LEAST(p_until,
					pg_catalog.date_trunc('day', a.conn_time) + interval '1 day')
				  AND x.conn_id = a.conn_id
				  AND x.kind = 'transaction'
				  AND NULLIF(x.tls_version, '') IS NOT NULL
				  AND x.tls_version <> 'TLSv1.3'
				  AND portmilter.rollup_tls_rank(x.tls_version) < p_rank
				  AND x.sasl_user IS NOT DISTINCT FROM a.u
				  AND COALESCE(portmilter.rollup_net(x.client_addr), '') = a.net
				OFFSET 0)	-- an index range per connection, never a join
			GROUP BY a.u, a.net
		)
		SELECT s.u, NULLIF(s.net, '')::cidr,
		       pg_catalog.array_agg(DISTINCT s.tv COLLATE pg_catalog."C"
			ORDER BY s.tv COLLATE pg_catalog."C")
			FILTER (WHERE s.tv IS NOT NULL),
		       portmilter.rollup_sum(s.transactions) AS n,
		       portmilter.rollup_sum(s.accepted),
		       portmilter.rollup_sum(s.rejected),
		       portmilter.rollup_sum(s.conns),
		       min(s.first_seen), max(s.last_seen)
		FROM sums AS s
		GROUP BY s.u, s.net
		HAVING portmilter.rollup_sum(s.transactions) > 0
		ORDER BY n DESC, s.u COLLATE pg_catalog."C" NULLS LAST,
			 2 NULLS LAST;
	END
	$fn$;

	GRANT SELECT ON portmilter.rollup_preview_day, portmilter.rollup_preview_month,
		portmilter.rollup_preview_away TO portmilter_reader;

	-- Every day rolled up so far, filled now (the header).
	FOR d IN SELECT r.day FROM portmilter.rollup_days AS r ORDER BY r.day LOOP
		PERFORM portmilter.rollup_day_preview(d);
	END LOOP;

	INSERT INTO portmilter.schema_version (version) VALUES (24);
END
$migration$;
