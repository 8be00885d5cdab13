-- 026_rollups_changed.sql - the catch-up of a day rewrites only the
-- rollup rows that changed, with plans made for that day (issue 14).
--
-- Each rollup of a day (rollup_day_keys() 015/018, rollup_day_tls()
-- 020/023, rollup_day_addr() 022, rollup_day_preview() 024) deleted all
-- of the day's rows and inserted them again. Every row deleted was taken
-- out of its month (and year, and tier) row and every row inserted put
-- back: the triggers of 018 and 023 and the month upkeep did the work
-- of the whole day twice, even when the day's rows came out the same.
-- A day is marked again for a few late rows, an UPDATE, a reduction of
-- addresses (010, 022) or forget_user() (015): at 10 M events a year the
-- catch-up of a day that had not changed at all took 10 to 12 s, so the
-- first reduction of a year's addresses (337 days marked) cost about an
-- hour of catch-up, and a data-subject request a day's worth per day
-- the user was seen.
--
-- Now each of them computes the day's rows into a temporary table first,
-- deletes only the rows that changed or went (compared whole, ROW(...)
-- IS NOT DISTINCT FROM), and inserts only the rows that changed or came.
-- The month, year and tier upkeep that follows is unchanged and sees
-- only those rows: a row that is the same is left alone with everything
-- summed from it. What the tables hold after a catch-up is what it was
-- before 026 (tests/sql/rollups-keys.sh compares every per-key function
-- with its oracle after late rows, UPDATEs, DELETEs, forget_user() and
-- reductions).
--
-- The rows to insert are picked before the insert starts: the day's new
-- rows less those still in the table after the deletion (the same), taken
-- out of the temporary table, the rest inserted whole; the new user
-- names through an array computed whole first (an InitPlan). An INSERT
-- ... WHERE NOT EXISTS (SELECT FROM the same table), planned while that
-- table was empty (a new database's first days), runs as a nested loop
-- over a sequential scan of the table, which grows under it: quadratic in
-- the day's rows. A day of 1,000,000 events, the first of its database,
-- was still in its address step after 12 minutes.
-- (tests/sql/catchup-steps.sh checks the plans.)
--
-- And a tier row of 023 is now added to when a day row is inserted (the
-- sums, the least first_seen, the greatest last_seen), instead of being
-- summed again from its tier's day rows (two passes over up to ten
-- days' rows, 0.4 to 0.5 s a day at 10 M). A deleted or updated day row
-- still has its tier summed again (a least or a greatest cannot be
-- taken back). The rollups of a day also run without JIT and with
-- work_mem 64MB (sorts of a day's groups spilled to disk at 4MB).
--
-- And with plan_cache_mode = force_custom_plan (rollup_step_run(), 025,
-- through which both catch-ups run every step, and each step): a
-- session that catches up day after day (the milter's catch-up thread,
-- `maintain`, one connection each) had PL/pgSQL switch the steps'
-- statements to generic plans after five runs, planned for no day in
-- particular, and from the fourth day on each day took 2.4 times as
-- long (14 to 15 s against 6 s at 10 M events a year: the "15.3 s a
-- day" of a backfill in README "Benchmarks"). A custom plan costs a few
-- milliseconds of planning a statement.
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/026_rollups_changed.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 26.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 25) THEN
		RAISE EXCEPTION 'portmilter: migration 026 needs 001 to 025 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 26) THEN
		RAISE NOTICE 'portmilter: migration 026 already applied, nothing done';
		RETURN;
	END IF;

	-- ---- tiers (023) ----------------------------------------------------------
	-- Day rows inserted: added to their tier rows (a new group gets one).
	CREATE FUNCTION portmilter.rollup_tls_tier_add(p_rows portmilter.rollup_tls_day[])
	RETURNS void LANGUAGE sql
	SET search_path = pg_catalog, pg_temp
	AS $fn$
		INSERT INTO portmilter.rollup_tls_tier AS t
		SELECT portmilter.rollup_tls_tier_of(r.day), r.port, r.tls_version,
		       r.uid, r.network, sum(r.nevents), sum(r.transactions),
		       sum(r.accepted), sum(r.rejected), sum(r.home_conns),
		       min(r.first_seen), max(r.last_seen)
		FROM pg_catalog.unnest(p_rows) AS r
		GROUP BY 1, 2, 3, 4, 5
		ON CONFLICT (tier, port, tls_version, uid, network) DO UPDATE
		SET nevents = t.nevents + excluded.nevents,
		    transactions = t.transactions + excluded.transactions,
		    accepted = t.accepted + excluded.accepted,
		    rejected = t.rejected + excluded.rejected,
		    home_conns = t.home_conns + excluded.home_conns,
		    first_seen = LEAST(t.first_seen, excluded.first_seen),
		    last_seen = GREATEST(t.last_seen, excluded.last_seen);
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_tls_tier_add(portmilter.rollup_tls_day[])
		FROM PUBLIC;

	-- As in 023, but an INSERT adds to the tier rows.
	CREATE OR REPLACE FUNCTION portmilter.rollup_tls_tier_trg()
	RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	BEGIN
		IF TG_OP = 'INSERT' THEN
			PERFORM portmilter.rollup_tls_tier_add(pg_catalog.array_agg(
				n::portmilter.rollup_tls_day))
			FROM tier_new AS n HAVING count(*) > 0;
		ELSIF TG_OP = 'DELETE' THEN
			PERFORM portmilter.rollup_tls_tier_redo(pg_catalog.array_agg(
				o::portmilter.rollup_tls_day))
			FROM tier_old AS o HAVING count(*) > 0;
		ELSE
			PERFORM portmilter.rollup_tls_tier_redo(pg_catalog.array_agg(x.r))
			FROM (SELECT n::portmilter.rollup_tls_day AS r
			      FROM tier_new AS n
			      UNION ALL
			      SELECT o::portmilter.rollup_tls_day
			      FROM tier_old AS o) AS x
			HAVING count(*) > 0;
		END IF;
		RETURN NULL;
	END
	$fn$;

	-- ---- the rollups of a day -------------------------------------------------
	-- As in 015 (and 018's month upkeep), the changed rows only.
	CREATE OR REPLACE FUNCTION portmilter.rollup_day_keys(p_day date)
	RETURNS void LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET jit = off
	SET work_mem = '64MB'
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
			CREATE TEMP TABLE IF NOT EXISTS rollup_user_day_new (
				LIKE portmilter.rollup_user_day
			) ON COMMIT DROP;
			CREATE TEMP TABLE IF NOT EXISTS rollup_ip_day_new (
				LIKE portmilter.rollup_ip_day
			) ON COMMIT DROP;
			CREATE TEMP TABLE IF NOT EXISTS rollup_net_day_new (
				LIKE portmilter.rollup_net_day
			) ON COMMIT DROP;
			TRUNCATE rollup_ev, rollup_user_day_new, rollup_ip_day_new,
				 rollup_net_day_new;
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
			SELECT pg_catalog.unnest(ARRAY(
				SELECT DISTINCT v.sasl_user FROM rollup_ev AS v
				WHERE v.sasl_user IS NOT NULL
				  AND NOT EXISTS (SELECT FROM portmilter.rollup_user_names AS n
						  WHERE n.sasl_user = v.sasl_user)));
			UPDATE rollup_ev AS v SET uid = m.id
			FROM (SELECT n.sasl_user, min(n.id) AS id
			      FROM portmilter.rollup_user_names AS n
			      WHERE n.sasl_user IN (SELECT w.sasl_user FROM rollup_ev AS w)
			      GROUP BY n.sasl_user) AS m
			WHERE v.sasl_user = m.sasl_user;
			ANALYZE rollup_ev;

			-- users, then addresses, then networks: the day's rows computed
			-- anew; those that changed or went deleted and taken out of the
			-- month, those that changed or came inserted and added to it. A
			-- row that is the same is left alone, and so are its month and
			-- year rows (026).
			INSERT INTO rollup_user_day_new
			SELECT p_day, v.port, v.uid, count(*),
			       count(*) FILTER (WHERE v.transaction),
			       count(DISTINCT v.conn_id) FILTER (WHERE v.home AND v.milter)
			FROM rollup_ev AS v WHERE v.uid IS NOT NULL
			GROUP BY v.port, v.uid;
			ANALYZE rollup_user_day_new;
			WITH old AS (
				DELETE FROM portmilter.rollup_user_day AS d
				WHERE d.day = p_day
				  AND NOT EXISTS (SELECT FROM rollup_user_day_new AS n
						  WHERE n.port = d.port AND n.uid = d.uid
						    AND ROW(n.*) IS NOT DISTINCT FROM ROW(d.*))
				RETURNING port, uid, nevents, transactions, home_conns
			)
			UPDATE portmilter.rollup_user_month AS m
			SET nevents = m.nevents - o.nevents,
			    transactions = m.transactions - o.transactions,
			    home_conns = m.home_conns - o.home_conns
			FROM old AS o
			WHERE m.month = mon AND m.port = o.port AND m.uid = o.uid;
			DELETE FROM rollup_user_day_new AS n
			USING portmilter.rollup_user_day AS d
			WHERE d.day = p_day AND n.port = d.port AND n.uid = d.uid;
			WITH new AS (
				INSERT INTO portmilter.rollup_user_day
				SELECT n.* FROM rollup_user_day_new AS n
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
			INSERT INTO rollup_ip_day_new
			SELECT p_day, v.port, v.client_addr, count(*),
			       count(*) FILTER (WHERE v.transaction),
			       count(DISTINCT v.conn_id) FILTER (WHERE v.home AND v.milter)
			FROM rollup_ev AS v WHERE v.client_addr IS NOT NULL
			GROUP BY v.port, v.client_addr;
			ANALYZE rollup_ip_day_new;
			WITH old AS (
				DELETE FROM portmilter.rollup_ip_day AS d
				WHERE d.day = p_day
				  AND NOT EXISTS (SELECT FROM rollup_ip_day_new AS n
						  WHERE n.port = d.port AND n.client_addr = d.client_addr
						    AND ROW(n.*) IS NOT DISTINCT FROM ROW(d.*))
				RETURNING port, client_addr, nevents, transactions, home_conns
			)
			UPDATE portmilter.rollup_ip_month AS m
			SET nevents = m.nevents - o.nevents,
			    transactions = m.transactions - o.transactions,
			    home_conns = m.home_conns - o.home_conns
			FROM old AS o
			WHERE m.month = mon AND m.port = o.port AND m.client_addr = o.client_addr;
			DELETE FROM rollup_ip_day_new AS n
			USING portmilter.rollup_ip_day AS d
			WHERE d.day = p_day AND n.port = d.port
			  AND n.client_addr = d.client_addr;
			WITH new AS (
				INSERT INTO portmilter.rollup_ip_day
				SELECT n.* FROM rollup_ip_day_new AS n
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
			INSERT INTO rollup_net_day_new
			SELECT p_day, v.net, count(*),
			       count(DISTINCT v.conn_id) FILTER (WHERE v.home)
			FROM rollup_ev AS v WHERE v.net IS NOT NULL
			GROUP BY v.net;
			ANALYZE rollup_net_day_new;
			WITH old AS (
				DELETE FROM portmilter.rollup_net_day AS d
				WHERE d.day = p_day
				  AND NOT EXISTS (SELECT FROM rollup_net_day_new AS n
						  WHERE n.network = d.network
						    AND ROW(n.*) IS NOT DISTINCT FROM ROW(d.*))
				RETURNING network, nevents, home_conns
			)
			UPDATE portmilter.rollup_net_month AS m
			SET nevents = m.nevents - o.nevents,
			    home_conns = m.home_conns - o.home_conns
			FROM old AS o
			WHERE m.month = mon AND m.network = o.network;
			DELETE FROM rollup_net_day_new AS n
			USING portmilter.rollup_net_day AS d
			WHERE d.day = p_day AND n.network = d.network;
			WITH new AS (
				INSERT INTO portmilter.rollup_net_day
				SELECT n.* FROM rollup_net_day_new AS n
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


	-- As in 020 (and 023), the changed rows only.
	CREATE OR REPLACE FUNCTION portmilter.rollup_day_tls(p_day date)
	RETURNS void LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET jit = off
	SET work_mem = '64MB'
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
			CREATE TEMP TABLE IF NOT EXISTS rollup_tls_new (
				LIKE portmilter.rollup_tls_day
			) ON COMMIT DROP;
			CREATE TEMP TABLE IF NOT EXISTS rollup_tls_add (
				port integer, tls_version text, uid bigint, network text
			) ON COMMIT DROP;
			TRUNCATE rollup_tls_ev, rollup_tls_old, rollup_tls_new, rollup_tls_add;
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
			SELECT pg_catalog.unnest(ARRAY(
				SELECT DISTINCT v.sasl_user FROM rollup_tls_ev AS v
				WHERE v.sasl_user IS NOT NULL
				  AND NOT EXISTS (SELECT FROM portmilter.rollup_user_names AS n
						  WHERE n.sasl_user = v.sasl_user)));
			UPDATE rollup_tls_ev AS v SET uid = m.id
			FROM (SELECT n.sasl_user, min(n.id) AS id
			      FROM portmilter.rollup_user_names AS n
			      WHERE n.sasl_user IN (SELECT w.sasl_user FROM rollup_tls_ev AS w)
			      GROUP BY n.sasl_user) AS m
			WHERE v.sasl_user = m.sasl_user;
			ANALYZE rollup_tls_ev;

			-- the day's rows computed anew; those that changed or went
			-- deleted, those that changed or came inserted; a row that is the
			-- same is left alone, and so are its tier, month and year rows
			-- (026)
			INSERT INTO rollup_tls_new
			SELECT p_day, v.port, v.tls_version, v.uid, v.network, count(*),
			       count(*) FILTER (WHERE v.transaction),
			       count(*) FILTER (WHERE v.verdict = 'accepted'),
			       count(*) FILTER (WHERE v.verdict = 'rejected'),
			       count(DISTINCT v.conn_id) FILTER (WHERE v.home),
			       min(v.event_time), max(v.event_time)
			FROM rollup_tls_ev AS v
			GROUP BY v.port, v.tls_version, v.uid, v.network;
			ANALYZE rollup_tls_new;
			WITH old AS (
				DELETE FROM portmilter.rollup_tls_day AS d
				WHERE d.day = p_day
				  AND NOT EXISTS (SELECT FROM rollup_tls_new AS n
						  WHERE n.port = d.port AND n.tls_version = d.tls_version
						    AND n.uid = d.uid AND n.network = d.network
						    AND ROW(n.*) IS NOT DISTINCT FROM ROW(d.*))
				RETURNING port, tls_version, uid, network
			)
			INSERT INTO rollup_tls_old SELECT * FROM old;
			DELETE FROM rollup_tls_new AS n
			USING portmilter.rollup_tls_day AS d
			WHERE d.day = p_day AND n.port = d.port
			  AND n.tls_version = d.tls_version AND n.uid = d.uid
			  AND n.network = d.network;
			WITH ins AS (
				INSERT INTO portmilter.rollup_tls_day
				SELECT n.* FROM rollup_tls_new AS n
				RETURNING port, tls_version, uid, network
			)
			INSERT INTO rollup_tls_add SELECT * FROM ins;

			-- the month: the groups that changed or went summed again, the
			-- ones that came added
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
			  AND EXISTS (SELECT FROM rollup_tls_add AS a
				      WHERE a.port = d.port AND a.tls_version = d.tls_version
					AND a.uid = d.uid AND a.network = d.network)
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


	-- As in 022, the changed rows only.
	CREATE OR REPLACE FUNCTION portmilter.rollup_day_addr(p_day date)
	RETURNS void LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET jit = off
	SET work_mem = '64MB'
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
			CREATE TEMP TABLE IF NOT EXISTS rollup_addr_new (
				LIKE portmilter.rollup_addr_day
			) ON COMMIT DROP;
			CREATE TEMP TABLE IF NOT EXISTS rollup_addr_add (
				LIKE portmilter.rollup_addr_day
			) ON COMMIT DROP;
			TRUNCATE rollup_addr_old, rollup_addr_new, rollup_addr_add;

			-- user numbers, as rollup_day_keys() gives them (it ran first:
			-- every name of the day has one)
			INSERT INTO portmilter.rollup_user_names (sasl_user)
			SELECT pg_catalog.unnest(ARRAY(
				SELECT DISTINCT e.sasl_user FROM portmilter.events AS e
				WHERE e.event_time >= t0 AND e.event_time < t1
				  AND e.sasl_user IS NOT NULL AND e.client_addr IS NOT NULL
				  AND NOT EXISTS (SELECT FROM portmilter.rollup_user_names AS n
						  WHERE n.sasl_user = e.sasl_user)));

			-- the day's rows computed anew; those that changed or went
			-- deleted, those that changed or came inserted; a row that is the
			-- same is left alone, and so is its month row (026)
			INSERT INTO rollup_addr_new
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
			ANALYZE rollup_addr_new;
			WITH old AS (
				DELETE FROM portmilter.rollup_addr_day AS d
				WHERE d.day = p_day
				  AND NOT EXISTS (SELECT FROM rollup_addr_new AS n
						  WHERE n.client_addr = d.client_addr AND n.port = d.port
						    AND ROW(n.*) IS NOT DISTINCT FROM ROW(d.*))
				RETURNING d.*
			)
			INSERT INTO rollup_addr_old SELECT * FROM old;
			DELETE FROM rollup_addr_new AS n
			USING portmilter.rollup_addr_day AS d
			WHERE d.day = p_day AND n.client_addr = d.client_addr
			  AND n.port = d.port;
			WITH ins AS (
				INSERT INTO portmilter.rollup_addr_day
				SELECT n.* FROM rollup_addr_new AS n
				RETURNING *
			)
			INSERT INTO rollup_addr_add SELECT * FROM ins;

			-- the month: the keys whose row changed or went summed again
			-- (late rows: a few), the new keys added. Every row in
			-- rollup_addr_old changed or went (022 kept the unchanged
			-- ones there too and picked the changed ones out again).
			IF EXISTS (SELECT FROM rollup_addr_old) THEN
				ANALYZE rollup_addr_old;
				DELETE FROM portmilter.rollup_addr_month AS m
				USING rollup_addr_old AS o
				WHERE m.month = mon AND m.client_addr = o.client_addr
				  AND m.port = o.port;
				INSERT INTO portmilter.rollup_addr_month
				SELECT mon, m.*
				FROM (SELECT pg_catalog.array_agg(o.client_addr) AS a,
					     pg_catalog.array_agg(o.port) AS p
				      FROM rollup_addr_old AS o) AS k,
				     portmilter.rollup_addr_merge(mon, mon1, k.a, k.p) AS m;
			END IF;
			INSERT INTO portmilter.rollup_addr_month AS m
			SELECT mon, d.client_addr, d.port, d.nevents, d.transactions,
			       d.accepted, d.rejected, d.tempfailed, d.aborted, d.recipients,
			       d.exposures, d.home_conns, d.rules, d.uids, d.helos,
			       d.first_seen, d.last_seen
			FROM rollup_addr_add AS d
			WHERE NOT EXISTS (SELECT FROM rollup_addr_old AS o
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


	-- As in 024, the changed rows only.
	CREATE OR REPLACE FUNCTION portmilter.rollup_day_preview(p_day date)
	RETURNS void LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET jit = off
	SET work_mem = '64MB'
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
			CREATE TEMP TABLE IF NOT EXISTS rollup_preview_new (
				LIKE portmilter.rollup_preview_day
			) ON COMMIT DROP;
			CREATE TEMP TABLE IF NOT EXISTS rollup_preview_add (
				port integer, uid bigint, network text, tls_version text
			) ON COMMIT DROP;
			TRUNCATE rollup_preview_ev, rollup_preview_old, rollup_preview_new,
				 rollup_preview_add;
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
			SELECT pg_catalog.unnest(ARRAY(
				SELECT DISTINCT v.sasl_user FROM rollup_preview_ev AS v
				WHERE v.sasl_user IS NOT NULL
				  AND NOT EXISTS (SELECT FROM portmilter.rollup_user_names AS n
						  WHERE n.sasl_user = v.sasl_user)));
			UPDATE rollup_preview_ev AS v SET uid = m.id
			FROM (SELECT n.sasl_user, min(n.id) AS id
			      FROM portmilter.rollup_user_names AS n
			      WHERE n.sasl_user IN (SELECT w.sasl_user FROM rollup_preview_ev AS w)
			      GROUP BY n.sasl_user) AS m
			WHERE v.sasl_user = m.sasl_user;
			ANALYZE rollup_preview_ev;

			-- the day's rows computed anew; those that changed or went
			-- deleted, those that changed or came inserted; a row that is the
			-- same is left alone, and so is its month row (026)
			INSERT INTO rollup_preview_new
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
			ANALYZE rollup_preview_new;
			WITH old AS (
				DELETE FROM portmilter.rollup_preview_day AS d
				WHERE d.day = p_day
				  AND NOT EXISTS (SELECT FROM rollup_preview_new AS n
						  WHERE n.port = d.port AND n.uid = d.uid
						    AND n.network = d.network AND n.tls_version = d.tls_version
						    AND ROW(n.*) IS NOT DISTINCT FROM ROW(d.*))
				RETURNING port, uid, network, tls_version
			)
			INSERT INTO rollup_preview_old SELECT * FROM old;
			DELETE FROM rollup_preview_new AS n
			USING portmilter.rollup_preview_day AS d
			WHERE d.day = p_day AND n.port = d.port AND n.uid = d.uid
			  AND n.network = d.network AND n.tls_version = d.tls_version;
			WITH ins AS (
				INSERT INTO portmilter.rollup_preview_day
				SELECT n.* FROM rollup_preview_new AS n
				RETURNING port, uid, network, tls_version
			)
			INSERT INTO rollup_preview_add SELECT * FROM ins;

			-- the month: the groups that changed or went summed again, the
			-- ones that came added
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
			  AND EXISTS (SELECT FROM rollup_preview_add AS a
				      WHERE a.port = d.port AND a.uid = d.uid
					AND a.network = d.network AND a.tls_version = d.tls_version)
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


	-- ---- custom plans for every step --------------------------------------------
	ALTER FUNCTION portmilter.rollup_step_run(regprocedure, date)
		SET plan_cache_mode = force_custom_plan;
	ALTER FUNCTION portmilter.rollup_day(date) SET plan_cache_mode = force_custom_plan;
	ALTER FUNCTION portmilter.rollup_day_keys(date) SET plan_cache_mode = force_custom_plan;
	ALTER FUNCTION portmilter.rollup_day_tls(date) SET plan_cache_mode = force_custom_plan;
	ALTER FUNCTION portmilter.rollup_day_addr(date) SET plan_cache_mode = force_custom_plan;
	ALTER FUNCTION portmilter.rollup_day_preview(date) SET plan_cache_mode = force_custom_plan;

	INSERT INTO portmilter.schema_version (version) VALUES (26);
END
$migration$;
