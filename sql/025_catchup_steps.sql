-- 025_catchup_steps.sql - the rollups' catch-up in steps, so that no
-- statement of the shipper's catch-up grows with a whole day (issue 14).
--
-- rollup_catchup() (014, restated by 015, 020, 022, 024) recomputes a
-- dirty day in one transaction: every rollup of the day, one after the
-- other. Its time grows with the day's events (at 1 M events a day, a
-- large provider's, each rollup of a day takes seconds to tens of
-- seconds), and the milter's shipper runs it under its 60 s
-- statement_timeout, in the thread that ships: a day too big for one
-- statement would never be rolled up, and the shipping waited for it.
-- This adds:
--
--   rollup_steps          the rollups of a day, in order: one row per
--                         function (regprocedure, taking the day), kept
--                         here instead of in the body of
--                         rollup_catchup(), so that a migration adding a
--                         rollup inserts a row instead of restating the
--                         catch-up
--   rollup_dirty.step     how many of the steps are done for the day's
--   rollup_dirty.step_gen mark, and the mark's gen they were done at
--   rollup_catchup_step() one step of the oldest dirty day before today,
--                         in the caller's transaction; the shipper calls
--                         it, once per transaction, instead of
--                         rollup_catchup(1)
--
-- rollup_catchup(max_days) keeps its meaning (whole days, each in the
-- caller's transaction: `portmilter-report maintain`, the tests, the
-- bench) and now runs the steps of rollup_steps.
--
-- Why a day done in steps is still exact: a reader never uses the
-- rollup rows of a dirty day (it reads its events), and the mark stays
-- until the last step is done. Each step recomputes its own tables for
-- the day from the events, in one transaction, as before. A writer that
-- adds, changes or removes rows of the day between two steps bumps the
-- mark's gen (its trigger's ON CONFLICT waits for the step holding the
-- mark's lock, then updates it): the next step finds gen <> step_gen and
-- starts the day again from the first step. The last step deletes the
-- mark in the transaction that checked gen under the mark's lock, as
-- rollup_catchup() does (doc/DESIGN.md, "Why it is safe").
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/025_catchup_steps.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 25.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 24) THEN
		RAISE EXCEPTION 'portmilter: migration 025 needs 001 to 024 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 25) THEN
		RAISE NOTICE 'portmilter: migration 025 already applied, nothing done';
		RETURN;
	END IF;

	CREATE TABLE portmilter.rollup_steps (
		ord integer PRIMARY KEY,
		fn regprocedure NOT NULL UNIQUE
	);
	COMMENT ON TABLE portmilter.rollup_steps IS
		'the rollups of a day, run in ord order by the catch-up (see sql/025_catchup_steps.sql)';
	INSERT INTO portmilter.rollup_steps VALUES
		(10, 'portmilter.rollup_day(date)'),
		(20, 'portmilter.rollup_day_keys(date)'),
		(30, 'portmilter.rollup_day_tls(date)'),
		(40, 'portmilter.rollup_day_addr(date)'),
		(50, 'portmilter.rollup_day_preview(date)');

	ALTER TABLE portmilter.rollup_dirty
		ADD COLUMN step integer NOT NULL DEFAULT 0,
		ADD COLUMN step_gen bigint;

	-- One step (rollup_steps' row number k, from 0) of day d. The
	-- function's name comes from rollup_steps, which only the schema's
	-- owner may write; regproc's text is schema-qualified here (the
	-- search_path holds only pg_catalog).
	CREATE FUNCTION portmilter.rollup_step_run(p_fn regprocedure, p_day date)
	RETURNS void LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	AS $fn$
	BEGIN
		EXECUTE pg_catalog.format('SELECT %s($1)', p_fn::regproc) USING p_day;
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_step_run(regprocedure, date) FROM PUBLIC;

	-- As 014's, its steps from rollup_steps.
	CREATE OR REPLACE FUNCTION portmilter.rollup_catchup(max_days integer DEFAULT 1)
	RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	AS $fn$
	DECLARE
		today date := (pg_catalog.now() AT TIME ZONE 'UTC')::date;
		d date;
		f regprocedure;
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
				FOR f IN SELECT s.fn FROM portmilter.rollup_steps AS s ORDER BY s.ord LOOP
					PERFORM portmilter.rollup_step_run(f, d);
				END LOOP;
			END IF;
			DELETE FROM portmilter.rollup_dirty WHERE day = d;
			n := n + 1;
		END LOOP;
		RETURN n;
	END
	$fn$;

	-- One step of the oldest dirty day before today that no writer holds,
	-- in the caller's transaction (call it once per transaction, again
	-- while it returns a number). Returns NULL when there is nothing to
	-- do (no such day, or another session is catching up: the advisory
	-- lock of rollup_catchup()), else the number of steps left for that
	-- day: 0 when this step finished it and took its mark away. A day
	-- kept by the retention (rollup_kept()) loses its mark in one step.
	CREATE FUNCTION portmilter.rollup_catchup_step()
	RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	AS $fn$
	DECLARE
		today date := (pg_catalog.now() AT TIME ZONE 'UTC')::date;
		r record;
		k integer;
		nsteps integer;
		f regprocedure;
	BEGIN
		IF NOT pg_catalog.pg_try_advisory_xact_lock(1886219637) THEN
			RETURN NULL;
		END IF;
		SELECT m.day, m.gen, m.step, m.step_gen INTO r
		FROM portmilter.rollup_dirty AS m
		WHERE m.day < today ORDER BY m.day
		LIMIT 1 FOR UPDATE SKIP LOCKED;
		IF NOT FOUND THEN
			RETURN NULL;
		END IF;
		IF COALESCE(portmilter.rollup_kept(r.day), false) THEN
			DELETE FROM portmilter.rollup_dirty WHERE day = r.day;
			RETURN 0;
		END IF;
		-- the steps done count only for the gen they were done at
		k := CASE WHEN r.step_gen = r.gen THEN r.step ELSE 0 END;
		SELECT count(*) INTO nsteps FROM portmilter.rollup_steps;
		SELECT s.fn INTO f FROM portmilter.rollup_steps AS s
		ORDER BY s.ord OFFSET k LIMIT 1;
		IF FOUND THEN
			PERFORM portmilter.rollup_step_run(f, r.day);
		END IF;
		IF k + 1 >= nsteps THEN
			DELETE FROM portmilter.rollup_dirty WHERE day = r.day;
			RETURN 0;
		END IF;
		UPDATE portmilter.rollup_dirty SET step = k + 1, step_gen = r.gen
		WHERE day = r.day;
		RETURN nsteps - (k + 1);
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_catchup_step() FROM PUBLIC;
	GRANT EXECUTE ON FUNCTION portmilter.rollup_catchup_step() TO portmilter_writer;

	INSERT INTO portmilter.schema_version (version) VALUES (25);
END
$migration$;
