-- 015_rollups_keys.sql - per-key rollups, so that `top` and `dashboard`
-- over any window up to a year answer from rollups (issue 14), exact
-- right after rows land by any path, like 014's.
--
-- 014 marks dirty days and rolls them up per port; this adds, in the
-- same catch-up (rollup_catchup() now calls rollup_day_keys() after
-- rollup_day() for each dirty day):
--
--   rollup_user_names    the SASL user names the rollups count, each with
--                        a number (uid): the only table of 015 holding a
--                        name, so that forget_user() renames it there
--                        (the column is sasl_user; not unique: two
--                        spellings forgotten into one pseudonym keep
--                        their two numbers, and the readers group by the
--                        name)
--   rollup_user_day      per UTC day, port and user: events,
--   rollup_user_month    transactions, connections at home (below); the
--                        month table holds the sums of the day table's
--                        rows of that month, kept so by rollup_day_keys()
--   rollup_ip_day        the same per client address
--   rollup_ip_month
--   rollup_net_day       per client network (the dashboard's: /24, /64),
--   rollup_net_month     every port: events and connections at home
--   rollup_away_events   the events not at home (below): on a day after
--                        their connection's conn_time day (a connection
--                        across midnight: a few per day), or before it
--   rollup_exposure_day  per day and user (uid 0: none): exposures
--   rollup_dash_day      per day, port and key: the dashboard's rejections
--                        by rule ('rule', as `ports` counts them) and
--                        transactions by TLS version ('tls', '' = none)
--
-- Distinct connections per key, exactly, from additive rows: an event is
-- "at home" when it is on the UTC day of its connection's conn_time and
-- not before it. All the home events of a connection lie between its
-- conn_time and the end of that day, so the distinct connections of a
-- key among home events, counted per day, add up over any set of days
-- without counting a connection twice. A connection of the key with no
-- home event in the window is found among the away events
-- (rollup_away_events for clean days, the events for the rest), checked
-- against its home events in the window (one index range, from its
-- conn_time to that midnight, per such connection: a few a day, most
-- minutes long), and added.
--
-- A window is read as: whole clean months from the month tables, the
-- other clean days from the day tables, the rest (ragged edges, dirty
-- days, today) from the events, as in 014 (rollup_parts()). `top` then
-- ranks the keys from those sums and reads the events of the winners
-- only (the user or address index) for their full rows.
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/015_rollups_keys.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 15.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 14) THEN
		RAISE EXCEPTION 'portmilter: migration 015 needs 001 to 014 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 15) THEN
		RAISE NOTICE 'portmilter: migration 015 already applied, nothing done';
		RETURN;
	END IF;

	CREATE TABLE portmilter.rollup_user_names (
		id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		sasl_user text NOT NULL
	);
	CREATE INDEX rollup_user_names_idx
		ON portmilter.rollup_user_names (sasl_user);
	COMMENT ON TABLE portmilter.rollup_user_names IS
		'the SASL user names of the per-user rollups (not unique: see '
		'sql/015_rollups_keys.sql)';

	CREATE TABLE portmilter.rollup_user_day (
		day date NOT NULL,
		port integer NOT NULL,
		uid bigint NOT NULL,
		nevents bigint NOT NULL,
		transactions bigint NOT NULL,
		home_conns bigint NOT NULL,
		PRIMARY KEY (day, port, uid)
	);
	CREATE TABLE portmilter.rollup_user_month (
		month date NOT NULL,
		port integer NOT NULL,
		uid bigint NOT NULL,
		nevents bigint NOT NULL,
		transactions bigint NOT NULL,
		home_conns bigint NOT NULL,
		PRIMARY KEY (month, port, uid)
	);
	CREATE INDEX rollup_user_month_zero
		ON portmilter.rollup_user_month (month) WHERE nevents = 0;
	CREATE TABLE portmilter.rollup_ip_day (
		day date NOT NULL,
		port integer NOT NULL,
		client_addr inet NOT NULL,
		nevents bigint NOT NULL,
		transactions bigint NOT NULL,
		home_conns bigint NOT NULL,
		PRIMARY KEY (day, port, client_addr)
	);
	CREATE TABLE portmilter.rollup_ip_month (
		month date NOT NULL,
		port integer NOT NULL,
		client_addr inet NOT NULL,
		nevents bigint NOT NULL,
		transactions bigint NOT NULL,
		home_conns bigint NOT NULL,
		PRIMARY KEY (month, port, client_addr)
	);
	CREATE INDEX rollup_ip_month_zero
		ON portmilter.rollup_ip_month (month) WHERE nevents = 0;
	CREATE TABLE portmilter.rollup_net_day (
		day date NOT NULL,
		network text NOT NULL,
		nevents bigint NOT NULL,
		home_conns bigint NOT NULL,
		PRIMARY KEY (day, network)
	);
	CREATE TABLE portmilter.rollup_net_month (
		month date NOT NULL,
		network text NOT NULL,
		nevents bigint NOT NULL,
		home_conns bigint NOT NULL,
		PRIMARY KEY (month, network)
	);
	CREATE INDEX rollup_net_month_zero
		ON portmilter.rollup_net_month (month) WHERE nevents = 0;
	CREATE TABLE portmilter.rollup_away_events (
		day date NOT NULL,
		port integer NOT NULL,
		conn_id uuid NOT NULL,
		conn_time timestamptz NOT NULL,
		kind text NOT NULL,
		uid bigint,		-- rollup_user_names.id, NULL: no user
		client_addr inet
	);
	CREATE INDEX rollup_away_events_day
		ON portmilter.rollup_away_events (day, port);
	CREATE TABLE portmilter.rollup_exposure_day (
		day date NOT NULL,
		uid bigint NOT NULL,	-- 0: no user
		n bigint NOT NULL,
		PRIMARY KEY (day, uid)
	);
	CREATE TABLE portmilter.rollup_dash_day (
		day date NOT NULL,
		what text NOT NULL CHECK (what IN ('rule', 'tls')),
		port integer NOT NULL,
		key text NOT NULL,
		n bigint NOT NULL,
		PRIMARY KEY (day, what, port, key)
	);

	-- ---- the network of an address, as the dashboard shows it -------------
	-- (No SET clause, every name qualified: the planner inlines it, where
	-- a call per row would cost more than the expression.)
	CREATE FUNCTION portmilter.rollup_net(a inet)
	RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	AS $fn$
		SELECT pg_catalog.network(pg_catalog.set_masklen(a,
			LEAST(pg_catalog.masklen(a),
			      CASE pg_catalog.family(a) WHEN 4 THEN 24 ELSE 64 END)))::text
	$fn$;

	-- ---- marking: as 014, tls_version added (the dashboard reads it) -------
	CREATE OR REPLACE FUNCTION portmilter.rollup_mark_upd()
	RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	BEGIN
		INSERT INTO portmilter.rollup_dirty AS r (day)
		SELECT DISTINCT x.day FROM (
			SELECT (o.event_time AT TIME ZONE 'UTC')::date AS d1,
			       (n.event_time AT TIME ZONE 'UTC')::date AS d2
			FROM rollup_old AS o
			FULL JOIN rollup_new AS n ON n.event_id = o.event_id
			WHERE n.event_id IS NULL OR o.event_id IS NULL
			   OR (o.event_time, o.conn_id, o.conn_time, o.kind, o.port,
			       o.client_addr, o.sasl_method, o.sasl_user, o.verdict,
			       o.rule, o.credential_exposure, o.tls_version)
			   IS DISTINCT FROM
			      (n.event_time, n.conn_id, n.conn_time, n.kind, n.port,
			       n.client_addr, n.sasl_method, n.sasl_user, n.verdict,
			       n.rule, n.credential_exposure, n.tls_version)
		) AS c
		CROSS JOIN LATERAL (VALUES (c.d1), (c.d2)) AS x(day)
		WHERE x.day IS NOT NULL
		ORDER BY 1
		ON CONFLICT (day) DO UPDATE SET gen = r.gen + 1;
		RETURN NULL;
	END
	$fn$;

	-- ---- catch-up -----------------------------------------------------------
	-- Recompute one day's key rollups from the events, and keep the month
	-- tables equal to the sums of their day rows: the day's old rows are
	-- taken away from its month, its new ones added. Called by
	-- rollup_catchup() only, with the day's mark locked.
	CREATE FUNCTION portmilter.rollup_day_keys(p_day date)
	RETURNS void LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	AS $fn$
	DECLARE
		t0 timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
		t1 timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
		mon date := pg_catalog.date_trunc('month', p_day)::date;
	BEGIN
		SET LOCAL client_min_messages = warning;
		CREATE TEMP TABLE IF NOT EXISTS rollup_ev (
			port integer, conn_id uuid, conn_time timestamptz,
			home boolean, milter boolean, kind text, transaction boolean,
			sasl_user text, uid bigint, client_addr inet, net text,
			verdict text, rule text, tls_version text, exposure boolean
		) ON COMMIT DROP;
		TRUNCATE rollup_ev;
		INSERT INTO rollup_ev
		SELECT e.port, e.conn_id, e.conn_time,
		       e.conn_time >= t0 AND e.conn_time <= e.event_time,
		       e.kind IN ('transaction', 'connection'), e.kind,
		       e.kind = 'transaction', e.sasl_user, NULL, e.client_addr,
		       portmilter.rollup_net(e.client_addr), e.verdict, e.rule,
		       NULLIF(e.tls_version, ''), e.credential_exposure
		FROM portmilter.events AS e
		WHERE e.event_time >= t0 AND e.event_time < t1;

		-- user numbers: a new name gets one; a name with several (see
		-- the header) takes its lowest
		INSERT INTO portmilter.rollup_user_names (sasl_user)
		SELECT DISTINCT v.sasl_user FROM rollup_ev AS v
		WHERE v.sasl_user IS NOT NULL
		  AND NOT EXISTS (SELECT FROM portmilter.rollup_user_names AS n
				  WHERE n.sasl_user = v.sasl_user);
		UPDATE rollup_ev AS v SET uid = m.id
		FROM (SELECT n.sasl_user, min(n.id) AS id
		      FROM portmilter.rollup_user_names AS n
		      WHERE n.sasl_user IN (SELECT w.sasl_user FROM rollup_ev AS w)
		      GROUP BY n.sasl_user) AS m
		WHERE v.sasl_user = m.sasl_user;
		ANALYZE rollup_ev;

		-- users
		WITH old AS (
			DELETE FROM portmilter.rollup_user_day WHERE day = p_day
			RETURNING port, uid, nevents, transactions, home_conns
		)
		UPDATE portmilter.rollup_user_month AS m
		SET nevents = m.nevents - o.nevents,
		    transactions = m.transactions - o.transactions,
		    home_conns = m.home_conns - o.home_conns
		FROM old AS o
		WHERE m.month = mon AND m.port = o.port AND m.uid = o.uid;
		WITH new AS (
			INSERT INTO portmilter.rollup_user_day
			SELECT p_day, v.port, v.uid, count(*),
			       count(*) FILTER (WHERE v.transaction),
			       count(DISTINCT v.conn_id) FILTER (WHERE v.home AND v.milter)
			FROM rollup_ev AS v WHERE v.uid IS NOT NULL
			GROUP BY v.port, v.uid
			RETURNING port, uid, nevents, transactions, home_conns
		)
		INSERT INTO portmilter.rollup_user_month AS m
		SELECT mon, n.port, n.uid, n.nevents, n.transactions, n.home_conns
		FROM new AS n
		ON CONFLICT (month, port, uid) DO UPDATE
		SET nevents = m.nevents + excluded.nevents,
		    transactions = m.transactions + excluded.transactions,
		    home_conns = m.home_conns + excluded.home_conns;
		DELETE FROM portmilter.rollup_user_month AS m
		WHERE m.month = mon AND m.nevents = 0;

		-- addresses
		WITH old AS (
			DELETE FROM portmilter.rollup_ip_day WHERE day = p_day
			RETURNING port, client_addr, nevents, transactions, home_conns
		)
		UPDATE portmilter.rollup_ip_month AS m
		SET nevents = m.nevents - o.nevents,
		    transactions = m.transactions - o.transactions,
		    home_conns = m.home_conns - o.home_conns
		FROM old AS o
		WHERE m.month = mon AND m.port = o.port AND m.client_addr = o.client_addr;
		WITH new AS (
			INSERT INTO portmilter.rollup_ip_day
			SELECT p_day, v.port, v.client_addr, count(*),
			       count(*) FILTER (WHERE v.transaction),
			       count(DISTINCT v.conn_id) FILTER (WHERE v.home AND v.milter)
			FROM rollup_ev AS v WHERE v.client_addr IS NOT NULL
			GROUP BY v.port, v.client_addr
			RETURNING port, client_addr, nevents, transactions, home_conns
		)
		INSERT INTO portmilter.rollup_ip_month AS m
		SELECT mon, n.port, n.client_addr, n.nevents, n.transactions, n.home_conns
		FROM new AS n
		ON CONFLICT (month, port, client_addr) DO UPDATE
		SET nevents = m.nevents + excluded.nevents,
		    transactions = m.transactions + excluded.transactions,
		    home_conns = m.home_conns + excluded.home_conns;
		DELETE FROM portmilter.rollup_ip_month AS m
		WHERE m.month = mon AND m.nevents = 0;

		-- networks (every kind of row counts: the dashboard's panel)
		WITH old AS (
			DELETE FROM portmilter.rollup_net_day WHERE day = p_day
			RETURNING network, nevents, home_conns
		)
		UPDATE portmilter.rollup_net_month AS m
		SET nevents = m.nevents - o.nevents,
		    home_conns = m.home_conns - o.home_conns
		FROM old AS o
		WHERE m.month = mon AND m.network = o.network;
		WITH new AS (
			INSERT INTO portmilter.rollup_net_day
			SELECT p_day, v.net, count(*),
			       count(DISTINCT v.conn_id) FILTER (WHERE v.home)
			FROM rollup_ev AS v WHERE v.net IS NOT NULL
			GROUP BY v.net
			RETURNING network, nevents, home_conns
		)
		INSERT INTO portmilter.rollup_net_month AS m
		SELECT mon, n.network, n.nevents, n.home_conns
		FROM new AS n
		ON CONFLICT (month, network) DO UPDATE
		SET nevents = m.nevents + excluded.nevents,
		    home_conns = m.home_conns + excluded.home_conns;
		DELETE FROM portmilter.rollup_net_month AS m
		WHERE m.month = mon AND m.nevents = 0;

		DELETE FROM portmilter.rollup_away_events WHERE day = p_day;
		INSERT INTO portmilter.rollup_away_events
		SELECT p_day, v.port, v.conn_id, v.conn_time, v.kind, v.uid, v.client_addr
		FROM rollup_ev AS v WHERE NOT v.home;

		DELETE FROM portmilter.rollup_exposure_day WHERE day = p_day;
		INSERT INTO portmilter.rollup_exposure_day
		SELECT p_day, COALESCE(v.uid, 0), count(*)
		FROM rollup_ev AS v WHERE v.exposure
		GROUP BY 2;

		DELETE FROM portmilter.rollup_dash_day WHERE day = p_day;
		INSERT INTO portmilter.rollup_dash_day
		SELECT p_day, 'rule', v.port, COALESCE(v.rule, '(none)'), count(*)
		FROM rollup_ev AS v
		WHERE v.verdict = 'rejected' AND (v.milter OR (v.kind = 'refused'
			AND v.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
					   'postfix_end-of-message')))
		GROUP BY 3, 4;
		INSERT INTO portmilter.rollup_dash_day
		SELECT p_day, 'tls', v.port, COALESCE(v.tls_version, ''), count(*)
		FROM rollup_ev AS v WHERE v.transaction
		GROUP BY 3, 4;
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_day_keys(date) FROM PUBLIC;

	-- As in 014, and the day's key rollups after its counts.
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
			END IF;
			DELETE FROM portmilter.rollup_dirty WHERE day = d;
			n := n + 1;
		END LOOP;
		RETURN n;
	END
	$fn$;

	-- ---- reading ------------------------------------------------------------
	-- rollup_parts() and the whole clean months among its days: months
	-- (first days), and days, the clean days outside them; raw as there.
	CREATE FUNCTION portmilter.rollup_key_parts(p_since timestamptz, p_until timestamptz,
		OUT months date[], OUT days date[], OUT clean date[], OUT raw tstzrange[])
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	AS $fn$
	DECLARE
		pt record;
		today timestamptz := pg_catalog.date_trunc('day', pg_catalog.now());
	BEGIN
		SELECT * INTO pt FROM portmilter.rollup_parts(p_since, p_until);
		raw := pt.raw;
		clean := pt.days;
		SELECT COALESCE(pg_catalog.array_agg(x.m ORDER BY x.m), '{}') INTO months
		FROM (SELECT DISTINCT pg_catalog.date_trunc('month', d)::date AS m
		      FROM pg_catalog.unnest(pt.days) AS d) AS x
		WHERE x.m::timestamptz >= p_since
		  AND (x.m + interval '1 month')::timestamptz <= LEAST(p_until, today)
		  AND NOT EXISTS (SELECT FROM pg_catalog.unnest(pt.raw) AS r(x)
				  WHERE r.x && pg_catalog.tstzrange(x.m::timestamptz,
					(x.m + interval '1 month')::timestamptz));
		SELECT COALESCE(pg_catalog.array_agg(d ORDER BY d), '{}') INTO days
		FROM pg_catalog.unnest(pt.days) AS d
		WHERE NOT pg_catalog.date_trunc('month', d)::date = ANY (months);
	END
	$fn$;

	-- The keys of one port ranked as `top` ranks them (transactions, then
	-- connections, then the key), from the parts; then the events of the
	-- first p_limit (the key's index) for their rows.
	CREATE FUNCTION portmilter.top_users(p_port integer, p_since timestamptz,
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
		winners text[];
	BEGIN
		SELECT * INTO pt FROM portmilter.rollup_key_parts(p_since, p_until);
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
				OFFSET 0) AS e	-- an index range per part
		), sums AS (
			SELECT n.sasl_user AS k, x.nevents, x.transactions, x.home_conns
			FROM (SELECT m.uid, m.nevents, m.transactions, m.home_conns
			      FROM portmilter.rollup_user_month AS m
			      WHERE m.month = ANY (pt.months) AND m.port = p_port
			      UNION ALL
			      SELECT d.uid, d.nevents, d.transactions, d.home_conns
			      FROM portmilter.rollup_user_day AS d
			      WHERE d.day = ANY (pt.days) AND d.port = p_port) AS x
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

	CREATE FUNCTION portmilter.top_ips(p_port integer, p_since timestamptz,
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
		winners inet[];
	BEGIN
		SELECT * INTO pt FROM portmilter.rollup_key_parts(p_since, p_until);
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
				OFFSET 0) AS e	-- an index range per part
		), sums AS (
			SELECT m.client_addr AS k, m.nevents, m.transactions, m.home_conns
			FROM portmilter.rollup_ip_month AS m
			WHERE m.month = ANY (pt.months) AND m.port = p_port
			UNION ALL
			SELECT d.client_addr, d.nevents, d.transactions, d.home_conns
			FROM portmilter.rollup_ip_day AS d
			WHERE d.day = ANY (pt.days) AND d.port = p_port
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

	-- ---- the dashboard's panels ----------------------------------------------
	-- Each: the rollups of the clean days (months where whole), the events
	-- for the rest; the same rows as the panel's query over the events.
	CREATE FUNCTION portmilter.dashboard_users(p_since timestamptz, p_until timestamptz)
	RETURNS TABLE (sasl_user text, n bigint)
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
		SELECT s.k, sum(s.transactions)::bigint AS tx
		FROM (SELECT n.sasl_user AS k, x.nevents, x.transactions
		      FROM (SELECT m.uid, m.nevents, m.transactions
			    FROM portmilter.rollup_user_month AS m
			    WHERE m.month = ANY (pt.months)
			    UNION ALL
			    SELECT d.uid, d.nevents, d.transactions
			    FROM portmilter.rollup_user_day AS d
			    WHERE d.day = ANY (pt.days)) AS x
		      JOIN portmilter.rollup_user_names AS n ON n.id = x.uid
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

	CREATE FUNCTION portmilter.dashboard_networks(p_since timestamptz, p_until timestamptz)
	RETURNS TABLE (network text, n bigint)
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
			SELECT e.conn_id, e.conn_time, portmilter.rollup_net(e.client_addr) AS net,
			       e.conn_time <= e.event_time
			       AND (e.conn_time AT TIME ZONE 'UTC')::date
				= (e.event_time AT TIME ZONE 'UTC')::date AS home
			FROM pg_catalog.unnest(pt.raw) AS r(x)
			CROSS JOIN LATERAL (
				SELECT * FROM portmilter.events AS y
				WHERE y.event_time >= pg_catalog.lower(r.x)
				  AND y.event_time < pg_catalog.upper(r.x)
				  AND y.client_addr IS NOT NULL
				OFFSET 0) AS e
		), sums AS (
			SELECT m.network AS k, m.nevents, m.home_conns
			FROM portmilter.rollup_net_month AS m
			WHERE m.month = ANY (pt.months)
			UNION ALL
			SELECT d.network, d.nevents, d.home_conns
			FROM portmilter.rollup_net_day AS d
			WHERE d.day = ANY (pt.days)
			UNION ALL
			SELECT w.net, count(*), count(DISTINCT w.conn_id) FILTER (WHERE w.home)
			FROM raw AS w GROUP BY w.net
		), away AS (
			SELECT portmilter.rollup_net(a.client_addr) AS k, a.conn_id, a.conn_time
			FROM portmilter.rollup_away_events AS a
			WHERE a.day = ANY (pt.clean) AND a.client_addr IS NOT NULL
			UNION
			SELECT w.net, w.conn_id, w.conn_time FROM raw AS w WHERE NOT w.home
		), extra AS (
			SELECT a.k, count(*) AS n FROM away AS a
			WHERE NOT EXISTS (
				SELECT FROM portmilter.events AS x
				WHERE x.event_time >= GREATEST(p_since, a.conn_time)
				  AND x.event_time < LEAST(p_until,
					pg_catalog.date_trunc('day', a.conn_time) + interval '1 day')
				  AND x.conn_id = a.conn_id AND x.client_addr IS NOT NULL
				  AND portmilter.rollup_net(x.client_addr) = a.k
				OFFSET 0)	-- an index range per connection, never a join
			GROUP BY a.k
		)
		SELECT s.k, (sum(s.home_conns) + COALESCE(max(x.n), 0))::bigint AS conns
		FROM sums AS s LEFT JOIN extra AS x ON x.k = s.k
		GROUP BY s.k
		HAVING sum(s.nevents) > 0
		ORDER BY conns DESC, 1
		LIMIT 10;
	END
	$fn$;

	CREATE FUNCTION portmilter.dashboard_exposures(p_since timestamptz, p_until timestamptz)
	RETURNS TABLE (sasl_user text, n bigint)
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
		SELECT s.k, sum(s.n)::bigint AS total
		FROM (SELECT COALESCE(u.sasl_user, '(no user)') AS k, x.n
		      FROM portmilter.rollup_exposure_day AS x
		      LEFT JOIN portmilter.rollup_user_names AS u ON u.id = x.uid
		      WHERE x.day = ANY (pt.clean)
		      UNION ALL
		      SELECT COALESCE(e.sasl_user, '(no user)'), count(*)
		      FROM pg_catalog.unnest(pt.raw) AS r(x)
		      CROSS JOIN LATERAL (
			SELECT * FROM portmilter.events AS y
			WHERE y.event_time >= pg_catalog.lower(r.x)
			  AND y.event_time < pg_catalog.upper(r.x)
			OFFSET 0) AS e
		      WHERE e.credential_exposure
		      GROUP BY 1) AS s
		GROUP BY s.k
		ORDER BY total DESC, s.k COLLATE pg_catalog."C"
		LIMIT 10;
	END
	$fn$;

	-- rule: rejections by rule, counted as `ports` counts rejects_by_rule
	-- (sql/005_logreader.sql: Postfix's refusals at RCPT and later are the
	-- milter's rows too, not counted twice; a failed login or an exposure
	-- is no rejection); tls: transactions by port and version ('': none).
	CREATE FUNCTION portmilter.rollup_dash(p_what text, p_since timestamptz,
		p_until timestamptz)
	RETURNS TABLE (port integer, key text, n bigint)
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
		SELECT s.port, s.key, sum(s.n)::bigint
		FROM (SELECT d.port, d.key, d.n FROM portmilter.rollup_dash_day AS d
		      WHERE d.day = ANY (pt.clean) AND d.what = p_what
		      UNION ALL
		      SELECT e.port,
			     CASE p_what WHEN 'rule' THEN COALESCE(e.rule, '(none)')
			     ELSE COALESCE(NULLIF(e.tls_version, ''), '') END,
			     count(*)
		      FROM pg_catalog.unnest(pt.raw) AS r(x)
		      CROSS JOIN LATERAL (
			SELECT * FROM portmilter.events AS y
			WHERE y.event_time >= pg_catalog.lower(r.x)
			  AND y.event_time < pg_catalog.upper(r.x)
			OFFSET 0) AS e
		      WHERE CASE p_what
			    WHEN 'rule' THEN e.verdict = 'rejected'
				AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
				AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
						   'postfix_end-of-message')))
			    ELSE e.kind = 'transaction' END
		      GROUP BY 1, 2) AS s
		GROUP BY s.port, s.key;
	END
	$fn$;

	CREATE FUNCTION portmilter.dashboard_rules(p_since timestamptz, p_until timestamptz)
	RETURNS TABLE (rule text, n bigint)
	LANGUAGE sql STABLE
	AS $fn$
		SELECT d.key, sum(d.n)::bigint AS total
		FROM portmilter.rollup_dash('rule', p_since, p_until) AS d
		GROUP BY d.key
		ORDER BY total DESC, d.key COLLATE pg_catalog."C"
	$fn$;

	CREATE FUNCTION portmilter.dashboard_tls(p_since timestamptz, p_until timestamptz)
	RETURNS TABLE (port integer, tls_version text, n bigint)
	LANGUAGE sql STABLE
	AS $fn$
		SELECT d.port, NULLIF(d.key, ''), d.n
		FROM portmilter.rollup_dash('tls', p_since, p_until) AS d
		ORDER BY d.port, NULLIF(d.key, '') COLLATE pg_catalog."C" NULLS FIRST
	$fn$;

	-- Transactions per UTC day and port (the dashboard's chart over long
	-- windows): rollup_port_day for clean days, the events for the rest.
	-- A day is the part of it inside the window.
	CREATE FUNCTION portmilter.port_transactions_daily(p_since timestamptz,
		p_until timestamptz)
	RETURNS TABLE (day date, port integer, transactions bigint)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET jit = off
	AS $fn$
	DECLARE
		pt record;
	BEGIN
		SELECT * INTO pt FROM portmilter.rollup_parts(p_since, p_until);
		RETURN QUERY
		SELECT s.day, s.port, sum(s.transactions)::bigint
		FROM (SELECT d.day, d.port, d.transactions
		      FROM portmilter.rollup_port_day AS d
		      WHERE d.day = ANY (pt.days)
		      UNION ALL
		      SELECT (e.event_time AT TIME ZONE 'UTC')::date, e.port,
			     count(*) FILTER (WHERE e.kind = 'transaction')
		      FROM pg_catalog.unnest(pt.raw) AS r(x)
		      CROSS JOIN LATERAL (
			SELECT * FROM portmilter.events AS y
			WHERE y.event_time >= pg_catalog.lower(r.x)
			  AND y.event_time < pg_catalog.upper(r.x)
			OFFSET 0) AS e
		      GROUP BY 1, 2) AS s
		GROUP BY s.day, s.port
		ORDER BY s.day, s.port;
	END
	$fn$;

	-- Transactions per bucket ('hour', 'day' or 'week', as
	-- port_traffic_between()) and port: days and weeks from
	-- port_transactions_daily(), hours from the events.
	CREATE FUNCTION portmilter.port_transactions_between(p_since timestamptz,
		p_until timestamptz, p_bucket text)
	RETURNS TABLE (bucket timestamptz, port integer, transactions bigint)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET jit = off
	AS $fn$
	BEGIN
		IF p_bucket IN ('day', 'week') THEN
			RETURN QUERY
			SELECT pg_catalog.date_trunc(p_bucket, d.day::timestamptz), d.port,
			       sum(d.transactions)::bigint
			FROM portmilter.port_transactions_daily(p_since, p_until) AS d
			GROUP BY 1, 2 ORDER BY 1, 2;
		ELSE
			RETURN QUERY
			SELECT t.bucket, t.port, t.transactions
			FROM portmilter.port_traffic_raw(p_since, p_until, p_bucket) AS t
			ORDER BY 1, 2;
		END IF;
	END
	$fn$;

	GRANT SELECT ON portmilter.rollup_user_names, portmilter.rollup_user_day,
		portmilter.rollup_user_month, portmilter.rollup_ip_day,
		portmilter.rollup_ip_month, portmilter.rollup_net_day,
		portmilter.rollup_net_month, portmilter.rollup_away_events,
		portmilter.rollup_exposure_day, portmilter.rollup_dash_day
		TO portmilter_reader;

	-- Every day rolled up so far gets its key rollups at the next
	-- catch-up; the reports read it raw until then.
	INSERT INTO portmilter.rollup_dirty (day)
	SELECT d.day FROM portmilter.rollup_days AS d
	ON CONFLICT DO NOTHING;

	INSERT INTO portmilter.schema_version (version) VALUES (15);
END
$migration$;
