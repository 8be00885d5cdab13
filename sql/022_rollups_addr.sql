-- 022_rollups_addr.sql - `portmilter-report ip` over any window up to a
-- year from per-address rollups, and `top --by ip`'s winners' rows from
-- them (issue 14).
--
-- `ip NET` (report/portmilter-report.c SQL_IP) groups the rows of the
-- addresses in NET, and the rows reduced (010) to the /24 or /48 that
-- holds NET, by client address and port, and gives per group the
-- distinct connections (of the milter's rows), the transactions, the
-- accepted, rejected, tempfailed and aborted rows (as SQL_COUNTS counts
-- them), the recipients accepted, the credential exposures, the distinct
-- rules, users and HELOs (sorted bytewise), the first and last time. It
-- read them from the events: over a year, the rows of a busy /24 lie on
-- tens of thousands of heap pages. This adds, filled by the same
-- catch-up (rollup_catchup() now calls rollup_day_addr() after
-- rollup_day_tls() for each dirty day):
--
--   rollup_addr_day    per UTC day, client address and port (the rows
--                      with an address): events, SQL_COUNTS' counts with
--                      the connections at home (015's header) for its
--                      distinct connections, the distinct rules, user
--                      numbers (rollup_user_names.id: no name here,
--                      forget_user() renames it there) and HELOs, sorted,
--                      first and last event time
--   rollup_addr_month  the same per month: the sums of the month's day
--                      rows, the lists their union, first and last the
--                      least and the greatest. rollup_day_addr() adds a
--                      day's new keys to it (one row per key of the day),
--                      and when it recomputes a day, sums again from the
--                      month's day rows the keys whose day row changed
--                      (a union or a least cannot be taken back)
--
-- The connections a key has in the window only away from their home day
-- are 015's rollup_away_events (its milter rows: they carry the port, the
-- address and the connection), checked against their home events in the
-- window (one index range per such connection), as top_ips() does.
--
-- ip_usage(net, since, until) answers a window as SQL_IP does, rows and
-- order: whole clean months from the month table, the other clean days
-- from the day table (both an index range on the address), the rest
-- (ragged edges, dirty days, today) from the events (rollup_key_parts(),
-- 015; for one address or network an index range on the address index
-- per part). top_ips() (018) ranks as before, then reads its winners'
-- rows the same way (rollup_addr_rows()) instead of a year of their
-- events.
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/022_rollups_addr.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 22.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 21) THEN
		RAISE EXCEPTION 'portmilter: migration 022 needs 001 to 021 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 22) THEN
		RAISE NOTICE 'portmilter: migration 022 already applied, nothing done';
		RETURN;
	END IF;

	CREATE TABLE portmilter.rollup_addr_day (
		day date NOT NULL,
		client_addr inet NOT NULL,
		port integer NOT NULL,
		nevents bigint NOT NULL,
		transactions bigint NOT NULL,
		accepted bigint NOT NULL,
		rejected bigint NOT NULL,
		tempfailed bigint NOT NULL,
		aborted bigint NOT NULL,
		recipients bigint NOT NULL,
		exposures bigint NOT NULL,
		home_conns bigint NOT NULL,
		rules text[] NOT NULL,
		uids bigint[] NOT NULL,		-- rollup_user_names.id
		helos text[] NOT NULL,
		first_seen timestamptz NOT NULL,
		last_seen timestamptz NOT NULL,
		-- by day first: the catch-up replaces a day, and a reader's
		-- days and address range are one index range per day
		PRIMARY KEY (day, client_addr, port)
	);
	CREATE TABLE portmilter.rollup_addr_month (
		month date NOT NULL,
		client_addr inet NOT NULL,
		port integer NOT NULL,
		nevents bigint NOT NULL,
		transactions bigint NOT NULL,
		accepted bigint NOT NULL,
		rejected bigint NOT NULL,
		tempfailed bigint NOT NULL,
		aborted bigint NOT NULL,
		recipients bigint NOT NULL,
		exposures bigint NOT NULL,
		home_conns bigint NOT NULL,
		rules text[] NOT NULL,
		uids bigint[] NOT NULL,
		helos text[] NOT NULL,
		first_seen timestamptz NOT NULL,
		last_seen timestamptz NOT NULL,
		PRIMARY KEY (client_addr, port, month)
	);
	COMMENT ON TABLE portmilter.rollup_addr_day IS
		'portmilter-report ip per day (see sql/022_rollups_addr.sql)';
	COMMENT ON TABLE portmilter.rollup_addr_month IS
		'portmilter-report ip per month (see sql/022_rollups_addr.sql)';

	-- The day rows of [p_from, p_to) merged per key (address, port): the
	-- sums, the lists' union (distinct, sorted: text bytewise), the least
	-- and greatest time; what a month row is of its day rows. Of the keys
	-- (p_addrs[i], p_ports[i]), or of every key when p_addrs is NULL.
	CREATE FUNCTION portmilter.rollup_addr_merge(p_from date, p_to date,
		p_addrs inet[], p_ports integer[])
	RETURNS TABLE (client_addr inet, port integer, nevents bigint,
		       transactions bigint, accepted bigint, rejected bigint,
		       tempfailed bigint, aborted bigint, recipients bigint,
		       exposures bigint, home_conns bigint, rules text[], uids bigint[],
		       helos text[], first_seen timestamptz, last_seen timestamptz)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $fn$
		WITH d AS MATERIALIZED (
			SELECT x.* FROM portmilter.rollup_addr_day AS x
			WHERE p_addrs IS NULL AND x.day >= p_from AND x.day < p_to
			UNION ALL
			SELECT x.* FROM unnest(p_addrs, p_ports) AS k(a, p)
			JOIN portmilter.rollup_addr_day AS x	-- a probe a day and key
			  ON x.day = ANY (ARRAY(SELECT generate_series(p_from,
				p_to - 1, interval '1 day')::date))
			 AND x.client_addr = k.a AND x.port = k.p
		),
		l AS (
			SELECT i.client_addr, i.port,
			       array_agg(DISTINCT i.t COLLATE "C" ORDER BY i.t COLLATE "C")
				FILTER (WHERE i.w = 1) AS rules,
			       array_agg(DISTINCT i.id ORDER BY i.id) FILTER (WHERE i.w = 2) AS uids,
			       array_agg(DISTINCT i.t COLLATE "C" ORDER BY i.t COLLATE "C")
				FILTER (WHERE i.w = 3) AS helos
			FROM (SELECT d.client_addr, d.port, 1 AS w, v.t, NULL::bigint AS id
			      FROM d, unnest(d.rules) AS v(t)
			      UNION ALL
			      SELECT d.client_addr, d.port, 2, NULL, v.id
			      FROM d, unnest(d.uids) AS v(id)
			      UNION ALL
			      SELECT d.client_addr, d.port, 3, v.t, NULL
			      FROM d, unnest(d.helos) AS v(t)) AS i
			GROUP BY i.client_addr, i.port
		)
		SELECT g.client_addr, g.port, g.nevents, g.transactions, g.accepted,
		       g.rejected, g.tempfailed, g.aborted, g.recipients, g.exposures,
		       g.home_conns, COALESCE(l.rules, '{}'), COALESCE(l.uids, '{}'),
		       COALESCE(l.helos, '{}'), g.first_seen, g.last_seen
		FROM (SELECT d.client_addr, d.port, sum(d.nevents)::bigint AS nevents,
			     sum(d.transactions)::bigint AS transactions,
			     sum(d.accepted)::bigint AS accepted,
			     sum(d.rejected)::bigint AS rejected,
			     sum(d.tempfailed)::bigint AS tempfailed,
			     sum(d.aborted)::bigint AS aborted,
			     sum(d.recipients)::bigint AS recipients,
			     sum(d.exposures)::bigint AS exposures,
			     sum(d.home_conns)::bigint AS home_conns,
			     min(d.first_seen) AS first_seen, max(d.last_seen) AS last_seen
		      FROM d GROUP BY d.client_addr, d.port) AS g
		LEFT JOIN l ON l.client_addr = g.client_addr AND l.port = g.port
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_addr_merge(date, date, inet[], integer[])
		FROM PUBLIC;

	-- ---- catch-up -----------------------------------------------------------
	-- Recompute one day's rows from the events, and keep the month table
	-- equal to the sums and unions of its day rows: the keys the day had
	-- before are summed again from the month's day rows, the others
	-- added. Called by rollup_catchup() only, with the day's mark locked.
	CREATE FUNCTION portmilter.rollup_day_addr(p_day date)
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
		CREATE TEMP TABLE IF NOT EXISTS rollup_addr_old (
			LIKE portmilter.rollup_addr_day
		) ON COMMIT DROP;
		CREATE TEMP TABLE IF NOT EXISTS rollup_addr_chg (
			client_addr inet, port integer
		) ON COMMIT DROP;
		TRUNCATE rollup_addr_old, rollup_addr_chg;

		-- user numbers, as rollup_day_keys() gives them (it ran first:
		-- every name of the day has one)
		INSERT INTO portmilter.rollup_user_names (sasl_user)
		SELECT DISTINCT e.sasl_user FROM portmilter.events AS e
		WHERE e.event_time >= t0 AND e.event_time < t1
		  AND e.sasl_user IS NOT NULL AND e.client_addr IS NOT NULL
		  AND NOT EXISTS (SELECT FROM portmilter.rollup_user_names AS n
				  WHERE n.sasl_user = e.sasl_user);

		WITH old AS (
			DELETE FROM portmilter.rollup_addr_day WHERE day = p_day
			RETURNING *
		)
		INSERT INTO rollup_addr_old SELECT * FROM old;
		INSERT INTO portmilter.rollup_addr_day
		SELECT p_day, e.client_addr, e.port, count(*),
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
		       count(DISTINCT e.conn_id) FILTER (WHERE e.kind IN ('transaction', 'connection')
			AND e.conn_time >= t0 AND e.conn_time <= e.event_time),
		       COALESCE(array_agg(DISTINCT e.rule COLLATE "C" ORDER BY e.rule COLLATE "C")
			FILTER (WHERE e.rule IS NOT NULL), '{}'),
		       COALESCE(array_agg(DISTINCT u.id ORDER BY u.id)
			FILTER (WHERE u.id IS NOT NULL), '{}'),
		       COALESCE(array_agg(DISTINCT e.helo COLLATE "C" ORDER BY e.helo COLLATE "C")
			FILTER (WHERE e.helo IS NOT NULL), '{}'),
		       min(e.event_time), max(e.event_time)
		FROM portmilter.events AS e
		LEFT JOIN (SELECT n.sasl_user, min(n.id) AS id
			   FROM portmilter.rollup_user_names AS n
			   WHERE n.sasl_user IN (
				SELECT y.sasl_user FROM portmilter.events AS y
				WHERE y.event_time >= t0 AND y.event_time < t1
				  AND y.sasl_user IS NOT NULL)
			   GROUP BY n.sasl_user) AS u ON u.sasl_user = e.sasl_user
		WHERE e.event_time >= t0 AND e.event_time < t1
		  AND e.client_addr IS NOT NULL
		GROUP BY e.client_addr, e.port;

		-- the month: the day's former keys whose row changed summed again
		-- (late rows: a few), the new keys added
		IF EXISTS (SELECT FROM rollup_addr_old) THEN
			INSERT INTO rollup_addr_chg
			SELECT o.client_addr, o.port FROM rollup_addr_old AS o
			WHERE NOT EXISTS (
				SELECT FROM portmilter.rollup_addr_day AS d
				WHERE d.day = p_day AND d.client_addr = o.client_addr
				  AND d.port = o.port
				  AND ROW(d.*) IS NOT DISTINCT FROM ROW(o.*));
			ANALYZE rollup_addr_old, rollup_addr_chg;
		END IF;
		IF EXISTS (SELECT FROM rollup_addr_chg) THEN
			DELETE FROM portmilter.rollup_addr_month AS m
			USING rollup_addr_chg AS o
			WHERE m.month = mon AND m.client_addr = o.client_addr
			  AND m.port = o.port;
			INSERT INTO portmilter.rollup_addr_month
			SELECT mon, m.*
			FROM (SELECT pg_catalog.array_agg(o.client_addr) AS a,
				     pg_catalog.array_agg(o.port) AS p
			      FROM rollup_addr_chg AS o) AS k,
			     portmilter.rollup_addr_merge(mon, mon1, k.a, k.p) AS m;
		END IF;
		INSERT INTO portmilter.rollup_addr_month AS m
		SELECT mon, d.client_addr, d.port, d.nevents, d.transactions,
		       d.accepted, d.rejected, d.tempfailed, d.aborted, d.recipients,
		       d.exposures, d.home_conns, d.rules, d.uids, d.helos,
		       d.first_seen, d.last_seen
		FROM portmilter.rollup_addr_day AS d
		WHERE d.day = p_day
		  AND NOT EXISTS (SELECT FROM rollup_addr_old AS o
				  WHERE o.client_addr = d.client_addr AND o.port = d.port)
		ON CONFLICT (client_addr, port, month) DO UPDATE
		SET nevents = m.nevents + excluded.nevents,
		    transactions = m.transactions + excluded.transactions,
		    accepted = m.accepted + excluded.accepted,
		    rejected = m.rejected + excluded.rejected,
		    tempfailed = m.tempfailed + excluded.tempfailed,
		    aborted = m.aborted + excluded.aborted,
		    recipients = m.recipients + excluded.recipients,
		    exposures = m.exposures + excluded.exposures,
		    home_conns = m.home_conns + excluded.home_conns,
		    rules = ARRAY(SELECT DISTINCT x COLLATE "C"
				  FROM pg_catalog.unnest(m.rules || excluded.rules) AS x ORDER BY 1),
		    uids = ARRAY(SELECT DISTINCT x
				 FROM pg_catalog.unnest(m.uids || excluded.uids) AS x ORDER BY 1),
		    helos = ARRAY(SELECT DISTINCT x COLLATE "C"
				  FROM pg_catalog.unnest(m.helos || excluded.helos) AS x ORDER BY 1),
		    first_seen = LEAST(m.first_seen, excluded.first_seen),
		    last_seen = GREATEST(m.last_seen, excluded.last_seen);
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_day_addr(date) FROM PUBLIC;

	-- As in 020, and the day's `ip` rollups after its `tls` rollups; and
	-- 024's `tls-preview` rollups when 024 is there already (a database
	-- that had 024 before 022: each restates the whole chain).
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
				IF pg_catalog.to_regprocedure(
					'portmilter.rollup_day_preview(date)') IS NOT NULL THEN
					PERFORM portmilter.rollup_day_preview(d);
				END IF;
				PERFORM portmilter.rollup_day_addr(d);
			END IF;
			DELETE FROM portmilter.rollup_dirty WHERE day = d;
			n := n + 1;
		END LOOP;
		RETURN n;
	END
	$fn$;

	-- ---- reading ------------------------------------------------------------
	-- SQL_IP's rows over [p_since, p_until) (report/portmilter-report.c;
	-- its port column the number), unordered, of the keys that are:
	-- in p_net as SQL_IN_NET reads it (the addresses in it and the rows
	-- reduced to the /24 or /48 holding it) when p_net is not NULL; among
	-- p_addrs when it is not NULL; on p_port when it is not NULL. The
	-- parts of the window as rollup_key_parts() cuts them. Each query is
	-- planned with the values (EXECUTE): the address conditions become
	-- index ranges.
	CREATE FUNCTION portmilter.rollup_addr_rows(p_net cidr, p_addrs inet[],
		p_port integer, p_since timestamptz, p_until timestamptz)
	RETURNS TABLE (client_addr inet, port integer, connections bigint,
		       transactions bigint, accepted bigint, rejected bigint,
		       tempfailed bigint, aborted bigint, recipients bigint,
		       exposures bigint, rules text[], users text[], helos text[],
		       first_seen timestamptz, last_seen timestamptz)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET jit = off
	AS $fn$
	DECLARE
		pt record;
		red inet;	-- the network p_net's reduced rows carry
		cond text;	-- the key condition, on alias k
	BEGIN
		SELECT * INTO pt FROM portmilter.rollup_key_parts(p_since, p_until);
		cond := 'true';
		IF p_net IS NOT NULL THEN
			red := pg_catalog.network(pg_catalog.set_masklen(p_net::inet,
				CASE pg_catalog.family(p_net) WHEN 4 THEN 24 ELSE 48 END))::inet;
			cond := cond || pg_catalog.format(
				' AND (k.client_addr <<= %L::cidr OR k.client_addr = %L::inet)',
				p_net, red);
		END IF;
		IF p_addrs IS NOT NULL THEN
			cond := cond || pg_catalog.format(' AND k.client_addr = ANY (%L::inet[])',
				p_addrs);
		END IF;
		IF p_port IS NOT NULL THEN
			cond := cond || pg_catalog.format(' AND k.port = %s', p_port);
		END IF;
		RETURN QUERY EXECUTE pg_catalog.format($q$
		WITH raw AS MATERIALIZED (
			SELECT k.client_addr, k.port, k.conn_id, k.conn_time, k.event_time,
			       k.kind, k.verdict, k.rule, k.nrcpt, k.credential_exposure,
			       k.sasl_user, k.helo,
			       k.kind IN ('transaction', 'connection') AS milter,
			       k.conn_time <= k.event_time
			       AND (k.conn_time AT TIME ZONE 'UTC')::date
				= (k.event_time AT TIME ZONE 'UTC')::date AS home
			FROM pg_catalog.unnest($1) AS r(x)
			CROSS JOIN LATERAL (
				SELECT * FROM portmilter.events AS k
				WHERE k.event_time >= pg_catalog.lower(r.x)
				  AND k.event_time < pg_catalog.upper(r.x)
				  AND k.client_addr IS NOT NULL AND %1$s
				OFFSET 0) AS k	-- an index range per part
		), roll AS (
			SELECT k.client_addr, k.port, k.nevents, k.transactions,
			       k.accepted, k.rejected, k.tempfailed, k.aborted,
			       k.recipients, k.exposures, k.home_conns, k.rules, k.uids,
			       k.helos, k.first_seen, k.last_seen
			FROM portmilter.rollup_addr_month AS k
			WHERE k.month = ANY ($2) AND %1$s
			UNION ALL
			SELECT k.client_addr, k.port, k.nevents, k.transactions,
			       k.accepted, k.rejected, k.tempfailed, k.aborted,
			       k.recipients, k.exposures, k.home_conns, k.rules, k.uids,
			       k.helos, k.first_seen, k.last_seen
			FROM portmilter.rollup_addr_day AS k
			WHERE k.day = ANY ($3) AND %1$s
		), rollsum AS (
			SELECT r.client_addr, r.port, sum(r.nevents) AS nevents,
			       sum(r.transactions) AS transactions,
			       sum(r.accepted) AS accepted, sum(r.rejected) AS rejected,
			       sum(r.tempfailed) AS tempfailed, sum(r.aborted) AS aborted,
			       sum(r.recipients) AS recipients,
			       sum(r.exposures) AS exposures, sum(r.home_conns) AS conns,
			       min(r.first_seen) AS first_seen, max(r.last_seen) AS last_seen
			FROM roll AS r GROUP BY r.client_addr, r.port
		), items AS (
			-- the lists' values, grouped apart: 1 rules, 2 users, 3 HELOs
			SELECT r.client_addr, r.port, 1 AS w, v.x
			FROM roll AS r, pg_catalog.unnest(r.rules) AS v(x)
			UNION ALL
			SELECT r.client_addr, r.port, 2, n.sasl_user
			FROM (SELECT DISTINCT r.client_addr, r.port, v.id
			      FROM roll AS r, pg_catalog.unnest(r.uids) AS v(id)) AS r
			JOIN portmilter.rollup_user_names AS n ON n.id = r.id
			UNION ALL
			SELECT r.client_addr, r.port, 3, v.x
			FROM roll AS r, pg_catalog.unnest(r.helos) AS v(x)
			UNION ALL
			SELECT w.client_addr, w.port, 1, w.rule FROM raw AS w
			WHERE w.rule IS NOT NULL
			UNION ALL
			SELECT w.client_addr, w.port, 2, w.sasl_user FROM raw AS w
			WHERE w.sasl_user IS NOT NULL
			UNION ALL
			SELECT w.client_addr, w.port, 3, w.helo FROM raw AS w
			WHERE w.helo IS NOT NULL
		), lists AS (
			SELECT i.client_addr, i.port,
			       pg_catalog.array_agg(DISTINCT i.x COLLATE "C" ORDER BY i.x COLLATE "C")
				FILTER (WHERE i.w = 1) AS rules,
			       pg_catalog.array_agg(DISTINCT i.x COLLATE "C" ORDER BY i.x COLLATE "C")
				FILTER (WHERE i.w = 2) AS users,
			       pg_catalog.array_agg(DISTINCT i.x COLLATE "C" ORDER BY i.x COLLATE "C")
				FILTER (WHERE i.w = 3) AS helos
			FROM items AS i GROUP BY i.client_addr, i.port
		), away AS (
			SELECT k.client_addr, k.port, k.conn_id, k.conn_time
			FROM portmilter.rollup_away_events AS k
			WHERE k.day = ANY ($4) AND k.client_addr IS NOT NULL
			  AND k.kind IN ('transaction', 'connection') AND %1$s
			UNION
			SELECT w.client_addr, w.port, w.conn_id, w.conn_time
			FROM raw AS w WHERE w.milter AND NOT w.home
		), sums AS (
			SELECT s.client_addr, s.port, s.nevents, s.transactions,
			       s.accepted, s.rejected, s.tempfailed, s.aborted,
			       s.recipients, s.exposures, s.conns, s.first_seen, s.last_seen
			FROM rollsum AS s
			UNION ALL
			SELECT w.client_addr, w.port, count(*),
			       count(*) FILTER (WHERE w.kind = 'transaction'),
			       count(*) FILTER (WHERE w.verdict = 'accepted'),
			       count(*) FILTER (WHERE w.verdict = 'rejected' AND (w.milter OR (w.kind = 'refused'
				AND w.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
						   'postfix_end-of-message')))),
			       count(*) FILTER (WHERE w.verdict = 'tempfailed' AND (w.milter OR (w.kind = 'refused'
				AND w.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
						   'postfix_end-of-message')))),
			       count(*) FILTER (WHERE w.verdict = 'aborted' AND w.milter),
			       COALESCE(sum(w.nrcpt) FILTER (WHERE w.verdict = 'accepted'), 0),
			       count(*) FILTER (WHERE w.credential_exposure),
			       count(DISTINCT w.conn_id) FILTER (WHERE w.home AND w.milter),
			       min(w.event_time), max(w.event_time)
			FROM raw AS w GROUP BY w.client_addr, w.port
			UNION ALL
			-- the connections of a key with no home row of it in the
			-- window
			SELECT a.client_addr, a.port, 0, 0, 0, 0, 0, 0, 0, 0, count(*),
			       NULL, NULL
			FROM away AS a
			WHERE NOT EXISTS (
				SELECT FROM portmilter.events AS x
				WHERE x.port = a.port
				  AND x.event_time >= GREATEST($5, a.conn_time)
				  AND x.event_time < LEAST($6,
					pg_catalog.date_trunc('day', a.conn_time) + interval '1 day')
				  AND x.conn_id = a.conn_id AND x.client_addr = a.client_addr
				  AND x.kind IN ('transaction', 'connection')
				OFFSET 0)	-- an index range per connection, never a join
			GROUP BY a.client_addr, a.port
		)
		SELECT g.client_addr, g.port, g.conns, g.transactions, g.accepted,
		       g.rejected, g.tempfailed, g.aborted, g.recipients, g.exposures,
		       COALESCE(l.rules, '{}'), COALESCE(l.users, '{}'),
		       COALESCE(l.helos, '{}'), g.first_seen, g.last_seen
		FROM (SELECT s.client_addr, s.port, sum(s.conns)::bigint AS conns,
			     sum(s.transactions)::bigint AS transactions,
			     sum(s.accepted)::bigint AS accepted,
			     sum(s.rejected)::bigint AS rejected,
			     sum(s.tempfailed)::bigint AS tempfailed,
			     sum(s.aborted)::bigint AS aborted,
			     sum(s.recipients)::bigint AS recipients,
			     sum(s.exposures)::bigint AS exposures,
			     min(s.first_seen) AS first_seen, max(s.last_seen) AS last_seen
		      FROM sums AS s
		      GROUP BY s.client_addr, s.port
		      HAVING sum(s.nevents) > 0) AS g
		LEFT JOIN lists AS l ON l.client_addr = g.client_addr AND l.port = g.port
		$q$, cond)
		USING pt.raw, pt.months, pt.days, pt.clean, p_since, p_until;
	END
	$fn$;

	-- `ip NET` over [p_since, p_until): SQL_IP's rows (its port column
	-- the number), in its order.
	CREATE FUNCTION portmilter.ip_usage(p_net cidr, p_since timestamptz,
		p_until timestamptz)
	RETURNS TABLE (client_addr inet, port integer, connections bigint,
		       transactions bigint, accepted bigint, rejected bigint,
		       tempfailed bigint, aborted bigint, recipients bigint,
		       exposures bigint, rules text[], users text[], helos text[],
		       first_seen timestamptz, last_seen timestamptz)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $fn$
		SELECT r.* FROM portmilter.rollup_addr_rows(p_net, NULL, NULL,
			p_since, p_until) AS r
		WHERE p_net IS NOT NULL
		ORDER BY r.client_addr, r.port
	$fn$;

	-- top_ips(): 018's, ranking as before; its winners' rows from the
	-- address rollups (rollup_addr_rows()) instead of their events.
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

		IF winners IS NULL THEN
			RETURN;
		END IF;
		-- the winners' rows from the address rollups (022)
		RETURN QUERY
		SELECT r.client_addr, r.connections, r.transactions, r.accepted,
		       r.rejected, r.tempfailed, r.aborted, r.recipients, r.exposures,
		       pg_catalog.cardinality(r.users)::bigint, r.first_seen, r.last_seen
		FROM portmilter.rollup_addr_rows(NULL, winners, p_port, p_since, p_until) AS r
		ORDER BY 3 DESC, 2 DESC, r.client_addr
		LIMIT p_limit;
	END
	$fn$;

	GRANT SELECT ON portmilter.rollup_addr_day, portmilter.rollup_addr_month
		TO portmilter_reader;

	-- The days before today, from their events, set-based: the catch-up
	-- redoes a day marked since as it does the other rollups (a kept day,
	-- its events gone, gets no rows).
	INSERT INTO portmilter.rollup_user_names (sasl_user)
	SELECT DISTINCT e.sasl_user FROM portmilter.events AS e
	WHERE e.sasl_user IS NOT NULL AND e.client_addr IS NOT NULL
	  AND e.event_time < pg_catalog.date_trunc('day', pg_catalog.now() AT TIME ZONE 'UTC')
		AT TIME ZONE 'UTC'
	  AND NOT EXISTS (SELECT FROM portmilter.rollup_user_names AS n
			  WHERE n.sasl_user = e.sasl_user);
	INSERT INTO portmilter.rollup_addr_day
	SELECT (e.event_time AT TIME ZONE 'UTC')::date, e.client_addr, e.port, count(*),
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
	       count(DISTINCT e.conn_id) FILTER (WHERE e.kind IN ('transaction', 'connection')
		AND e.conn_time <= e.event_time
		AND (e.conn_time AT TIME ZONE 'UTC')::date = (e.event_time AT TIME ZONE 'UTC')::date),
	       COALESCE(array_agg(DISTINCT e.rule COLLATE "C" ORDER BY e.rule COLLATE "C")
		FILTER (WHERE e.rule IS NOT NULL), '{}'),
	       COALESCE(array_agg(DISTINCT u.id ORDER BY u.id)
		FILTER (WHERE u.id IS NOT NULL), '{}'),
	       COALESCE(array_agg(DISTINCT e.helo COLLATE "C" ORDER BY e.helo COLLATE "C")
		FILTER (WHERE e.helo IS NOT NULL), '{}'),
	       min(e.event_time), max(e.event_time)
	FROM portmilter.events AS e
	LEFT JOIN (SELECT n.sasl_user, min(n.id) AS id
		   FROM portmilter.rollup_user_names AS n GROUP BY n.sasl_user) AS u
	  ON u.sasl_user = e.sasl_user
	WHERE e.client_addr IS NOT NULL
	  AND e.event_time < pg_catalog.date_trunc('day', pg_catalog.now() AT TIME ZONE 'UTC')
		AT TIME ZONE 'UTC'
	GROUP BY 1, e.client_addr, e.port;
	INSERT INTO portmilter.rollup_addr_month
	SELECT x.month, m.*
	FROM (SELECT DISTINCT pg_catalog.date_trunc('month', d.day)::date AS month
	      FROM portmilter.rollup_addr_day AS d) AS x
	CROSS JOIN LATERAL portmilter.rollup_addr_merge(x.month,
		(x.month + interval '1 month')::date, NULL, NULL) AS m;
	ANALYZE portmilter.rollup_addr_day, portmilter.rollup_addr_month;

	INSERT INTO portmilter.schema_version (version) VALUES (22);
END
$migration$;
