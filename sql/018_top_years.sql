-- 018_top_years.sql - `top` over a year from about one row per key
-- (issue 14).
--
-- 015's top_users() and top_ips() rank every key of the port from its
-- month and day rows: over a year, one row per key per month it was
-- seen. On a port where most keys are seen every month (port 25: tens of
-- thousands of addresses) that is most of a million rows to sum for the
-- ten that are shown. This adds, per calendar year, port and key, the
-- running totals of its transactions by month:
--
--   rollup_user_year   (year, port, uid, tx): tx[i] is the key's
--   rollup_ip_year     (year, port, client_addr, tx)  transactions in the
--                      months of that year before month i, i = 1..13;
--                      tx[13] the year's. A run of whole months a..b of
--                      one year is then tx[b + 1] - tx[a]: one row per
--                      key and run, whatever the run's length.
--
-- They hold the months before rollup_year_folded's month ("folded"): the
-- month in progress changes at every day's catch-up and is never whole
-- in a window, so it stays out, and the first catch-up of a month folds
-- the month that ended (one pass over its month rows). Statement
-- triggers on rollup_user_month and rollup_ip_month keep the folded
-- months equal to the month rows (a write to a past month, by
-- rollup_day_keys() or anything else: late rows, UPDATEs, a reduction,
-- is added to the running totals), and a key's row goes when its year
-- holds no transaction. The readers take the whole months not folded
-- yet from the month tables.
--
-- `top` then works in two steps, and gives exactly what 015 gave:
--   1. the transactions of every key in the window: the runs of whole
--      clean months from the year tables, the other clean days from the
--      day tables, the rest from the events (rollup_key_parts());
--      T = the p_limit-th largest;
--   2. the keys with at least T transactions (the first p_limit in the
--      ranking by transactions, then connections, then key, are all among
--      them, and few others are: the ties at T) ranked as 015 ranks them,
--      their connections read for them only (the month and day tables'
--      primary keys, by key), then the winners' events for their rows.
-- When fewer than p_limit keys made a transaction in the window (T would
-- be 0: the ranking goes down to keys with connections only), step 2
-- ranks every key, as 015 did.
--
-- The dashboard's users panel (dashboard_users(): ten users by
-- transactions over every port) takes step 1 alone: when ten users made
-- a transaction in the window, the first ten of step 1 are the panel.
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/018_top_years.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 18.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 15) THEN
		RAISE EXCEPTION 'portmilter: migration 018 needs 001 to 015 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 18) THEN
		RAISE NOTICE 'portmilter: migration 018 already applied, nothing done';
		RETURN;
	END IF;

	CREATE TABLE portmilter.rollup_user_year (
		year date NOT NULL,	-- January 1st
		port integer NOT NULL,
		uid bigint NOT NULL,	-- rollup_user_names.id
		tx bigint[] NOT NULL CHECK (pg_catalog.cardinality(tx) = 13),
		PRIMARY KEY (year, port, uid)
	);
	CREATE TABLE portmilter.rollup_ip_year (
		year date NOT NULL,
		port integer NOT NULL,
		client_addr inet NOT NULL,
		tx bigint[] NOT NULL CHECK (pg_catalog.cardinality(tx) = 13),
		PRIMARY KEY (year, port, client_addr)
	);
	COMMENT ON TABLE portmilter.rollup_user_year IS
		'per year, port and user: tx[i] = transactions in the months before '
		'month i (sql/018_top_years.sql)';
	COMMENT ON TABLE portmilter.rollup_ip_year IS
		'per year, port and client address: tx[i] = transactions in the '
		'months before month i (sql/018_top_years.sql)';

	-- ---- upkeep -------------------------------------------------------------
	-- Add transactions to the running totals: p_tx[j] more in the month
	-- p_month[j] on port p_port[j] for the key p_key[j] (a negative count
	-- takes away). A key whose year is left with none loses its row.
	CREATE FUNCTION portmilter.rollup_user_year_add(p_month date[], p_port integer[],
		p_key bigint[], p_tx bigint[])
	RETURNS void LANGUAGE sql
	SET search_path = pg_catalog, pg_temp
	AS $fn$
		INSERT INTO portmilter.rollup_user_year AS y (year, port, uid, tx)
		SELECT z.* FROM (
			SELECT pg_catalog.make_date(d.yr, 1, 1), d.p, d.k,
			       ARRAY[0::bigint,
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 2), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 3), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 4), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 5), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 6), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 7), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 8), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 9), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 10), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 11), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 12), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 13), 0)]::bigint[]
			FROM (SELECT pg_catalog.date_part('year', x.m)::integer AS yr,
				     pg_catalog.date_part('month', x.m)::integer AS mon, x.p, x.k, x.t
			      FROM ROWS FROM (pg_catalog.unnest(p_month), pg_catalog.unnest(p_port),
					      pg_catalog.unnest(p_key), pg_catalog.unnest(p_tx)) AS x(m, p, k, t)
			      WHERE x.t <> 0) AS d
			GROUP BY d.yr, d.p, d.k) AS z (year, port, k, tx)
		WHERE z.tx <> pg_catalog.array_fill(0::bigint, ARRAY[13])	-- a net change
		ON CONFLICT (year, port, uid) DO UPDATE
		SET tx = ARRAY(SELECT y.tx[i] + excluded.tx[i]
			       FROM pg_catalog.generate_series(1, 13) AS i ORDER BY i);
		DELETE FROM portmilter.rollup_user_year AS y
		USING (SELECT DISTINCT
			pg_catalog.make_date(pg_catalog.date_part('year', d.m)::integer, 1, 1) AS year,
			d.p, d.k
		       FROM ROWS FROM (pg_catalog.unnest(p_month), pg_catalog.unnest(p_port),
					 pg_catalog.unnest(p_key), pg_catalog.unnest(p_tx)) AS d(m, p, k, t)
		       WHERE d.t < 0) AS z
		WHERE y.year = z.year AND y.port = z.p AND y.uid = z.k AND y.tx[13] = 0;
	$fn$;
	CREATE FUNCTION portmilter.rollup_ip_year_add(p_month date[], p_port integer[],
		p_key inet[], p_tx bigint[])
	RETURNS void LANGUAGE sql
	SET search_path = pg_catalog, pg_temp
	AS $fn$
		INSERT INTO portmilter.rollup_ip_year AS y (year, port, client_addr, tx)
		SELECT z.* FROM (
			SELECT pg_catalog.make_date(d.yr, 1, 1), d.p, d.k,
			       ARRAY[0::bigint,
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 2), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 3), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 4), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 5), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 6), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 7), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 8), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 9), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 10), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 11), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 12), 0),
				      COALESCE(sum(d.t) FILTER (WHERE d.mon < 13), 0)]::bigint[]
			FROM (SELECT pg_catalog.date_part('year', x.m)::integer AS yr,
				     pg_catalog.date_part('month', x.m)::integer AS mon, x.p, x.k, x.t
			      FROM ROWS FROM (pg_catalog.unnest(p_month), pg_catalog.unnest(p_port),
					      pg_catalog.unnest(p_key), pg_catalog.unnest(p_tx)) AS x(m, p, k, t)
			      WHERE x.t <> 0) AS d
			GROUP BY d.yr, d.p, d.k) AS z (year, port, k, tx)
		WHERE z.tx <> pg_catalog.array_fill(0::bigint, ARRAY[13])	-- a net change
		ON CONFLICT (year, port, client_addr) DO UPDATE
		SET tx = ARRAY(SELECT y.tx[i] + excluded.tx[i]
			       FROM pg_catalog.generate_series(1, 13) AS i ORDER BY i);
		DELETE FROM portmilter.rollup_ip_year AS y
		USING (SELECT DISTINCT
			pg_catalog.make_date(pg_catalog.date_part('year', d.m)::integer, 1, 1) AS year,
			d.p, d.k
		       FROM ROWS FROM (pg_catalog.unnest(p_month), pg_catalog.unnest(p_port),
					 pg_catalog.unnest(p_key), pg_catalog.unnest(p_tx)) AS d(m, p, k, t)
		       WHERE d.t < 0) AS z
		WHERE y.year = z.year AND y.port = z.p AND y.client_addr = z.k AND y.tx[13] = 0;
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_user_year_add(date[], integer[], bigint[], bigint[]),
		portmilter.rollup_ip_year_add(date[], integer[], inet[], bigint[]) FROM PUBLIC;

	-- Which months the year tables hold: those before `month`. The month
	-- in progress changes every day and is never whole in a window, so
	-- it is left out (its day rows serve): the year tables change only
	-- when a past month does (late rows, UPDATEs, an address reduction:
	-- a few keys), and once a month when the month that ended is folded
	-- in, instead of at every day's catch-up.
	CREATE TABLE portmilter.rollup_year_folded (
		what text PRIMARY KEY CHECK (what IN ('user', 'ip')),
		month date NOT NULL
	);
	INSERT INTO portmilter.rollup_year_folded VALUES
		('user', '-infinity'), ('ip', '-infinity');

	-- Fold the month tables' rows of the months that ended since the last
	-- fold into the year tables (the first fold: every month before this
	-- one).
	CREATE FUNCTION portmilter.rollup_year_fold(p_what text)
	RETURNS void LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	AS $fn$
	DECLARE
		f date;
		cur date := pg_catalog.date_trunc('month', pg_catalog.now())::date;
	BEGIN
		SELECT y.month INTO f FROM portmilter.rollup_year_folded AS y
		WHERE y.what = p_what;
		IF f >= cur THEN
			RETURN;	-- (every call but the first of a month: no lock)
		END IF;
		SELECT y.month INTO f FROM portmilter.rollup_year_folded AS y
		WHERE y.what = p_what FOR UPDATE;
		IF f >= cur THEN
			RETURN;
		END IF;
		IF p_what = 'user' THEN
			PERFORM portmilter.rollup_user_year_add(pg_catalog.array_agg(m.month),
				pg_catalog.array_agg(m.port), pg_catalog.array_agg(m.uid),
				pg_catalog.array_agg(m.transactions))
			FROM portmilter.rollup_user_month AS m
			WHERE m.month >= f AND m.month < cur AND m.transactions <> 0
			HAVING count(*) > 0;
		ELSE
			PERFORM portmilter.rollup_ip_year_add(pg_catalog.array_agg(m.month),
				pg_catalog.array_agg(m.port), pg_catalog.array_agg(m.client_addr),
				pg_catalog.array_agg(m.transactions))
			FROM portmilter.rollup_ip_month AS m
			WHERE m.month >= f AND m.month < cur AND m.transactions <> 0
			HAVING count(*) > 0;
		END IF;
		UPDATE portmilter.rollup_year_folded SET month = cur WHERE what = p_what;
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_year_fold(text) FROM PUBLIC;

	-- The month tables' statement triggers: what a statement inserted in a
	-- folded month is added, what it deleted taken away, an UPDATE both
	-- (one trigger per event: a transition table belongs to one); then
	-- the months that ended since the last fold are folded (the first
	-- catch-up of a month folds the month before; until then the readers
	-- take it from the month table).
	CREATE FUNCTION portmilter.rollup_user_year_trg()
	RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	DECLARE
		f date := (SELECT y.month FROM portmilter.rollup_year_folded AS y
			   WHERE y.what = 'user');
	BEGIN
		IF TG_OP = 'INSERT' THEN
			PERFORM portmilter.rollup_user_year_add(pg_catalog.array_agg(n.month),
				pg_catalog.array_agg(n.port), pg_catalog.array_agg(n.uid),
				pg_catalog.array_agg(n.transactions))
			FROM year_new AS n WHERE n.month < f HAVING count(*) > 0;
		ELSIF TG_OP = 'DELETE' THEN
			PERFORM portmilter.rollup_user_year_add(pg_catalog.array_agg(o.month),
				pg_catalog.array_agg(o.port), pg_catalog.array_agg(o.uid),
				pg_catalog.array_agg(-o.transactions))
			FROM year_old AS o WHERE o.month < f HAVING count(*) > 0;
		ELSE	-- the difference, in one call: one write per key
			PERFORM portmilter.rollup_user_year_add(pg_catalog.array_agg(x.month),
				pg_catalog.array_agg(x.port), pg_catalog.array_agg(x.k),
				pg_catalog.array_agg(x.t))
			FROM (SELECT n.month, n.port, n.uid AS k, n.transactions AS t
			      FROM year_new AS n WHERE n.month < f
			      UNION ALL
			      SELECT o.month, o.port, o.uid, -o.transactions
			      FROM year_old AS o WHERE o.month < f) AS x
			HAVING count(*) > 0;
		END IF;
		PERFORM portmilter.rollup_year_fold('user');
		RETURN NULL;
	END
	$fn$;
	CREATE FUNCTION portmilter.rollup_ip_year_trg()
	RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	DECLARE
		f date := (SELECT y.month FROM portmilter.rollup_year_folded AS y
			   WHERE y.what = 'ip');
	BEGIN
		IF TG_OP = 'INSERT' THEN
			PERFORM portmilter.rollup_ip_year_add(pg_catalog.array_agg(n.month),
				pg_catalog.array_agg(n.port), pg_catalog.array_agg(n.client_addr),
				pg_catalog.array_agg(n.transactions))
			FROM year_new AS n WHERE n.month < f HAVING count(*) > 0;
		ELSIF TG_OP = 'DELETE' THEN
			PERFORM portmilter.rollup_ip_year_add(pg_catalog.array_agg(o.month),
				pg_catalog.array_agg(o.port), pg_catalog.array_agg(o.client_addr),
				pg_catalog.array_agg(-o.transactions))
			FROM year_old AS o WHERE o.month < f HAVING count(*) > 0;
		ELSE	-- the difference, in one call: one write per key
			PERFORM portmilter.rollup_ip_year_add(pg_catalog.array_agg(x.month),
				pg_catalog.array_agg(x.port), pg_catalog.array_agg(x.k),
				pg_catalog.array_agg(x.t))
			FROM (SELECT n.month, n.port, n.client_addr AS k, n.transactions AS t
			      FROM year_new AS n WHERE n.month < f
			      UNION ALL
			      SELECT o.month, o.port, o.client_addr, -o.transactions
			      FROM year_old AS o WHERE o.month < f) AS x
			HAVING count(*) > 0;
		END IF;
		PERFORM portmilter.rollup_year_fold('ip');
		RETURN NULL;
	END
	$fn$;
	CREATE TRIGGER rollup_year_ins AFTER INSERT ON portmilter.rollup_user_month
		REFERENCING NEW TABLE AS year_new
		FOR EACH STATEMENT EXECUTE FUNCTION portmilter.rollup_user_year_trg();
	CREATE TRIGGER rollup_year_upd AFTER UPDATE ON portmilter.rollup_user_month
		REFERENCING OLD TABLE AS year_old NEW TABLE AS year_new
		FOR EACH STATEMENT EXECUTE FUNCTION portmilter.rollup_user_year_trg();
	CREATE TRIGGER rollup_year_del AFTER DELETE ON portmilter.rollup_user_month
		REFERENCING OLD TABLE AS year_old
		FOR EACH STATEMENT EXECUTE FUNCTION portmilter.rollup_user_year_trg();
	CREATE TRIGGER rollup_year_ins AFTER INSERT ON portmilter.rollup_ip_month
		REFERENCING NEW TABLE AS year_new
		FOR EACH STATEMENT EXECUTE FUNCTION portmilter.rollup_ip_year_trg();
	CREATE TRIGGER rollup_year_upd AFTER UPDATE ON portmilter.rollup_ip_month
		REFERENCING OLD TABLE AS year_old NEW TABLE AS year_new
		FOR EACH STATEMENT EXECUTE FUNCTION portmilter.rollup_ip_year_trg();
	CREATE TRIGGER rollup_year_del AFTER DELETE ON portmilter.rollup_ip_month
		REFERENCING OLD TABLE AS year_old
		FOR EACH STATEMENT EXECUTE FUNCTION portmilter.rollup_ip_year_trg();
	-- (TRUNCATE of a month table: nothing does it; the year table would
	-- have to be truncated with it.)

	-- What the month tables hold already, up to this month.
	PERFORM portmilter.rollup_year_fold('user');
	PERFORM portmilter.rollup_year_fold('ip');

	-- ---- reading ------------------------------------------------------------
	-- The runs of consecutive months among p_months (first days, no two
	-- equal), cut at each new year: the run of months lo .. hi - 1 of
	-- the year is tx[hi] - tx[lo] of its row. (No SET clause: inlined.)
	CREATE FUNCTION portmilter.rollup_month_runs(p_months date[])
	RETURNS TABLE (year date, lo integer, hi integer)
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $fn$
		SELECT r.year, min(r.mon), max(r.mon) + 1
		FROM (SELECT pg_catalog.make_date(pg_catalog.date_part('year', m)::integer, 1, 1) AS year,
			     pg_catalog.date_part('month', m)::integer AS mon,
			     pg_catalog.date_part('month', m)::integer
			     - pg_catalog.row_number() OVER (
				PARTITION BY pg_catalog.date_part('year', m) ORDER BY m)::integer AS run
		      FROM pg_catalog.unnest(p_months) AS m) AS r
		GROUP BY r.year, r.run
	$fn$;

	-- top_users(), top_ips(): as 015's, in the two steps of the header.
	CREATE OR REPLACE FUNCTION portmilter.top_users(p_port integer, p_since timestamptz,
		p_until timestamptz, p_limit integer)
	RETURNS TABLE ("user" text, connections bigint, transactions bigint,
		       accepted bigint, rejected bigint, tempfailed bigint,
		       aborted bigint, recipients bigint, exposures bigint,
		       ips bigint, first_seen timestamptz, last_seen timestamptz)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET jit = off
	AS $fn$
	DECLARE
		pt record;
		fm date[];	-- the window's whole months in the year table
		um date[];	-- and the others (not folded yet)
		cands text[];	-- step 2's keys; NULL: every key
		cuids bigint[];	-- their numbers
		winners text[];
	BEGIN
		SELECT * INTO pt FROM portmilter.rollup_key_parts(p_since, p_until);
		SELECT COALESCE(pg_catalog.array_agg(m) FILTER (WHERE m < f.month), '{}'),
		       COALESCE(pg_catalog.array_agg(m) FILTER (WHERE m >= f.month), '{}')
		INTO fm, um
		FROM pg_catalog.unnest(pt.months) AS m, portmilter.rollup_year_folded AS f
		WHERE f.what = 'user';
		IF p_limit > 0 THEN
			WITH tx AS MATERIALIZED (
				SELECT n.sasl_user AS k, sum(x.t) AS t
				FROM (SELECT y.uid, y.tx[r.hi] - y.tx[r.lo] AS t
				      FROM portmilter.rollup_month_runs(fm) AS r
				      JOIN portmilter.rollup_user_year AS y
					ON y.year = r.year AND y.port = p_port
				      UNION ALL
				      SELECT m.uid, m.transactions
				      FROM portmilter.rollup_user_month AS m
				      WHERE m.month = ANY (um) AND m.port = p_port
				      UNION ALL
				      SELECT d.uid, d.transactions
				      FROM portmilter.rollup_user_day AS d
				      WHERE d.day = ANY (pt.days) AND d.port = p_port) AS x
				JOIN portmilter.rollup_user_names AS n ON n.id = x.uid
				GROUP BY n.sasl_user
				UNION ALL
				SELECT e.sasl_user, count(*)
				FROM pg_catalog.unnest(pt.raw) AS r(x)
				CROSS JOIN LATERAL (
					SELECT y.sasl_user FROM portmilter.events AS y
					WHERE y.port = p_port
					  AND y.event_time >= pg_catalog.lower(r.x)
					  AND y.event_time < pg_catalog.upper(r.x)
					  AND y.sasl_user IS NOT NULL AND y.kind = 'transaction'
					OFFSET 0) AS e	-- an index range per part
				GROUP BY e.sasl_user
			), sums AS MATERIALIZED (
				SELECT s.k, sum(s.t) AS t FROM tx AS s
				GROUP BY s.k HAVING sum(s.t) > 0
			)
			SELECT pg_catalog.array_agg(s.k) INTO cands FROM sums AS s
			WHERE s.t >= (SELECT z.t FROM sums AS z ORDER BY z.t DESC
				      OFFSET p_limit - 1 LIMIT 1);
			SELECT pg_catalog.array_agg(n.id) INTO cuids
			FROM portmilter.rollup_user_names AS n WHERE n.sasl_user = ANY (cands);
		END IF;

		WITH raw AS MATERIALIZED (
			SELECT e.conn_id, e.conn_time, e.kind, e.sasl_user,
			       e.conn_time <= e.event_time
			       AND (e.conn_time AT TIME ZONE 'UTC')::date
				= (e.event_time AT TIME ZONE 'UTC')::date AS home
			FROM pg_catalog.unnest(pt.raw) AS r(x)
			CROSS JOIN LATERAL (
				SELECT * FROM portmilter.events AS y
				WHERE y.port = p_port
				  AND y.event_time >= pg_catalog.lower(r.x)
				  AND y.event_time < pg_catalog.upper(r.x)
				  AND y.sasl_user IS NOT NULL
				  AND (cands IS NULL OR y.sasl_user = ANY (cands))
				OFFSET 0) AS e	-- an index range per part
		), sums AS (
			SELECT n.sasl_user AS k, x.nevents, x.transactions, x.home_conns
			FROM (SELECT m.uid, m.nevents, m.transactions, m.home_conns
			      FROM portmilter.rollup_user_month AS m
			      WHERE m.month = ANY (pt.months) AND m.port = p_port
				AND (cands IS NULL OR m.uid = ANY (cuids))
			      UNION ALL
			      SELECT d.uid, d.nevents, d.transactions, d.home_conns
			      FROM portmilter.rollup_user_day AS d
			      WHERE d.day = ANY (pt.days) AND d.port = p_port
				AND (cands IS NULL OR d.uid = ANY (cuids))) AS x
			JOIN portmilter.rollup_user_names AS n ON n.id = x.uid
			UNION ALL
			SELECT w.sasl_user, count(*), count(*) FILTER (WHERE w.kind = 'transaction'),
			       count(DISTINCT w.conn_id) FILTER (WHERE w.home
					AND w.kind IN ('transaction', 'connection'))
			FROM raw AS w GROUP BY w.sasl_user
		), away AS (
			SELECT n.sasl_user AS k, a.conn_id, a.conn_time
			FROM portmilter.rollup_away_events AS a
			JOIN portmilter.rollup_user_names AS n ON n.id = a.uid
			WHERE a.day = ANY (pt.clean) AND a.port = p_port
			  AND a.kind IN ('transaction', 'connection')
			  AND (cands IS NULL OR a.uid = ANY (cuids))
			UNION
			SELECT w.sasl_user, w.conn_id, w.conn_time FROM raw AS w
			WHERE NOT w.home AND w.kind IN ('transaction', 'connection')
		), extra AS (
			SELECT a.k, count(*) AS n FROM away AS a
			WHERE NOT EXISTS (
				SELECT FROM portmilter.events AS x
				WHERE x.port = p_port
				  AND x.event_time >= GREATEST(p_since, a.conn_time)
				  AND x.event_time < LEAST(p_until,
					pg_catalog.date_trunc('day', a.conn_time) + interval '1 day')
				  AND x.conn_id = a.conn_id AND x.sasl_user = a.k
				  AND x.kind IN ('transaction', 'connection')
				OFFSET 0)	-- an index range per connection, never a join
			GROUP BY a.k
		)
		SELECT pg_catalog.array_agg(r.k) INTO winners
		FROM (SELECT s.k, sum(s.transactions) AS tx,
			     sum(s.home_conns) + COALESCE(max(x.n), 0) AS conns
		      FROM sums AS s LEFT JOIN extra AS x ON x.k = s.k
		      GROUP BY s.k
		      HAVING sum(s.nevents) > 0
		      ORDER BY tx DESC, conns DESC, s.k COLLATE pg_catalog."C"
		      LIMIT p_limit) AS r;

		RETURN QUERY
		SELECT e.sasl_user,
		       count(DISTINCT e.conn_id) FILTER (WHERE e.kind IN ('transaction', 'connection')),
		       count(*) FILTER (WHERE e.kind = 'transaction'),
		       count(*) FILTER (WHERE e.verdict = 'accepted'),
		       count(*) FILTER (WHERE e.verdict = 'rejected' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
			AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
					   'postfix_end-of-message')))),
		       count(*) FILTER (WHERE e.verdict = 'tempfailed' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
			AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
					   'postfix_end-of-message')))),
		       count(*) FILTER (WHERE e.verdict = 'aborted' AND e.kind IN ('transaction', 'connection')),
		       COALESCE(sum(e.nrcpt) FILTER (WHERE e.verdict = 'accepted'), 0),
		       count(*) FILTER (WHERE e.credential_exposure),
		       count(DISTINCT e.client_addr),
		       min(e.event_time), max(e.event_time)
		FROM portmilter.events AS e
		WHERE e.sasl_user = ANY (winners) AND e.port = p_port
		  AND e.event_time >= p_since AND e.event_time < p_until
		GROUP BY e.sasl_user
		ORDER BY 3 DESC, 2 DESC, e.sasl_user COLLATE pg_catalog."C"
		LIMIT p_limit;
	END
	$fn$;

	CREATE OR REPLACE FUNCTION portmilter.top_ips(p_port integer, p_since timestamptz,
		p_until timestamptz, p_limit integer)
	RETURNS TABLE (client_addr inet, connections bigint, transactions bigint,
		       accepted bigint, rejected bigint, tempfailed bigint,
		       aborted bigint, recipients bigint, exposures bigint,
		       users bigint, first_seen timestamptz, last_seen timestamptz)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET jit = off
	AS $fn$
	DECLARE
		pt record;
		fm date[];	-- the window's whole months in the year table
		um date[];	-- and the others (not folded yet)
		cands inet[];	-- step 2's keys; NULL: every key
		winners inet[];
	BEGIN
		SELECT * INTO pt FROM portmilter.rollup_key_parts(p_since, p_until);
		SELECT COALESCE(pg_catalog.array_agg(m) FILTER (WHERE m < f.month), '{}'),
		       COALESCE(pg_catalog.array_agg(m) FILTER (WHERE m >= f.month), '{}')
		INTO fm, um
		FROM pg_catalog.unnest(pt.months) AS m, portmilter.rollup_year_folded AS f
		WHERE f.what = 'ip';
		IF p_limit > 0 THEN
			WITH tx AS MATERIALIZED (
				SELECT y.client_addr AS k, y.tx[r.hi] - y.tx[r.lo] AS t
				FROM portmilter.rollup_month_runs(fm) AS r
				JOIN portmilter.rollup_ip_year AS y
				  ON y.year = r.year AND y.port = p_port
				UNION ALL
				SELECT m.client_addr, m.transactions
				FROM portmilter.rollup_ip_month AS m
				WHERE m.month = ANY (um) AND m.port = p_port
				UNION ALL
				SELECT d.client_addr, d.transactions
				FROM portmilter.rollup_ip_day AS d
				WHERE d.day = ANY (pt.days) AND d.port = p_port
				UNION ALL
				SELECT e.client_addr, 1
				FROM pg_catalog.unnest(pt.raw) AS r(x)
				CROSS JOIN LATERAL (
					SELECT y.client_addr FROM portmilter.events AS y
					WHERE y.port = p_port
					  AND y.event_time >= pg_catalog.lower(r.x)
					  AND y.event_time < pg_catalog.upper(r.x)
					  AND y.client_addr IS NOT NULL AND y.kind = 'transaction'
					OFFSET 0) AS e	-- an index range per part
			), sums AS MATERIALIZED (
				SELECT s.k, sum(s.t) AS t FROM tx AS s
				GROUP BY s.k HAVING sum(s.t) > 0
			)
			SELECT pg_catalog.array_agg(s.k) INTO cands FROM sums AS s
			WHERE s.t >= (SELECT z.t FROM sums AS z ORDER BY z.t DESC
				      OFFSET p_limit - 1 LIMIT 1);
		END IF;

		WITH raw AS MATERIALIZED (
			SELECT e.conn_id, e.conn_time, e.kind, e.client_addr,
			       e.conn_time <= e.event_time
			       AND (e.conn_time AT TIME ZONE 'UTC')::date
				= (e.event_time AT TIME ZONE 'UTC')::date AS home
			FROM pg_catalog.unnest(pt.raw) AS r(x)
			CROSS JOIN LATERAL (
				SELECT * FROM portmilter.events AS y
				WHERE y.port = p_port
				  AND y.event_time >= pg_catalog.lower(r.x)
				  AND y.event_time < pg_catalog.upper(r.x)
				  AND y.client_addr IS NOT NULL
				  AND (cands IS NULL OR y.client_addr = ANY (cands))
				OFFSET 0) AS e	-- an index range per part
		), sums AS (
			SELECT m.client_addr AS k, m.nevents, m.transactions, m.home_conns
			FROM portmilter.rollup_ip_month AS m
			WHERE m.month = ANY (pt.months) AND m.port = p_port
			  AND (cands IS NULL OR m.client_addr = ANY (cands))
			UNION ALL
			SELECT d.client_addr, d.nevents, d.transactions, d.home_conns
			FROM portmilter.rollup_ip_day AS d
			WHERE d.day = ANY (pt.days) AND d.port = p_port
			  AND (cands IS NULL OR d.client_addr = ANY (cands))
			UNION ALL
			SELECT w.client_addr, count(*), count(*) FILTER (WHERE w.kind = 'transaction'),
			       count(DISTINCT w.conn_id) FILTER (WHERE w.home
					AND w.kind IN ('transaction', 'connection'))
			FROM raw AS w GROUP BY w.client_addr
		), away AS (
			SELECT a.client_addr AS k, a.conn_id, a.conn_time
			FROM portmilter.rollup_away_events AS a
			WHERE a.day = ANY (pt.clean) AND a.port = p_port
			  AND a.kind IN ('transaction', 'connection')
			  AND a.client_addr IS NOT NULL
			  AND (cands IS NULL OR a.client_addr = ANY (cands))
			UNION
			SELECT w.client_addr, w.conn_id, w.conn_time FROM raw AS w
			WHERE NOT w.home AND w.kind IN ('transaction', 'connection')
		), extra AS (
			SELECT a.k, count(*) AS n FROM away AS a
			WHERE NOT EXISTS (
				SELECT FROM portmilter.events AS x
				WHERE x.port = p_port
				  AND x.event_time >= GREATEST(p_since, a.conn_time)
				  AND x.event_time < LEAST(p_until,
					pg_catalog.date_trunc('day', a.conn_time) + interval '1 day')
				  AND x.conn_id = a.conn_id AND x.client_addr = a.k
				  AND x.kind IN ('transaction', 'connection')
				OFFSET 0)	-- an index range per connection, never a join
			GROUP BY a.k
		)
		SELECT pg_catalog.array_agg(r.k) INTO winners
		FROM (SELECT s.k, sum(s.transactions) AS tx,
			     sum(s.home_conns) + COALESCE(max(x.n), 0) AS conns
		      FROM sums AS s LEFT JOIN extra AS x ON x.k = s.k
		      GROUP BY s.k
		      HAVING sum(s.nevents) > 0
		      ORDER BY tx DESC, conns DESC, s.k
		      LIMIT p_limit) AS r;

		RETURN QUERY
		SELECT e.client_addr,
		       count(DISTINCT e.conn_id) FILTER (WHERE e.kind IN ('transaction', 'connection')),
		       count(*) FILTER (WHERE e.kind = 'transaction'),
		       count(*) FILTER (WHERE e.verdict = 'accepted'),
		       count(*) FILTER (WHERE e.verdict = 'rejected' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
			AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
					   'postfix_end-of-message')))),
		       count(*) FILTER (WHERE e.verdict = 'tempfailed' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
			AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
					   'postfix_end-of-message')))),
		       count(*) FILTER (WHERE e.verdict = 'aborted' AND e.kind IN ('transaction', 'connection')),
		       COALESCE(sum(e.nrcpt) FILTER (WHERE e.verdict = 'accepted'), 0),
		       count(*) FILTER (WHERE e.credential_exposure),
		       count(DISTINCT e.sasl_user),
		       min(e.event_time), max(e.event_time)
		FROM portmilter.events AS e
		WHERE e.client_addr = ANY (winners) AND e.port = p_port
		  AND e.event_time >= p_since AND e.event_time < p_until
		GROUP BY e.client_addr
		ORDER BY 3 DESC, 2 DESC, e.client_addr
		LIMIT p_limit;
	END
	$fn$;

	-- The dashboard's users panel (015's dashboard_users(): the ten users
	-- with the most transactions, every port): the same first step over
	-- every port; when ten users made a transaction in the window, they
	-- are the answer (a user with none comes after them); else 015's
	-- query, which goes on into users with events only.
	CREATE OR REPLACE FUNCTION portmilter.dashboard_users(p_since timestamptz,
		p_until timestamptz)
	RETURNS TABLE (sasl_user text, n bigint)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET jit = off
	AS $fn$
	DECLARE
		pt record;
		fm date[];	-- the window's whole months in the year table
		um date[];	-- and the others (not folded yet)
		ks text[];
		ts bigint[];
	BEGIN
		SELECT * INTO pt FROM portmilter.rollup_key_parts(p_since, p_until);
		SELECT COALESCE(pg_catalog.array_agg(m) FILTER (WHERE m < f.month), '{}'),
		       COALESCE(pg_catalog.array_agg(m) FILTER (WHERE m >= f.month), '{}')
		INTO fm, um
		FROM pg_catalog.unnest(pt.months) AS m, portmilter.rollup_year_folded AS f
		WHERE f.what = 'user';
		WITH tx AS MATERIALIZED (
			SELECT nm.sasl_user AS k, sum(x.t) AS t
			FROM (SELECT y.uid, y.tx[r.hi] - y.tx[r.lo] AS t
			      FROM portmilter.rollup_month_runs(fm) AS r
			      JOIN portmilter.rollup_user_year AS y ON y.year = r.year
			      UNION ALL
			      SELECT m.uid, m.transactions
			      FROM portmilter.rollup_user_month AS m
			      WHERE m.month = ANY (um)
			      UNION ALL
			      SELECT d.uid, d.transactions
			      FROM portmilter.rollup_user_day AS d
			      WHERE d.day = ANY (pt.days)) AS x
			JOIN portmilter.rollup_user_names AS nm ON nm.id = x.uid
			GROUP BY nm.sasl_user
			UNION ALL
			SELECT e.sasl_user, count(*)
			FROM pg_catalog.unnest(pt.raw) AS r(x)
			CROSS JOIN LATERAL (
				SELECT y.sasl_user FROM portmilter.events AS y
				WHERE y.event_time >= pg_catalog.lower(r.x)
				  AND y.event_time < pg_catalog.upper(r.x)
				  AND y.sasl_user IS NOT NULL AND y.kind = 'transaction'
				OFFSET 0) AS e
			GROUP BY e.sasl_user
		)
		SELECT pg_catalog.array_agg(z.k ORDER BY z.t DESC, z.k COLLATE pg_catalog."C"),
		       pg_catalog.array_agg(z.t ORDER BY z.t DESC, z.k COLLATE pg_catalog."C")
		INTO ks, ts
		FROM (SELECT s.k, sum(s.t)::bigint AS t FROM tx AS s
		      GROUP BY s.k HAVING sum(s.t) > 0
		      ORDER BY 2 DESC, s.k COLLATE pg_catalog."C" LIMIT 10) AS z;
		IF pg_catalog.cardinality(ks) = 10 THEN
			RETURN QUERY SELECT u.k, u.t
			FROM ROWS FROM (pg_catalog.unnest(ks), pg_catalog.unnest(ts))
				WITH ORDINALITY AS u(k, t, i)
			ORDER BY u.i;
			RETURN;
		END IF;
		RETURN QUERY
		SELECT s.k, sum(s.transactions)::bigint AS tx
		FROM (SELECT nm.sasl_user AS k, x.nevents, x.transactions
		      FROM (SELECT m.uid, m.nevents, m.transactions
			    FROM portmilter.rollup_user_month AS m
			    WHERE m.month = ANY (pt.months)
			    UNION ALL
			    SELECT d.uid, d.nevents, d.transactions
			    FROM portmilter.rollup_user_day AS d
			    WHERE d.day = ANY (pt.days)) AS x
		      JOIN portmilter.rollup_user_names AS nm ON nm.id = x.uid
		      UNION ALL
		      SELECT e.sasl_user, count(*), count(*) FILTER (WHERE e.kind = 'transaction')
		      FROM pg_catalog.unnest(pt.raw) AS r(x)
		      CROSS JOIN LATERAL (
			SELECT * FROM portmilter.events AS y
			WHERE y.event_time >= pg_catalog.lower(r.x)
			  AND y.event_time < pg_catalog.upper(r.x)
			OFFSET 0) AS e
		      WHERE e.sasl_user IS NOT NULL
		      GROUP BY e.sasl_user) AS s
		GROUP BY s.k
		HAVING sum(s.nevents) > 0
		ORDER BY tx DESC, s.k COLLATE pg_catalog."C"
		LIMIT 10;
	END
	$fn$;

	GRANT SELECT ON portmilter.rollup_user_year, portmilter.rollup_ip_year,
		portmilter.rollup_year_folded TO portmilter_reader;

	INSERT INTO portmilter.schema_version (version) VALUES (18);
END
$migration$;
