-- 014_rollups.sql - daily rollups of portmilter.events, so that `ports`
-- and `adoption` over any window up to a year answer in well under a
-- second (issue 14), exact right after rows land by any path.
--
-- The insert path stays almost free: statement-level triggers (INSERT,
-- COPY included, UPDATE, DELETE, TRUNCATE; on the parent and on every
-- partition, so that the maintenance functions writing a partition
-- directly are seen too) only mark the touched UTC days in rollup_dirty.
-- The work is done later by rollup_catchup(): for a dirty day (skipping
-- one a writer is in: FOR UPDATE SKIP LOCKED) it recomputes that day's
-- rollup rows from the events, then deletes the mark, in one
-- transaction. The reports read the rollups only for clean whole days
-- inside the window and the events (through the primary key) for the
-- ragged edges, the dirty days and today: exact whether or not the
-- catch-up ran. See doc/DESIGN.md, "Rollups".
--
--   rollup_dirty      one row per day whose events changed since it was
--                     rolled up (gen: how often; the row lock a writer's
--                     ON CONFLICT DO UPDATE takes is what makes the
--                     catch-up safe)
--   rollup_days       the days rolled up that had events
--   rollup_port_day   per day and port: the additive counts of
--                     port_traffic_between() and of adoption, and the
--                     day's distinct connections
--   rollup_rule_day   per day, port and rule: rejections (rejects_by_rule)
--   rollup_users      per port, year and SASL user (the milter's rows):
--                     the days of that year it was seen, one bit per day
--                     (bit 0 = 1 January), for exact distinct users over
--                     any set of whole days (016 replaces it: one row
--                     per port and user, first and last day, the days
--                     between; and rollup_day(), port_traffic_rollup())
--   rollup_ips        the same per client address (every row; 016 too)
--   rollup_conn_days  the days of every connection seen on a day other
--                     than its conn_time's: the few connections to take
--                     away from a sum of per-day distinct counts
--
-- rollup_catchup(max_days) is run by the milters' shippers (one node at
-- a time) and by `portmilter-report maintain`; nobody has to run it for
-- the reports to be right, only for them to be fast. A day older than
-- privacy_settings.raw_days that was rolled up is never recomputed: its
-- raw rows are dropped or about to be, the rollup stays.
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/014_rollups.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 14.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 10)
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 12) THEN
		RAISE EXCEPTION 'portmilter: migration 014 needs 001 to 012 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 14) THEN
		RAISE NOTICE 'portmilter: migration 014 already applied, nothing done';
		RETURN;
	END IF;

	CREATE TABLE portmilter.rollup_dirty (
		day date PRIMARY KEY,
		gen bigint NOT NULL DEFAULT 0
	);
	COMMENT ON TABLE portmilter.rollup_dirty IS
		'UTC days whose events changed since they were rolled up';
	CREATE TABLE portmilter.rollup_days (
		day date PRIMARY KEY
	);
	COMMENT ON TABLE portmilter.rollup_days IS
		'UTC days rolled up that had events';
	CREATE TABLE portmilter.rollup_port_day (
		day date NOT NULL,
		port integer NOT NULL,
		nevents bigint NOT NULL,
		connections bigint NOT NULL,	-- distinct that day
		transactions bigint NOT NULL,
		accepted bigint NOT NULL,
		rejected bigint NOT NULL,
		tempfailed bigint NOT NULL,
		aborted bigint NOT NULL,
		exposures bigint NOT NULL,
		auth_failures bigint NOT NULL,
		refused_before_mail bigint NOT NULL,
		tls_failures bigint NOT NULL,
		submissions bigint NOT NULL,
		submission_users bigint NOT NULL,	-- distinct that day
		PRIMARY KEY (day, port)
	);
	COMMENT ON TABLE portmilter.rollup_port_day IS
		'per UTC day and port: the counts of port_traffic_between() '
		'and port_adoption_between() (sql/README.md, "Rollups")';
	CREATE TABLE portmilter.rollup_rule_day (
		day date NOT NULL,
		port integer NOT NULL,
		rule text NOT NULL,
		n bigint NOT NULL,
		PRIMARY KEY (day, port, rule)
	);
	CREATE TABLE portmilter.rollup_users (
		year integer NOT NULL,
		port integer NOT NULL,
		sasl_user text NOT NULL,
		days bit(366) NOT NULL,
		PRIMARY KEY (year, port, sasl_user)
	);
	COMMENT ON TABLE portmilter.rollup_users IS
		'per year, port and SASL user: the days it was seen (bit 0 = '
		'1 January); the column is named sasl_user so that forget_user() '
		'renames it';
	CREATE TABLE portmilter.rollup_ips (
		year integer NOT NULL,
		port integer NOT NULL,
		client_addr inet NOT NULL,
		days bit(366) NOT NULL,
		PRIMARY KEY (year, port, client_addr)
	);
	CREATE TABLE portmilter.rollup_conn_days (
		day date NOT NULL,
		port integer NOT NULL,
		conn_id uuid NOT NULL,
		PRIMARY KEY (day, port, conn_id)
	);
	CREATE INDEX rollup_conn_days_conn_idx
		ON portmilter.rollup_conn_days (conn_id, port);
	COMMENT ON TABLE portmilter.rollup_conn_days IS
		'the UTC days of each connection seen on a day other than its '
		'conn_time''s';

	-- ---- marking ----------------------------------------------------------
	-- One INSERT per statement, days in order (two writers lock them in
	-- the same order). DO UPDATE, not DO NOTHING: it locks the day's row
	-- until the writer commits, so a catch-up cannot take that day
	-- (SKIP LOCKED) nor delete its mark before the rows are visible.
	CREATE FUNCTION portmilter.rollup_mark_new()
	RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	BEGIN
		INSERT INTO portmilter.rollup_dirty AS r (day)
		SELECT DISTINCT (n.event_time AT TIME ZONE 'UTC')::date
		FROM rollup_new AS n ORDER BY 1
		ON CONFLICT (day) DO UPDATE SET gen = r.gen + 1;
		RETURN NULL;
	END
	$fn$;
	CREATE FUNCTION portmilter.rollup_mark_old()
	RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	BEGIN
		INSERT INTO portmilter.rollup_dirty AS r (day)
		SELECT DISTINCT (o.event_time AT TIME ZONE 'UTC')::date
		FROM rollup_old AS o ORDER BY 1
		ON CONFLICT (day) DO UPDATE SET gen = r.gen + 1;
		RETURN NULL;
	END
	$fn$;
	-- An UPDATE marks the days (old and new) of the rows where a column
	-- the rollups read changed: setting size (012's trigger, one
	-- statement per size row) costs no lock. A rollup reading another
	-- column must add it here.
	CREATE FUNCTION portmilter.rollup_mark_upd()
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
			       o.rule, o.credential_exposure)
			   IS DISTINCT FROM
			      (n.event_time, n.conn_id, n.conn_time, n.kind, n.port,
			       n.client_addr, n.sasl_method, n.sasl_user, n.verdict,
			       n.rule, n.credential_exposure)
		) AS c
		CROSS JOIN LATERAL (VALUES (c.d1), (c.d2)) AS x(day)
		WHERE x.day IS NOT NULL
		ORDER BY 1
		ON CONFLICT (day) DO UPDATE SET gen = r.gen + 1;
		RETURN NULL;
	END
	$fn$;
	-- TRUNCATE: every day rolled up (in the partition's range) is dirty.
	CREATE FUNCTION portmilter.rollup_mark_all()
	RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	AS $fn$
	DECLARE
		p record;
	BEGIN
		SELECT * INTO p FROM portmilter.event_partitions() AS e
		WHERE TG_TABLE_NAME <> 'events' AND e.name = TG_TABLE_NAME
		  AND NOT e.is_default;
		INSERT INTO portmilter.rollup_dirty AS r (day)
		SELECT d.day FROM portmilter.rollup_days AS d
		WHERE p.name IS NULL
		   OR (d.day >= p.lower_bound::date AND d.day < p.upper_bound::date)
		ORDER BY 1
		ON CONFLICT (day) DO UPDATE SET gen = r.gen + 1;
		RETURN NULL;
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_mark_new(),
		portmilter.rollup_mark_old(), portmilter.rollup_mark_upd(),
		portmilter.rollup_mark_all() FROM PUBLIC;

	-- The four triggers on one table (events, or a partition of it:
	-- statement triggers of the parent do not fire for a statement that
	-- names a partition, as reduce_partition() and maintain_partitions()
	-- do). Idempotent.
	CREATE FUNCTION portmilter.rollup_attach(p_table regclass)
	RETURNS void LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	BEGIN
		IF EXISTS (SELECT FROM pg_catalog.pg_trigger
			   WHERE tgrelid = p_table AND tgname = 'rollup_ins') THEN
			RETURN;
		END IF;
		EXECUTE pg_catalog.format('CREATE TRIGGER rollup_ins AFTER INSERT ON %s '
			'REFERENCING NEW TABLE AS rollup_new FOR EACH STATEMENT '
			'EXECUTE FUNCTION portmilter.rollup_mark_new()', p_table);
		EXECUTE pg_catalog.format('CREATE TRIGGER rollup_upd AFTER UPDATE ON %s '
			'REFERENCING OLD TABLE AS rollup_old NEW TABLE AS rollup_new '
			'FOR EACH STATEMENT '
			'EXECUTE FUNCTION portmilter.rollup_mark_upd()', p_table);
		EXECUTE pg_catalog.format('CREATE TRIGGER rollup_del AFTER DELETE ON %s '
			'REFERENCING OLD TABLE AS rollup_old FOR EACH STATEMENT '
			'EXECUTE FUNCTION portmilter.rollup_mark_old()', p_table);
		EXECUTE pg_catalog.format('CREATE TRIGGER rollup_trunc AFTER TRUNCATE ON %s '
			'FOR EACH STATEMENT '
			'EXECUTE FUNCTION portmilter.rollup_mark_all()', p_table);
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_attach(regclass) FROM PUBLIC;

	-- As in 001, and the new partition gets the rollup triggers.
	CREATE OR REPLACE FUNCTION portmilter.create_month_partition(p_month date)
	RETURNS text
	LANGUAGE plpgsql
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	DECLARE
		first date;
		name text;
	BEGIN
		IF p_month IS NULL THEN
			RAISE EXCEPTION 'create_month_partition: month is NULL'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		first := pg_catalog.make_date(
			pg_catalog.date_part('year', p_month)::integer,
			pg_catalog.date_part('month', p_month)::integer, 1);
		name := 'events_' || pg_catalog.to_char(first, 'YYYYMM');
		IF pg_catalog.to_regclass('portmilter.' || name) IS NOT NULL THEN
			RETURN NULL;
		END IF;
		EXECUTE pg_catalog.format(
			'CREATE TABLE portmilter.%I PARTITION OF portmilter.events '
			'FOR VALUES FROM (%L) TO (%L)', name,
			pg_catalog.to_char(first, 'YYYY-MM-DD') || ' 00:00:00+00',
			pg_catalog.to_char((first + interval '1 month')::date,
					   'YYYY-MM-DD') || ' 00:00:00+00');
		PERFORM portmilter.rollup_attach(('portmilter.' || name)::regclass);
		RETURN name;
	END
	$fn$;

	PERFORM portmilter.rollup_attach('portmilter.events'::regclass);
	PERFORM portmilter.rollup_attach(i.inhrelid::regclass)
	FROM pg_catalog.pg_inherits AS i
	WHERE i.inhparent = 'portmilter.events'::regclass;

	-- ---- catch-up -----------------------------------------------------------
	-- Recompute one day's rollup rows from the events. Called by
	-- rollup_catchup() only, with the day's mark locked.
	CREATE FUNCTION portmilter.rollup_day(p_day date)
	RETURNS void LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	AS $fn$
	DECLARE
		t0 timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
		t1 timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
		y integer := pg_catalog.date_part('year', p_day)::integer;
		doy integer := p_day - pg_catalog.make_date(y, 1, 1);
		one bit(366) := pg_catalog.set_bit(pg_catalog.repeat('0', 366)::bit(366),
						   doy, 1);
		lo timestamptz;
		hi timestamptz;
		-- Bits of this day are set only if it was rolled up with
		-- events: else clearing them (a scan of the year's keys) is
		-- skipped.
		was boolean := EXISTS (SELECT FROM portmilter.rollup_days AS x
				       WHERE x.day = p_day);
	BEGIN
		DELETE FROM portmilter.rollup_port_day WHERE day = p_day;
		DELETE FROM portmilter.rollup_rule_day WHERE day = p_day;
		DELETE FROM portmilter.rollup_conn_days WHERE day = p_day;

		-- The counting conventions of sql/005_logreader.sql.
		INSERT INTO portmilter.rollup_port_day
		SELECT p_day, e.port, count(*),
		       count(DISTINCT e.conn_id) FILTER (WHERE e.kind IN
			('transaction', 'connection')),
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
		       count(*) FILTER (WHERE e.kind = 'tls_failure'),
		       count(*) FILTER (WHERE e.kind = 'transaction'
					AND e.sasl_method IS NOT NULL),
		       count(DISTINCT e.sasl_user) FILTER (WHERE e.kind = 'transaction'
					AND e.sasl_method IS NOT NULL)
		FROM portmilter.events AS e
		WHERE e.event_time >= t0 AND e.event_time < t1
		GROUP BY e.port;

		INSERT INTO portmilter.rollup_rule_day
		SELECT p_day, e.port, COALESCE(e.rule, '(none)'), count(*)
		FROM portmilter.events AS e
		WHERE e.event_time >= t0 AND e.event_time < t1
		  AND e.verdict = 'rejected'
		  AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
			AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
					   'postfix_end-of-message')))
		GROUP BY 2, 3;

		IF EXISTS (SELECT FROM portmilter.rollup_port_day WHERE day = p_day) THEN
			INSERT INTO portmilter.rollup_days VALUES (p_day)
			ON CONFLICT DO NOTHING;
		ELSE
			DELETE FROM portmilter.rollup_days WHERE day = p_day;
		END IF;

		-- Users: this day's bit cleared where the user is no longer
		-- seen, set where it is.
		WITH cur AS MATERIALIZED (
			SELECT DISTINCT e.port, e.sasl_user
			FROM portmilter.events AS e
			WHERE e.event_time >= t0 AND e.event_time < t1
			  AND e.kind IN ('transaction', 'connection')
			  AND e.sasl_user IS NOT NULL
		), cleared AS (
			UPDATE portmilter.rollup_users AS u
			SET days = pg_catalog.set_bit(u.days, doy, 0)
			WHERE was AND u.year = y AND pg_catalog.get_bit(u.days, doy) = 1
			  AND NOT EXISTS (SELECT FROM cur WHERE cur.port = u.port
					  AND cur.sasl_user = u.sasl_user)
		)
		INSERT INTO portmilter.rollup_users AS u (year, port, sasl_user, days)
		SELECT y, cur.port, cur.sasl_user, one FROM cur
		ON CONFLICT (year, port, sasl_user) DO UPDATE
			SET days = u.days | one
			WHERE pg_catalog.get_bit(u.days, doy) = 0;

		WITH cur AS MATERIALIZED (
			SELECT DISTINCT e.port, e.client_addr
			FROM portmilter.events AS e
			WHERE e.event_time >= t0 AND e.event_time < t1
			  AND e.client_addr IS NOT NULL
		), cleared AS (
			UPDATE portmilter.rollup_ips AS u
			SET days = pg_catalog.set_bit(u.days, doy, 0)
			WHERE was AND u.year = y AND pg_catalog.get_bit(u.days, doy) = 1
			  AND NOT EXISTS (SELECT FROM cur WHERE cur.port = u.port
					  AND cur.client_addr = u.client_addr)
		)
		INSERT INTO portmilter.rollup_ips AS u (year, port, client_addr, days)
		SELECT y, cur.port, cur.client_addr, one FROM cur
		ON CONFLICT (year, port, client_addr) DO UPDATE
			SET days = u.days | one
			WHERE pg_catalog.get_bit(u.days, doy) = 0;

		-- Connections seen here but not on their conn_time's day: every
		-- day they were seen between the two (those beyond are added
		-- when their own day is rolled up), this one included.
		SET LOCAL client_min_messages = warning;
		CREATE TEMP TABLE IF NOT EXISTS rollup_away (
			port integer, conn_id uuid, home date) ON COMMIT DROP;
		TRUNCATE rollup_away;
		INSERT INTO rollup_away
		SELECT DISTINCT e.port, e.conn_id, (e.conn_time AT TIME ZONE 'UTC')::date
		FROM portmilter.events AS e
		WHERE e.event_time >= t0 AND e.event_time < t1
		  AND e.kind IN ('transaction', 'connection')
		  AND (e.conn_time < t0 OR e.conn_time >= t1);
		SELECT LEAST(min(a.home), p_day)::timestamp AT TIME ZONE 'UTC',
		       (GREATEST(max(a.home), p_day) + 1)::timestamp AT TIME ZONE 'UTC'
		INTO lo, hi FROM rollup_away AS a;
		IF lo IS NOT NULL THEN
			INSERT INTO portmilter.rollup_conn_days (day, port, conn_id)
			SELECT DISTINCT (e.event_time AT TIME ZONE 'UTC')::date, e.port, e.conn_id
			FROM portmilter.events AS e
			JOIN rollup_away AS a ON a.conn_id = e.conn_id AND a.port = e.port
			WHERE e.event_time >= lo AND e.event_time < hi
			  AND e.kind IN ('transaction', 'connection')
			  AND (e.event_time AT TIME ZONE 'UTC')::date
				BETWEEN LEAST(a.home, p_day) AND GREATEST(a.home, p_day)
			ON CONFLICT DO NOTHING;
		END IF;
		-- Connections at home here, seen on another day too.
		INSERT INTO portmilter.rollup_conn_days (day, port, conn_id)
		SELECT DISTINCT p_day, e.port, e.conn_id
		FROM portmilter.events AS e
		WHERE e.event_time >= t0 AND e.event_time < t1
		  AND e.kind IN ('transaction', 'connection')
		  AND e.conn_time >= t0 AND e.conn_time < t1
		  AND EXISTS (SELECT FROM portmilter.rollup_conn_days AS s
			      WHERE s.conn_id = e.conn_id AND s.port = e.port
				AND s.day <> p_day)
		ON CONFLICT DO NOTHING;
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_day(date) FROM PUBLIC;

	-- A day whose rollup is kept as it is, never recomputed: rolled up,
	-- older than privacy_settings.raw_days, and no monthly partition
	-- covers it any more (dropped by the retention; rows there now can
	-- only be in DEFAULT, about to be deleted). The reports read its
	-- rollup even when it is marked.
	CREATE FUNCTION portmilter.rollup_kept(p_day date)
	RETURNS boolean LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $fn$
		SELECT p_day < (pg_catalog.now() AT TIME ZONE 'UTC')::date - s.raw_days
		       AND EXISTS (SELECT FROM portmilter.rollup_days AS x
				   WHERE x.day = p_day)
		       AND NOT EXISTS (SELECT FROM portmilter.event_partitions() AS e
				       WHERE NOT e.is_default
					 AND p_day >= (e.lower_bound AT TIME ZONE 'UTC')::date
					 AND p_day < (e.upper_bound AT TIME ZONE 'UTC')::date)
		FROM portmilter.privacy_settings AS s
		WHERE s.raw_days IS NOT NULL
	$fn$;

	-- Roll up to max_days dirty days before today (UTC), oldest first,
	-- all in the caller's transaction (call it with 1, repeatedly, to
	-- hold each day's lock only for its own work). Returns how many were
	-- done: 0 when none is left, or when another session is catching up
	-- (one at a time: pg_try_advisory_xact_lock). Days a writer holds
	-- are skipped. A day older than privacy_settings.raw_days that was
	-- rolled up keeps its rollup (its raw rows are dropped or about to
	-- be): the mark is only removed.
	CREATE FUNCTION portmilter.rollup_catchup(max_days integer DEFAULT 1)
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
			END IF;
			DELETE FROM portmilter.rollup_dirty WHERE day = d;
			n := n + 1;
		END LOOP;
		RETURN n;
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_catchup(integer) FROM PUBLIC;
	GRANT EXECUTE ON FUNCTION portmilter.rollup_catchup(integer) TO portmilter_writer;

	-- ---- reading ------------------------------------------------------------
	-- The parts of a window: whole clean days (days, and per year a mask
	-- of them for the bitmaps) and the ranges read from the events (the
	-- ragged edges, the dirty days, today).
	CREATE FUNCTION portmilter.rollup_parts(p_since timestamptz, p_until timestamptz,
		OUT days date[], OUT years integer[], OUT masks bit(366)[],
		OUT raw tstzrange[])
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	DECLARE
		today date := (pg_catalog.now() AT TIME ZONE 'UTC')::date;
		fd date;
		ld date;
		r tstzrange[] := '{}';
	BEGIN
		days := '{}'; years := '{}'; masks := '{}';
		IF p_since IS NULL OR p_until IS NULL OR p_since >= p_until THEN
			raw := '{}';
			RETURN;
		END IF;
		IF p_since = '-infinity' THEN
			SELECT min(x.day) INTO fd FROM portmilter.rollup_days AS x;
		ELSE
			fd := (p_since AT TIME ZONE 'UTC')::date;
			IF (fd::timestamp AT TIME ZONE 'UTC') < p_since THEN
				fd := fd + 1;
			END IF;
		END IF;
		IF p_until = 'infinity' THEN
			ld := today;
		ELSE
			ld := LEAST((p_until AT TIME ZONE 'UTC')::date, today);
		END IF;
		IF fd IS NULL OR fd >= ld THEN
			raw := ARRAY[pg_catalog.tstzrange(p_since, p_until)];
			RETURN;
		END IF;
		SELECT COALESCE(pg_catalog.array_agg(g.day ORDER BY g.day), '{}') INTO days
		FROM (SELECT x.day FROM portmilter.rollup_days AS x
		      WHERE x.day >= fd AND x.day < ld
		      EXCEPT SELECT y.day FROM portmilter.rollup_dirty AS y
		      WHERE y.day >= fd AND y.day < ld
			AND NOT COALESCE(portmilter.rollup_kept(y.day), false)) AS g;
		SELECT COALESCE(pg_catalog.array_agg(m.y ORDER BY m.y), '{}'),
		       COALESCE(pg_catalog.array_agg(m.mask ORDER BY m.y), '{}')
		INTO years, masks
		FROM (SELECT pg_catalog.date_part('year', g.day)::integer AS y,
			     pg_catalog.string_agg(CASE WHEN g.day = ANY (days) THEN '1' ELSE '0' END,
				'' ORDER BY g.day) AS bits
		      FROM pg_catalog.generate_series(
			pg_catalog.make_date(pg_catalog.date_part('year', fd)::integer, 1, 1),
			pg_catalog.make_date(pg_catalog.date_part('year', ld - 1)::integer, 12, 31),
			interval '1 day') AS s(t)
		      CROSS JOIN LATERAL (SELECT s.t::date AS day) AS g
		      GROUP BY 1) AS b
		CROSS JOIN LATERAL (SELECT b.y, pg_catalog.rpad(b.bits, 366, '0')::bit(366)
				    AS mask) AS m
		WHERE pg_catalog.strpos(b.bits, '1') > 0;
		-- The raw ranges: before fd, the dirty days of [fd, ld), from
		-- ld on (a day neither dirty nor rolled up had no events);
		-- adjacent ones merged.
		r := ARRAY[pg_catalog.tstzrange(p_since, fd::timestamp AT TIME ZONE 'UTC'),
			   pg_catalog.tstzrange(ld::timestamp AT TIME ZONE 'UTC', p_until)];
		SELECT r || COALESCE(pg_catalog.array_agg(pg_catalog.tstzrange(
				y.day::timestamp AT TIME ZONE 'UTC',
				(y.day + 1)::timestamp AT TIME ZONE 'UTC')), '{}')
		INTO r FROM portmilter.rollup_dirty AS y
		WHERE y.day >= fd AND y.day < ld
		  AND NOT COALESCE(portmilter.rollup_kept(y.day), false);
		SELECT COALESCE(pg_catalog.array_agg(m.x ORDER BY m.x), '{}') INTO raw
		FROM pg_catalog.unnest((SELECT pg_catalog.range_agg(u.x)
					FROM pg_catalog.unnest(r) AS u(x))) AS m(x);
	END
	$fn$;

	-- The aggregates over the events alone, as before 014 (005's
	-- port_traffic_between, 002's port_adoption_between, renamed, not
	-- copied): what the rollups must equal (tests/sql/rollups.sh), and
	-- the hourly and daily buckets of port_traffic_between(). The views
	-- port_hourly, port_daily and port_adoption follow the rename: they
	-- read the events, as they always did.
	ALTER FUNCTION portmilter.port_traffic_between(timestamptz, timestamptz, text)
		RENAME TO port_traffic_raw;
	ALTER FUNCTION portmilter.port_adoption_between(timestamptz, timestamptz)
		RENAME TO port_adoption_raw;

	-- port_traffic_between(a, b) (one bucket per port) from the parts of
	-- rollup_parts(): the additive counts summed; distinct users and
	-- addresses: the keys whose day bitmap meets the clean days, with
	-- those of the raw rows; distinct connections: the per-day counts,
	-- less the extra days of the connections seen on several of them
	-- (rollup_conn_days), plus the raw part's connections that were not
	-- seen on a clean day of the window.
	CREATE FUNCTION portmilter.port_traffic_rollup(
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
	AS $fn$
	DECLARE
		pt record;
		two boolean;
		y1 integer;
		y2 integer;
		m1 bit(366);
		m2 bit(366);
	BEGIN
		SELECT * INTO pt FROM portmilter.rollup_parts(p_since, p_until);
		two := pg_catalog.cardinality(pt.years) <= 2;
		y1 := pt.years[1]; m1 := pt.masks[1];
		y2 := pt.years[2]; m2 := pt.masks[2];
		RETURN QUERY
		WITH raw AS MATERIALIZED (
			SELECT e.port, e.conn_id, e.conn_time, e.kind, e.verdict,
			       e.rule, e.sasl_user, e.client_addr, e.credential_exposure
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
			-- Distinct keys. Over at most two years (any window up to
			-- a year and a day): the first year's keys not met in the
			-- second, the second's, and the raw part's keys met in
			-- neither: every row is counted once, nothing is hashed or
			-- sorted but the raw part. Longer: all of them, UNIONed.
			SELECT k.port, count(*) AS n
			FROM (
				SELECT a.port FROM portmilter.rollup_users AS a
				WHERE two AND a.year = y1 AND pg_catalog.bit_count(a.days & m1) > 0
				  AND NOT EXISTS (SELECT FROM portmilter.rollup_users AS b
						  WHERE b.year = y2 AND b.port = a.port
						    AND b.sasl_user = a.sasl_user
						    AND pg_catalog.bit_count(b.days & m2) > 0)
				UNION ALL
				SELECT b.port FROM portmilter.rollup_users AS b
				WHERE two AND b.year = y2 AND pg_catalog.bit_count(b.days & m2) > 0
				UNION ALL
				SELECT r.port
				FROM (SELECT DISTINCT e.port, e.sasl_user FROM raw AS e
				      WHERE two AND e.kind IN ('transaction', 'connection') AND e.sasl_user IS NOT NULL) AS r
				WHERE NOT EXISTS (SELECT FROM portmilter.rollup_users AS c
						  WHERE c.year IN (y1, y2) AND c.port = r.port
						    AND c.sasl_user = r.sasl_user
						    AND pg_catalog.bit_count(c.days
							& CASE WHEN c.year = y1 THEN m1 ELSE m2 END) > 0
						  OFFSET 0)	-- an index probe per key, not a join
				UNION ALL
				SELECT x.port FROM (
					SELECT u.port, u.sasl_user
					FROM portmilter.rollup_users AS u
					JOIN ROWS FROM (pg_catalog.unnest(pt.years),
							pg_catalog.unnest(pt.masks)) AS m(y, mask)
					  ON u.year = m.y
					WHERE NOT two AND pg_catalog.bit_count(u.days & m.mask) > 0
					UNION
					SELECT e.port, e.sasl_user FROM raw AS e
					WHERE NOT two AND e.kind IN ('transaction', 'connection') AND e.sasl_user IS NOT NULL
				) AS x
			) AS k
			GROUP BY k.port
		), ips AS (
			-- Distinct keys. Over at most two years (any window up to
			-- a year and a day): the first year's keys not met in the
			-- second, the second's, and the raw part's keys met in
			-- neither: every row is counted once, nothing is hashed or
			-- sorted but the raw part. Longer: all of them, UNIONed.
			SELECT k.port, count(*) AS n
			FROM (
				SELECT a.port FROM portmilter.rollup_ips AS a
				WHERE two AND a.year = y1 AND pg_catalog.bit_count(a.days & m1) > 0
				  AND NOT EXISTS (SELECT FROM portmilter.rollup_ips AS b
						  WHERE b.year = y2 AND b.port = a.port
						    AND b.client_addr = a.client_addr
						    AND pg_catalog.bit_count(b.days & m2) > 0)
				UNION ALL
				SELECT b.port FROM portmilter.rollup_ips AS b
				WHERE two AND b.year = y2 AND pg_catalog.bit_count(b.days & m2) > 0
				UNION ALL
				SELECT r.port
				FROM (SELECT DISTINCT e.port, e.client_addr FROM raw AS e
				      WHERE two AND e.client_addr IS NOT NULL) AS r
				WHERE NOT EXISTS (SELECT FROM portmilter.rollup_ips AS c
						  WHERE c.year IN (y1, y2) AND c.port = r.port
						    AND c.client_addr = r.client_addr
						    AND pg_catalog.bit_count(c.days
							& CASE WHEN c.year = y1 THEN m1 ELSE m2 END) > 0
						  OFFSET 0)	-- an index probe per key, not a join
				UNION ALL
				SELECT x.port FROM (
					SELECT u.port, u.client_addr
					FROM portmilter.rollup_ips AS u
					JOIN ROWS FROM (pg_catalog.unnest(pt.years),
							pg_catalog.unnest(pt.masks)) AS m(y, mask)
					  ON u.year = m.y
					WHERE NOT two AND pg_catalog.bit_count(u.days & m.mask) > 0
					UNION
					SELECT e.port, e.client_addr FROM raw AS e
					WHERE NOT two AND e.client_addr IS NOT NULL
				) AS x
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

	-- port_adoption_between() from the parts: clean days from
	-- rollup_port_day, the rest from the events, grouped by day.
	CREATE FUNCTION portmilter.port_adoption_rollup(
		p_since timestamptz, p_until timestamptz)
	RETURNS TABLE (day date, port integer, submissions bigint,
		       users bigint, share numeric)
	LANGUAGE plpgsql
	STABLE
	SET search_path = pg_catalog, pg_temp
	-- a plan over a few thousand rows: compiling it (JIT, seconds on a
	-- busy machine) would cost more than running it
	SET jit = off
	AS $fn$
	DECLARE
		pt record;
	BEGIN
		SELECT * INTO pt FROM portmilter.rollup_parts(p_since, p_until);
		RETURN QUERY
		SELECT d.day, d.port, d.submissions, d.users,
		       pg_catalog.round(d.submissions::numeric
			/ sum(d.submissions) OVER (PARTITION BY d.day), 4)
		FROM (
			SELECT x.day, x.port, x.submissions, x.submission_users AS users
			FROM portmilter.rollup_port_day AS x
			WHERE x.day = ANY (pt.days) AND x.submissions > 0
			UNION ALL
			SELECT (e.event_time AT TIME ZONE 'UTC')::date, e.port,
			       count(*), count(DISTINCT e.sasl_user)
			FROM pg_catalog.unnest(pt.raw) AS r(x)
			CROSS JOIN LATERAL (
				SELECT * FROM portmilter.events AS y
				WHERE y.event_time >= pg_catalog.lower(r.x)
				  AND y.event_time < pg_catalog.upper(r.x)
				OFFSET 0) AS e	-- an index range per part
			WHERE e.kind = 'transaction' AND e.sasl_method IS NOT NULL
			GROUP BY 1, 2
		) AS d
		ORDER BY d.day, d.port;
	END
	$fn$;

	-- The functions the reports and views call: one bucket per port
	-- from the rollups, hourly and daily buckets from the events.
	CREATE FUNCTION portmilter.port_traffic_between(
		p_since timestamptz, p_until timestamptz, p_bucket text DEFAULT NULL)
	RETURNS TABLE (bucket timestamptz, port integer, connections bigint,
		       transactions bigint, accepted bigint, rejected bigint,
		       tempfailed bigint, aborted bigint, rejects_by_rule jsonb,
		       users bigint, ips bigint, exposures bigint,
		       auth_failures bigint, refused_before_mail bigint,
		       tls_failures bigint)
	LANGUAGE sql
	STABLE
	AS $fn$
		SELECT * FROM portmilter.port_traffic_rollup(p_since, p_until)
		WHERE p_bucket IS NULL
		UNION ALL
		SELECT * FROM portmilter.port_traffic_raw(p_since, p_until, p_bucket)
		WHERE p_bucket IS NOT NULL
	$fn$;
	CREATE FUNCTION portmilter.port_adoption_between(
		p_since timestamptz, p_until timestamptz)
	RETURNS TABLE (day date, port integer, submissions bigint,
		       users bigint, share numeric)
	LANGUAGE sql
	STABLE
	AS $fn$
		SELECT * FROM portmilter.port_adoption_rollup(p_since, p_until)
	$fn$;

	GRANT SELECT ON portmilter.rollup_dirty, portmilter.rollup_days,
		portmilter.rollup_port_day, portmilter.rollup_rule_day,
		portmilter.rollup_users, portmilter.rollup_ips,
		portmilter.rollup_conn_days TO portmilter_reader;

	-- Every day that has events is dirty: the catch-up rolls them up,
	-- the reports read them raw until then.
	INSERT INTO portmilter.rollup_dirty (day)
	SELECT g.t::date
	FROM (SELECT min(e.event_time) AS lo, max(e.event_time) AS hi
	      FROM portmilter.events AS e) AS b
	CROSS JOIN LATERAL pg_catalog.generate_series(
		(b.lo AT TIME ZONE 'UTC')::date, (b.hi AT TIME ZONE 'UTC')::date,
		interval '1 day') AS g(t)
	WHERE b.lo IS NOT NULL
	ON CONFLICT DO NOTHING;

	INSERT INTO portmilter.schema_version (version) VALUES (14);
END
$migration$;
