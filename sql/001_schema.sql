-- 001_schema.sql - schema portmilter: schema_version, the events table
-- (doc/events.md), monthly partitions and their helpers.
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/001_schema.sql DBNAME
-- The whole migration is one DO block: it is atomic even without -1, and
-- a no-op (a NOTICE) when schema_version already holds version 1. Every
-- name is schema-qualified, so it runs with any search_path.
--
-- Time: partitions are calendar months in UTC.

DO $migration$
BEGIN
	-- One migrator at a time (the same key in every migration).
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);

	IF NOT EXISTS (SELECT FROM pg_catalog.pg_namespace
		       WHERE nspname = 'portmilter') THEN
		CREATE SCHEMA portmilter;
	END IF;
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL THEN
		CREATE TABLE portmilter.schema_version (
			version integer PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT pg_catalog.now()
		);
		COMMENT ON TABLE portmilter.schema_version IS
			'portmilter migrations applied (sql/NNN_*.sql), one row each';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 1) THEN
		RAISE NOTICE 'portmilter: migration 001 already applied, nothing done';
		RETURN;
	END IF;

	-- The record of doc/events.md, column for column.
	CREATE TABLE portmilter.events (
		event_id uuid NOT NULL,
		event_time timestamptz NOT NULL,
		conn_id uuid NOT NULL,
		conn_time timestamptz NOT NULL,
		kind text NOT NULL
			CONSTRAINT events_kind_check
			CHECK (kind IN ('transaction', 'connection')),
		node text NOT NULL,
		port integer NOT NULL,
		port_known boolean NOT NULL,
		service text,
		client_addr inet,
		client_name text,
		helo text,
		tls_version text,
		tls_cipher text,
		sasl_method text,
		sasl_user text,
		sender text,
		nrcpt integer NOT NULL,
		nrcpt_rejected integer NOT NULL,
		nrcpt_tempfailed integer NOT NULL,
		nrcpt_refused integer NOT NULL,
		size bigint,
		queue_id text,
		verdict text NOT NULL
			CONSTRAINT events_verdict_check
			CHECK (verdict IN ('accepted', 'rejected', 'tempfailed',
					   'aborted', 'none')),
		rule text,
		reply text,
		credential_exposure boolean NOT NULL,
		helo_raw bytea,
		client_name_raw bytea,
		sasl_user_raw bytea,
		sender_raw bytea,
		-- The partition key must be part of it; shipping does
		-- INSERT ... ON CONFLICT DO NOTHING on it. Leading
		-- event_time, it is also the index for time windows.
		CONSTRAINT events_pkey PRIMARY KEY (event_time, event_id)
	) PARTITION BY RANGE (event_time);
	COMMENT ON TABLE portmilter.events IS
		'one row per SMTP transaction, or per connection without one '
		'(doc/events.md); partitioned by UTC month';

	-- Rows outside every monthly partition land here instead of failing.
	CREATE TABLE portmilter.events_default
		PARTITION OF portmilter.events DEFAULT;

	-- The abuse-team queries: one port, one user, one address or
	-- network (client_addr <<= 'net/len' is turned into a range scan on
	-- this btree by the planner when the network is a known value, which
	-- it is for psql literals and libpq parameters), each in a window.
	CREATE INDEX events_port_time_idx
		ON portmilter.events (port, event_time);
	CREATE INDEX events_user_time_idx
		ON portmilter.events (sasl_user, event_time)
		WHERE sasl_user IS NOT NULL;
	CREATE INDEX events_addr_time_idx
		ON portmilter.events (client_addr, event_time)
		WHERE client_addr IS NOT NULL;

	-- One month's partition. Returns its name if it was created, NULL if
	-- a table of that name exists. Fails if the DEFAULT partition holds
	-- rows of that month (see sql/README.md) or the range overlaps
	-- another partition. Not granted to anyone: for administrators
	-- (backfilling old months).
	CREATE FUNCTION portmilter.create_month_partition(p_month date)
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
		RETURN name;
	END
	$fn$;

	-- The partitions of the current UTC month and of the months_ahead
	-- following ones; returns the names it created. Called by the
	-- milter's shipper whenever it connects (EXECUTE granted to
	-- portmilter_writer), and by anyone from cron. A month it cannot
	-- create (lock not obtained within 5 s, rows of that month already
	-- in the DEFAULT partition, overlapping hand-made partition) is a
	-- WARNING, not an error: the caller's work goes on and those rows
	-- simply stay in the DEFAULT partition.
	CREATE FUNCTION portmilter.ensure_partitions(months_ahead integer DEFAULT 3)
	RETURNS SETOF text
	LANGUAGE plpgsql
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET lock_timeout = '5s'
	AS $fn$
	DECLARE
		this_month date := pg_catalog.date_trunc('month',
			pg_catalog.now() AT TIME ZONE 'UTC')::date;
		m date;
		created text;
	BEGIN
		IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 120 THEN
			RAISE EXCEPTION 'ensure_partitions: months_ahead must be 0..120, not %',
				months_ahead USING ERRCODE = 'invalid_parameter_value';
		END IF;
		PERFORM pg_catalog.pg_advisory_xact_lock(1886220404);
		FOR i IN 0..months_ahead LOOP
			m := (this_month + pg_catalog.make_interval(months => i))::date;
			BEGIN
				created := portmilter.create_month_partition(m);
				IF created IS NOT NULL THEN
					RETURN NEXT created;
				END IF;
			EXCEPTION
				WHEN duplicate_table THEN
					NULL;	-- made meanwhile: fine
				WHEN check_violation OR invalid_object_definition
				     OR lock_not_available THEN
					RAISE WARNING 'portmilter.ensure_partitions: month %: %',
						pg_catalog.to_char(m, 'YYYY-MM'), SQLERRM
						USING HINT = 'see "Partitions" in sql/README.md';
			END;
		END LOOP;
	END
	$fn$;

	-- Retention: drops every monthly partition that ends on or before
	-- the first day of the current UTC month minus p_months months, i.e.
	-- keeps the current month and the p_months before it. Never touches
	-- the DEFAULT partition (or one bounded by MAXVALUE). Returns the
	-- names dropped. For administrators (not granted to anyone).
	CREATE FUNCTION portmilter.drop_partitions_older_than(p_months integer)
	RETURNS SETOF text
	LANGUAGE plpgsql
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET DateStyle = 'ISO, YMD'
	AS $fn$
	DECLARE
		cutoff timestamptz;
		part record;
		upper_text text;
	BEGIN
		IF p_months IS NULL OR p_months < 1 THEN
			RAISE EXCEPTION 'drop_partitions_older_than: months must be >= 1, not %',
				p_months USING ERRCODE = 'invalid_parameter_value';
		END IF;
		cutoff := pg_catalog.date_trunc('month', pg_catalog.now())
			  - pg_catalog.make_interval(months => p_months);
		FOR part IN
			SELECT c.relname,
			       pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound
			FROM pg_catalog.pg_inherits AS i
			JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'portmilter.events'::regclass
			ORDER BY c.relname
		LOOP
			-- "FOR VALUES FROM ('...') TO ('...')", or "DEFAULT"
			upper_text := pg_catalog.substring(part.bound,
				'TO \(''([^'']+)''\)$');
			CONTINUE WHEN upper_text IS NULL;
			IF upper_text::timestamptz <= cutoff THEN
				EXECUTE pg_catalog.format('DROP TABLE portmilter.%I',
							  part.relname);
				RETURN NEXT part.relname;
			END IF;
		END LOOP;
	END
	$fn$;

	REVOKE ALL ON FUNCTION portmilter.create_month_partition(date) FROM PUBLIC;
	REVOKE ALL ON FUNCTION portmilter.ensure_partitions(integer) FROM PUBLIC;
	REVOKE ALL ON FUNCTION portmilter.drop_partitions_older_than(integer) FROM PUBLIC;

	PERFORM portmilter.ensure_partitions();

	INSERT INTO portmilter.schema_version (version) VALUES (1);
END
$migration$;
