-- 020_rollups_tls.sql - per-day and per-month rollups of
-- `portmilter-report tls` (without --below), so that it answers over any
-- window up to a year from rollups (issue 14), exact right after rows
-- land by any path, like 015's.
--
-- `tls` groups the rows in TLS, and the milter's rows with AUTH and no
-- TLS (a log reader's auth_failure row never has the TLS version: left
-- out), by port, TLS version (none), user and client network (the /24,
-- the /64, or the /48 an IPv6 address was reduced to), and gives per
-- group the distinct connections, the transactions, the accepted and the
-- rejected rows, the first and the last time (report/tls.c SQL_TLS). This
-- adds, filled by the same catch-up (rollup_catchup() now calls
-- rollup_day_tls() after rollup_day_keys() for each dirty day):
--
--   rollup_tls_day    per UTC day and group: events, transactions,
--                     accepted, rejected, connections at home (015's
--                     header), first and last event time. The group is
--                     (port, tls_version, uid, network), none of them
--                     NULL: tls_version '' is none, uid is
--                     rollup_user_names.id (015: forget_user() renames
--                     the name there, never here), 0 no user, network
--                     is the text of the network, '' no address
--   rollup_tls_month  the same per month: the sums of the day rows of
--                     the month, first and last the least and the
--                     greatest, kept so by rollup_day_tls()
--   rollup_tls_away   the rows of a day not at home (015's header), one
--                     per group and connection: the connections a group
--                     has only away in a window are counted from them
--
-- tls_usage(since, until, port) answers a window as SQL_TLS does with
-- every version ($4 NULL), rows and order: whole clean months from the
-- month table, the other clean days from the day table, the rest (ragged
-- edges, dirty days, today) from the events (rollup_key_parts(), 015),
-- plus the connections a group has in the window only away from their
-- home day, each checked against its home events in the window (one
-- index range per such connection, as top_users() does).
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/020_rollups_tls.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 20.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 15) THEN
		RAISE EXCEPTION 'portmilter: migration 020 needs 001 to 015 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 20) THEN
		RAISE NOTICE 'portmilter: migration 020 already applied, nothing done';
		RETURN;
	END IF;

	CREATE TABLE portmilter.rollup_tls_day (
		day date NOT NULL,
		port integer NOT NULL,
		tls_version text NOT NULL,	-- '': none
		uid bigint NOT NULL,		-- rollup_user_names.id, 0: no user
		network text NOT NULL,		-- '': no address
		nevents bigint NOT NULL,
		transactions bigint NOT NULL,
		accepted bigint NOT NULL,
		rejected bigint NOT NULL,
		home_conns bigint NOT NULL,
		first_seen timestamptz NOT NULL,
		last_seen timestamptz NOT NULL,
		PRIMARY KEY (day, port, tls_version, uid, network)
	);
	CREATE TABLE portmilter.rollup_tls_month (
		month date NOT NULL,
		port integer NOT NULL,
		tls_version text NOT NULL,
		uid bigint NOT NULL,
		network text NOT NULL,
		nevents bigint NOT NULL,
		transactions bigint NOT NULL,
		accepted bigint NOT NULL,
		rejected bigint NOT NULL,
		home_conns bigint NOT NULL,
		first_seen timestamptz NOT NULL,
		last_seen timestamptz NOT NULL,
		PRIMARY KEY (month, port, tls_version, uid, network)
	);
	CREATE TABLE portmilter.rollup_tls_away (
		day date NOT NULL,
		port integer NOT NULL,
		tls_version text NOT NULL,
		uid bigint NOT NULL,
		network text NOT NULL,
		conn_id uuid NOT NULL,
		conn_time timestamptz NOT NULL
	);
	CREATE INDEX rollup_tls_away_day ON portmilter.rollup_tls_away (day, port);
	COMMENT ON TABLE portmilter.rollup_tls_day IS
		'portmilter-report tls per day (see sql/020_rollups_tls.sql)';
	COMMENT ON TABLE portmilter.rollup_tls_month IS
		'portmilter-report tls per month (see sql/020_rollups_tls.sql)';

	-- ---- catch-up -----------------------------------------------------------
	-- Recompute one day's rows from the events, and keep the month table
	-- equal to the sums of its day rows: the groups the day had before
	-- are summed again from the month's day rows (a least or a greatest
	-- cannot be taken back), the others added. Called by rollup_catchup()
	-- only, with the day's mark locked.
	CREATE FUNCTION portmilter.rollup_day_tls(p_day date)
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
		CREATE TEMP TABLE IF NOT EXISTS rollup_tls_ev (
			port integer, conn_id uuid, conn_time timestamptz,
			event_time timestamptz, home boolean, transaction boolean,
			verdict text, tls_version text, sasl_user text, uid bigint,
			network text
		) ON COMMIT DROP;
		CREATE TEMP TABLE IF NOT EXISTS rollup_tls_old (
			port integer, tls_version text, uid bigint, network text
		) ON COMMIT DROP;
		TRUNCATE rollup_tls_ev, rollup_tls_old;
		-- the rows `tls` reads (report/tls.c SQL_TLS)
		INSERT INTO rollup_tls_ev
		SELECT e.port, e.conn_id, e.conn_time, e.event_time,
		       e.conn_time >= t0 AND e.conn_time <= e.event_time,
		       e.kind = 'transaction', e.verdict,
		       COALESCE(NULLIF(e.tls_version, ''), ''), e.sasl_user, 0,
		       COALESCE(portmilter.rollup_net(e.client_addr), '')
		FROM portmilter.events AS e
		WHERE e.event_time >= t0 AND e.event_time < t1
		  AND (NULLIF(e.tls_version, '') IS NOT NULL
		       OR (e.sasl_method IS NOT NULL AND e.kind <> 'auth_failure'));

		-- user numbers, as rollup_day_keys() gives them
		INSERT INTO portmilter.rollup_user_names (sasl_user)
		SELECT DISTINCT v.sasl_user FROM rollup_tls_ev AS v
		WHERE v.sasl_user IS NOT NULL
		  AND NOT EXISTS (SELECT FROM portmilter.rollup_user_names AS n
				  WHERE n.sasl_user = v.sasl_user);
		UPDATE rollup_tls_ev AS v SET uid = m.id
		FROM (SELECT n.sasl_user, min(n.id) AS id
		      FROM portmilter.rollup_user_names AS n
		      WHERE n.sasl_user IN (SELECT w.sasl_user FROM rollup_tls_ev AS w)
		      GROUP BY n.sasl_user) AS m
		WHERE v.sasl_user = m.sasl_user;
		ANALYZE rollup_tls_ev;

		WITH old AS (
			DELETE FROM portmilter.rollup_tls_day WHERE day = p_day
			RETURNING port, tls_version, uid, network
		)
		INSERT INTO rollup_tls_old SELECT * FROM old;
		INSERT INTO portmilter.rollup_tls_day
		SELECT p_day, v.port, v.tls_version, v.uid, v.network, count(*),
		       count(*) FILTER (WHERE v.transaction),
		       count(*) FILTER (WHERE v.verdict = 'accepted'),
		       count(*) FILTER (WHERE v.verdict = 'rejected'),
		       count(DISTINCT v.conn_id) FILTER (WHERE v.home),
		       min(v.event_time), max(v.event_time)
		FROM rollup_tls_ev AS v
		GROUP BY v.port, v.tls_version, v.uid, v.network;

		-- the month: the day's former groups summed again, the others added
		IF EXISTS (SELECT FROM rollup_tls_old) THEN
			ANALYZE rollup_tls_old;
			DELETE FROM portmilter.rollup_tls_month AS m
			USING rollup_tls_old AS o
			WHERE m.month = mon AND m.port = o.port
			  AND m.tls_version = o.tls_version AND m.uid = o.uid
			  AND m.network = o.network;
			INSERT INTO portmilter.rollup_tls_month
			SELECT mon, d.port, d.tls_version, d.uid, d.network,
			       sum(d.nevents), sum(d.transactions), sum(d.accepted),
			       sum(d.rejected), sum(d.home_conns),
			       min(d.first_seen), max(d.last_seen)
			FROM portmilter.rollup_tls_day AS d
			WHERE d.day >= mon AND d.day < mon1
			  AND EXISTS (SELECT FROM rollup_tls_old AS o
				      WHERE o.port = d.port AND o.tls_version = d.tls_version
					AND o.uid = d.uid AND o.network = d.network)
			GROUP BY d.port, d.tls_version, d.uid, d.network;
		END IF;
		INSERT INTO portmilter.rollup_tls_month AS m
		SELECT mon, d.port, d.tls_version, d.uid, d.network, d.nevents,
		       d.transactions, d.accepted, d.rejected, d.home_conns,
		       d.first_seen, d.last_seen
		FROM portmilter.rollup_tls_day AS d
		WHERE d.day = p_day
		  AND NOT EXISTS (SELECT FROM rollup_tls_old AS o
				  WHERE o.port = d.port AND o.tls_version = d.tls_version
				    AND o.uid = d.uid AND o.network = d.network)
		ON CONFLICT (month, port, tls_version, uid, network) DO UPDATE
		SET nevents = m.nevents + excluded.nevents,
		    transactions = m.transactions + excluded.transactions,
		    accepted = m.accepted + excluded.accepted,
		    rejected = m.rejected + excluded.rejected,
		    home_conns = m.home_conns + excluded.home_conns,
		    first_seen = LEAST(m.first_seen, excluded.first_seen),
		    last_seen = GREATEST(m.last_seen, excluded.last_seen);

		DELETE FROM portmilter.rollup_tls_away WHERE day = p_day;
		INSERT INTO portmilter.rollup_tls_away
		SELECT DISTINCT p_day, v.port, v.tls_version, v.uid, v.network,
		       v.conn_id, v.conn_time
		FROM rollup_tls_ev AS v WHERE NOT v.home;
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_day_tls(date) FROM PUBLIC;

	-- As in 015, and the day's `tls` rollups after its key rollups.
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
			END IF;
			DELETE FROM portmilter.rollup_dirty WHERE day = d;
			n := n + 1;
		END LOOP;
		RETURN n;
	END
	$fn$;

	-- ---- reading ------------------------------------------------------------
	-- `tls` without --below over [p_since, p_until), one port or every
	-- one (NULL): report/tls.c SQL_TLS's rows with $4 NULL, its port
	-- column the number, in its order.
	CREATE FUNCTION portmilter.tls_usage(p_since timestamptz, p_until timestamptz,
		p_port integer DEFAULT NULL)
	RETURNS TABLE (port integer, tls_version text, "user" text, network cidr,
		       connections bigint, transactions bigint, accepted bigint,
		       rejected bigint, first_seen timestamptz, last_seen timestamptz)
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
			SELECT x.port, x.tls_version AS tv, n.sasl_user AS u,
			       x.network AS net, x.nevents, x.transactions, x.accepted,
			       x.rejected, x.home_conns AS conns, x.first_seen, x.last_seen
			FROM (SELECT m.port, m.tls_version, m.uid, m.network, m.nevents,
				     m.transactions, m.accepted, m.rejected, m.home_conns,
				     m.first_seen, m.last_seen
			      FROM portmilter.rollup_tls_month AS m
			      WHERE m.month = ANY (pt.months)
				AND (p_port IS NULL OR m.port = p_port)
			      UNION ALL
			      SELECT d.port, d.tls_version, d.uid, d.network, d.nevents,
				     d.transactions, d.accepted, d.rejected, d.home_conns,
				     d.first_seen, d.last_seen
			      FROM portmilter.rollup_tls_day AS d
			      WHERE d.day = ANY (pt.days)
				AND (p_port IS NULL OR d.port = p_port)) AS x
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
		)
		SELECT s.port, COALESCE(NULLIF(s.tv, ''), 'none'), s.u,
		       NULLIF(s.net, '')::cidr,
		       sum(s.conns)::bigint, sum(s.transactions)::bigint,
		       sum(s.accepted)::bigint, sum(s.rejected)::bigint,
		       min(s.first_seen), max(s.last_seen)
		FROM sums AS s
		GROUP BY s.port, s.tv, s.u, s.net
		HAVING sum(s.nevents) > 0
		ORDER BY s.port,
		       CASE WHEN NULLIF(s.tv, '') IS NULL THEN 0
			    WHEN s.tv ~ '^(TLSv|tlsv)1$' THEN 10
			    WHEN s.tv ~ '^(TLSv|tlsv)[1-9]\.[0-9]$'
			    THEN pg_catalog.substr(s.tv, 5, 1)::integer * 10
				 + pg_catalog.substr(s.tv, 7, 1)::integer
			    ELSE -1 END,
		       2, s.u COLLATE pg_catalog."C" NULLS LAST, 4 NULLS LAST;
	END
	$fn$;

	GRANT SELECT ON portmilter.rollup_tls_day, portmilter.rollup_tls_month,
		portmilter.rollup_tls_away TO portmilter_reader;

	-- Every day rolled up so far gets its `tls` rollups at the next
	-- catch-up; tls_usage() reads it raw until then.
	INSERT INTO portmilter.rollup_dirty (day)
	SELECT d.day FROM portmilter.rollup_days AS d
	ON CONFLICT DO NOTHING;

	INSERT INTO portmilter.schema_version (version) VALUES (20);
END
$migration$;
